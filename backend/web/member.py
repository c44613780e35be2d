"""What the member's pages show, composed from the functions the API routes call (one place for
each rule: the balance is ``accounts.balance_of``, a purchase's explanation ``receipts.purchase_detail``,
the tiers the rule set's; nothing here decides anything about points)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from sqlmodel import Session, col, select

from backend.chain.manifest import ManifestMissing, load_manifest
from backend.db.models import Customer, Product, Purchase
from backend.db.types import utcnow
from backend.errors import NotFound
from backend.loyalty import members
from backend.loyalty.accounts import Balance, balance_of, history_of
from backend.loyalty.program import current_rule_set
from backend.loyalty.purchase_batch import load_members
from backend.loyalty.receipts import purchase_detail
from backend.loyalty.rules import Campaign, RuleSet, campaigns_for
from backend.loyalty.standing import tier_name
from backend.predictive.views import member_recommendations
from backend.provenance import passports as passport_rules
from backend.settings import Settings

EXPIRING_WITHIN = timedelta(days=30)
LABELS = {
    "award": "Earned",
    "reversal": "Reversed (refund)",
    "redemption": "Redeemed",
    "transfer_in": "Received from a member",
    "transfer_out": "Given to a member",
    "expiry": "Expired",
    "claim_in": "Moved to your wallet",
    "claim_out": "Moved to your wallet",
    "convert": "Converted from a partner",
}


@dataclass(frozen=True)
class TierProgress:
    tier: str
    qualifying: int
    window_days: int
    next_tier: str | None
    next_threshold: int | None
    grace_until: datetime | None

    @property
    def to_go(self) -> int:
        return max(0, (self.next_threshold or 0) - self.qualifying)

    @property
    def percent(self) -> int:
        if not self.next_threshold:
            return 100
        return min(100, self.qualifying * 100 // self.next_threshold)


def tier_progress(rules: RuleSet | None, balance: Balance) -> TierProgress | None:
    if rules is None:
        return None
    above = sorted((t for t in rules.tiers if t.threshold > balance.qualifying_points), key=lambda t: t.threshold)
    following = above[0] if above else None
    return TierProgress(
        balance.tier,
        balance.qualifying_points,
        rules.tier_window_days,
        following.name if following else None,
        following.threshold if following else None,
        balance.tier_grace_until,
    )


def expiring_soon(session: Session, customer: Customer, now: datetime) -> list[tuple[date, int]]:
    """Points that expire within ``EXPIRING_WITHIN``, by day, soonest first."""
    assert customer.id is not None
    by_day: dict[date, int] = defaultdict(int)
    for lot in members.open_lots(session, customer.id):
        if lot.expires_at is not None and lot.remaining > 0 and lot.expires_at <= now + EXPIRING_WITHIN:
            by_day[lot.expires_at.date()] += lot.remaining
    return sorted(by_day.items())


def overview(session: Session, customer: Customer) -> dict[str, Any]:
    now = utcnow()
    balance = balance_of(session, customer, now)
    return {
        "balance": balance,
        "progress": tier_progress(current_rule_set(session), balance),
        "expiring": expiring_soon(session, customer, now),
        "purchases": purchases(session, customer, limit=3),
        "offers": offers(session, customer, now),
        "recommendations": recommendations(session, customer),
    }


def offers(session: Session, customer: Customer, now: datetime) -> list[dict[str, Any]]:
    """The campaigns the member's next order would get (the same choice the quote makes: their
    tier, segments, predicted ones included, and per-member limits), personal ones first."""
    rules = current_rule_set(session)
    if rules is None or not rules.campaigns:
        return []
    facts = load_members(session, {customer.external_id}, rules, now)[customer.external_id].facts
    segments = facts.segments | {f"tier:{tier_name(facts.standing, rules)}"}
    chosen = campaigns_for(rules, now, segments, facts.campaign_uses)
    return [
        _offer(c, facts.campaign_uses.get(c.id, 0)) for c in sorted(chosen, key=lambda c: (not c.segments, c.ends_at))
    ]


def _offer(campaign: Campaign, used: int) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name or campaign.id,
        "personal": bool(campaign.segments),
        "multiplier": campaign.multiplier if campaign.multiplier != 1 else None,
        "bonus_points": campaign.bonus_points or None,
        "on": [*campaign.skus, *campaign.categories],
        "ends_at": campaign.ends_at,
        "uses_left": campaign.per_member_limit - used if campaign.per_member_limit else None,
    }


def recommendations(session: Session, customer: Customer, limit: int = 5) -> list[dict[str, Any]]:
    """What the member is likely to buy (the latest published prediction run's), none before a run."""
    try:
        found = member_recommendations(session, customer, "sku", limit)
    except NotFound:  # no run published yet
        return []
    items: list[dict[str, Any]] = found["items"]
    return items


def purchases(session: Session, customer: Customer, limit: int = 20) -> list[dict[str, Any]]:
    """The member's latest purchases, each with its status and explanation (as the API shows them)."""
    rows = session.exec(
        select(Purchase).where(Purchase.customer_id == customer.id).order_by(col(Purchase.id).desc()).limit(limit)
    ).all()
    return [purchase_view(session, purchase) for purchase in rows]


def purchase_view(session: Session, purchase: Purchase) -> dict[str, Any]:
    return {**purchase_detail(session, purchase), "store_id": purchase.store_id, "created_at": purchase.created_at}


def own_purchase(session: Session, customer: Customer, store_id: str, order_id: str) -> Purchase | None:
    """The purchase if it is this member's (None otherwise: another member's looks like no purchase)."""
    return session.exec(
        select(Purchase).where(
            Purchase.store_id == store_id, Purchase.order_id == order_id, Purchase.customer_id == customer.id
        )
    ).first()


def ledger(session: Session, customer: Customer, limit: int = 50) -> list[dict[str, Any]]:
    """The ledger (``history_of``), each entry labelled and, for earned and reversed points, with
    the purchase it came from."""
    entries = history_of(session, customer, limit=limit)
    operations = {e["operation_id"] for e in entries if e.get("operation_id")}
    by_operation: dict[int, Purchase] = {}
    if operations:
        for purchase in session.exec(select(Purchase).where(col(Purchase.operation_id).in_(operations))).all():
            assert purchase.operation_id is not None
            by_operation[purchase.operation_id] = purchase
    out = []
    for entry in entries:
        source = by_operation.get(entry.get("operation_id") or -1)
        out.append(
            {
                **entry,
                "label": LABELS.get(entry["kind"], str(entry["kind"]).replace("_", " ").capitalize()),
                "purchase": purchase_view(session, source) if source is not None else None,
            }
        )
    return out


BALANCE_OF = "0x" + function_signature_to_4byte_selector("balanceOf(address)").hex()
DEBT_OF = "0x" + function_signature_to_4byte_selector("debtOf(address)").hex()


def check_it_yourself(settings: Settings, chain_id: int, balance: Balance) -> dict[str, Any]:
    """What a member needs to read their balance on any node of the chain, without our server."""
    try:
        token = load_manifest(settings.deployments_dir, chain_id).address_of("LoyaltyPoints")
    except ManifestMissing:
        token = None
    argument = balance.address.lower().removeprefix("0x").rjust(64, "0")
    return {
        "address": balance.address,
        "token": token,
        "chain_id": chain_id,
        "block": balance.as_of_block,
        "balance_call": BALANCE_OF + argument,
        "debt_call": DEBT_OF + argument,
        "manifest": f"deployments/{chain_id}.json",
    }


def passports(session: Session, customer: Customer) -> dict[str, Any]:
    """The member's passports as ``/v1/customers/{id}/passports`` lists them, with the product's
    name, the day they got it, and whether the platform may relay it (held in custody)."""
    held = []
    for owner in passport_rules.owned_by(session, customer):
        product = session.get(Product, owner.gtin)
        held.append(
            {
                "token_id": owner.token_id,
                "name": product.name if product is not None else f"GTIN {owner.gtin}",
                "held_since": datetime.fromtimestamp(owner.held_since, UTC).date().isoformat(),
                "previous_owners": owner.previous_owners,
                "recalled": passport_rules.is_recalled(session, owner.token_id),
                "custodial": owner.custodial and owner.holder.lower() == customer.address.lower(),
                # a transfer queued and not yet on chain: no second form (it would be a 409)
                "leaving": passport_rules.in_flight_transfer(session, owner.token_id) is not None,
            }
        )
    return {"passports": held, "pending": [c.token_id for c in passport_rules.pending_claims(session, customer)]}
