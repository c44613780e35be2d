"""Lots: soonest-expiring spent first, expiry dates, and a book that always agrees with the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from backend.loyalty.lots import NEVER, LotView, allocate, expired, expiry_of, repay_debt
from backend.loyalty.rules import ExpiryPolicy
from tests.budget import examples

T0 = datetime(2026, 1, 1, tzinfo=UTC)
lots = st.lists(
    st.builds(
        LotView,
        id=st.integers(1, 10**6),
        remaining=st.integers(0, 1000),
        expires_at=st.one_of(st.none(), st.integers(0, 400).map(lambda d: T0 + timedelta(days=d))),
        earned_at=st.integers(0, 400).map(lambda d: T0 - timedelta(days=d)),
    ),
    max_size=12,
    unique_by=lambda lot: lot.id,
)


@given(lots, st.integers(0, 15_000))
def test_allocation_takes_soonest_expiring_first_and_exactly_the_amount(book: list[LotView], amount: int) -> None:
    takes, shortfall = allocate(book, amount)
    available = sum(lot.remaining for lot in book)
    assert sum(t for _, t in takes) + shortfall == amount
    assert shortfall == max(amount - available, 0)
    by_id = {lot.id: lot for lot in book}
    assert all(0 < taken <= by_id[i].remaining for i, taken in takes)
    # A lot is touched only if every lot expiring strictly earlier is emptied.
    touched = {i for i, _ in takes}
    emptied = {i for i, taken in takes if taken == by_id[i].remaining}
    for i in touched:
        for other in book:
            earlier = (other.expires_at or NEVER) < (by_id[i].expires_at or NEVER)
            if earlier and other.remaining > 0:
                assert other.id in emptied


@given(lots, st.integers(0, 5000), st.data())
def test_a_refund_takes_from_its_own_lot_first(book: list[LotView], amount: int, data: st.DataObject) -> None:
    own = [lot for lot in book if lot.remaining > 0]
    if not own:
        return
    first = data.draw(st.sampled_from(own))
    takes, _ = allocate(book, amount, first=first.id)
    if amount:
        assert takes[0] == (first.id, min(first.remaining, amount))


def test_expiry_policies() -> None:
    earned = datetime(2026, 5, 17, 15, 30, tzinfo=UTC)
    assert expiry_of(ExpiryPolicy(), earned) is None
    assert expiry_of(ExpiryPolicy("after_days", days=30), earned) == earned + timedelta(days=30)
    assert expiry_of(ExpiryPolicy("end_of_period", period="month"), earned) == datetime(2026, 6, 1, tzinfo=UTC)
    assert expiry_of(ExpiryPolicy("end_of_period", period="quarter"), earned) == datetime(2026, 7, 1, tzinfo=UTC)
    assert expiry_of(ExpiryPolicy("end_of_period", period="year", extra_periods=1), earned) == datetime(
        2028, 1, 1, tzinfo=UTC
    )
    december = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert expiry_of(ExpiryPolicy("end_of_period", period="month"), december) == datetime(2027, 1, 1, tzinfo=UTC)


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_awards_repay_debt_first(amount: int, debt: int) -> None:
    repaid, credited = repay_debt(amount, debt)
    assert repaid + credited == amount
    assert repaid == min(amount, debt)


class Book:
    """The SQL bookkeeping (lots and expected debt), driven by the pure functions."""

    def __init__(self) -> None:
        self.lots: dict[int, LotView] = {}
        self.debt = 0
        self.next_id = 1

    def credit(self, amount: int, at: datetime, expires: datetime | None) -> None:
        repaid, credited = repay_debt(amount, self.debt)
        self.debt -= repaid
        self.lots[self.next_id] = LotView(self.next_id, credited, expires, at)
        self.next_id += 1

    def take(self, amount: int) -> int:
        takes, shortfall = allocate(list(self.lots.values()), amount)
        for lot_id, taken in takes:
            lot = self.lots[lot_id]
            self.lots[lot_id] = LotView(lot.id, lot.remaining - taken, lot.expires_at, lot.earned_at)
        return shortfall

    def expire(self, now: datetime) -> int:
        due = expired(self.lots.values(), now)
        for lot in due:
            self.lots[lot.id] = LotView(lot.id, 0, lot.expires_at, lot.earned_at)
        return sum(lot.remaining for lot in due)

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots.values())


class Contract:
    """LoyaltyPoints' balance and debt of one account, as the Solidity code computes them."""

    def __init__(self) -> None:
        self.balance = 0
        self.debt = 0

    def award(self, amount: int) -> None:
        repaid = min(amount, self.debt)
        self.debt -= repaid
        self.balance += amount - repaid

    def reverse(self, amount: int) -> None:
        burned = min(amount, self.balance)
        self.balance -= burned
        self.debt += amount - burned

    def burn(self, amount: int) -> None:  # redeemFor / transferFor: revert below balance
        assert amount <= self.balance
        self.balance -= amount

    def expire(self, amount: int) -> None:
        self.balance -= min(amount, self.balance)


class BookAgreesWithTheContract(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.book, self.chain, self.now = Book(), Contract(), T0

    @rule(amount=st.integers(1, 500), days=st.sampled_from([None, 1, 5, 30]))
    def award(self, amount: int, days: int | None) -> None:
        self.book.credit(amount, self.now, None if days is None else self.now + timedelta(days=days))
        self.chain.award(amount)

    @rule(amount=st.integers(1, 800))
    def refund(self, amount: int) -> None:
        self.book.debt += self.book.take(amount)
        self.chain.reverse(amount)

    @precondition(lambda self: self.chain.balance > 0)
    @rule(data=st.data())
    def spend(self, data: st.DataObject) -> None:
        amount = data.draw(st.integers(1, self.chain.balance))
        assert self.book.take(amount) == 0
        self.chain.burn(amount)

    @rule(days=st.integers(0, 10))
    def time_passes_and_lots_expire(self, days: int) -> None:
        self.now += timedelta(days=days)
        self.chain.expire(self.book.expire(self.now))

    @invariant()
    def same_balance_and_debt(self) -> None:
        assert self.book.balance == self.chain.balance
        assert self.book.debt == self.chain.debt
        assert all(lot.remaining >= 0 for lot in self.book.lots.values())


def test_book_agrees_with_the_contract() -> None:
    from hypothesis import settings

    run_state_machine_as_test(
        BookAgreesWithTheContract, settings=settings(max_examples=examples(60, 600), stateful_step_count=40)
    )
