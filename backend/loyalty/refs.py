"""References that leave the platform, keyed so that nobody outside can compute or link them.

Each operation on chain names what caused it (an order, a refund, a reward, a transfer, a partner
conversion), and a sale event that brands read names its order. An unkeyed hash of the order's
store and number (what this module used to publish) lets anyone holding a receipt compute the
reference, find the award on chain, and with it the customer's address and whole ledger; the
same hash in the brand's sale event let the brand do the same for every item sold.

So every reference is ``HMAC-SHA256(audience key, kind and parts)``, with a key per audience
derived from one server secret (``CREDANCE_REFERENCE_SECRET``, or 32 random bytes created once
in ``CREDANCE_HOME/reference.secret``, mode 0600):

* ``chain``: the ``orderRef``, ``refundRef``, ``rewardRef`` and ``transferRef`` of operations on
  chain (public: anyone reads them);
* ``epcis``: the ``credance:saleRef`` of the ``retail_selling`` event the brand and its partners
  read (and the public verification answer shows), one per item sold;
* ``web``: the CSRF token of a member's session on the pages (``backend/web/sessions.py``);
* ``ticket``: the key signing the ticket QR codes of collectibles (``backend/loyalty/tickets.py``).

The same sale has unrelated references in the two audiences, so a brand's view of a sale never
matches anything on chain, and without the secret no receipt number gives any reference. The
platform, which holds the secret, can still recompute both to answer for a sale. References are
computed once, when the operation is queued, and stored with it: reconcile and the indexer compare
what is stored with the chain and never recompute them.

Rotating the secret changes the references of later operations only (those stored stay valid).
Several API hosts must share it: set ``CREDANCE_REFERENCE_SECRET`` on each.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

from backend.home import create_once
from backend.redaction import register_secret
from backend.settings import Settings, get_settings

SECRET_FILE = "reference.secret"  # noqa: S105  (a file name)
MIN_SECRET_BYTES = 16


class Audience(StrEnum):
    CHAIN = "chain"
    EPCIS = "epcis"
    WEB = "web"  # the pages' CSRF tokens: bound to a session, never computable without the secret
    TICKET = "ticket"  # the key that signs the ticket QR codes members show at a door


class References:
    """Reference derivation with one HMAC key per audience (HMAC of the secret and the audience
    name, so the keys are independent: knowing one reveals nothing about the others)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the reference secret needs at least {MIN_SECRET_BYTES} bytes")
        self._keys = {
            audience: hmac.digest(secret, f"credance/reference-key/v1/{audience}".encode(), hashlib.sha256)
            for audience in Audience
        }

    def reference(self, audience: Audience, kind: str, *parts: str) -> str:
        """``0x`` + 32 bytes. Each part is length-prefixed, so ("a:b", "c") and ("a", "b:c")
        never collide."""
        message = b"".join(len(p).to_bytes(4, "big") + p for p in (kind.encode(), *(x.encode() for x in parts)))
        return "0x" + hmac.digest(self._keys[audience], message, hashlib.sha256).hex()


_current: References | None = None


def configure(settings: Settings) -> References:
    """Load (or create) the secret of this deployment; every process calls this at start-up
    (the API, the CLI); otherwise the first reference loads it from the default settings."""
    global _current
    _current = References(_secret(settings))
    return _current


def _secret(settings: Settings) -> bytes:
    if settings.reference_secret is not None:
        text = settings.reference_secret.get_secret_value()
    else:
        text = create_once(settings.resolved_home / SECRET_FILE, lambda: secrets.token_hex(32))
    register_secret(text)
    return text.encode()


def references() -> References:
    current = _current
    return current if current is not None else configure(get_settings())


def order_ref(store_id: str, order_id: str) -> str:
    """``orderRef`` of an award on chain (and ``rewardRef`` of the points an order was paid with)."""
    return references().reference(Audience.CHAIN, "order", store_id, order_id)


def sale_ref(store_id: str, order_id: str, gtin: str, serial: str) -> str:
    """The sale's reference in the ``retail_selling`` event other organisations read: one per item
    sold, so that a brand cannot even tell which of its items were bought together."""
    return references().reference(Audience.EPCIS, "sale", store_id, order_id, gtin, serial)


def refund_ref(store_id: str, order_id: str, refund_id: str) -> str:
    return references().reference(Audience.CHAIN, "refund", store_id, order_id, refund_id)


def redemption_ref(address: str, redemption_id: str) -> str:
    return references().reference(Audience.CHAIN, "redemption", address.lower(), redemption_id)


def transfer_ref(address: str, transfer_id: str) -> str:
    return references().reference(Audience.CHAIN, "transfer", address.lower(), transfer_id)


def conversion_ref(partner_id: str, conversion_id: str) -> str:
    return references().reference(Audience.CHAIN, "partner", partner_id, conversion_id)


def passport_owner_ref(token_id: str, customer_id: int) -> str:
    """A member as an owner of one passport in the item's EPCIS history (``owning_party``): one per
    (passport, member), so the owners of two items cannot be matched, and no account is named."""
    return references().reference(Audience.EPCIS, "passport-owner", token_id.lower(), str(customer_id))


def passport_holder_ref(token_id: str, address: str) -> str:
    """A wallet no member claims, as an owner of one passport in the item's EPCIS history: keyed
    like ``passport_owner_ref`` (another kind, so it never equals a member's reference), so the
    history names no address and the same wallet's two passports cannot be matched."""
    return references().reference(Audience.EPCIS, "passport-holder", token_id.lower(), address.lower())
