"""Every kind of chain write, defined once: the outbox's catalogue.

A row of ``operations`` (the outbox) is one of the kinds below. A kind is a frozen dataclass, its
typed payload, and it says in one place everything the platform needs to know about it:

- ``call(ctx, operation_id)``: the transaction to send (the sender builds no other);
- ``signed_by``: the issuer key, the operator key, or the organisation's own key;
- ``confirmed_by``: how the indexer learns that it is done. ``ByOperationId``: the contract emits
  the outbox id in an event (such a kind *carries an operation id*, which the contract accepts
  once; reconcile asks ``isOperationApplied``); ``ByEventKey``: an event whose arguments give
  the operation's ``confirm_key``; ``ByTransaction``: any event of our contracts in its
  transaction; ``ByReceipt``: nothing is emitted, a successful receipt confirms it;
- ``points``: whether it credits or debits a customer's points (balances, liability);
- ``batched``: several are packed into one transaction (``batch_call``), as awards are;
  ``max_batch``: at most that many in one (None: the sender's batch size).

``enqueue(session, op)`` adds one to the outbox in the caller's transaction; the sender gets the
typed operation back from its row (``from_row``). Each field says where the row keeps it: a
column (``ACCOUNT``, ``AMOUNT``, ``REF``, ``RULE_VERSION``), the signer (``SIGNER``: the
organisation whose key signs), nowhere (``KEY_ONLY``: it only names the operation through its
confirm key), or, by default, the JSON ``payload``. Rows written before this module existed read
back the same way. Adding a kind is adding a class here (see DEVELOPERS.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Self

from eth_typing import HexStr
from sqlmodel import Session, select
from web3 import Web3
from web3.types import TxParams, Wei

from backend.chain.calls import b32, contract_call, encode_award_batch, encode_awards
from backend.chain.context import ChainContext
from backend.chain.named_signers import ISSUER, OPERATOR, organisation_of, organisation_signer
from backend.db.models import Operation
from backend.provenance.gtin import gtin_from_int, prefix_of_key

POINTS = "LoyaltyPoints"
REGISTRY = "ProvenanceRegistry"
PASSPORTS = "ItemPassports"
COLLECTIBLES = "CollectibleRewards"

# -- what a kind says about itself -------------------------------------------------------------


class SignedBy(StrEnum):
    ISSUER = ISSUER  # ISSUER_ROLE on the token
    OPERATOR = OPERATOR  # PROGRAM_MANAGER_ROLE on the token, REGISTRAR_ROLE on the registry
    ORGANISATION = "organisation"  # the organisation's own key (the field marked SIGNER)


class Points(StrEnum):
    NONE = "none"
    CREDIT = "credit"  # pending points of the account until confirmed
    DEBIT = "debit"  # no longer spendable from the moment it is queued


@dataclass(frozen=True)
class ByOperationId:
    """``event`` of ``contract`` carries the outbox id as ``operationId``."""

    contract: str
    event: str


@dataclass(frozen=True)
class ByEventKey:
    """``event`` of ``contract`` names the operation: ``key_of_event(args) == confirm_key()``."""

    contract: str
    event: str


@dataclass(frozen=True)
class ByTransaction:
    """Any event of our contracts in the transaction that carried it."""


@dataclass(frozen=True)
class ByReceipt:
    """No event: the sender confirms it on a successful receipt."""


Confirmation = ByOperationId | ByEventKey | ByTransaction | ByReceipt

# Where a field is kept in the row (``field(metadata=…)``); a field without one is in the payload.
_STORED = "stored_in"
ACCOUNT: Mapping[str, str] = {_STORED: "account"}
AMOUNT: Mapping[str, str] = {_STORED: "amount"}
REF: Mapping[str, str] = {_STORED: "ref"}
RULE_VERSION: Mapping[str, str] = {_STORED: "rule_version"}
SIGNER: Mapping[str, str] = {_STORED: "signer"}
KEY_ONLY: Mapping[str, str] = {_STORED: ""}
_COLUMN_DEFAULTS: dict[str, Any] = {"account": None, "amount": 0, "ref": None, "rule_version": None}


@dataclass(frozen=True)
class _Layout:
    columns: tuple[tuple[str, str], ...]  # (field, column)
    payload: tuple[str, ...]
    signer: str | None  # the field naming the signing organisation


KINDS: dict[str, type[ChainOperation]] = {}
_LAYOUTS: dict[type[ChainOperation], _Layout] = {}


class MalformedOperation(ValueError):
    """An outbox row that is not an operation of its kind (the sender fails it, with the reason)."""


class ChainOperation:
    """Base of every kind (each subclass is a frozen dataclass that sets the class variables)."""

    kind: ClassVar[str]
    signed_by: ClassVar[SignedBy]
    confirmed_by: ClassVar[Confirmation]
    points: ClassVar[Points] = Points.NONE
    batched: ClassVar[bool] = False
    max_batch: ClassVar[int | None] = None  # a batched kind's own cap per transaction
    carries_operation_id: ClassVar[bool] = False  # derived from confirmed_by

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            if cls.kind in KINDS:
                raise TypeError(f"two operation kinds named {cls.kind!r}")
            cls.carries_operation_id = isinstance(cls.confirmed_by, ByOperationId)
            KINDS[cls.kind] = cls

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        raise NotImplementedError

    @classmethod
    def batch_call(cls, ctx: ChainContext, rows: Sequence[Operation]) -> TxParams:
        """One transaction for several rows of this (batched) kind."""
        raise NotImplementedError(f"{cls.kind} operations are sent one by one")

    def confirm_key(self) -> str | None:
        """The operation's name in the outbox (unique): the key of its event for ``ByEventKey``."""
        return None

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        """``ByEventKey`` kinds: the confirm key named by their event's arguments."""
        raise NotImplementedError(f"{cls.kind} is not confirmed by an event key")

    def signer(self) -> str:
        if self.signed_by is SignedBy.ORGANISATION:
            name = _layout(type(self)).signer
            assert name is not None, f"{self.kind}: no field marked SIGNER"
            return organisation_signer(getattr(self, name))
        return self.signed_by.value

    def row(self) -> dict[str, Any]:
        """The outbox columns of this operation (without id, status and dependency). On every
        checkout's path: no JSON encoding for kinds without a payload."""
        layout = _layout(type(self))
        row = {**_COLUMN_DEFAULTS, "kind": self.kind, "signer": self.signer(), "confirm_key": self.confirm_key()}
        for name, column in layout.columns:
            row[column] = getattr(self, name)
        payload = {name: getattr(self, name) for name in layout.payload}
        row["payload"] = json.dumps(payload, sort_keys=True) if payload else "{}"
        return row

    @classmethod
    def from_row(cls, row: Operation) -> Self:
        layout = _layout(cls)
        values: dict[str, Any] = {name: getattr(row, column) for name, column in layout.columns}
        try:
            if layout.payload:
                stored = json.loads(row.payload or "{}")
                values.update((name, stored[name]) for name in layout.payload)
            if layout.signer is not None:
                values[layout.signer] = organisation_of(row.signer)
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedOperation(f"operation {row.id} ({row.kind}): {exc!r}") from exc


