"""Coalition partners: points of a partner program converted into ours at the partner's rate.

A conversion is an award with a partner reference (``keccak("credance:partner:<id>:<conversion>")``)
under the rules in force, once per (partner, conversion id). Our points are
``floor(partner points * rate)``; a partner may cap a single conversion and what one customer may
convert per UTC day. Converted points expire like earned ones but do not count towards tiers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import Award, enqueue
from backend.db.models import Partner, PartnerConversion
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty import members
from backend.loyalty.customers import get_customer
from backend.loyalty.idempotency import IdempotentCommand, Outcome, recorded_under, run_once
from backend.loyalty.in_flight import active_address
from backend.loyalty.program import rules_in_force
from backend.loyalty.refs import conversion_ref
from backend.loyalty.rules import MAX_POINTS_PER_ORDER
from backend.loyalty.transfers import day_number


def get_partner(session: Session, partner_id: str) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id!r} does not exist", field="partner_id")
    return partner


def create_partner(
    session: Session, partner_id: str, name: str, rate: Decimal, max_per_conversion: int = 0, daily_cap: int = 0
) -> Partner:
    if session.get(Partner, partner_id) is not None:
        raise Conflict(f"partner {partner_id!r} already exists", field="id")
    partner = Partner(
        id=partner_id,
        name=name,
        rate=rate,
        max_points_per_conversion=max_per_conversion,
        daily_cap_per_customer=daily_cap,
    )
    session.add(partner)
    return partner


def update_partner(session: Session, partner_id: str, changes: dict[str, Any]) -> Partner:
    partner = get_partner(session, partner_id)
    for name, value in changes.items():
        setattr(partner, name, value)
    session.add(partner)
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.exec(select(Partner).order_by(col(Partner.id))).all())


def converted_points(partner_points: int, rate: Decimal) -> int:
    """Our points for ``partner_points`` at ``rate``, rounded down (exact)."""
    return math.floor(partner_points * Fraction(rate))


@dataclass(frozen=True)
class ConversionInput(IdempotentCommand):
    noun = "conversion"
    id_field = "conversion_id"

    partner_id: str
    conversion_id: str
    customer_id: str
    partner_points: int


def _converted_today(session: Session, partner_id: str, customer_id: int, day: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PartnerConversion.points), 0)).where(
            PartnerConversion.partner_id == partner_id,
            PartnerConversion.customer_id == customer_id,
            PartnerConversion.day == day,
        )
    ).one()
    return int(total)


def _check_caps(session: Session, partner: Partner, customer_id: int, points: int, day: int) -> None:
    if points <= 0:
        raise Unprocessable(f"too few partner points for one of ours at rate {partner.rate}", field="partner_points")
    if points > MAX_POINTS_PER_ORDER:
        raise Unprocessable("the conversion is too large", field="partner_points")
    if partner.max_points_per_conversion and points > partner.max_points_per_conversion:
        raise Unprocessable(
            f"{partner.id} converts at most {partner.max_points_per_conversion} points at a time",
            field="partner_points",
        )
    if partner.daily_cap_per_customer:
        left = max(partner.daily_cap_per_customer - _converted_today(session, partner.id, customer_id, day), 0)
        if points > left:
            raise Unprocessable(
                f"{partner.id} converts at most {partner.daily_cap_per_customer} points per customer per day; "
                f"{left} left today",
                field="partner_points",
            )


def convert(session: Session, request: ConversionInput, now: datetime | None = None) -> Outcome:
    """Convert partner points into ours, once per (partner, conversion id)."""
    now = now or utcnow()
    partner = get_partner(session, request.partner_id)

    recorded = recorded_under(session, PartnerConversion, partner_id=partner.id, conversion_id=request.conversion_id)
    return run_once(session, request, recorded, lambda digest: _convert(session, partner, request, digest, now))


def _convert(
    session: Session, partner: Partner, request: ConversionInput, digest: str, now: datetime
) -> dict[str, Any]:
    """The conversion's award and lot (in ``run_once``'s savepoint); its answer."""
    if not partner.active:
        raise Conflict(f"partner {partner.id!r} is not active", field="partner_id")
    customer = get_customer(session, request.customer_id)
    assert customer.id is not None
    points = converted_points(request.partner_points, partner.rate)
    day = day_number(now)
    state = members.state_of(session, customer.id, for_update=True)
    _check_caps(session, partner, customer.id, points, day)
    record, rules = rules_in_force(session)
    award = Award(
        account=active_address(customer),
        amount=points,
        ref=conversion_ref(partner.id, request.conversion_id),
        rule_version=rules.version,
    )
    operation = enqueue(session, award, after=record.operation_id)
    members.credit(session, customer.id, points, "partner", rules, now, state=state, operation_id=operation.id)
    body = {
        "partner_id": partner.id,
        "conversion_id": request.conversion_id,
        "customer_id": request.customer_id,
        "partner_points": request.partner_points,
        "rate": format(partner.rate.normalize(), "f"),
        "points_awarded": points,
        "rule_version": rules.version,
        "status": "pending",
        "operation_id": operation.id,
    }
    session.add(
        PartnerConversion(
            partner_id=partner.id,
            conversion_id=request.conversion_id,
            customer_id=customer.id,
            partner_points=request.partner_points,
            points=points,
            day=day,
            operation_id=operation.id,
            request_hash=digest,
            response=json.dumps(body),
        )
    )
    return body
