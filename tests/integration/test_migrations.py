"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL,
and the history goes down to nothing and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import backend.db.models  # noqa: F401
from backend.db.migrate import alembic_config


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_the_revision_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
