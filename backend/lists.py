"""What the lists show (the API's list routes and the console's pages read the same functions):
members, purchases, organisations, products, recalls, API keys, rewards and the audit log, a page at a time
(``backend/db/pages.py``). Plain reads; who may see which list is the callers' policy.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from backend.db.models import (
    ApiKey,
    AuditEntry,
    Customer,
    CustomerProfile,
    MemberState,
    Operation,
    Organisation,
    Partnership,
    Product,
    Purchase,
    RecallRecord,
    Reward,
)
from backend.db.pages import DEFAULT_LIMIT, Page, contains, fetch_page
from backend.loyalty.purchases import status_of
from backend.provenance.roles import role_names


def list_customers(
    session: Session, q: str | None = None, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Any]:
    """Members, newest first; ``q`` searches the id, the address, the name, the e-mail and the phone."""
    query = (
        select(Customer, CustomerProfile, MemberState.tier)
        .join(CustomerProfile, col(CustomerProfile.customer_id) == col(Customer.id), isouter=True)
        .join(MemberState, col(MemberState.customer_id) == col(Customer.id), isouter=True)
    )
    if q:
        columns = (Customer.external_id, Customer.address, CustomerProfile.name, CustomerProfile.email)
        query = query.where(or_(*(contains(c, q) for c in (*columns, CustomerProfile.phone))))
    page = fetch_page(session, query, Customer.id, lambda row: row[0].id, limit, cursor, descending=True)
    rows = [
        {
            "customer_id": customer.external_id,
            "address": customer.address,
            "self_custodied": customer.wallet is not None,
            "tier": tier,
            "created_at": customer.created_at,
            "erased": customer.erased_at is not None,
            "name": profile.name if profile else None,
            "email": profile.email if profile else None,
        }
        for customer, profile, tier in page.rows
    ]
    return Page(rows, page.after)


def list_purchases(
    session: Session,
    store_id: str | None = None,
    customer_id: str | None = None,
    q: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Any]:
    """Purchases, newest first, of a store and/or a member; ``q`` searches the order id."""
    query = select(Purchase, Customer.external_id).join(Customer, col(Customer.id) == col(Purchase.customer_id))
    if store_id is not None:
        query = query.where(Purchase.store_id == store_id)
    if customer_id is not None:
        query = query.where(Customer.external_id == customer_id)
    if q:
        query = query.where(contains(Purchase.order_id, q))
    page = fetch_page(session, query, Purchase.id, lambda row: row[0].id, limit, cursor, descending=True)
    operation_ids = {i for p, _ in page.rows for i in (p.operation_id, p.redemption_operation_id) if i is not None}
    statuses = dict(
        session.exec(select(Operation.id, Operation.status).where(col(Operation.id).in_(operation_ids))).all()
    )
    rows = [
        {
            "order_id": purchase.order_id,
            "store_id": purchase.store_id,
            "customer_id": external_id,
            "total": format(purchase.total, "f"),
            "currency": purchase.currency,
            "points_awarded": purchase.points_awarded,
            "paid_with_points": purchase.paid_with_points,
            "status": status_of(
                [statuses.get(i) for i in (purchase.operation_id, purchase.redemption_operation_id) if i is not None]
            ),
            "created_at": purchase.created_at,
        }
        for purchase, external_id in page.rows
    ]
    return Page(rows, page.after)


def list_organisations(
    session: Session,
    q: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    seen_by: str | None = None,
) -> Page[Any]:
    """Organisations by id; ``seen_by`` (an organisation) narrows to itself and the organisations
    it works with (partners it authorised, brands that authorised it)."""
    query = select(Organisation)
    if seen_by is not None:
        partners = select(Partnership.partner_id).where(Partnership.brand_id == seen_by)
        brands = select(Partnership.brand_id).where(Partnership.partner_id == seen_by)
        query = query.where(
            or_(col(Organisation.id) == seen_by, col(Organisation.id).in_(partners), col(Organisation.id).in_(brands))
        )
    if q:
        query = query.where(or_(contains(Organisation.id, q), contains(Organisation.name, q)))
    page = fetch_page(session, query, Organisation.id, lambda org: org.id, limit, cursor)
    rows = [
        {"id": o.id, "name": o.name, "roles": role_names(o.roles), "active": o.active, "created_at": o.created_at}
        for o in page.rows
    ]
    return Page(rows, page.after)


def list_products(
    session: Session, brand_id: str | None, q: str | None = None, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Any]:
    """Products by GTIN, of one brand (or of every brand: None); ``q`` searches the GTIN and the name."""
    query = select(Product)
    if brand_id is not None:
        query = query.where(Product.brand_id == brand_id)
    if q:
        query = query.where(or_(contains(Product.gtin, q), contains(Product.name, q)))
    page = fetch_page(session, query, Product.gtin, lambda p: p.gtin, limit, cursor)
    rows = [
        {"gtin": p.gtin, "brand_id": p.brand_id, "name": p.name, "category": p.category, "created_at": p.created_at}
        for p in page.rows
    ]
    return Page(rows, page.after)


def list_recalls(
    session: Session,
    brand_id: str | None,
    gtin: str | None = None,
    q: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Any]:
    """Recalls, newest first, of one brand (or of every brand: None); ``q`` searches the reason."""
    query = select(RecallRecord)
    if brand_id is not None:
        query = query.where(RecallRecord.brand_id == brand_id)
    if gtin is not None:
        query = query.where(RecallRecord.gtin == gtin)
    if q:
        query = query.where(contains(RecallRecord.reason, q))
    page = fetch_page(session, query, RecallRecord.id, lambda r: r.id, limit, cursor, descending=True)
    fields = ("id", "gtin", "brand_id", "reason", "lot", "whole_gtin", "count", "scope_root", "created_at")
    return Page([{name: getattr(r, name) for name in fields} for r in page.rows], page.after)


def list_api_keys(
    session: Session,
    role: str | None = None,
    active: bool | None = None,
    q: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Any]:
    """API keys, newest first (never their digests); ``q`` searches the key id, the label and what
    the key is bound to."""
    query = select(ApiKey)
    if role is not None:
        query = query.where(ApiKey.role == role)
    if active is not None:
        query = query.where(col(ApiKey.revoked_at).is_(None) if active else col(ApiKey.revoked_at).is_not(None))
    if q:
        columns = (ApiKey.key_id, ApiKey.label, ApiKey.store_id, ApiKey.org_id, ApiKey.retailer_id)
        query = query.where(or_(*(contains(c, q) for c in columns)))
    page = fetch_page(session, query, ApiKey.id, lambda k: k.id, limit, cursor, descending=True)
    fields = ("key_id", "role", "store_id", "org_id", "retailer_id", "label", "created_at", "revoked_at")
    return Page([{name: getattr(k, name) for name in fields} for k in page.rows], page.after)


def list_rewards_page(
    session: Session,
    include_inactive: bool,
    q: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Reward]:
    """The catalog by reward id; ``q`` searches the id and the name."""
    query = select(Reward)
    if not include_inactive:
        query = query.where(col(Reward.active).is_(True))
    if q:
        query = query.where(or_(contains(Reward.id, q), contains(Reward.name, q)))
    return fetch_page(session, query, Reward.id, lambda r: r.id, limit, cursor)


def list_audit_entries(
    session: Session,
    org_id: str | None = None,
    key_id: str | None = None,
    route: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    """Entries, newest first; ``org_id`` narrows to one organisation's keys (an organisation sees
    only its own), ``route`` searches the route template."""
    query = select(AuditEntry)
    if org_id is not None:
        query = query.where(AuditEntry.org_id == org_id)
    if key_id:
        query = query.where(AuditEntry.key_id == key_id)
    if route:
        query = query.where(contains(AuditEntry.route, route))
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    page = fetch_page(session, query, AuditEntry.id, lambda e: e.id, limit, cursor, descending=True)
    return Page([_audit_row(e) for e in page.rows], page.after)


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "key_id": entry.key_id,
        "role": entry.role,
        "org_id": entry.org_id,
        "console_session": entry.console_session,
        "method": entry.method,
        "route": entry.route,
        "path_ids": json.loads(entry.path_ids),
        "status": entry.status,
        "outcome": entry.outcome,
    }
