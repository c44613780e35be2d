"""Sign-In with Ethereum (EIP-4361) for members who hold their own wallet.

The server hands out a nonce (single use, expiring); the wallet signs an EIP-4361 message naming
our domain, our URI, our chain id, that nonce and an expiration time (an EIP-191 personal
signature); the server parses the message strictly, checks every field against what it expects
and the signature with eth-account, uses the nonce, and issues a customer token for the member who
claimed that wallet.

The message is parsed here by a strict parser of the EIP's ABNF rather than the ``siwe`` package:
siwe 4.4.0 does not import with the current ``abnf`` (2.9), and with an older one its parser took
2.4 s for a 2,000-character line of garbage and exhausted memory on 100 KB, which an anonymous
endpoint cannot afford. Lines are matched one by one with bounded patterns; URIs and the authority
are checked with ``rfc3987`` (RFC 3986 grammar).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import rfc3987
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address
from sqlalchemy import delete
from sqlmodel import Session, select

from backend.db.models import Customer, SiweNonce
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import DomainError, Unprocessable

MAX_MESSAGE_CHARS = 4096
CLOCK_SKEW = timedelta(minutes=5)
HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# reserved / unreserved (RFC 3986) and the space: everything printable but ", <, >, \, ^, `, {, |, }, %
STATEMENT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]+")
NONCE = re.compile(r"[A-Za-z0-9]{8,}")
CHAIN_ID = re.compile(r"[0-9]{1,20}")
# pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
REQUEST_ID = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*")
DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


class SignInRefused(DomainError):
    """The signed message does not sign this member in (401, naming the field at fault)."""

    status = 401
    code = "sign_in_refused"


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message, as written (times as their RFC 3339 text)."""

    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: str
    scheme: str | None = None
    statement: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = field(default=None)

    def render(self) -> str:
        """The message text, exactly as the ABNF lays it out (``parse(m.render()) == m``)."""
        header = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [header + HEADER_SUFFIX, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        for label, value in (
            ("Expiration Time", self.expiration_time),
            ("Not Before", self.not_before),
            ("Request ID", self.request_id),
        ):
            if value is not None:
                lines.append(f"{label}: {value}")
        if self.resources is not None:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def parse_time(text: str, where: str) -> datetime:
    """An RFC 3339 date-time (the ABNF's ``date-time``), as an aware datetime."""
    found = DATE_TIME.fullmatch(text)
    if found is None:
        raise Unprocessable(f"{where} must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z", field=where)
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    try:
        tz = UTC if offset in ("Z", "z") else datetime.strptime(offset.replace(":", ""), "%z").tzinfo
        micro = int((fraction or ".0")[1:7].ljust(6, "0"))
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz)
    except ValueError:
        raise Unprocessable(f"{where} is not a valid date-time", field=where) from None