def _layout(cls: type[ChainOperation]) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        columns, payload, signer = [], [], None
        for f in fields(cls):  # type: ignore[arg-type]
            stored = f.metadata.get(_STORED)
            if stored is None:
                payload.append(f.name)
            elif stored == "signer":
                signer = f.name
            elif stored == "":
                if f.default is MISSING:
                    raise TypeError(f"{cls.__name__}.{f.name}: a KEY_ONLY field needs a default")
            else:
                columns.append((f.name, stored))
        layout = _LAYOUTS[cls] = _Layout(tuple(columns), tuple(payload), signer)
    return layout


def kind_of(name: str) -> type[ChainOperation]:
    try:
        return KINDS[name]
    except KeyError:
        raise MalformedOperation(f"unknown operation kind {name!r}") from None


def operation_id_contract(name: str) -> str:
    """The contract that keeps a kind's used operation ids: the one that confirms it (the sender
    and reconcile ask its ``isOperationApplied``)."""
    confirmation = kind_of(name).confirmed_by
    if not isinstance(confirmation, ByOperationId):
        raise MalformedOperation(f"{name} carries no operation id")
    return confirmation.contract


def enqueue(session: Session, op: ChainOperation, *, after: Operation | int | None = None) -> Operation:
    """Add ``op`` to the outbox, in the caller's transaction; return its row, with its id (for
    loyalty operations also the on-chain ``operationId``). ``after``: an operation (or its id)
    that must be confirmed before this one is sent."""
    operation = Operation(**op.row(), depends_on=after.id if isinstance(after, Operation) else after)
    session.add(operation)
    session.flush()
    return operation


