"""Typed access to a model's Core table (for bulk inserts, updates and upserts)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)