class _Lines:
    """The message's lines, consumed in the order the ABNF fixes."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.at = 0

    def next(self, what: str) -> str:
        if self.at >= len(self.lines):
            raise Unprocessable(f"the message ends before its {what}", field=f"message.{what}")
        line = self.lines[self.at]
        self.at += 1
        return line

    def peek(self) -> str | None:
        return self.lines[self.at] if self.at < len(self.lines) else None

    def tagged(self, tag: str, what: str) -> str:
        line = self.next(what)
        if not line.startswith(tag):
            raise Unprocessable(f"expected the line {tag!r}…, found {line[:40]!r}", field=f"message.{what}")
        return line[len(tag) :]

    def optional(self, tag: str) -> str | None:
        line = self.peek()
        if line is None or not line.startswith(tag):
            return None
        self.at += 1
        return line[len(tag) :]


def _uri(value: str, what: str) -> str:
    if not value or rfc3987.match(value, rule="URI") is None:
        raise Unprocessable(f"{what} must be an RFC 3986 URI", field=f"message.{what}")
    return value


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message, refusing (422, naming the field) anything the ABNF does not allow."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise Unprocessable(f"the message is longer than {MAX_MESSAGE_CHARS} characters", field="message")
    if "\r" in text:
        raise Unprocessable("lines end with LF alone (no CR)", field="message")
    lines = _Lines(text)
    header = lines.next("domain")
    if not header.endswith(HEADER_SUFFIX):
        raise Unprocessable(f"the first line must end with {HEADER_SUFFIX!r}", field="message.domain")
    origin = header[: -len(HEADER_SUFFIX)]
    scheme, separator, domain = origin.partition("://")
    if not separator:
        scheme, domain = "", origin
    if scheme and SCHEME.fullmatch(scheme) is None:
        raise Unprocessable("the scheme must be an RFC 3986 scheme", field="message.scheme")
    if not domain or " " in domain or rfc3987.match(domain, rule="authority") is None:
        raise Unprocessable("the domain must be an RFC 3986 authority (host[:port])", field="message.domain")
    address = lines.next("address")
    if ADDRESS.fullmatch(address) is None or not is_checksum_address(address):
        raise Unprocessable("the address must be a 0x address with its EIP-55 checksum", field="message.address")
    if lines.next("statement") != "":
        raise Unprocessable("a blank line must follow the address", field="message.statement")
    statement: str | None = lines.next("statement")
    if statement:
        if STATEMENT.fullmatch(statement) is None:
            raise Unprocessable("the statement has characters EIP-4361 does not allow", field="message.statement")
        if lines.next("statement") != "":
            raise Unprocessable("a blank line must follow the statement", field="message.statement")
    else:
        statement = None
    uri = _uri(lines.tagged("URI: ", "uri"), "uri")
    version = lines.tagged("Version: ", "version")
    if version != "1":
        raise Unprocessable("the version must be 1", field="message.version")
    chain_text = lines.tagged("Chain ID: ", "chain_id")
    if CHAIN_ID.fullmatch(chain_text) is None:
        raise Unprocessable("the chain id must be a decimal number", field="message.chain_id")
    nonce = lines.tagged("Nonce: ", "nonce")
    if NONCE.fullmatch(nonce) is None:
        raise Unprocessable("the nonce must be at least 8 letters or digits", field="message.nonce")
    issued_at = lines.tagged("Issued At: ", "issued_at")
    parse_time(issued_at, "message.issued_at")
    expiration_time = lines.optional("Expiration Time: ")
    if expiration_time is not None:
        parse_time(expiration_time, "message.expiration_time")
    not_before = lines.optional("Not Before: ")
    if not_before is not None:
        parse_time(not_before, "message.not_before")
    request_id = lines.optional("Request ID: ")
    if request_id is not None and REQUEST_ID.fullmatch(request_id) is None:
        raise Unprocessable("the request id must be RFC 3986 pchars", field="message.request_id")
    resources: tuple[str, ...] | None = None
    if lines.optional("Resources:") is not None:
        if lines.lines[lines.at - 1] != "Resources:":
            raise Unprocessable("nothing may follow 'Resources:' on its line", field="message.resources")
        found = []
        while lines.peek() is not None:
            found.append(_uri(lines.tagged("- ", "resources"), "resources"))
        resources = tuple(found)
    if lines.peek() is not None:
        raise Unprocessable(f"unexpected line {lines.peek()!r:.60}", field="message")
    return SiweMessage(
        domain=domain,
        address=address,
        uri=uri,
        version=version,
        chain_id=int(chain_text),
        nonce=nonce,
        issued_at=issued_at,
        scheme=scheme or None,
        statement=statement,
        expiration_time=expiration_time,
        not_before=not_before,
        request_id=request_id,
        resources=resources,
    )


@dataclass(frozen=True)
class Expectations:
    """What a message must say to sign in here."""

    domain: str  # our authority, e.g. loyalty.example.com or 127.0.0.1:8000
    scheme: str  # our scheme: a message may leave it out, but may not name another
    origin: str  # scheme://authority that the message's URI must be on
    chain_id: int
    statement: str


def check_message(message: SiweMessage, expect: Expectations, now: datetime) -> None:
    """Every field against what we expect (401 naming the field); the signature is checked apart."""
    if message.domain != expect.domain:
        raise SignInRefused(f"the message is for {message.domain!r}, not {expect.domain!r}", field="message.domain")
    if message.scheme is not None and message.scheme != expect.scheme:
        raise SignInRefused(f"the message's scheme must be {expect.scheme!r}", field="message.scheme")
    if message.uri != expect.origin and not message.uri.startswith(expect.origin + "/"):
        raise SignInRefused(f"the message's URI must be on {expect.origin}", field="message.uri")
    if message.chain_id != expect.chain_id:
        raise SignInRefused(
            f"the message is for chain {message.chain_id}, this is chain {expect.chain_id}", field="message.chain_id"
        )
    if message.statement != expect.statement:
        raise SignInRefused(f"the statement must read {expect.statement!r}", field="message.statement")
    if parse_time(message.issued_at, "message.issued_at") > now + CLOCK_SKEW:
        raise SignInRefused("the message was issued in the future", field="message.issued_at")
    if message.expiration_time is None:
        raise SignInRefused("the message must say when it expires (Expiration Time)", field="message.expiration_time")
    if parse_time(message.expiration_time, "message.expiration_time") <= now:
        raise SignInRefused("the message has expired", field="message.expiration_time")
    if message.not_before is not None and parse_time(message.not_before, "message.not_before") > now:
        raise SignInRefused("the message is not valid yet (Not Before)", field="message.not_before")


def signer_of(text: str, signature: str) -> str | None:
    """The address whose EIP-191 personal signature of ``text`` this is (None if malformed)."""
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=signature))
    except Exception:  # malformed signature bytes, a bad recovery id
        return None


# -- nonces -------------------------------------------------------------------------------


def issue_nonce(session: Session, lifetime: timedelta, now: datetime | None = None) -> SiweNonce:
    """A fresh nonce; nonces expired for an hour are deleted on the way (anyone may ask for one)."""
    now = now or utcnow()
    table = table_of(SiweNonce)
    session.execute(delete(table).where(table.c.expires_at < now - timedelta(hours=1)))
    record = SiweNonce(nonce=secrets.token_hex(16), created_at=now, expires_at=now + lifetime)
    session.add(record)
    session.flush()
    return record


def use_nonce(session: Session, nonce: str, now: datetime) -> None:
    record = session.exec(select(SiweNonce).where(SiweNonce.nonce == nonce).with_for_update()).first()
    if record is None:
        raise SignInRefused("unknown nonce: ask for one at POST /v1/siwe/nonces", field="message.nonce")
    if record.used_at is not None:
        raise SignInRefused("this nonce was used already", field="message.nonce")
    if record.expires_at <= now:
        raise SignInRefused("this nonce has expired: ask for a new one", field="message.nonce")
    record.used_at = now
    session.add(record)


def sign_in(session: Session, text: str, signature: str, expect: Expectations, now: datetime | None = None) -> Customer:
    """The member whose claimed wallet signed this message for us; uses the nonce (in the
    caller's unit of work, so a refusal leaves it unused)."""
    now = now or utcnow()
    message = parse_message(text)
    check_message(message, expect, now)
    if signer_of(text, signature) != message.address:
        raise SignInRefused("the signature is not the address's signature of this message", field="signature")
    use_nonce(session, message.nonce, now)
    customer = session.exec(select(Customer).where(Customer.wallet == message.address)).first()
    if customer is None:
        raise SignInRefused("no member has claimed this wallet", field="message.address")
    return customer
