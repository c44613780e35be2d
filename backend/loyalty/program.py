"""The rule sets of the program: stored in SQL, each version published on chain by hash."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlmodel import Session, col, select

from backend.db.models import Operation, RuleSetRecord
from backend.errors import Conflict
from backend.loyalty.rules import RuleSet


def rule_set_from_record(record: RuleSetRecord) -> RuleSet:
    data = json.loads(record.content)
    return RuleSet(
        version=record.version,
        points_per_unit=Decimal(data["points_per_unit"]),
        excluded_skus=tuple(data.get("excluded_skus", ())),
    )


def current_rule_record(session: Session) -> RuleSetRecord | None:
    return session.exec(select(RuleSetRecord).order_by(col(RuleSetRecord.version).desc())).first()


def current_rule_set(session: Session) -> RuleSet | None:
    record = current_rule_record(session)
    return None if record is None else rule_set_from_record(record)


def publish_rule_set(session: Session, rules: RuleSet) -> RuleSetRecord:
    """Store a new version and queue its hash for publication on chain (admin key)."""
    latest = current_rule_set(session)
    expected = 1 if latest is None else latest.version + 1
    if rules.version != expected:
        raise Conflict(f"next rule-set version is {expected}, got {rules.version}", field="version")
    operation = Operation(
        kind="publish_rules",
        signer="admin",
        confirm_key=f"ruleset:{rules.version}",
        ref=rules.content_hash(),
        rule_version=rules.version,
    )
    session.add(operation)
    session.flush()
    record = RuleSetRecord(
        version=rules.version,
        content=rules.canonical_json(),
        content_hash=rules.content_hash(),
        operation_id=operation.id,
    )
    session.add(record)
    return record
