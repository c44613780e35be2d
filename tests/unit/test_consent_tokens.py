"""Customer tokens and till codes at rest and in logs (pure functions)."""

from __future__ import annotations

import base64
import hashlib

from backend.consent.tokens import TOKEN_PREFIX, Scope, decode_scopes, digest, encode_scopes, token_id_of
from backend.redaction import REDACTED, redact_secrets


def test_a_customer_token_is_blanked_in_logs_but_its_public_id_stays() -> None:
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")
    event = redact_secrets(
        None, "info", {"event": f"issued {token}", "token_id": token_id_of(token), "note": f"Bearer {token}"}
    )
    assert token not in str(event)
    assert REDACTED in event["event"]
    assert event["token_id"] == token_id_of(token) == token[:13]


def test_scopes_round_trip_in_a_stable_order() -> None:
    assert encode_scopes([Scope.WALLET, Scope.READ]) == "read,wallet"
    assert decode_scopes("read,wallet") == {Scope.READ, Scope.WALLET}
    assert decode_scopes("") == frozenset()


def test_the_digest_is_sha256_of_the_whole_token() -> None:
    assert digest("cust_x") == hashlib.sha256(b"cust_x").hexdigest()
