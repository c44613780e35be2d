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
from backend.home import create_once
from backend.redaction import register_secret
from backend.settings import DEV_CHAIN_ID, Settings

# Web3 Secret Storage with PBKDF2: decrypting one organisation key costs ~0.1 s at start-up.
KEYSTORE_ITERATIONS = 100_000


class KeyNotConfigured(RuntimeError):
    """A signing key is needed but none is configured."""


# Which Anvil dev account stands in for each platform key on the local dev chain. The operator
# takes the last of Anvil's ten accounts: tests use the low ones as brands, wallets and strangers.
DEV_ACCOUNT = {"deployer": 0, "issuer": 1, "operator": 9}
PLATFORM_KEYS = tuple(DEV_ACCOUNT)


@dataclass(frozen=True)
class PlatformKeys:
    """The three platform keys. ``deployer`` holds DEFAULT_ADMIN_ROLE after deployment (hand it to a
    multisig); ``issuer`` (ISSUER_ROLE) and ``operator`` (PROGRAM_MANAGER_ROLE, REGISTRAR_ROLE) are
    the sender's hot keys and hold no admin role."""

    deployer: str
    issuer: str
    operator: str


def is_dev_chain(settings: Settings, chain_id: int) -> bool:
    return chain_id == DEV_CHAIN_ID and settings.uses_local_anvil


def platform_key(settings: Settings, chain_id: int, name: str) -> str:
    """One platform key (``deployer``, ``issuer`` or ``operator``): from its variable
    (``CREDANCE_ISSUER_KEY``), or from an encrypted keystore file (``CREDANCE_ISSUER_KEYSTORE`` and
    its password), or on the local Anvil from Anvil's dev accounts. Setting both a key and a
    keystore is refused as ambiguous."""
    if name not in DEV_ACCOUNT:
        raise KeyNotConfigured(f"unknown platform key {name!r}")
    secret: SecretStr | None = getattr(settings, f"{name}_key")
    keystore: Path | None = getattr(settings, f"{name}_keystore")
    variable = f"CREDANCE_{name.upper()}_KEY"
    if secret is not None and secret.get_secret_value() and keystore is not None:
        raise KeyNotConfigured(f"set {variable} or {variable}STORE, not both")
    if secret is not None and secret.get_secret_value():
        key = secret.get_secret_value()
    elif keystore is not None:
        own: SecretStr | None = getattr(settings, f"{name}_keystore_password")
        password = own.get_secret_value() if own is not None else shared_password(settings)
        if password is None:
            raise KeyNotConfigured(
                f"set CREDANCE_{name.upper()}_KEYSTORE_PASSWORD (or CREDANCE_KEYSTORE_PASSWORD[_FILE]) for {keystore}"
            )
        key = load_keystore(keystore, password)
    else:
        dev = dev_private_keys(settings.resolved_home) if is_dev_chain(settings, chain_id) else []
        if len(dev) <= DEV_ACCOUNT[name]:
            raise KeyNotConfigured(
                f"set {variable} (a private key) or {variable}STORE (an encrypted keystore file): "
                f"no dev accounts on chain {chain_id}"
            )
        key = dev[DEV_ACCOUNT[name]]
    register_secret(key)
    return key


def platform_keys(settings: Settings, chain_id: int) -> PlatformKeys:
    """All three platform keys (deployment needs them; the sender loads only its own)."""
    return PlatformKeys(*(platform_key(settings, chain_id, name) for name in PLATFORM_KEYS))


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


def shared_password(settings: Settings) -> str | None:
    """The keystore password from ``CREDANCE_KEYSTORE_PASSWORD`` or the file
    ``CREDANCE_KEYSTORE_PASSWORD_FILE`` points to, if either is set.

    The file must lie outside CREDANCE_HOME (the database there holds the encrypted organisation
    keys: a copy of the home must not carry their password) and be readable by its owner only."""
    if settings.keystore_password is not None:
        password = settings.keystore_password.get_secret_value()
    elif settings.keystore_password_file is not None:
        password = _read_password_file(settings.keystore_password_file.expanduser().resolve(), settings)
    else:
        return None
    register_secret(password)
    return password


def _read_password_file(path: Path, settings: Settings) -> str:
    if path.is_relative_to(settings.resolved_home):
        raise KeyNotConfigured(
            f"CREDANCE_KEYSTORE_PASSWORD_FILE ({path}) lies inside CREDANCE_HOME, beside the keys it "
            "protects: keep it elsewhere"
        )
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise KeyNotConfigured(f"{path} is readable by others (mode {mode & 0o777:o}): chmod 600 it")
        password = path.read_text().strip()
    except OSError as exc:
        raise KeyNotConfigured(f"cannot read CREDANCE_KEYSTORE_PASSWORD_FILE {path}: {exc.strerror}") from None
    if not password:
        raise KeyNotConfigured(f"CREDANCE_KEYSTORE_PASSWORD_FILE {path} is empty")
    return password


def keystore_password(settings: Settings, chain_id: int) -> str:
    """The password that encrypts organisation keys at rest.

    From ``CREDANCE_KEYSTORE_PASSWORD`` or ``CREDANCE_KEYSTORE_PASSWORD_FILE`` (outside the home).
    Only on the local dev chain, where every key is a throwaway, is a random password created
    once in CREDANCE_HOME (mode 0600) so that ``make run`` needs no configuration.
    """
    password = shared_password(settings)
    if password is not None:
        return password
    if not is_dev_chain(settings, chain_id):
        raise KeyNotConfigured(
            "set CREDANCE_KEYSTORE_PASSWORD, or CREDANCE_KEYSTORE_PASSWORD_FILE (a file outside CREDANCE_HOME), "
            "to encrypt organisation keys"
        )
    password = create_once(settings.resolved_home / "keystore.password", lambda: secrets.token_urlsafe(32))
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
