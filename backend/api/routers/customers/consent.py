"""Customer consent: customer tokens (issued by an admin or a retailer's program key, like the
ephemeral keys of payment platforms), one-time till codes, and Sign-In with Ethereum for members
who hold their own wallet. See docs/security/consent-and-tenancy.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends

from backend.api.deps import AppState, StateDep
from backend.api.policy import LOG_OUT, MEMBER_ADMIN, PUBLIC, TILL_CODE, Access
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.consent import (
    CustomerTokenIn,
    CustomerTokenOut,
    RevokedOut,
    SiweNonceOut,
    SiweSessionIn,
    SiweSessionOut,
    TillCodeOut,
)
from backend.api.token_domain import chain_id_of
from backend.consent import siwe
from backend.consent.till_codes import issue_code
from backend.consent.tokens import ALL_SCOPES, Scope, decode_scopes, issue_token, revoke_customer_tokens, revoke_token
from backend.db.models import CustomerToken
from backend.errors import NotFound
from backend.loyalty.customers import get_customer

router = APIRouter(tags=["consent"], responses=ERROR_RESPONSES)

SIGN_IN_STATEMENT = "Sign in to Credance loyalty with this wallet."


def _token_out(token: str, record: CustomerToken, customer_id: str) -> dict[str, Any]:
    scopes = sorted(s.value for s in decode_scopes(record.scopes))
    return {
        "token": token,
        "token_id": record.token_id,
        "customer_id": customer_id,
        "scopes": scopes,
        "expires_at": record.expires_at,
    }


def _lifetimes(state: AppState, ttl_seconds: int | None) -> tuple[timedelta, timedelta]:
    settings = state.settings
    return timedelta(seconds=ttl_seconds or settings.customer_token_ttl), timedelta(
        seconds=settings.customer_token_max_ttl
    )


@router.post(
    "/v1/customers/{customer_id}/tokens",
    response_model=CustomerTokenOut,
    status_code=201,
    summary="Issue a customer token (admin or the retailer's program key)",
)
def create_token(
    customer_id: str, body: CustomerTokenIn, access: Annotated[Access, Depends(MEMBER_ADMIN)], state: StateDep
) -> dict[str, Any]:
    """A short-lived bearer token for this customer, for the retailer's backend to hand to the
    customer's app once it has authenticated them. With it the customer reads their own balance,
    history and profile, redeems, transfers, claims a wallet and agrees to partner conversions,
    within its ``scopes``; it is refused for every other customer and on every other route."""
    lifetime, longest = _lifetimes(state, body.ttl_seconds)
    scopes = [Scope(s) for s in body.scopes] if body.scopes else ALL_SCOPES
    with state.write() as session:
        customer = get_customer(session, customer_id)
        token, record = issue_token(session, customer, access.key_id, lifetime, longest, scopes)
        return _token_out(token, record, customer.external_id)


@router.delete(
    "/v1/customers/{customer_id}/tokens/{token_id}", status_code=204, summary="Revoke a customer token (sign out)"
)
def delete_token(customer_id: str, token_id: str, access: Annotated[Access, Depends(LOG_OUT)], state: StateDep) -> None:
    """Void at once in this API process, within 5 s in the others."""
    with state.write() as session:
        if not revoke_token(session, get_customer(session, customer_id), token_id):
            raise NotFound(f"customer {customer_id!r} has no live token {token_id!r}", field="token_id")
    state.verifier.forget({token_id})


@router.delete(
    "/v1/customers/{customer_id}/tokens",
    response_model=RevokedOut,
    summary="Revoke every token of a customer (admin or program key)",
)
def delete_tokens(
    customer_id: str, access: Annotated[Access, Depends(MEMBER_ADMIN)], state: StateDep
) -> dict[str, Any]:
    with state.write() as session:
        revoked = revoke_customer_tokens(session, get_customer(session, customer_id))
    state.verifier.forget(set(revoked))
    return {"revoked": revoked}


@router.post(
    "/v1/customers/{customer_id}/till-codes",
    response_model=TillCodeOut,
    status_code=201,
    summary="A one-time code to show at a till (the customer's token)",
)
def create_till_code(
    customer_id: str, access: Annotated[Access, Depends(TILL_CODE)], state: StateDep
) -> dict[str, Any]:
    """8 digits, valid for ``CREDANCE_TILL_CODE_TTL`` seconds (2 minutes), used once: the till
    sends it with a redemption or a purchase paid with points (``customer_code``). A new code
    voids the last; five wrong codes void it too."""
    with state.write() as session:
        customer = get_customer(session, customer_id)
        code, record = issue_code(session, customer, access.key_id, timedelta(seconds=state.settings.till_code_ttl))
        return {"code": code, "customer_id": customer.external_id, "expires_at": record.expires_at}


# -- Sign-In with Ethereum ------------------------------------------------------------------


def expectations(state: AppState, chain_id: int) -> siwe.Expectations:
    scheme = urlsplit(state.settings.resolved_public_url).scheme or "https"
    domain = state.settings.resolved_siwe_domain
    return siwe.Expectations(domain, scheme, f"{scheme}://{domain}", chain_id, SIGN_IN_STATEMENT)


@router.post(
    "/v1/siwe/nonces",
    response_model=SiweNonceOut,
    status_code=201,
    dependencies=[Depends(PUBLIC)],
    summary="Sign-In with Ethereum: a nonce and the fields the message must carry (no key)",
)
def create_nonce(state: StateDep) -> dict[str, Any]:
    """Sign an EIP-4361 message with exactly this ``domain``, ``uri`` (or a URI under it),
    ``chain_id``, ``version``, ``statement`` and ``nonce``, an ``Issued At`` and an
    ``Expiration Time``, with the wallet the member claimed; then ``POST /v1/siwe/sessions``.
    The nonce is good once, until ``expires_at``."""
    with state.write() as session:
        expect = expectations(state, chain_id_of(state, session))
        record = siwe.issue_nonce(session, timedelta(seconds=state.settings.siwe_nonce_ttl))
        return {
            "nonce": record.nonce,
            "expires_at": record.expires_at,
            "domain": expect.domain,
            "uri": expect.origin,
            "chain_id": expect.chain_id,
            "version": "1",
            "statement": expect.statement,
        }


@router.post(
    "/v1/siwe/sessions",
    response_model=SiweSessionOut,
    status_code=201,
    dependencies=[Depends(PUBLIC)],
    summary="Sign-In with Ethereum: a customer token for the member whose wallet signed (no key)",
    responses={401: {"description": "The message or signature does not sign this member in (field says why)"}},
)
def create_session(body: SiweSessionIn, state: StateDep) -> dict[str, Any]:
    """Checks the message against the EIP-4361 grammar and every field against what
    ``POST /v1/siwe/nonces`` gave (domain, URI, chain id, statement, nonce, unexpired), the
    signature with the message's address (EIP-191), uses the nonce, and issues a customer token
    (all scopes, ``CREDANCE_CUSTOMER_TOKEN_TTL``) for the member who claimed that wallet."""
    lifetime, longest = _lifetimes(state, None)
    with state.write() as session:
        expect = expectations(state, chain_id_of(state, session))
        customer = siwe.sign_in(session, body.message, body.signature, expect)
        assert customer.wallet is not None
        token, record = issue_token(session, customer, f"siwe:{customer.wallet}", lifetime, longest)
        return {**_token_out(token, record, customer.external_id), "address": customer.wallet}
