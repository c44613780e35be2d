"""The rule sets of the program: stored in SQL, each version published on chain by hash."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, select

from backend.chain.operations import PublishRules, enqueue
from backend.db.direct import select_rows
from backend.db.models import MirrorRuleSet, Operation, OperationStatus, RuleSetRecord
from backend.db.schema import table_of
from backend.errors import Conflict, NotFound
from backend.loyalty.rule_document import parse_rules, rules_from_canonical
from backend.loyalty.rules import RuleSet


@lru_cache(maxsize=64)
def _parsed(version: int, content_hash: str, content: str) -> RuleSet:
    # Keyed by the hash too: a version number alone could name other content in another database.
    return rules_from_canonical(content, version)


def parsed_rules(version: int, content_hash: str, content: str) -> RuleSet:
    """The rules of a stored version's content (parsed once per process)."""
    return _parsed(version, content_hash, content)


def rule_set_from_record(record: RuleSetRecord) -> RuleSet:
    """The rules of a stored version (parsed once per process: this is on the checkout path)."""
    return _parsed(record.version, record.content_hash, record.content)


def current_rule_record(session: Session) -> RuleSetRecord | None:
    return session.exec(select(RuleSetRecord).order_by(col(RuleSetRecord.version).desc())).first()


def current_rule_set(session: Session) -> RuleSet | None:
    record = current_rule_record(session)
    return None if record is None else rule_set_from_record(record)


def _no_rules() -> Conflict:
    return Conflict("the program has no earning rules yet", field="rules")


def rules_in_force(session: Session) -> tuple[RuleSetRecord, RuleSet]:
    record = current_rule_record(session)
    if record is None:
        raise _no_rules()
    return record, rule_set_from_record(record)


# (version, content hash, operation id) -> a copy of the stored record, outside any session.
_RECORDS: dict[tuple[int, str, int | None], RuleSetRecord] = {}


def rules_in_force_cached(session: Session) -> tuple[RuleSetRecord, RuleSet]:
    """``rules_in_force`` for the checkout's hot path: one small query for the newest version;
    its record and parsed rules are kept per process (a stored version never changes). The record
    is a copy shared by threads: read it, never add it to a session."""
    rows = select_rows(
        session,
        table_of(RuleSetRecord),
        ("version", "content_hash", "operation_id"),
        "",
        (),
        "ORDER BY version DESC LIMIT 1",
    )
    if not rows:
        raise _no_rules()
    key = (int(rows[0][0]), str(rows[0][1]), rows[0][2])
    record = _RECORDS.get(key)
    if record is None:
        stored = get_rule_record(session, key[0])
        record = RuleSetRecord(
            version=stored.version,
            content=stored.content,
            content_hash=stored.content_hash,
            operation_id=stored.operation_id,
            created_at=stored.created_at,
        )
        if len(_RECORDS) >= 64:
            _RECORDS.clear()
        _RECORDS[key] = record
    return record, rule_set_from_record(record)


def get_rule_record(session: Session, version: int) -> RuleSetRecord:
    record = session.get(RuleSetRecord, version)
    if record is None:
        raise NotFound(f"rule set version {version} does not exist", field="version")
    return record


def publish_rule_set(session: Session, rules: RuleSet) -> RuleSetRecord:
    """Store a new version and queue its hash for publication on chain (admin key)."""
    latest = current_rule_set(session)
    expected = 1 if latest is None else latest.version + 1
    if rules.version != expected:
        raise Conflict(f"next rule-set version is {expected}, got {rules.version}", field="version")
    operation = enqueue(session, PublishRules(rule_version=rules.version, content_hash=rules.content_hash()))
    record = RuleSetRecord(
        version=rules.version,
        content=rules.canonical_json(),
        content_hash=rules.content_hash(),
        operation_id=operation.id,
    )
    session.add(record)
    return record


def publish_document(session: Session, document: Any) -> tuple[RuleSetRecord, bool]:
    """Validate a rule document and publish it as the next version, unless it is the rules in
    force already (same content hash): then nothing changes. The flag says whether it published."""
    latest = current_rule_record(session)
    rules = parse_rules(document, 1 if latest is None else latest.version + 1)
    if latest is not None and latest.content_hash == rules.content_hash():
        return latest, False
    return publish_rule_set(session, rules), True


def rule_set_view(session: Session, record: RuleSetRecord, content: bool = True) -> dict[str, Any]:
    """A rule-set version as the API and the console show it: its hash, where it stands on chain
    and (``content``) the document."""
    return {
        "version": record.version,
        "content_hash": record.content_hash,
        "created_at": record.created_at,
        "publication": publication_of(session, record),
        "content": json.loads(record.content) if content else None,
    }


def publication_of(session: Session, record: RuleSetRecord) -> dict[str, Any]:
    """Where the version stands on chain: the mirrored event, or the outbox status."""
    mirrored = session.get(MirrorRuleSet, record.version)
    operation = session.get(Operation, record.operation_id) if record.operation_id else None
    status = OperationStatus.CONFIRMED if mirrored else (operation.status if operation else "pending")
    return {
        "status": status,
        "onchain_hash": mirrored.content_hash if mirrored else None,
        "block_number": mirrored.block_number if mirrored else None,
        "tx_hash": mirrored.tx_hash if mirrored else None,
        "matches": bool(mirrored and mirrored.content_hash.lower() == record.content_hash.lower()),
    }
