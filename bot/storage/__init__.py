"""Storage: SQLModel tables, the async engine, migrations and the repository used by handlers."""
