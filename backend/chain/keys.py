"""Where signing keys come from: the environment, Anvil's dev accounts (dev chain only), or the
encrypted keystore of organisation keys. Never from the repository."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from backend.chain.anvil import dev_private_keys
from backend.settings import DEV_CHAIN_ID, Settings

# Web3 Secret Storage with PBKDF2: decrypting one organisation key costs ~0.1 s at start-up.
KEYSTORE_ITERATIONS = 100_000


class KeyNotConfigured(RuntimeError):
    """A signing key is needed but none is configured."""


@dataclass(frozen=True)
class PlatformKeys:
    deployer: str
    issuer: str


def is_dev_chain(settings: Settings, chain_id: int) -> bool:
    return chain_id == DEV_CHAIN_ID and settings.uses_local_anvil


def platform_keys(settings: Settings, chain_id: int) -> PlatformKeys:
    dev = dev_private_keys(settings.resolved_home) if is_dev_chain(settings, chain_id) else []

    def pick(secret: object, index: int, variable: str) -> str:
        value = getattr(secret, "get_secret_value", lambda: None)()
        if value:
            return str(value)
        if len(dev) > index:
            return dev[index]
        raise KeyNotConfigured(f"set {variable} (a private key): no dev accounts on chain {chain_id}")

    return PlatformKeys(
        deployer=pick(settings.deployer_key, 0, "CREDANCE_DEPLOYER_KEY"),
        issuer=pick(settings.issuer_key, 1, "CREDANCE_ISSUER_KEY"),
    )


def keystore_password(settings: Settings, chain_id: int) -> str:
    """The password that encrypts organisation keys at rest.

    On the dev chain a random password is created once in CREDANCE_HOME (mode 0600);
    anywhere else it must come from CREDANCE_KEYSTORE_PASSWORD.
    """
    if settings.keystore_password is not None:
        return settings.keystore_password.get_secret_value()
    if not is_dev_chain(settings, chain_id):
        raise KeyNotConfigured("set CREDANCE_KEYSTORE_PASSWORD to encrypt organisation keys")
    path = settings.resolved_home / "keystore.password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return Path(path).read_text().strip()


def new_encrypted_key(password: str) -> tuple[str, str]:
    """Create a key; return (address, keystore JSON)."""
    import json

    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf="pbkdf2", iterations=KEYSTORE_ITERATIONS)
    return str(account.address), json.dumps(keystore)


def decrypt_key(keystore_json: str, password: str) -> str:
    return "0x" + bytes(Account.decrypt(keystore_json, password)).hex()
