"""Who owns an identifier that an EPCIS event names, and so who may write about it.

- A GTIN-based identifier (SGTIN, LGTIN, a GTIN class, UPUI, serialized ITIP) belongs to the
  brand that registered the GTIN (and a GTIN can be registered only under the brand's own GS1
  company prefix).
- Any other GS1 key (SSCC, GRAI, GIAI, SGLN named as an object, GDTI, GSRN, CPI…) belongs to the
  organisation holding its GS1 company prefix, as the admin assigned it (on chain).
- Anything else (a GS1 key under no assigned prefix, a private URI) belongs to the organisation
  that first recorded an event naming it ("first use": commissioning it, packing into it…). A
  prefix assigned later takes precedence over a first use.

Writing about an identifier needs its owner, or a partner the owner authorised for a role the
event needs (see :func:`backend.provenance.epcis.capture.required_roles`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.db.models import EpcisEventEpc, EpcisEventRecord
from backend.provenance.epcis.identifiers import CANONICAL_HOST, Identifier
from backend.provenance.prefixes import holders

# GS1 keys whose company prefix follows one leading digit: a GTIN's indicator, an SSCC's extension
# digit, the zero a GRAI is padded with in AI (8003), an ITIP's GTIN indicator.
_LEADING_DIGIT_KEYS = frozenset({"00", "01", "8003", "8006"})


@dataclass(frozen=True)
class Owner:
    org_id: str
    basis: str  # "company_prefix" or "first_use"
    detail: str  # the prefix, or the event that used the identifier first

    def describe(self) -> str:
        if self.basis == "company_prefix":
            return f"owned by {self.org_id!r} through GS1 company prefix {self.detail}"
        return f"owned by {self.org_id!r}, which recorded it first (event {self.detail})"


def company_digits(identifier: Identifier) -> str | None:
    """The characters of a GS1 key from where its company prefix starts (None if not a GS1 key)."""
    if identifier.scheme == "other" or not identifier.canonical.startswith(CANONICAL_HOST + "/"):
        return None
    parts = identifier.canonical[len(CANONICAL_HOST) + 1 :].split("/")
    if len(parts) < 2:
        return None
    ai, value = parts[0], parts[1]
    return value[1:] if ai in _LEADING_DIGIT_KEYS else value


def owned_by_gtin(identifier: Identifier) -> bool:
    """Whether the identifier's owner is its GTIN's brand (checked against the registered product)."""
    return identifier.gtin is not None


def owners(session: Session, identifiers: Iterable[Identifier]) -> dict[str, Owner]:
    """The owner of each non-GTIN identifier, by key; unowned identifiers are left out (the next
    event that names one makes its writer the owner)."""
    wanted = {i.key: i for i in identifiers if not owned_by_gtin(i)}
    found: dict[str, Owner] = {}
    digits = {key: d for key, i in wanted.items() if (d := company_digits(i)) is not None}
    by_prefix = holders(session, digits.values())
    for key, value in digits.items():
        holder = by_prefix.get(value)
        if holder is not None:
            found[key] = Owner(holder.org_id, "company_prefix", holder.prefix)
    found.update(first_users(session, [key for key in wanted if key not in found]))
    return found


def first_users(session: Session, keys: list[str]) -> dict[str, Owner]:
    """The organisation that wrote the first recorded event naming each key."""
    first_event: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.exec(
            select(EpcisEventEpc.epc, func.min(EpcisEventEpc.event_pk))
            .where(col(EpcisEventEpc.epc).in_(chunk))
            .group_by(col(EpcisEventEpc.epc))
        ).all()
        first_event.update({epc: int(pk) for epc, pk in rows})
    writers: dict[int, tuple[str, str]] = {}
    pks = sorted(set(first_event.values()))
    for start in range(0, len(pks), 500):
        pk_chunk = pks[start : start + 500]
        records = session.exec(
            select(EpcisEventRecord.id, EpcisEventRecord.org_id, EpcisEventRecord.event_id).where(
                col(EpcisEventRecord.id).in_(pk_chunk)
            )
        ).all()
        writers.update({int(pk or 0): (org_id, event_id) for pk, org_id, event_id in records})
    return {key: Owner(writers[pk][0], "first_use", writers[pk][1]) for key, pk in first_event.items()}
