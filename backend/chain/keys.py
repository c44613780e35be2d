"""Where signing keys come from: the environment, encrypted keystore files (Web3 Secret Storage),
Anvil's dev accounts (dev chain only), or the encrypted keystore of organisation keys. Never from
the repository. Every key and password loaded is registered for redaction from the logs."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from pydantic import SecretStr

from backend.chain.anvil import dev_private_keys
from backend.redaction import register_secret
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
    """The deployer and issuer keys: each from its variable (``CREDANCE_DEPLOYER_KEY``), or from
    an encrypted keystore file (``CREDANCE_DEPLOYER_KEYSTORE`` and its password), or on the local
    Anvil from Anvil's dev accounts. Setting both a key and a keystore is refused as ambiguous."""
    dev = dev_private_keys(settings.resolved_home) if is_dev_chain(settings, chain_id) else []

    def pick(name: str, index: int) -> str:
        secret: SecretStr | None = getattr(settings, f"{name}_key")
        keystore: Path | None = getattr(settings, f"{name}_keystore")
        variable = f"CREDANCE_{name.upper()}_KEY"
        if secret is not None and secret.get_secret_value() and keystore is not None:
            raise KeyNotConfigured(f"set {variable} or {variable}STORE, not both")
        if secret is not None and secret.get_secret_value():
            key = secret.get_secret_value()
        elif keystore is not None:
            password = getattr(settings, f"{name}_keystore_password") or settings.keystore_password
            if password is None:
                raise KeyNotConfigured(
                    f"set CREDANCE_{name.upper()}_KEYSTORE_PASSWORD (or CREDANCE_KEYSTORE_PASSWORD) for {keystore}"
                )
            key = load_keystore(keystore, password.get_secret_value())
        elif len(dev) > index:
            key = dev[index]
        else:
            raise KeyNotConfigured(
                f"set {variable} (a private key) or {variable}STORE (an encrypted keystore file): "
                f"no dev accounts on chain {chain_id}"
            )
        register_secret(key)
        return key

    return PlatformKeys(deployer=pick("deployer", 0), issuer=pick("issuer", 1))


def load_keystore(path: Path, password: str) -> str:
    """Decrypt a Web3 Secret Storage (keystore v3) file; the error never shows the password."""
    try:
        keystore = path.expanduser().read_text()
    except OSError as exc:
        raise KeyNotConfigured(f"cannot read keystore {path}: {exc.strerror}") from None
    try:
        return decrypt_key(keystore, password)
    except (ValueError, KeyError, TypeError):
        raise KeyNotConfigured(f"cannot decrypt keystore {path}: wrong password or not a keystore file") from None


def write_keystore(path: Path, private_key: str, password: str) -> str:
    """Encrypt a private key into a new keystore file (mode 0600); return its address."""
    import json

    account = Account.from_key(private_key)
    keystore = Account.encrypt(account.key, password, kdf="pbkdf2", iterations=KEYSTORE_ITERATIONS)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keystore, handle)
    return str(account.address)


def keystore_password(settings: Settings, chain_id: int) -> str:
    """The password that encrypts organisation keys at rest.

    On the dev chain a random password is created once in CREDANCE_HOME (mode 0600);
    anywhere else it must come from CREDANCE_KEYSTORE_PASSWORD.
    """
    if settings.keystore_password is not None:
        register_secret(settings.keystore_password.get_secret_value())
        return settings.keystore_password.get_secret_value()
    if not is_dev_chain(settings, chain_id):
        raise KeyNotConfigured("set CREDANCE_KEYSTORE_PASSWORD to encrypt organisation keys")
    path = settings.resolved_home / "keystore.password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    password = Path(path).read_text().strip()
    register_secret(password)
    return password


def new_encrypted_key(password: str) -> tuple[str, str]:
    """Create a key; return (address, keystore JSON)."""
    import json

    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf="pbkdf2", iterations=KEYSTORE_ITERATIONS)
    return str(account.address), json.dumps(keystore)


def decrypt_key(keystore_json: str, password: str) -> str:
    key = "0x" + bytes(Account.decrypt(keystore_json, password)).hex()
    register_secret(key)
    return key
