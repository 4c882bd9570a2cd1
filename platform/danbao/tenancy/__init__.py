"""Tenancy: who the tenant is, how a request finds it, and how it travels with the work."""
