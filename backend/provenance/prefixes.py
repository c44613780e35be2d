"""GS1 company prefixes: the registrar (admin) assigns a prefix to a brand, as GS1 licensed it;
from then on only that brand may register GTINs under it, off chain and on chain."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from backend.db.models import CompanyPrefix, Operation, Organisation
from backend.errors import Conflict, Forbidden, Unprocessable
from backend.provenance.organisations import admission_operation
from backend.provenance.roles import OrgRole

MIN_DIGITS, MAX_DIGITS = 6, 12


def prefix_key(prefix: str) -> int:
    """The prefix's key on chain: ``10 ** digits + prefix``, so leading zeros count."""
    return 10 ** len(prefix) + int(prefix)


def prefix_of_key(key: int) -> str:
    return str(key)[1:]


def candidate_prefixes(gtin14: str) -> list[str]:
    """Every possible company prefix of a GTIN-14 (it follows the indicator digit)."""
    return [gtin14[1 : 1 + digits] for digits in range(MIN_DIGITS, MAX_DIGITS + 1)]


def prefix_owner(session: Session, gtin14: str) -> CompanyPrefix | None:
    return session.exec(select(CompanyPrefix).where(col(CompanyPrefix.prefix).in_(candidate_prefixes(gtin14)))).first()


def prefixes_of(session: Session, brand_id: str) -> list[str]:
    return sorted(session.exec(select(CompanyPrefix.prefix).where(CompanyPrefix.brand_id == brand_id)).all())


def assign_prefix(session: Session, brand: Organisation, prefix: str) -> CompanyPrefix:
    if not prefix.isdigit() or not MIN_DIGITS <= len(prefix) <= MAX_DIGITS:
        raise Unprocessable("a GS1 company prefix has 6 to 12 digits", field="prefix")
    if not brand.roles & OrgRole.BRAND:
        raise Forbidden(f"organisation {brand.id!r} is not a brand", field="org_id")
    existing = session.get(CompanyPrefix, prefix)
    if existing is not None:
        raise Conflict(f"prefix {prefix} is already assigned to {existing.brand_id!r}", field="prefix")
    # GS1 prefixes never nest: refuse one that contains, or lies inside, an assigned prefix.
    overlapping = [
        p for p in session.exec(select(CompanyPrefix.prefix)).all() if p.startswith(prefix) or prefix.startswith(p)
    ]
    if overlapping:
        raise Conflict(f"prefix {prefix} overlaps the assigned prefix {overlapping[0]}", field="prefix")
    record = CompanyPrefix(prefix=prefix, brand_id=brand.id)
    session.add(record)
    admitted = admission_operation(session, brand.id)
    session.add(Operation(
        kind="assign_prefix", signer="operator", confirm_key=f"prefix:{prefix}",
        depends_on=admitted.id if admitted else None,
        payload=json.dumps({"prefix_key": prefix_key(prefix), "brand_id": brand.chain_id}),
    ))  # fmt: skip
    return record
