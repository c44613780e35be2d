"""Collectible rewards: catalog entries whose reward is copies of a limited edition
(``CollectibleRewards``, ERC-1155) instead of goods, and what members hold of them.

Creating one queues the edition on chain (``create_edition``, its cap = the entry's stock, fixed
for ever). Redeeming one is an ordinary redemption (``rewards.redeem``: the points burned once by
``redeem``) that also queues ``mint_collectible`` to the member's address (custodial, the copies
then held in custody, or their own wallet), sent after the edition is confirmed. The stock is the
cap: a sold-out edition is refused (409, ``quantity``) before any points are taken, and the
contract refuses a mint past the cap anyway. What a member holds is read from the mirror of the
copies moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import CreateEdition, MintCollectible, enqueue, find_operation
from backend.db.direct import dialect_of, in_list, list_value, select_rows
from backend.db.models import Customer, MirrorCollectibleMove, MirrorEdition, Operation, Organisation, Reward
from backend.db.schema import table_of
from backend.errors import Conflict, NotFound
from backend.loyalty.in_flight import active_address

ZERO_ADDRESS = "0x" + "00" * 20  # a mint's sender in ERC-1155's TransferSingle
MAX_EDITION = 2**63 - 1  # editions are uint256 on chain; the database keeps them in a signed BIGINT


@dataclass(frozen=True)
class Edition:
    number: int
    cap: int
    organiser: str | None = None  # the organisation whose event or poll it serves


def create_collectible_reward(
    session: Session, reward_id: str, name: str, points_price: int, edition: Edition, description: str = ""
) -> Reward:
    """A catalog entry for copies of a new edition of ``cap`` copies, and the edition on chain."""
    if session.get(Reward, reward_id) is not None:
        raise Conflict(f"reward {reward_id!r} already exists", field="id")
    if session.exec(select(Reward).where(Reward.edition == edition.number)).first() is not None:
        raise Conflict(f"edition {edition.number} is already a reward", field="collectible.edition")
    if edition.organiser is not None and session.get(Organisation, edition.organiser) is None:
        raise NotFound(f"organisation {edition.organiser!r} does not exist", field="collectible.organiser")
    reward = Reward(
        id=reward_id,
        name=name,
        description=description,
        points_price=points_price,
        stock=edition.cap,
        edition=edition.number,
        organiser=edition.organiser,
    )
    session.add(reward)
    enqueue(session, CreateEdition(edition=edition.number, cap=edition.cap))
    return reward


def refuse_stock_change(reward: Reward, changes: dict[str, object]) -> None:
    """The stock of a collectible is its edition's cap, fixed on chain at creation."""
    if reward.edition is not None and "stock" in changes:
        raise Conflict(f"reward {reward.id!r} is an edition: its cap is fixed", field="stock")


def ensure_in_stock(reward: Reward, quantity: int) -> None:
    """Sold out is answered before any points are taken (the stock is decremented later, atomically)."""
    if reward.stock is not None and reward.stock < quantity:
        raise Conflict(f"edition {reward.edition} of reward {reward.id!r} has {reward.stock} left", field="quantity")


def queue_mint(session: Session, customer: Customer, reward: Reward, quantity: int) -> Operation:
    """The redemption's copies, minted once the edition is on chain (its ``create_edition``)."""
    assert reward.edition is not None
    edition_op = find_operation(session, CreateEdition.key(reward.edition))
    # To the custodial address the copies are held in custody (the contract lets the platform relay
    # them, with the member's consent); in the member's own wallet they move only by the wallet.
    custodial = customer.wallet is None
    mint = MintCollectible(
        account=active_address(customer), amount=quantity, edition=reward.edition, custodial=custodial
    )
    return enqueue(session, mint, after=edition_op)


@dataclass(frozen=True)
class Holding:
    edition: int
    copies: int
    reward_id: str | None
    name: str | None


def copies_held(session: Session, address: str, edition: int) -> int:
    """Copies of ``edition`` at ``address`` on the mirror (what came in minus what went out)."""
    moves = MirrorCollectibleMove
    came = session.exec(
        select(func.coalesce(func.sum(moves.amount), 0)).where(moves.holder == address, moves.edition == edition)
    ).one()
    went = session.exec(
        select(func.coalesce(func.sum(moves.amount), 0)).where(moves.previous == address, moves.edition == edition)
    ).one()
    return int(came) - int(went)


