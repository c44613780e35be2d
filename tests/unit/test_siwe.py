"""The EIP-4361 parser: the EIP's own example messages parse to their fields and render back to
the same text; everything the ABNF does not allow is refused naming the field; each expectation
(domain, scheme, URI, chain id, statement, times) is checked; hostile input costs little."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.consent.siwe import Expectations, SignInRefused, check_message, parse_message, signer_of
from backend.errors import Unprocessable
from tests.budget import examples

ADDRESS = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
BODY = """0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""
HEADER = " wants you to sign in with your Ethereum account:\n"
# The three examples of EIP-4361 ("Examples"): implicit scheme, explicit port, explicit scheme.
EXAMPLES = {
    "implicit scheme": ("example.com" + HEADER + BODY, None, "example.com"),
    "explicit port": ("example.com:3388" + HEADER + BODY, None, "example.com:3388"),
    "explicit scheme": ("https://example.com" + HEADER + BODY, "https", "example.com"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_eips_examples_parse_and_render_back(name: str) -> None:
    text, scheme, domain = EXAMPLES[name]
    message = parse_message(text)
    assert (message.scheme, message.domain) == (scheme, domain)
    assert message.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert message.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert (message.uri, message.version, message.chain_id, message.nonce) == (
        "https://example.com/login",
        "1",
        1,
        "32891756",
    )
    assert message.issued_at == "2021-09-30T16:25:24Z"
    assert message.resources == (
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    )
    assert (message.expiration_time, message.not_before, message.request_id) == (None, None, None)
    assert message.render() == text


def test_every_optional_field_and_no_statement() -> None:
    text = (
        "localhost:8000" + HEADER + "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
        "URI: http://localhost:8000/me\nVersion: 1\nChain ID: 31337\nNonce: abcdEFGH1234\n"
        "Issued At: 2026-11-30T10:00:00.123+01:00\nExpiration Time: 2026-11-30T10:10:00Z\n"
        "Not Before: 2026-11-30T09:59:00Z\nRequest ID: req-1%20a@b\nResources:"
    )
    message = parse_message(text)
    assert message.statement is None
    assert (message.expiration_time, message.not_before, message.request_id) == (
        "2026-11-30T10:10:00Z",
        "2026-11-30T09:59:00Z",
        "req-1%20a@b",
    )
    assert message.resources == ()
    assert message.render() == text


def _with(old: str, new: str, text: str = EXAMPLES["implicit scheme"][0]) -> str:
    assert old in text
    return text.replace(old, new, 1)


REFUSED = {
    "no header": (_with(HEADER, "\n"), "message.domain"),
    "header wording": (_with("wants you to sign in", "wants you to log in"), "message.domain"),
    "space in domain": (_with("example.com wants", "exa mple.com wants"), "message.domain"),
    "bad scheme": (_with("example.com wants", "1http://example.com wants"), "message.scheme"),
    "lower-case address": (_with("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", ADDRESS.lower()), "message.address"),
    "short address": (_with("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39"), "message.address"),
    "no blank line": (_with("Cc2\n\nI accept", "Cc2\nI accept"), "message.statement"),
    "LF in statement": (_with("Terms of Service", "Terms\nof Service"), "message.statement"),
    "statement chars": (_with("Terms of Service", "Terms of Service <b>"), "message.statement"),
    "not a URI": (_with("URI: https://example.com/login", "URI: not a uri"), "message.uri"),
    "version 2": (_with("Version: 1", "Version: 2"), "message.version"),
    "chain id": (_with("Chain ID: 1", "Chain ID: one"), "message.chain_id"),
    "short nonce": (_with("Nonce: 32891756", "Nonce: 1234567"), "message.nonce"),
    "nonce symbols": (_with("Nonce: 32891756", "Nonce: 3289-1756"), "message.nonce"),
    "date": (_with("2021-09-30T16:25:24Z", "2021-09-30 16:25:24"), "message.issued_at"),
    "month 13": (_with("2021-09-30T16:25:24Z", "2021-13-30T16:25:24Z"), "message.issued_at"),
    "fields out of order": (_with("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"), "message.version"),
    "trailing LF": (EXAMPLES["implicit scheme"][0] + "\n", "message.resources"),
    "CRLF": (EXAMPLES["implicit scheme"][0].replace("\n", "\r\n"), "message"),
    "bad resource": (_with("- https://example.com/my-web2-claim.json", "- not a uri"), "message.resources"),
    "unknown line": (
        _with("Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30T16:25:24Z\nColour: red"),
        "message",
    ),
    "too long": ("x" * 5000, "message"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_what_the_abnf_does_not_allow_is_refused_naming_the_field(name: str) -> None:
    text, field = REFUSED[name]
    with pytest.raises(Unprocessable) as refused:
        parse_message(text)
    assert refused.value.field == field, refused.value.message


@settings(max_examples=examples(200, 2000), deadline=None, database=None, derandomize=True)
@given(st.text(max_size=600))
def test_any_text_is_parsed_or_refused_never_crashes(text: str) -> None:
    with contextlib.suppress(Unprocessable):
        parse_message(text)


def test_hostile_input_is_refused_line_by_line() -> None:
    """An anonymous endpoint parses this (the siwe package's ABNF parser took seconds on 2 KB of
    garbage): long lines are refused by bounded patterns, the nonce is long but valid."""
    for text, field in (
        ("x" * 4096, "message.domain"),
        ("a" * 4000 + HEADER, "message.address"),
        ("example.com" + HEADER + "0x" + "f" * 4000, "message.address"),
    ):
        with pytest.raises(Unprocessable) as refused:
            parse_message(text)
        assert refused.value.field == field
    assert parse_message(EXAMPLES["implicit scheme"][0].replace("32891756", "9" * 3000)).nonce == "9" * 3000


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXPECT = Expectations("loyalty.example", "https", "https://loyalty.example", 31337, "Sign in, please.")


def _good() -> str:
    return (
        "loyalty.example" + HEADER + "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\nSign in, please.\n\n"
        "URI: https://loyalty.example/me\nVersion: 1\nChain ID: 31337\nNonce: 0123456789abcdef\n"
        "Issued At: 2026-11-30T11:59:00Z\nExpiration Time: 2026-11-30T12:05:00Z"
    )


def test_a_message_for_us_passes_the_checks() -> None:
    check_message(parse_message(_good()), EXPECT, NOW)
    check_message(parse_message("https://" + _good()), EXPECT, NOW)


MISMATCHES = {
    "domain": ("loyalty.example wants", "evil.example wants", "message.domain"),
    "scheme": ("loyalty.example wants", "http://loyalty.example wants", "message.scheme"),
    "uri elsewhere": ("URI: https://loyalty.example/me", "URI: https://evil.example/me", "message.uri"),
    "uri prefix trick": ("URI: https://loyalty.example/me", "URI: https://loyalty.example.evil/me", "message.uri"),
    "chain id": ("Chain ID: 31337", "Chain ID: 1", "message.chain_id"),
    "statement": ("Sign in, please.", "Sign in and send everything.", "message.statement"),
    "expired": (
        "Expiration Time: 2026-11-30T12:05:00Z",
        "Expiration Time: 2026-11-30T11:59:59Z",
        "message.expiration_time",
    ),
    "no expiry": ("\nExpiration Time: 2026-11-30T12:05:00Z", "", "message.expiration_time"),
    "issued in the future": ("Issued At: 2026-11-30T11:59:00Z", "Issued At: 2026-11-30T12:30:00Z", "message.issued_at"),
    "not yet valid": (
        "Expiration Time: 2026-11-30T12:05:00Z",
        "Expiration Time: 2026-11-30T12:05:00Z\nNot Before: 2026-11-30T12:01:00Z",
        "message.not_before",
    ),
}


@pytest.mark.parametrize("name", MISMATCHES)
def test_a_message_for_someone_else_or_another_time_is_refused(name: str) -> None:
    old, new, field = MISMATCHES[name]
    with pytest.raises(SignInRefused) as refused:
        check_message(parse_message(_with(old, new, _good())), EXPECT, NOW)
    assert refused.value.field == field


def test_the_signer_is_recovered_from_the_text_signed() -> None:
    account = Account.create()
    text = _good().replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", account.address)
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()
    assert signer_of(text, signature) == account.address
    assert signer_of(text + " ", signature) != account.address
    assert signer_of(text, "0x" + "00" * 65) is None
    assert replace(parse_message(text), nonce="another1").render() != text
