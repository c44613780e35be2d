"""The checks every debit (redemption, paying with points, transfer) passes before it is queued."""

from __future__ import annotations

from sqlmodel import Session

from backend.db.models import Customer
from backend.errors import Conflict, Unprocessable
from backend.loyalty.accounts import available_points
from backend.loyalty.in_flight import in_flight_claim


def ensure_can_spend(session: Session, customer: Customer, points: int, field: str, custodial_only: bool) -> None:
    """Refuse (4xx naming ``field``) unless the customer can spend ``points`` now.

    ``custodial_only``: the platform itself moves the points (``redeemFor``, ``transferFor``),
    which the contract refuses for a wallet the customer holds the keys of.
    """
    if in_flight_claim(session, customer) is not None:
        raise Conflict(
            "the customer's wallet claim is on its way to the chain; retry once it is confirmed", field=field
        )
    if custodial_only and customer.wallet is not None:
        raise Conflict(
            "the customer holds their own wallet: points leave it only with the customer's signature "
            "(redeem with a permit, or transfer from the wallet)",
            field=field,
        )
    available = available_points(session, customer)
    if points > available:
        raise Unprocessable(f"needs {points} points, the customer has {available} available", field=field)
