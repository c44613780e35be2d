"""Idempotent commands: a request a client may send again, recorded once under the id it names.

Purchases, refunds, redemptions, transfers and partner conversions are each recorded once per id
(an order id per store, a refund id per order, …). A command sent again with the same content gets
the first answer again (``Outcome.replayed``; the API adds ``Idempotent-Replayed: true``, see
``backend.api.replays``); the same id with other content is a 409 naming the id's field.

``run_once`` is the whole pattern:

1. the request's digest (``IdempotentCommand.digest``: a hash of its canonical form, stored with
   the record: the bytes hashed must never change, or replays of records made earlier would
   become conflicts);
2. the record already made under the id, if any: replay or 409;
3. otherwise the work, in a savepoint of the caller's transaction, ending with the insert of the
   record (its unique key on the id is what makes it once);
4. if that insert (or any other) meets a unique key a concurrent writer took first, the savepoint
   undoes the attempt and the command is looked up again (now a replay or a 409), at most
   ``ATTEMPTS`` times in all: the caller's transaction and whatever it did before are kept.

The batch path of purchases (``purchase_batch``) records many orders without a savepoint each; it
uses the same digest and ``replay``, and the group-commit writer runs its batch again (a bounded
number of times) when a concurrent writer took one of its keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast

from sqlmodel import Session, SQLModel, select

from backend.db.direct import INTEGRITY_ERRORS
from backend.errors import Conflict

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Tries of one command against concurrent writers: the first, and a look-up again after each
# unique key another writer took first. A second collision on the same command means something
# other than a duplicate keeps failing; answering beats retrying on the caller's transaction forever.
ATTEMPTS = 3


def request_digest(canonical: Any) -> str:
    """The digest stored with a record: SHA-256 of the canonical form as sorted JSON."""
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class IdempotentCommand:
    """A command's request (a frozen dataclass): which field names it, and what its digest covers.

    A subclass sets ``noun`` (how messages name it: "refund") and ``id_field`` (the request field
    holding its id, which errors point at: "refund_id"), and overrides ``canonical`` if the digest
    must leave fields out (the default covers every field)."""

    noun: ClassVar[str]
    id_field: ClassVar[str]

    @property
    def command_id(self) -> str:
        return str(getattr(self, self.id_field))

    def canonical(self) -> Any:
        """What the digest covers: every field, nested dataclasses as dicts."""
        return asdict(cast("DataclassInstance", self))

    def digest(self) -> str:
        return request_digest(self.canonical())

    def reused(self) -> Conflict:
        """The answer to the id sent again with other content."""
        return Conflict(f"{self.noun} {self.command_id!r} was already recorded with other content", field=self.id_field)


class Recorded(Protocol):
    """What a command's record keeps of its request and answer (the columns every such table has)."""

    @property
    def request_hash(self) -> str: ...

    @property
    def response(self) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """A command's answer: the body, and whether it is the first answer sent again."""

    body: dict[str, Any]
    replayed: bool


def replay(command: IdempotentCommand, digest: str, recorded: Recorded) -> Outcome:
    """The recorded answer again if ``digest`` is the recorded request's; a 409 if the id was reused."""
    if recorded.request_hash != digest:
        raise command.reused()
    return Outcome(json.loads(recorded.response), replayed=True)


RecordT = TypeVar("RecordT", bound=SQLModel)


def recorded_under(session: Session, model: type[RecordT], **key: object) -> Callable[[], RecordT | None]:
    """``run_once``'s look-up of a command recorded in ``model`` under ``key`` (the columns of its
    unique key and their values: the member and the command's id, say)."""
    query = select(model).filter_by(**key)
    return lambda: session.exec(query).first()


def run_once(
    session: Session,
    command: IdempotentCommand,
    find: Callable[[], Recorded | None],
    perform: Callable[[str], dict[str, Any]],
) -> Outcome:
    """Record ``command`` once (see the module docstring), in the caller's transaction.

    ``find()`` returns the record already made under the command's id, if any. ``perform(digest)``
    does the work and adds the record (with ``request_hash=digest`` and the answer it returns as
    ``response``); it runs in a savepoint, so a refusal (a ``DomainError``) or a collision leaves
    nothing of it behind."""
    digest = command.digest()
    for _ in range(ATTEMPTS):
        recorded = find()
        if recorded is not None:
            return replay(command, digest, recorded)
        try:
            with session.begin_nested():
                body = perform(digest)
                session.flush()  # the unique keys are checked here, inside the savepoint
        except INTEGRITY_ERRORS:
            continue  # a concurrent writer took a key first: the savepoint undid this try; look again
        return Outcome(body, replayed=False)
    raise Conflict(
        f"{command.noun} {command.command_id!r} kept colliding with concurrent requests; send it again",
        field=command.id_field,
    )
