"""Alembic environment: migrates the database named by the Credance settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import backend.db.models  # noqa: F401  (registers every table on the metadata)
from backend.db.engine import make_engine
from backend.settings import get_settings

config = context.config
url = config.attributes.get("url") or get_settings().resolved_database_url
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(url)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode alters a SQLite table by copying it and dropping the original, which the
        # foreign keys of the tables referring to it forbid once they hold rows. The pragma only
        # works outside a transaction, so it goes on the driver connection before ours begins;
        # the keys are checked as a whole before the migration commits.
        _foreign_keys(connection, on=False)
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")
    finally:
        if sqlite:
            _foreign_keys(connection, on=True)


def _foreign_keys(connection: Connection, on: bool) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
