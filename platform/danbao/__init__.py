"""Danbao: the tenant-aware runtime."""
