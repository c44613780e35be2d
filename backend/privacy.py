"""Physical erasure of personal data.

Deleting a row does not remove its bytes: SQLite leaves them in the freed space of the page and in
older page images of its write-ahead log. Erasure therefore (1) switches on ``secure_delete`` for
the erasing transaction, so SQLite overwrites what it frees, and (2) checkpoints and truncates the
write-ahead log afterwards, so no older image of the page survives. PostgreSQL keeps dead tuples
until VACUUM reclaims them (autovacuum, or ``VACUUM customer_profiles`` to do it at once).
"""

from __future__ import annotations

import structlog
from sqlalchemy import Engine, text
from sqlmodel import Session

log = structlog.get_logger(__name__)


def overwrite_on_delete(session: Session) -> None:
    """Within a write transaction: make SQLite zero the bytes the coming deletes free."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def purge_old_page_images(engine: Engine) -> bool:
    """After the erasing transaction committed: fold the write-ahead log into the database and
    truncate it. False if readers kept part of it alive (a later checkpoint finishes the job)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        busy, _, _ = connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
    if busy:
        log.warning("privacy.checkpoint_busy")
    return not busy
