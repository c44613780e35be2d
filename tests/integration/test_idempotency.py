"""The idempotent command helper (``backend.loyalty.idempotency.run_once``) on real databases: a
replay, a reused id, a refusal that leaves nothing, a command a concurrent writer recorded first
(answered as a replay), and a retry that stops."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from backend.db.engine import session_scope
from backend.db.models import Partner, PartnerConversion, Retailer
from backend.errors import Conflict, DomainError, Unprocessable
from backend.loyalty.customers import enrol
from backend.loyalty.idempotency import ATTEMPTS, IdempotentCommand, Outcome, run_once


@dataclass(frozen=True)
class Convert(IdempotentCommand):
    """A command of this test, recorded in ``partner_conversions`` (unique per partner and id)."""

    noun = "conversion"
    id_field = "conversion_id"

    conversion_id: str
    partner_points: int


@pytest.fixture
def customer_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        session.add(Partner(id="p", name="P", rate=Decimal(1)))
        customer, _ = enrol(session, "cora")
        assert customer.id is not None
        return customer.id


def find(session: Session, command: Convert) -> Callable[[], PartnerConversion | None]:
    def recorded() -> PartnerConversion | None:
        query = select(PartnerConversion).where(
            PartnerConversion.partner_id == "p", PartnerConversion.conversion_id == command.conversion_id
        )
        return session.exec(query).first()

    return recorded


def record(session: Session, customer_id: int, command: Convert, digest: str) -> dict[str, Any]:
    """What a command's work does last: add its record, with the digest and the answer."""
    body = {"conversion_id": command.conversion_id, "points": command.partner_points}
    session.add(
        PartnerConversion(
            partner_id="p",
            conversion_id=command.conversion_id,
            customer_id=customer_id,
            partner_points=command.partner_points,
            points=command.partner_points,
            day=1,
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body


def conversions(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(PartnerConversion)).one())


def retailers(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(Retailer.id)).all())


def test_a_command_is_recorded_once_then_replayed_and_its_id_refused_with_other_content(
    engine: Engine, customer_id: int
) -> None:
    command = Convert("c1", 10)
    performed: list[str] = []

    def perform(session: Session) -> Callable[[str], dict[str, Any]]:
        def work(digest: str) -> dict[str, Any]:
            performed.append(digest)
            return record(session, customer_id, command, digest)

        return work

    with session_scope(engine) as session:
        first = run_once(session, command, find(session, command), perform(session))
    with session_scope(engine) as session:
        again = run_once(session, command, find(session, command), perform(session))
    assert (first.replayed, again.replayed, again.body) == (False, True, first.body)
    assert performed == [command.digest()]

    other = Convert("c1", 11)
    with session_scope(engine) as session, pytest.raises(Conflict) as refused:
        run_once(session, other, find(session, other), perform(session))
    assert refused.value.field == "conversion_id"
    assert conversions(engine) == 1


def test_a_refused_command_leaves_nothing_and_keeps_what_the_caller_did_before(
    engine: Engine, customer_id: int
) -> None:
    command = Convert("c2", 10)

    with session_scope(engine) as session:
        session.add(Retailer(id="before", name="Before"))
        session.flush()

        def refuse(digest: str) -> dict[str, Any]:
            record(session, customer_id, command, digest)
            session.flush()
            raise Unprocessable("too few points", field="partner_points")

        with pytest.raises(DomainError):
            run_once(session, command, find(session, command), refuse)
    assert conversions(engine) == 0
    assert "before" in retailers(engine)


def test_the_retry_after_a_collision_is_bounded(engine: Engine, customer_id: int) -> None:
    """Work that meets a unique key every time (here the partner it adds again) is tried
    ``ATTEMPTS`` times, then refused with a 409 naming the command's id; each try is undone, and
    the caller's transaction goes on."""
    command = Convert("c3", 10)
    tries: list[int] = []

    with session_scope(engine) as session:
        session.add(Retailer(id="before", name="Before"))
        session.flush()
        lookups: list[int] = []
        recorded = find(session, command)

        def looked_up() -> PartnerConversion | None:
            lookups.append(1)
            return recorded()

        def collide(digest: str) -> dict[str, Any]:
            tries.append(1)
            body = record(session, customer_id, command, digest)
            session.add(Partner(id="p", name="P again", rate=Decimal(2)))
            return body

        with pytest.raises(Conflict) as refused:
            run_once(session, command, looked_up, collide)
        session.add(Retailer(id="after", name="After"))
    assert refused.value.field == "conversion_id"
    assert (len(tries), len(lookups)) == (ATTEMPTS, ATTEMPTS)
    assert conversions(engine) == 0
    assert {"before", "after"} <= retailers(engine)


@pytest.mark.postgres_only  # SQLite runs one writer at a time: another cannot commit in between
@pytest.mark.parametrize("points", [10, 11], ids=["same content", "other content"])
def test_a_command_a_concurrent_writer_recorded_first_is_answered_from_its_record(
    engine: Engine, customer_id: int, points: int
) -> None:
    """Between the look-up and the insert another writer records the same id: the insert collides,
    the attempt is undone, and the look-up again answers (a replay, or a 409 for other content)."""
    theirs, ours = Convert("c4", 10), Convert("c4", points)
    tries: list[int] = []

    with session_scope(engine) as session:
        recorded = find(session, ours)

        def looked_up() -> PartnerConversion | None:
            found = recorded()
            if not tries and found is None:  # the other writer commits right after our first look-up
                with session_scope(engine) as other:
                    record(other, customer_id, theirs, theirs.digest())
            return found

        def work(digest: str) -> dict[str, Any]:
            tries.append(1)
            return record(session, customer_id, ours, digest)

        try:
            outcome: Outcome | DomainError = run_once(session, ours, looked_up, work)
        except DomainError as exc:
            outcome = exc
    assert len(tries) == 1
    if points == theirs.partner_points:
        assert isinstance(outcome, Outcome)
        assert (outcome.replayed, outcome.body) == (True, {"conversion_id": "c4", "points": 10})
    else:
        assert isinstance(outcome, Conflict)
        assert outcome.field == "conversion_id"
    assert conversions(engine) == 1
