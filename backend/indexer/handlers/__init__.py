"""Turn decoded events into mirror rows.

Each handler module exposes ``apply(session, events, block_times)`` (events of a block range,
in chain order; returns the outbox confirmations it found, ``{confirm key: block}``) and
``rollback(session, removed, above_block)`` (undo everything above a block; ``removed`` are the
stored events being taken out). Both run inside the indexer's transaction, with the events and
the cursor: a handler never commits.

Tables written only by handlers are named ``mirror_*``: ``credance reconcile`` rebuilds them
from the chain and compares, so a new mirror table is checked without further work.
"""

from backend.indexer.handlers import access, loyalty, provenance

HANDLERS = (loyalty, provenance, access)
