"""Signers by name: ``admin`` (deployer key), ``issuer`` (loyalty sender key) and ``org:<id>``
(an organisation's key, decrypted from the keystore on first use)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session
from web3 import Web3

from backend.chain.keys import decrypt_key, keystore_password, platform_keys
from backend.chain.network import fee_policy
from backend.chain.signer import FeePolicy, LocalSigner
from backend.db.models import OrgSigner
from backend.settings import Settings


class UnknownSigner(LookupError):
    """No key for this signer name."""


class Signers:
    def __init__(self, w3: Web3, chain_id: int, settings: Settings, engine: Engine,
                 fees: FeePolicy | None = None) -> None:  # fmt: skip
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
        if name in ("admin", "issuer"):
            keys = platform_keys(self.settings, self.chain_id)
            return keys.deployer if name == "admin" else keys.issuer
        if name.startswith("org:"):
            with Session(self.engine) as session:
                record = session.get(OrgSigner, name[4:])
            if record is None:
                raise UnknownSigner(f"no signing key for organisation {name[4:]!r}")
            return decrypt_key(record.keystore, keystore_password(self.settings, self.chain_id))
        raise UnknownSigner(f"unknown signer {name!r}")
