"""Everything that touches PostgreSQL: the store, migrations, the embedded server."""
