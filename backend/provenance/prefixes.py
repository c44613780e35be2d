"""GS1 company prefixes: the registrar (admin) assigns a prefix to an organisation, as GS1
licensed it. The holder owns every identifier under the prefix (SSCCs, GRAIs, GIAIs, GLNs…), and a
GTIN can be registered only by a brand holding its prefix, off chain and on chain.

A GS1 key does not say how long its company prefix is (6 to 12 digits), so a key is matched
against every length, shortest first, as ``ProvenanceRegistry.prefixOwnerOf`` does; assigned
prefixes never nest, so at most one matches."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from backend.chain.operations import AssignPrefix, enqueue, find_operation
from backend.db.models import CompanyPrefix, Operation, Organisation, Product
from backend.errors import Conflict, Unprocessable
from backend.provenance.gtin import prefix_key
from backend.provenance.organisations import admission_operation

MIN_DIGITS, MAX_DIGITS = 6, 12


def candidate_prefixes(digits: str) -> list[str]:
    """Every company prefix a GS1 key may have, shortest first; ``digits`` starts where the prefix
    starts (after a GTIN's indicator digit or an SSCC's extension digit)."""
    return [digits[:n] for n in range(MIN_DIGITS, MAX_DIGITS + 1) if len(digits) >= n and digits[:n].isdigit()]


def gtin_prefix_digits(gtin14: str) -> str:
    """A GTIN-14's company prefix follows its indicator digit."""
    return gtin14[1:]


def holders(session: Session, digit_strings: Iterable[str]) -> dict[str, CompanyPrefix]:
    """The assigned prefix covering each digit string (those under no assigned prefix are left out)."""
    wanted = {digits: candidate_prefixes(digits) for digits in set(digit_strings)}
    candidates = sorted({p for prefixes in wanted.values() for p in prefixes})
    assigned: dict[str, CompanyPrefix] = {}
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        rows = session.exec(select(CompanyPrefix).where(col(CompanyPrefix.prefix).in_(chunk))).all()
        assigned.update({row.prefix: row for row in rows})
    found: dict[str, CompanyPrefix] = {}
    for digits, prefixes in wanted.items():
        match = next((assigned[p] for p in prefixes if p in assigned), None)
        if match is not None:
            found[digits] = match
    return found


def prefix_owner(session: Session, gtin14: str) -> CompanyPrefix | None:
    """The assigned prefix a GTIN-14 lies under, if any."""
    digits = gtin_prefix_digits(gtin14)
    return holders(session, [digits]).get(digits)


def prefixes_of(session: Session, org_id: str) -> list[str]:
    return sorted(session.exec(select(CompanyPrefix.prefix).where(CompanyPrefix.org_id == org_id)).all())


def prefix_operation(session: Session, prefix: str) -> Operation | None:
    return find_operation(session, AssignPrefix.key(prefix))


def assign_prefix(session: Session, org: Organisation, prefix: str) -> CompanyPrefix:
    """Assign ``prefix`` to ``org`` (any organisation: a logistics company holds its SSCC prefix)."""
    if not prefix.isdigit() or not MIN_DIGITS <= len(prefix) <= MAX_DIGITS:
        raise Unprocessable("a GS1 company prefix has 6 to 12 digits", field="prefix")
    existing = session.get(CompanyPrefix, prefix)
    if existing is not None:
        raise Conflict(f"prefix {prefix} is already assigned to {existing.org_id!r}", field="prefix")
    # GS1 prefixes never nest: refuse one that contains, or lies inside, an assigned prefix.
    overlapping = [
        p for p in session.exec(select(CompanyPrefix.prefix)).all() if p.startswith(prefix) or prefix.startswith(p)
    ]
    if overlapping:
        raise Conflict(f"prefix {prefix} overlaps the assigned prefix {overlapping[0]}", field="prefix")
    # Registration needs the prefix, so no GTIN can lie under an unassigned one; a database from
    # before that rule may still hold some. They are never silently handed over: the admin settles
    # them first (brandOf on chain never changes).
    squatted = session.exec(
        select(Product.gtin, Product.brand_id)
        .where(col(Product.gtin).like(f"_{prefix}%"), Product.brand_id != org.id)
        .limit(3)
    ).all()
    if squatted:
        listed = ", ".join(f"{gtin} ({brand!r})" for gtin, brand in squatted)
        raise Conflict(f"GTINs under prefix {prefix} are registered by other brands: {listed}", field="prefix")
    record = CompanyPrefix(prefix=prefix, org_id=org.id)
    session.add(record)
    admitted = admission_operation(session, org.id)
    enqueue(session, AssignPrefix(prefix_key=prefix_key(prefix), org_id=org.chain_id), after=admitted)
    return record
