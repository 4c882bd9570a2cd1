"""Keys: the master key, and the per-tenant data keys it wraps."""
