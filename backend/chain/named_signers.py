"""Signers by name: ``issuer`` (ISSUER_ROLE: awards, reversals, redemptions…), ``operator``
(PROGRAM_MANAGER_ROLE and REGISTRAR_ROLE: rule sets, transfer policy, organisations, prefixes,
and the gas it gives organisations) and ``org:<id>`` (an organisation's key, decrypted from the
keystore on first use).

The sender never needs the deployer key, which holds DEFAULT_ADMIN_ROLE and can live in a
multisig. Only a deployment made before the roles were split (its manifest names no operator)
is operated with the deployer key, as it was then. ``admin``, the name of the operator's
operations queued by earlier releases, is the operator.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session
from web3 import Web3

from backend.chain.keys import decrypt_key, keystore_password, platform_key
from backend.chain.local_signer import FeePolicy, LocalSigner
from backend.chain.manifest import ManifestMissing, load_manifest
from backend.chain.network import fee_policy
from backend.db.models import OrgSigner
from backend.settings import Settings

ISSUER = "issuer"
OPERATOR = "operator"
LEGACY_OPERATOR = "admin"
ORGANISATION_PREFIX = "org:"


def organisation_signer(org_id: str) -> str:
    """The signer name of an organisation's key."""
    return ORGANISATION_PREFIX + org_id


def organisation_of(signer: str) -> str:
    """The organisation a signer name designates (ValueError for a platform key)."""
    if not signer.startswith(ORGANISATION_PREFIX):
        raise ValueError(f"{signer!r} is not an organisation's key")
    return signer.removeprefix(ORGANISATION_PREFIX)


class UnknownSigner(LookupError):
    """No key for this signer name."""


class Signers:
    def __init__(
        self, w3: Web3, chain_id: int, settings: Settings, engine: Engine, fees: FeePolicy | None = None
    ) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.settings = settings
        self.engine = engine
        self.fees = fees or fee_policy(settings)
        self._cache: dict[str, LocalSigner] = {}

    def get(self, name: str) -> LocalSigner:
        signer = self._cache.get(name)
        if signer is None:
            signer = LocalSigner(self.w3, self._key(name), self.chain_id, self.fees)
            self._cache[name] = signer
        return signer

    def reset_nonces(self) -> None:
        for signer in self._cache.values():
            signer.reset_nonce()

    def _key(self, name: str) -> str:
        if name == ISSUER:
            return platform_key(self.settings, self.chain_id, "issuer")
        if name in (OPERATOR, LEGACY_OPERATOR):
            return platform_key(self.settings, self.chain_id, "operator" if self._roles_split() else "deployer")
        if name.startswith(ORGANISATION_PREFIX):
            org_id = organisation_of(name)
            with Session(self.engine) as session:
                record = session.get(OrgSigner, org_id)
            if record is None:
                raise UnknownSigner(f"no signing key for organisation {org_id!r}")
            return decrypt_key(record.keystore, keystore_password(self.settings, self.chain_id))
        raise UnknownSigner(f"unknown signer {name!r}")

    def _roles_split(self) -> bool:
        """Whether this chain's deployment gave the operator its own roles (every deployment since
        PROGRAM_MANAGER_ROLE exists does; its manifest names the operator)."""
        try:
            manifest = load_manifest(self.settings.deployments_dir, self.chain_id)
        except ManifestMissing:
            return True
        return "operator" in manifest.roles