def holdings(session: Session, addresses: list[str]) -> list[Holding]:
    """Every edition the addresses hold copies of (a member's custodial address and wallet)."""
    moves = MirrorCollectibleMove
    totals: dict[int, int] = {}
    for address in addresses:
        for column, sign in ((moves.holder, 1), (moves.previous, -1)):
            rows = session.exec(
                select(moves.edition, func.sum(moves.amount)).where(column == address).group_by(col(moves.edition))
            ).all()
            for edition, amount in rows:
                totals[edition] = totals.get(edition, 0) + sign * int(amount)
    rewards = {r.edition: r for r in session.exec(select(Reward).where(col(Reward.edition).in_(list(totals)))).all()}
    return [
        Holding(edition, copies, getattr(rewards.get(edition), "id", None), getattr(rewards.get(edition), "name", None))
        for edition, copies in sorted(totals.items())
        if copies > 0
    ]


def editions_held(session: Session, addresses: list[str], editions: frozenset[int]) -> dict[str, set[int]]:
    """Of ``editions``, those each address holds a copy of on the mirror: two grouped queries for a
    whole run of purchases (the earning rule ``holds_edition``; never a query per member)."""
    dialect = dialect_of(session)
    table = table_of(MirrorCollectibleMove)
    copies: dict[tuple[str, int], int] = {}
    for column, sign in (("holder", 1), ("previous", -1)):
        where = f"{in_list(dialect, column)} AND {in_list(dialect, 'edition')}"
        params = (list_value(dialect, sorted(addresses)), list_value(dialect, sorted(editions)))
        tail = f"GROUP BY {column}, edition"
        for address, edition, amount in select_rows(
            session, table, (column, "edition"), where, params, tail, ("coalesce(sum(amount), 0)",)
        ):
            copies[address, edition] = copies.get((address, edition), 0) + sign * int(amount)
    held: dict[str, set[int]] = {}
    for (address, edition), count in copies.items():
        if count > 0:
            held.setdefault(address, set()).add(edition)
    return held


def addresses_of(customer: Customer) -> list[str]:
    """Where a member's copies can be: the custodial address, and their wallet once claimed."""
    return [customer.address, *([customer.wallet] if customer.wallet else [])]


@dataclass(frozen=True)
class EditionFigures:
    """An edition as the mirror knows it: its cap on chain (None until mirrored), copies minted,
    and the addresses holding at least one copy."""

    cap: int | None
    minted: int
    holders: int


def edition_figures(session: Session, editions: list[int]) -> dict[int, EditionFigures]:
    """Cap, minted and holders of each edition from the mirror, in three grouped queries (a mint
    is a move from the zero address; a holder is an address whose moves in exceed those out)."""
    if not editions:
        return {}
    moves = MirrorCollectibleMove
    balances: dict[tuple[int, str], int] = {}
    for column, sign in ((moves.holder, 1), (moves.previous, -1)):
        rows = session.exec(
            select(moves.edition, column, func.sum(moves.amount))
            .where(col(moves.edition).in_(editions))
            .group_by(col(moves.edition), col(column))
        ).all()
        for edition, address, amount in rows:
            balances[edition, address] = balances.get((edition, address), 0) + sign * int(amount)
    caps = dict(
        session.exec(
            select(MirrorEdition.edition, MirrorEdition.cap).where(col(MirrorEdition.edition).in_(editions))
        ).all()
    )
    figures = {}
    for edition in editions:
        minted = -balances.get((edition, ZERO_ADDRESS), 0)
        holders = sum(1 for (e, a), n in balances.items() if e == edition and a != ZERO_ADDRESS and n > 0)
        figures[edition] = EditionFigures(caps.get(edition), minted, holders)
    return figures


def edition_metadata(session: Session, edition: int) -> dict[str, object]:
    """The ERC-1155 metadata the edition's ``uri`` points at: the reward's name and description,
    its cap and organiser. Nothing of any holder (holders are public on chain already, and a
    document about the edition has no reason to name them)."""
    reward = session.exec(select(Reward).where(Reward.edition == edition)).first()
    if reward is None:
        raise NotFound(f"edition {edition} is no reward", field="edition")
    cap = session.exec(select(MirrorEdition.cap).where(MirrorEdition.edition == edition)).first()
    if cap is None:  # no copy exists before the edition is on chain; its cap is the chain's
        raise NotFound(f"edition {edition} is not on chain yet", field="edition")
    attributes: list[dict[str, object]] = [
        {"trait_type": "Edition", "value": edition, "display_type": "number"},
        {"trait_type": "Cap", "value": cap, "display_type": "number"},
    ]
    if reward.organiser is not None:
        attributes.append({"trait_type": "Organiser", "value": reward.organiser})
    return {
        "name": reward.name,
        "description": reward.description or f"A limited edition of {reward.name}, a collectible reward.",
        "attributes": attributes,
    }