def find_operation(session: Session, confirm_key: str) -> Operation | None:
    """The operation named ``confirm_key`` (see each kind's ``key``), if queued."""
    return session.exec(select(Operation).where(Operation.confirm_key == confirm_key)).first()


def outbox_row(op: ChainOperation, **columns: Any) -> dict[str, Any]:
    """Every column of ``op``'s outbox row, for bulk inserts; ``columns`` adds id, status…"""
    return {**op.row(), **columns}


# -- loyalty: issuer-signed, carry their outbox id on chain ---------------------------------------


@dataclass(frozen=True)
class Award(ChainOperation):
    """Points for a purchase, a partner conversion…; sent in ``awardBatch`` transactions."""

    kind = "award"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsAwarded")
    points = Points.CREDIT
    batched = True

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)
    ref: str = field(metadata=REF)
    rule_version: int = field(metadata=RULE_VERSION)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        data = encode_awards([(self.account, operation_id, self.rule_version, self.amount, self.ref)])
        return {"to": ctx.points.address, "data": HexStr("0x" + data.hex())}

    @classmethod
    def batch_call(cls, ctx: ChainContext, rows: Sequence[Operation]) -> TxParams:
        """Calldata packed by hand from the rows (no dataclass per award: see ``calls.py``)."""
        return {"to": ctx.points.address, "data": HexStr("0x" + encode_award_batch(rows).hex())}


@dataclass(frozen=True)
class Reverse(ChainOperation):
    """A refund takes back points (what is already spent becomes debt on chain)."""

    kind = "reverse"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsReversed")
    points = Points.DEBIT

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)
    ref: str = field(metadata=REF)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "reverse", _address(self.account), operation_id, self.amount, b32(self.ref))


@dataclass(frozen=True)
class Redeem(ChainOperation):
    """Points burned from a custodial address (a reward, or an order paid with points)."""

    kind = "redeem"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsRedeemed")
    points = Points.DEBIT

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)
    ref: str = field(metadata=REF)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "redeemFor", _address(self.account), operation_id, self.amount, b32(self.ref))


@dataclass(frozen=True)
class RedeemWithPermit(ChainOperation):
    """Points burned from a self-custodied wallet, with the ERC-2612 permit the wallet signed."""

    kind = "redeem_permit"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsRedeemed")
    points = Points.DEBIT

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)
    ref: str = field(metadata=REF)
    deadline: int
    v: int
    r: str
    s: str

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(
            ctx.points,
            "redeemWithPermit",
            _address(self.account),
            operation_id,
            self.amount,
            b32(self.ref),
            self.deadline,
            self.v,
            b32(self.r),
            b32(self.s),
        )


