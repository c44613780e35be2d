"""SQL storage: tables, engine, sessions and Alembic migrations (SQLite or PostgreSQL)."""
