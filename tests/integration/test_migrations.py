"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import backend.db.models  # noqa: F401
from backend.db.engine import make_engine


def test_migrations_match_the_models(migrated_template: Path) -> None:
    engine = make_engine(f"sqlite:///{migrated_template}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == []
