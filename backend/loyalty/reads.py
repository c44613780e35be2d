"""A member's balance and history for the hot path: fixed SQL on a read connection
(``backend/db/readpool.py``), the same answers as ``accounts.balance_of`` / ``history_of``.

The balance is **one statement**: the customer, the indexer's cursor (the block the answer
claims), the mirrored accounts, the debits and credits still in flight in the outbox, the tier
state, the qualifying points and the next expiry, all from one snapshot. So the answer is never
older than the block it claims, and a debit committed before the read began is never missing
from ``available`` (it is either still in flight, or confirmed and in the mirrored balance:
the indexer marks it confirmed in the same transaction that mirrors its event).

History is one small statement (customer, cursor, what is in flight, the newest tier event) and,
in the same snapshot, the page of mirrored entries, which the caller may cache by the mirror
block (``HistoryHead.ledger_key``): mirrored rows change only when the indexer's cursor moves
or a reorganisation changes its block hash.

SQL text is built only from our own constants (statuses, kinds): every value is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from backend.chain.operations import CREDIT_KINDS, DEBIT_KINDS, Points, kind_of
from backend.db.readpool import ReadConnection
from backend.indexer.confirmed import MirrorPoint, View
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import address_topic
from backend.loyalty.in_flight import IN_FLIGHT
from backend.loyalty.program import parsed_rules
from backend.loyalty.rules import RuleSet

TIER_EVENTS = 20  # as members.tier_events


def _quoted(values: tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


_FLIGHT = _quoted(tuple(str(s) for s in IN_FLIGHT))
_ADDRESSES = "(c.address, c.wallet)"  # a NULL wallet matches nothing
_NEXT_EXPIRY = (
    "SELECT min(l.expires_at) FROM point_lots l "
    "WHERE l.customer_id = c.id AND l.remaining > 0 AND l.expires_at IS NOT NULL"
)

# The points of the lots that expire first: one pass over the member's open lots. (Comparing each
# lot with a subquery for the first expiry ran that subquery once per open lot: a balance read
# grew with the square of the member's purchases.)
_EXPIRING_FIRST = (
    "SELECT sum(l.remaining) FROM point_lots l "
    "WHERE l.customer_id = c.id AND l.remaining > 0 AND l.expires_at IS NOT NULL "
    "GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1"
)

BALANCE_SQL = f"""
SELECT c.id, c.address, c.wallet, cur.block_number, cur.block_hash, cur.head_block - cur.confirmations,
  (SELECT coalesce(sum(a.balance), 0) FROM mirror_accounts a WHERE a.address IN {_ADDRESSES}),
  (SELECT coalesce(sum(a.debt), 0) FROM mirror_accounts a WHERE a.address IN {_ADDRESSES}),
  (SELECT count(*) FROM mirror_accounts a WHERE a.address IN {_ADDRESSES} AND a.self_custodied),
  (SELECT coalesce(sum(o.amount), 0) FROM operations o
     WHERE o.account IN {_ADDRESSES} AND o.status IN ({_FLIGHT}) AND o.kind IN ({_quoted(DEBIT_KINDS)})),
  (SELECT coalesce(sum(o.amount), 0) FROM operations o
     WHERE o.account IN {_ADDRESSES} AND o.status IN ({_FLIGHT}) AND o.kind IN ({_quoted(CREDIT_KINDS)})),
  (SELECT coalesce(sum(t.amount), 0) FROM point_transfers t JOIN operations o ON o.id = t.operation_id
     WHERE t.to_customer_id = c.id AND o.status IN ({_FLIGHT})),
  m.tier, m.grace_until,
  (SELECT coalesce(sum(l.qualifying), 0) FROM point_lots l
     WHERE l.customer_id = c.id AND l.earned_at > ? AND l.source = 'purchase'),
  ({_NEXT_EXPIRY}),
  coalesce(({_EXPIRING_FIRST}), 0),
  r.version, r.content_hash, r.operation_id
FROM customers c
LEFT JOIN chain_cursor cur ON cur.name = 'indexer'
LEFT JOIN member_states m ON m.customer_id = c.id
LEFT JOIN (SELECT version, content_hash, operation_id FROM rule_sets ORDER BY version DESC LIMIT 1) r ON 1 = 1
WHERE c.external_id = ?
"""  # noqa: S608 (constants of our own, every value a parameter)

HISTORY_HEAD_SQL = f"""
SELECT c.id, c.address, c.wallet, cur.block_number, cur.block_hash, cur.head_block - cur.confirmations,
  (SELECT max(te.id) FROM tier_events te WHERE te.customer_id = c.id),
  (SELECT count(*) FROM operations o WHERE o.account IN {_ADDRESSES} AND o.status IN ({_FLIGHT}))
FROM customers c LEFT JOIN chain_cursor cur ON cur.name = 'indexer'
WHERE c.external_id = ?
"""  # noqa: S608

IN_FLIGHT_SQL = f"""
SELECT id, kind, amount, ref, tx_hash, created_at FROM operations
WHERE account IN (?, ?) AND status IN ({_FLIGHT}) ORDER BY id DESC
"""  # noqa: S608

_LEDGER = """
SELECT kind, amount, debt_change, operation_id, ref, counterparty, rule_version, block_number, tx_hash, log_index,
  block_time
FROM mirror_ledger WHERE {accounts} ORDER BY block_number DESC, log_index DESC LIMIT ? OFFSET ?
"""
# One address (no wallet claimed): the index (account, block_number, log_index) gives the order,
# and a page reads only its own rows; two addresses are merged by a sort.
LEDGER_SQL = _LEDGER.format(accounts="account = ?")
LEDGER_TWO_SQL = _LEDGER.format(accounts="account IN (?, ?)")

TIER_EVENTS_SQL = f"""
SELECT kind, from_tier, to_tier, qualifying, rule_version, grace_until, at FROM tier_events
WHERE customer_id = ? ORDER BY at DESC, id DESC LIMIT {TIER_EVENTS}
"""  # noqa: S608

EVENTS_ABOUT_SQL = """
SELECT contract, name, args, block_number, block_hash, tx_hash, log_index, topic1, topic2, id FROM chain_events
WHERE contract = ? AND block_number > ? AND (topic1 = ? OR topic2 = ?)
"""

RuleKey = tuple[int, str, int | None]


def _time(micros: int | None) -> datetime | None:
    return None if micros is None else datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def _micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


@dataclass(frozen=True)
class MirrorState:
    """The indexer's cursor as the read saw it: the block, its hash, the confirmed block."""

    block: int
    block_hash: str
    confirmed_block: int

    def point(self, view: View) -> MirrorPoint:
        return MirrorPoint(view, self.block, self.confirmed_block)


@dataclass(frozen=True)
class BalanceRow:
    """Everything a balance answer needs, read in one statement (one snapshot)."""

    customer_pk: int
    address: str
    wallet: str | None
    mirror: MirrorState
    balance: int
    debt: int
    self_custodied: bool
    debits: int
    credits: int
    transfers_in: int
    tier: str | None
    grace_until: datetime | None
    qualifying: int
    next_expiry_at: datetime | None
    next_expiry_points: int
    rules: RuleKey | None

    @property
    def addresses(self) -> list[str]:
        return [self.address] + ([self.wallet] if self.wallet else [])

    @property
    def active_address(self) -> str:
        return self.wallet or self.address


def _mirror(block: int | None, block_hash: str | None, head_less_depth: int | None) -> MirrorState:
    """The cursor's state; the confirmed block as ``ChainCursor.confirmed_block`` computes it."""
    if block is None:
        return MirrorState(0, "", 0)
    return MirrorState(int(block), str(block_hash), max(0, min(int(block), int(head_less_depth or 0))))


def read_balance(conn: ReadConnection, customer_id: str, qualifying_since: datetime) -> BalanceRow | None:
    """The balance row of ``customer_id`` (None: not enrolled); qualifying points counted from
    ``qualifying_since`` (the rule set's window: check ``rules`` is the set it came from)."""
    row = conn.row(BALANCE_SQL, (_micros(qualifying_since), customer_id))
    if row is None:
        return None
    rules = None if row[17] is None else (int(row[17]), str(row[18]), row[19])
    return BalanceRow(
        customer_pk=int(row[0]),
        address=row[1],
        wallet=row[2],
        mirror=_mirror(row[3], row[4], row[5]),
        balance=int(row[6]),
        debt=int(row[7]),
        self_custodied=bool(row[8]),
        debits=int(row[9]),
        credits=int(row[10]),
        transfers_in=int(row[11]),
        tier=row[12],
        grace_until=_time(row[13]),
        qualifying=int(row[14]),
        next_expiry_at=_time(row[15]),
        next_expiry_points=int(row[16]),
        rules=rules,
    )


def balance_answer(
    row: BalanceRow, rules: RuleSet | None, view: View, unconfirmed: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """The answer of ``GET …/balance`` (``accounts.balance_of``'s, field for field).
    ``unconfirmed``: per address, the (balance, debt) mirrored above the view's block."""
    balance, debt, pending = row.balance, row.debt, row.credits + row.transfers_in
    for change, debt_change in unconfirmed.values():
        balance, debt, pending = balance - change, debt - debt_change, pending + max(0, change)
    point = row.mirror.point(view)
    return {
        "balance": balance,
        "available": max(balance - row.debits, 0),
        "pending": pending,
        "debt": debt,
        "tier": rules.tier(row.tier).name if rules else "member",
        "qualifying_points": row.qualifying if rules else 0,
        "tier_grace_until": row.grace_until,
        "next_expiry": None
        if row.next_expiry_at is None
        else {"at": row.next_expiry_at.isoformat(), "points": row.next_expiry_points},
        "address": row.active_address,
        "self_custodied": row.self_custodied or row.wallet is not None,
        "as_of_block": point.as_of_block,
        "confirmed_block": point.confirmed_block,
        "view": point.view.value,
    }


def qualifying_since(rules: RuleSet | None, now: datetime) -> datetime:
    return now - timedelta(days=rules.tier_window_days) if rules else now


def unconfirmed_changes(conn: ReadConnection, addresses: list[str], above_block: int) -> dict[str, tuple[int, int]]:
    """Per address, the (balance, debt) change mirrored above ``above_block`` (the confirmed
    view subtracts it): ``confirmed.unconfirmed_account_change`` on the read connection."""
    from backend.indexer.handlers.loyalty import CONTRACT, effects_of

    changes: dict[str, tuple[int, int]] = {}
    for address in addresses:
        topic = address_topic(address)
        rows = sorted(
            conn.rows(EVENTS_ABOUT_SQL, (CONTRACT, above_block, topic, topic)), key=lambda r: (int(r[3]), int(r[6]))
        )
        events = [
            DecodedEvent(
                r[0],
                r[1],
                orjson.loads(r[2]),
                int(r[3]),
                r[4],
                r[5],
                int(r[6]),
                tuple(t for t in (r[7], r[8]) if t is not None),
            )
            for r in rows
        ]
        fx = effects_of(events, {})
        changes[address] = (fx.balances.get(address, 0), fx.debts.get(address, 0))
    return changes


RULES_SQL = "SELECT version, content_hash, content FROM rule_sets WHERE version = ?"


def read_rules(conn: ReadConnection, key: RuleKey) -> RuleSet:
    """The parsed rules of a stored version (parsed once per process, as on the checkout path)."""
    row = conn.row(RULES_SQL, (key[0],))
    assert row is not None, "a rule set is never deleted"
    return parsed_rules(int(row[0]), str(row[1]), str(row[2]))


@dataclass(frozen=True)
class HistoryHead:
    """What a history answer depends on besides its page of mirrored rows."""

    customer_pk: int
    address: str
    wallet: str | None
    mirror: MirrorState
    last_tier_event: int | None  # tier events are only ever added: the newest id versions them
    in_flight: int

    @property
    def active_address(self) -> str:
        return self.wallet or self.address


def read_history_head(conn: ReadConnection, customer_id: str) -> HistoryHead | None:
    row = conn.row(HISTORY_HEAD_SQL, (customer_id,))
    if row is None:
        return None
    return HistoryHead(
        int(row[0]),
        row[1],
        row[2],
        _mirror(row[3], row[4], row[5]),
        None if row[6] is None else int(row[6]),
        int(row[7]),
    )


def in_flight_entries(conn: ReadConnection, head: HistoryHead) -> list[dict[str, Any]]:
    """Operations still on their way, newest first (as ``accounts.history_of``)."""
    if head.in_flight == 0:
        return []
    rows = conn.rows(IN_FLIGHT_SQL, (head.address, head.wallet))
    return [
        {
            "kind": kind,
            "amount": -amount if kind in DEBIT_KINDS else amount,
            "status": "pending",
            "operation_id": op_id,
            "ref": ref,
            "block_number": None,
            "tx_hash": tx_hash,
            "created_at": None if created is None else datetime.fromtimestamp(created / 1_000_000, tz=UTC).isoformat(),
        }
        for op_id, kind, amount, ref, tx_hash, created in rows
        if kind_of(kind).points is not Points.NONE  # a wallet claim moves points, it changes none
    ]


def ledger_entries(
    conn: ReadConnection, head: HistoryHead, point: MirrorPoint, limit: int, offset: int
) -> list[dict[str, Any]]:
    """A page of mirrored entries, newest first (as ``accounts.history_of``)."""
    if head.wallet is None:
        rows = conn.rows(LEDGER_SQL, (head.address, limit, offset))
    else:
        rows = conn.rows(LEDGER_TWO_SQL, (head.address, head.wallet, limit, offset))
    return [
        {
            "kind": kind,
            "amount": amount,
            "debt_change": debt_change,
            "status": "confirmed" if point.includes(block) else "unconfirmed",
            "operation_id": op_id,
            "ref": ref,
            "counterparty": counterparty,
            "rule_version": rule_version,
            "block_number": block,
            "tx_hash": tx_hash,
            "log_index": log_index,
            "block_time": block_time,
        }
        for (
            kind,
            amount,
            debt_change,
            op_id,
            ref,
            counterparty,
            rule_version,
            block,
            tx_hash,
            log_index,
            block_time,
        ) in rows
    ]


def tier_event_rows(conn: ReadConnection, customer_pk: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "from_tier": from_tier,
            "to_tier": to_tier,
            "qualifying": qualifying,
            "rule_version": rule_version,
            "grace_until": _time(grace),
            "at": _time(at),
        }
        for kind, from_tier, to_tier, qualifying, rule_version, grace, at in conn.rows(TIER_EVENTS_SQL, (customer_pk,))
    ]