@dataclass(frozen=True)
class Transfer(ChainOperation):
    """A member gives points to another (the issuer relays it under the on-chain policy)."""

    kind = "transfer"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsTransferred")
    points = Points.DEBIT

    account: str = field(metadata=ACCOUNT)  # the sender's
    amount: int = field(metadata=AMOUNT)
    ref: str = field(metadata=REF)
    to: str

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(
            ctx.points,
            "transferFor",
            operation_id,
            _address(self.account),
            _address(self.to),
            self.amount,
            b32(self.ref),
        )


@dataclass(frozen=True)
class Expire(ChainOperation):
    """Points of expired lots burned."""

    kind = "expire"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "PointsExpired")
    points = Points.DEBIT

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "expireBatch", [(_address(self.account), operation_id, self.amount)])


@dataclass(frozen=True)
class ClaimWallet(ChainOperation):
    """A customer's points and debt move from their custodial address to their own wallet."""

    kind = "claim"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(POINTS, "WalletClaimed")

    account: str = field(metadata=ACCOUNT)  # the custodial address
    wallet: str

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "claimWallet", operation_id, _address(self.account), _address(self.wallet))


# -- program: operator-signed ---------------------------------------------------------------------


@dataclass(frozen=True)
class PublishRules(ChainOperation):
    """A rule set's content hash published under its version."""

    kind = "publish_rules"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByEventKey(POINTS, "RuleSetPublished")

    rule_version: int = field(metadata=RULE_VERSION)
    content_hash: str = field(metadata=REF)

    @staticmethod
    def key(version: int) -> str:
        return f"ruleset:{version}"

    def confirm_key(self) -> str:
        return self.key(self.rule_version)

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(int(args["version"]))

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "publishRuleSet", self.rule_version, b32(self.content_hash))


@dataclass(frozen=True)
class SetTransferPolicy(ChainOperation):
    """Whether members may give points to each other, and the daily cap per sender (0: none)."""

    kind = "set_transfer_policy"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByReceipt()

    enabled: bool
    daily_cap: int

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.points, "setTransferPolicy", self.enabled, self.daily_cap)


# -- provenance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fund(ChainOperation):
    """Gas for a new organisation's key (a value transfer, no contract call)."""

    kind = "fund"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByReceipt()

    account: str = field(metadata=ACCOUNT)
    amount: int = field(metadata=AMOUNT)  # wei
    organisation: str | None = field(default=None, metadata=KEY_ONLY)

    def confirm_key(self) -> str | None:
        return None if self.organisation is None else f"org:{self.organisation}:funded"

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return {"to": _address(self.account), "value": Wei(self.amount)}


@dataclass(frozen=True)
class SetOrganisation(ChainOperation):
    """An organisation's controller, roles and standing in the registry."""

    kind = "set_organisation"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByTransaction()  # OrganisationUpdated names the on-chain id, not our slug

    org_id: str  # bytes32, the organisation's id on chain
    controller: str
    roles: int
    active: bool
    admits: str | None = field(default=None, metadata=KEY_ONLY)  # the slug, when this admits it

    @staticmethod
    def admission_key(slug: str) -> str:
        return f"org:{slug}:admitted"

    def confirm_key(self) -> str | None:
        return None if self.admits is None else self.admission_key(self.admits)

    def row(self) -> dict[str, Any]:
        return {**super().row(), "account": self.controller}

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(
            ctx.registry, "setOrganisation", b32(self.org_id), self.controller, self.roles, self.active
        )


@dataclass(frozen=True)
class SetPartnerRoles(ChainOperation):
    """An organisation grants (or, with 0, revokes) a partner roles over what it owns."""

    kind = "set_partner_roles"
    signed_by = SignedBy.ORGANISATION
    confirmed_by = ByTransaction()

    org: str = field(metadata=SIGNER)
    partner_id: str  # bytes32, the partner's id on chain
    roles: int

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "setPartnerRoles", b32(self.partner_id), self.roles)


