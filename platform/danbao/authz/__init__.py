"""Authorisation: what a user's roles allow, from the tenant's permission matrix."""
