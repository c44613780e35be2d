"""Mirror of LoyaltyPoints: balances, debts, supply, the per-account ledger, rule sets, policy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session

from backend.db.direct import bulk_insert
from backend.db.models import MirrorAccount, MirrorLedgerEntry, MirrorRuleSet, MirrorTokenState
from backend.db.schema import table_of
from backend.db.upsert import upsert_add, upsert_replace
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import events_about, stored_events

CONTRACT = "LoyaltyPoints"
ZERO = "0x0000000000000000000000000000000000000000"
STATE_EVENTS = ("TransferPolicyUpdated", "Paused", "Unpaused", "WalletClaimed", "RuleSetPublished")


@dataclass
class LoyaltyEffects:
    """What a run of events does to the mirror; additive parts can be negated for a rollback."""

    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    debts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_block: dict[str, int] = field(default_factory=dict)
    supply: int = 0
    ledger: list[dict[str, Any]] = field(default_factory=list)
    confirmations: dict[str, int] = field(default_factory=dict)


def _entry(event: DecodedEvent, block_time: int, **values: Any) -> dict[str, Any]:
    values.setdefault("debt_change", 0)
    values.setdefault("ref", None)
    values.setdefault("counterparty", None)
    values.setdefault("rule_version", None)
    values.setdefault("operation_id", None)
    return {
        **values,
        "block_number": event.block_number,
        "block_time": block_time,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
    }


def effects_of(events: list[DecodedEvent], block_times: dict[int, int]) -> LoyaltyEffects:
    fx = LoyaltyEffects()
    for event in events:
        if event.contract != CONTRACT:
            continue
        a = event.args
        t = block_times.get(event.block_number, 0)
        if event.name == "Transfer":
            value = int(a["value"])
            if a["from"] == ZERO:
                fx.supply += value
            else:
                fx.balances[a["from"]] -= value
                fx.last_block[a["from"]] = event.block_number
            if a["to"] == ZERO:
                fx.supply -= value
            else:
                fx.balances[a["to"]] += value
                fx.last_block[a["to"]] = event.block_number
        elif event.name == "PointsAwarded":
            repaid = int(a["debtRepaid"])
            fx.debts[a["account"]] -= repaid
            fx.last_block[a["account"]] = event.block_number
            fx.ledger.append(_entry(
                event, t, account=a["account"], kind="award", amount=int(a["amount"]), debt_change=-repaid,
                operation_id=int(a["operationId"]), ref=a["orderRef"], rule_version=int(a["ruleVersion"]),
            ))  # fmt: skip
            fx.confirmations[f"op:{a['operationId']}"] = event.block_number
        elif event.name == "PointsReversed":
            incurred = int(a["debtIncurred"])
            fx.debts[a["account"]] += incurred
            fx.last_block[a["account"]] = event.block_number
            fx.ledger.append(_entry(
                event, t, account=a["account"], kind="reversal", amount=-int(a["burned"]), debt_change=incurred,
                operation_id=int(a["operationId"]), ref=a["refundRef"],
            ))  # fmt: skip
            fx.confirmations[f"op:{a['operationId']}"] = event.block_number
        elif event.name in ("PointsRedeemed", "PointsExpired"):
            kind = "redemption" if event.name == "PointsRedeemed" else "expiry"
            fx.ledger.append(_entry(
                event, t, account=a["account"], kind=kind, amount=-int(a["amount"]),
                operation_id=int(a["operationId"]), ref=a.get("rewardRef"),
            ))  # fmt: skip
            fx.confirmations[f"op:{a['operationId']}"] = event.block_number
        elif event.name == "PointsTransferred":
            amount = int(a["amount"])
            common = {"operation_id": int(a["operationId"]), "ref": a["transferRef"]}
            fx.ledger.append(_entry(
                event, t, account=a["from"], kind="transfer_out", amount=-amount, counterparty=a["to"], **common
            ))  # fmt: skip
            fx.ledger.append(_entry(
                event, t, account=a["to"], kind="transfer_in", amount=amount, counterparty=a["from"], **common
            ))  # fmt: skip
            fx.confirmations[f"op:{a['operationId']}"] = event.block_number
        elif event.name == "WalletClaimed":
            debt = int(a["debt"])
            fx.debts[a["custodial"]] -= debt
            fx.debts[a["wallet"]] += debt
            amount = int(a["amount"])
            common = {"operation_id": int(a["operationId"])}
            fx.ledger.append(_entry(
                event, t, account=a["custodial"], kind="claim_out", amount=-amount, debt_change=-debt,
                counterparty=a["wallet"], **common,
            ))  # fmt: skip
            fx.ledger.append(_entry(
                event, t, account=a["wallet"], kind="claim_in", amount=amount, debt_change=debt,
                counterparty=a["custodial"], **common,
            ))  # fmt: skip
            fx.confirmations[f"op:{a['operationId']}"] = event.block_number
        elif event.name == "RuleSetPublished":
            fx.confirmations[f"ruleset:{a['version']}"] = event.block_number
    return fx


def _write_additive(session: Session, fx: LoyaltyEffects, sign: int) -> None:
    accounts = set(fx.balances) | set(fx.debts)
    rows = [
        {
            "address": address,
            "balance": sign * fx.balances.get(address, 0),
            "debt": sign * fx.debts.get(address, 0),
            "self_custodied": False,
            "last_block": fx.last_block.get(address, 0),
        }
        for address in accounts
    ]
    upsert_add(
        session,
        table_of(MirrorAccount),
        ["address"],
        rows,
        add=["balance", "debt"],
        replace=["last_block"] if sign > 0 else [],
    )
    if fx.supply:
        _ensure_state(session)
        table = table_of(MirrorTokenState)
        session.execute(
            update(table).where(table.c.id == 1).values(total_supply=table.c.total_supply + sign * fx.supply)
        )


def _ensure_state(session: Session) -> None:
    if session.get(MirrorTokenState, 1) is None:
        session.add(MirrorTokenState(id=1))
        session.flush()


def _rebuild_state(session: Session) -> None:
    """Latest-value state (policy, pause, custody, rule sets) from the stored events."""
    _ensure_state(session)
    state = session.get(MirrorTokenState, 1)
    assert state is not None
    state.paused = False
    state.member_transfers_enabled = False
    state.daily_transfer_cap = 0
    state.latest_rule_version = 0
    custodied: list[str] = []
    rulesets: list[dict[str, Any]] = []
    for event in stored_events(session, STATE_EVENTS):
        if event.contract != CONTRACT:
            continue
        a = event.args
        if event.name == "TransferPolicyUpdated":
            state.member_transfers_enabled = bool(a["enabled"])
            state.daily_transfer_cap = int(a["dailyCap"])
        elif event.name in ("Paused", "Unpaused"):
            state.paused = event.name == "Paused"
        elif event.name == "WalletClaimed":
            custodied.append(a["wallet"])
        elif event.name == "RuleSetPublished":
            state.latest_rule_version = max(state.latest_rule_version, int(a["version"]))
            rulesets.append({
                "version": int(a["version"]), "content_hash": a["contentHash"],
                "block_number": event.block_number, "tx_hash": event.tx_hash,
            })  # fmt: skip
    session.add(state)
    accounts = table_of(MirrorAccount)
    session.execute(update(accounts).values(self_custodied=False))
    if custodied:
        upsert_add(session, accounts, ["address"], [
            {"address": a, "balance": 0, "debt": 0, "self_custodied": True, "last_block": 0} for a in custodied
        ], add=[], replace=["self_custodied"])  # fmt: skip
    session.execute(delete(table_of(MirrorRuleSet)))
    upsert_replace(session, table_of(MirrorRuleSet), ["version"], rulesets)


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> dict[str, int]:
    """Write the effects of ``events``; return the confirmations for the outbox."""
    fx = effects_of(events, block_times)
    _write_additive(session, fx, +1)
    bulk_insert(session, table_of(MirrorLedgerEntry), fx.ledger)
    if any(e.contract == CONTRACT and e.name in STATE_EVENTS for e in events):
        _rebuild_state(session)
    return fx.confirmations


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    """Undo ``removed`` (the stored events above ``above_block``, already deleted from the log)."""
    undone = effects_of(removed, {})
    _write_additive(session, LoyaltyEffects(supply=undone.supply), -1)
    ledger = table_of(MirrorLedgerEntry)
    session.execute(delete(ledger).where(ledger.c.block_number > above_block))
    _recompute_accounts(session, set(undone.balances) | set(undone.debts))
    _rebuild_state(session)


def _recompute_accounts(session: Session, addresses: set[str]) -> None:
    """Rebuild the rows of ``addresses`` from the events that remain (exactly what a replay from
    the chain gives: a negation would leave the rows and ``last_block`` that removed events set)."""
    if not addresses:
        return
    accounts = table_of(MirrorAccount)
    ordered = sorted(addresses)
    for start in range(0, len(ordered), 500):
        session.execute(delete(accounts).where(accounts.c.address.in_(ordered[start : start + 500])))
    remaining = effects_of(events_about(session, CONTRACT, addresses), {})
    rebuilt = LoyaltyEffects()
    for address in addresses & (set(remaining.balances) | set(remaining.debts)):
        rebuilt.balances[address] = remaining.balances.get(address, 0)
        rebuilt.debts[address] = remaining.debts.get(address, 0)
        if address in remaining.last_block:
            rebuilt.last_block[address] = remaining.last_block[address]
    _write_additive(session, rebuilt, +1)