@dataclass(frozen=True)
class AssignPrefix(ChainOperation):
    """The registrar assigns a GS1 company prefix to an organisation."""

    kind = "assign_prefix"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByEventKey(REGISTRY, "CompanyPrefixAssigned")

    prefix_key: int  # 10 ** digits + prefix
    org_id: str  # bytes32

    @staticmethod
    def key(prefix: str) -> str:
        return f"prefix:{prefix}"

    def confirm_key(self) -> str:
        return self.key(prefix_of_key(self.prefix_key))

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(prefix_of_key(int(args["prefixKey"])))

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "assignCompanyPrefix", self.prefix_key, b32(self.org_id))


@dataclass(frozen=True)
class RegisterProduct(ChainOperation):
    kind = "register_product"
    signed_by = SignedBy.ORGANISATION
    confirmed_by = ByEventKey(REGISTRY, "ProductRegistered")

    org: str = field(metadata=SIGNER)  # the brand
    gtin: int

    @staticmethod
    def key(gtin: str) -> str:
        return f"product:{gtin}"

    def confirm_key(self) -> str:
        return self.key(gtin_from_int(self.gtin))

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(gtin_from_int(int(args["gtin"])))

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "registerProduct", self.gtin)


@dataclass(frozen=True)
class RegisterItems(ChainOperation):
    """A Merkle batch of serialized items' commitments."""

    kind = "register_items"
    signed_by = SignedBy.ORGANISATION
    confirmed_by = ByEventKey(REGISTRY, "ItemsRegistered")

    org: str = field(metadata=SIGNER)  # the manufacturer
    gtin: int
    root: str
    count: int

    @staticmethod
    def key(root: str) -> str:
        return f"items:{root}"

    def confirm_key(self) -> str:
        return self.key(self.root)

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(args["root"])

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "registerItems", self.gtin, b32(self.root), self.count)


@dataclass(frozen=True)
class AnchorEvents(ChainOperation):
    """A Merkle root of EPCIS event hashes."""

    kind = "anchor_events"
    signed_by = SignedBy.ORGANISATION
    confirmed_by = ByEventKey(REGISTRY, "EventsAnchored")

    org: str = field(metadata=SIGNER)
    root: str
    count: int

    @staticmethod
    def key(root: str) -> str:
        return f"anchor:{root}"

    def confirm_key(self) -> str:
        return self.key(self.root)

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(args["root"])

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "anchorEvents", b32(self.root), self.count)


@dataclass(frozen=True)
class Recall(ChainOperation):
    """A brand recalls a whole GTIN (``scope_root`` zero) or a Merkle set of its items."""

    kind = "recall"
    signed_by = SignedBy.ORGANISATION
    confirmed_by = ByEventKey(REGISTRY, "RecallIssued")

    org: str = field(metadata=SIGNER)  # the brand
    gtin: int
    scope_root: str
    count: int
    reason_ref: str

    @staticmethod
    def key(gtin: str, scope_root: str) -> str:
        return f"recall:{gtin}:{scope_root}"

    def confirm_key(self) -> str:
        return self.key(gtin_from_int(self.gtin), self.scope_root)

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(gtin_from_int(int(args["gtin"])), args["scopeRoot"])

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(ctx.registry, "recall", self.gtin, b32(self.scope_root), self.count, b32(self.reason_ref))


# -- passports: issuer-signed, carry their outbox id on chain (ItemPassports) ---------------------


def _passports(ctx: ChainContext) -> Any:
    if ctx.passports is None:
        raise MalformedOperation("this deployment has no ItemPassports contract: redeploy")
    return ctx.passports


