"""Data layer: Tortoise models, the RLS-aware PostgreSQL client, migrations."""