@dataclass(frozen=True)
class IssuePassport(ChainOperation):
    """The passport of a sold item, minted to its buyer's address; the contract checks the item is
    registered (its commitment, batch root and proof) and that no passport was issued for it.
    Ready claims go together in one ``issueBatch`` transaction, which is all or nothing: the
    sender's simulation halves a refused batch until the bad claim is alone (it fails, the others
    are sent), and a batch that reverts once mined goes back to the queue to be simulated again
    (docs/passports.md, "Batches")."""

    kind = "issue_passport"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(PASSPORTS, "PassportIssued")
    batched = True
    # A claim costs ~85k gas in a batch (bench/passports.py: 120k alone, 87k in 16s, 85k in 64s),
    # its Merkle proof in calldata: 256 of them (the sender's batch size) are ~22M gas, past a
    # 30M block's limit with the sender's 25% margin and deeper proofs. 64 gains nearly all there
    # is to gain, and bounds what one reverted batch sends back to the queue.
    max_batch = 64

    account: str = field(metadata=ACCOUNT)  # the holder (custodial address or the member's wallet)
    ref: str = field(metadata=REF)  # the token id (the item's leaf)
    gtin: int
    custodial: bool
    commitment: str
    root: str
    proof: list[str]

    def _claim(self, operation_id: int) -> tuple[str, int, int, bool, bytes, bytes, list[bytes]]:
        return (
            _address(self.account),
            operation_id,
            self.gtin,
            self.custodial,
            b32(self.commitment),
            b32(self.root),
            [b32(p) for p in self.proof],
        )

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(_passports(ctx), "issue", self._claim(operation_id))

    @classmethod
    def batch_call(cls, ctx: ChainContext, rows: Sequence[Operation]) -> TxParams:
        """Each claim with its own outbox id: the contract uses each once, so a batch sent again
        issues nothing twice."""
        claims = [cls.from_row(row)._claim(row.id or 0) for row in rows]
        return contract_call(_passports(ctx), "issueBatch", claims)


@dataclass(frozen=True)
class RelayPassport(ChainOperation):
    """A custodial passport moved to another member, with its holder's consent."""

    kind = "relay_passport"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(PASSPORTS, "PassportRelayed")

    account: str = field(metadata=ACCOUNT)  # the holder now (custodial)
    ref: str = field(metadata=REF)  # the token id
    to: str
    custodial: bool  # whether ``to`` is a custodial address

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        token_id = int(self.ref, 16)
        return contract_call(
            _passports(ctx), "relayTransfer", operation_id, token_id, _address(self.to), self.custodial
        )


# -- collectibles: editions and polls by the operator, mints and relayed votes by the issuer ------


def _collectibles(ctx: ChainContext) -> Any:
    if ctx.collectibles is None:
        raise MalformedOperation("this deployment has no CollectibleRewards contract: redeploy")
    return ctx.collectibles


@dataclass(frozen=True)
class CreateEdition(ChainOperation):
    """A limited edition of collectible rewards, its supply cap fixed for ever."""

    kind = "create_edition"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByEventKey(COLLECTIBLES, "EditionCreated")

    edition: int
    cap: int = field(metadata=AMOUNT)

    def confirm_key(self) -> str:
        return self.key(self.edition)

    @staticmethod
    def key(edition: int) -> str:
        return f"edition:{edition}"

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(int(args["edition"]))

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(_collectibles(ctx), "createEdition", self.edition, self.cap)


@dataclass(frozen=True)
class MintCollectible(ChainOperation):
    """The copies of a redeemed collectible, minted to the member's address (custodial or their
    wallet); several go in one ``mintBatch`` transaction. The points are burned by the
    redemption's own ``redeem`` operation."""

    kind = "mint_collectible"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(COLLECTIBLES, "CollectiblesMinted")
    batched = True

    account: str = field(metadata=ACCOUNT)  # the holder
    amount: int = field(metadata=AMOUNT)  # copies
    edition: int
    custodial: bool  # whether the holder is the member's custodial address: copies held in custody

    def _mint(self, operation_id: int) -> tuple[str, int, int, int, bool]:
        return (_address(self.account), operation_id, self.edition, self.amount, self.custodial)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(_collectibles(ctx), "mint", self._mint(operation_id))

    @classmethod
    def batch_call(cls, ctx: ChainContext, rows: Sequence[Operation]) -> TxParams:
        mints = [cls.from_row(row)._mint(row.id or 0) for row in rows]
        return contract_call(_collectibles(ctx), "mintBatch", mints)


@dataclass(frozen=True)
class OpenPoll(ChainOperation):
    """A poll of an edition's holders; the block it is mined in is its snapshot."""

    kind = "open_poll"
    signed_by = SignedBy.OPERATOR
    confirmed_by = ByEventKey(COLLECTIBLES, "PollOpened")

    poll: int
    edition: int
    options: int
    close_block: int

    def confirm_key(self) -> str:
        return self.key(self.poll)

    @staticmethod
    def key(poll: int) -> str:
        return f"poll:{poll}"

    @classmethod
    def key_of_event(cls, args: Mapping[str, Any]) -> str:
        return cls.key(int(args["pollId"]))

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(_collectibles(ctx), "openPoll", self.poll, self.edition, self.options, self.close_block)


@dataclass(frozen=True)
class RelayVote(ChainOperation):
    """A custodial holder's vote, cast with their consent (their customer token)."""

    kind = "relay_vote"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(COLLECTIBLES, "PollVoted")

    account: str = field(metadata=ACCOUNT)  # the voter (custodial address)
    poll: int
    option: int

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(
            _collectibles(ctx), "relayVote", operation_id, self.poll, _address(self.account), self.option
        )


@dataclass(frozen=True)
class RelayCollectibleTransfer(ChainOperation):
    """Copies a custodial member holds in custody, given to another member with their consent
    (their customer token); the contract moves at most the copies it counts in custody."""

    kind = "relay_collectible_transfer"
    signed_by = SignedBy.ISSUER
    confirmed_by = ByOperationId(COLLECTIBLES, "CollectiblesRelayed")

    account: str = field(metadata=ACCOUNT)  # the giver's custodial address
    amount: int = field(metadata=AMOUNT)  # copies
    edition: int
    to: str
    custodial: bool  # whether ``to`` is a custodial address (the copies stay in custody there)

    def call(self, ctx: ChainContext, operation_id: int) -> TxParams:
        return contract_call(
            _collectibles(ctx),
            "relayTransfer",
            operation_id,
            _address(self.account),
            _address(self.to),
            self.edition,
            self.amount,
            self.custodial,
        )


def _address(value: str) -> str:
    return Web3.to_checksum_address(value)


# -- what the rest of the platform reads ----------------------------------------------------------


def kinds_where(test: Callable[[type[ChainOperation]], bool]) -> tuple[str, ...]:
    return tuple(name for name, kind in KINDS.items() if test(kind))


CREDIT_KINDS = kinds_where(lambda k: k.points is Points.CREDIT)
DEBIT_KINDS = kinds_where(lambda k: k.points is Points.DEBIT)  # a reversal may take less and record debt
BATCHED_KINDS = frozenset(kinds_where(lambda k: k.batched))
CONFIRMED_BY_RECEIPT = frozenset(kinds_where(lambda k: isinstance(k.confirmed_by, ByReceipt)))
OPERATION_ID_KINDS = frozenset(kinds_where(lambda k: k.carries_operation_id))

EventName = tuple[str, str]  # (contract, event)
# Events that confirm an operation, for the indexer: those carrying the outbox id, and those
# naming an operation's confirm key.
OPERATION_ID_EVENTS: frozenset[EventName] = frozenset(
    (k.confirmed_by.contract, k.confirmed_by.event) for k in KINDS.values() if isinstance(k.confirmed_by, ByOperationId)
)
KEY_EVENTS: dict[EventName, Callable[[Mapping[str, Any]], str]] = {
    (k.confirmed_by.contract, k.confirmed_by.event): k.key_of_event
    for k in KINDS.values()
    if isinstance(k.confirmed_by, ByEventKey)
}
