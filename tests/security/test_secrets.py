"""Signing keys come from the environment or encrypted keystore files, never the repository; no
secret reaches the logs; on-chain issuer keys rotate without losing or repeating an award."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from eth_account import Account
from fastapi import FastAPI
from pydantic import SecretStr
from sqlmodel import Session, select

from backend.api.deps import PrincipalDep
from backend.chain.keys import KeyNotConfigured, decrypt_key, keystore_password, platform_keys, write_keystore
from backend.chain.local_signer import LocalSigner, TransactionFailed
from backend.chain.named_signers import Signers
from backend.db.models import OrgSigner
from backend.observability import configure_logging
from backend.redaction import REDACTED, redact_secrets
from backend.settings import PROJECT_ROOT, Settings
from tests.contracts.helpers import send
from tests.support import CREDANCE_CLI, Platform, make_platform, rpc

# The database does not matter here: SQLite only, to keep make test short.
pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]
PASSWORD = "correct horse battery staple"
KEYSTORE = re.compile(r'"ciphertext"\s*:\s*"[0-9a-f]{64}"')


def _purchase(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": "lee",
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 3, "unit_price": "5.00"}],
    }


# --- keystores ---------------------------------------------------------------------------------


def test_platform_keys_load_from_encrypted_keystores(settings: Settings, dev_keys: list[str], tmp_path: Path) -> None:
    deployer, issuer, operator = tmp_path / "deployer.json", tmp_path / "issuer.json", tmp_path / "operator.json"
    write_keystore(deployer, dev_keys[0], PASSWORD)
    write_keystore(issuer, dev_keys[1], "another password")
    write_keystore(operator, dev_keys[9], PASSWORD)
    assert stat.S_IMODE(deployer.stat().st_mode) == 0o600
    assert dev_keys[0].removeprefix("0x") not in deployer.read_text()

    configured = settings.model_copy(
        update={
            "deployer_keystore": deployer,
            "keystore_password": SecretStr(PASSWORD),
            "issuer_keystore": issuer,
            "issuer_keystore_password": SecretStr("another password"),
            "operator_keystore": operator,
        }
    )
    # Off the dev chain there are no Anvil accounts to fall back on: the keystores are the source.
    keys = platform_keys(configured, chain_id=1)
    assert (keys.deployer, keys.issuer, keys.operator) == (dev_keys[0], dev_keys[1], dev_keys[9])


def test_keystore_mistakes_are_clear_and_never_show_the_password(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "issuer.json"
    write_keystore(path, Account.create().key.to_0x_hex(), PASSWORD)
    with pytest.raises(KeyNotConfigured, match="CREDANCE_DEPLOYER_KEY"):
        platform_keys(settings, chain_id=1)
    settings = settings.model_copy(update={"deployer_key": SecretStr("0x" + "22" * 32)})
    with pytest.raises(KeyNotConfigured, match="wrong password") as wrong:
        platform_keys(settings.model_copy(update={"issuer_keystore": path, "keystore_password": SecretStr("guess")}), 1)
    assert "guess" not in str(wrong.value)
    with pytest.raises(KeyNotConfigured, match="KEYSTORE_PASSWORD"):
        platform_keys(settings.model_copy(update={"issuer_keystore": path}), 1)
    with pytest.raises(KeyNotConfigured, match="not both"):
        platform_keys(
            settings.model_copy(update={"issuer_keystore": path, "issuer_key": SecretStr("0x" + "11" * 32)}), 1
        )
    with pytest.raises(KeyNotConfigured, match="cannot read"):
        platform_keys(
            settings.model_copy(
                update={"issuer_keystore": tmp_path / "missing.json", "keystore_password": SecretStr(PASSWORD)}
            ),
            1,
        )


def test_cli_writes_a_keystore_from_stdin(tmp_path: Path) -> None:
    key = Account.create().key.to_0x_hex()
    out = tmp_path / "issuer.json"
    env = {**os.environ, "CREDANCE_KEYSTORE_PASSWORD": PASSWORD, "CREDANCE_HOME": str(tmp_path)}
    run = subprocess.run(
        [str(CREDANCE_CLI), "keys", "keystore", str(out)],
        input=key + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert decrypt_key(out.read_text(), PASSWORD) == key
    assert key.removeprefix("0x") not in run.stdout + run.stderr + out.read_text()
    again = subprocess.run(
        [str(CREDANCE_CLI), "keys", "keystore", str(out)],
        input=key + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2
    assert "file exists" in again.stderr


def test_the_sender_signs_with_keystore_keys(platform: Platform, dev_keys: list[str], tmp_path: Path) -> None:
    issuer = tmp_path / "issuer.json"
    write_keystore(issuer, dev_keys[1], PASSWORD)
    configured = platform.settings.model_copy(
        update={"issuer_keystore": issuer, "keystore_password": SecretStr(PASSWORD)}
    )
    signers = Signers(platform.ctx.w3, platform.ctx.chain_id, configured, platform.engine)
    assert signers.get("issuer").address == Account.from_key(dev_keys[1]).address
    keyed = make_platform(configured, platform.engine, platform.keys)
    assert keyed.client.post("/v1/purchases", json=_purchase("K-1"), headers=keyed.headers()).status_code == 200
    keyed.settle()
    status = keyed.client.get("/v1/purchases/K-1", params={"store_id": "demo-store"}, headers=keyed.headers())
    assert status.json()["status"] == "confirmed"


def test_no_key_material_in_the_repository(dev_keys: list[str]) -> None:
    """Anvil's dev keys are read from the file Anvil writes at run time, never committed."""
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split():
        path = PROJECT_ROOT / name
        if path.is_file() and path.stat().st_size < 2_000_000:
            text = path.read_bytes().decode("utf-8", "ignore").lower()
            assert not any(key.removeprefix("0x").lower() in text for key in dev_keys), name
            assert not KEYSTORE.search(text), f"{name} looks like a keystore"


# --- logs ---------------------------------------------------------------------------------------


@pytest.fixture(params=["json", "console"])
def log_output(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The real logging configuration (processors, redaction, renderer), into a buffer."""
    buffer = io.StringIO()
    configure_logging(request.param, "DEBUG", stream=buffer, cache=False)
    caplog.set_level(logging.DEBUG)
    yield buffer
    structlog.reset_defaults()


def _boom_route(app: FastAPI) -> None:
    @app.get("/test-boom")
    def boom(principal: PrincipalDep, authorization: str = "") -> None:
        raise RuntimeError(f"failed while holding {authorization}")


def test_no_secret_reaches_the_logs(
    platform: Platform, dev_keys: list[str], log_output: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    client, admin = platform.client, platform.headers("admin")
    created = client.post("/v1/api-keys", json={"role": "checkout", "store_id": "demo-store"}, headers=admin).json()
    org = client.post(
        "/v1/organisations", json={"id": "logbrand", "name": "Log Brand", "roles": ["brand"]}, headers=admin
    )
    assert org.status_code == 201
    for n in range(3):
        assert client.post("/v1/purchases", json=_purchase(f"L-{n}"), headers=platform.headers()).status_code == 200
    client.get("/v1/stores", headers={"Authorization": "Bearer " + created["key"] + "x"})  # a wrong key
    _boom_route(client.app)  # type: ignore[arg-type]
    assert (
        client.get(
            "/test-boom", params={"authorization": platform.keys["checkout"]}, headers=platform.headers()
        ).status_code
        == 500
    )
    platform.settle()
    # Careless calls are redacted too.
    log = structlog.get_logger("test")
    reference_secret = (platform.settings.resolved_home / "reference.secret").read_text()
    log.info(
        "careless",
        api_key=platform.keys["admin"],
        password=PASSWORD,
        private_key=dev_keys[1],
        detail={"authorization": platform.keys["brand"]},
        message=f"key {dev_keys[0]} used, operator {dev_keys[9]}, references {reference_secret}",
    )

    with Session(platform.engine) as session:
        org_keys = [
            decrypt_key(s.keystore, keystore_password(platform.settings, 31337))
            for s in session.exec(select(OrgSigner)).all()
        ]
    secrets = [
        *platform.keys.values(),
        created["key"],
        dev_keys[0],
        dev_keys[1],
        dev_keys[9],
        reference_secret,
        *org_keys,
        keystore_password(platform.settings, 31337),
        PASSWORD,
    ]
    # httpx's records are the test client's own (it logs the URL it requested), not the service's.
    records = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    output = log_output.getvalue() + "\n".join(records)
    assert "api.unexpected_error" in output
    assert "careless" in output
    assert REDACTED in output
    for secret in secrets:
        assert secret not in output
        assert secret.removeprefix("0x") not in output
        assert secret.removeprefix("cred_") not in output


def test_redaction_keeps_what_is_safe_to_log() -> None:
    event = redact_secrets(
        None,
        "info",
        {"event": "x", "key_id": "cred_abcdefgh", "tx": "0x" + "ab" * 32, "Authorization": "Bearer cred_" + "z" * 43},
    )
    assert event["key_id"] == "cred_abcdefgh"
    assert event["tx"] == "0x" + "ab" * 32
    assert event["Authorization"] == REDACTED


# --- on-chain role rotation ----------------------------------------------------------------------


def test_issuer_rotation_keeps_awards_exactly_once(platform: Platform, dev_keys: list[str]) -> None:
    points = platform.ctx.points
    admin = LocalSigner(platform.ctx.w3, dev_keys[0], 31337)
    old_issuer = LocalSigner(platform.ctx.w3, dev_keys[1], 31337)
    new_key = Account.create().key.to_0x_hex()
    new_address = Account.from_key(new_key).address
    rpc(platform.ctx.w3, "anvil_setBalance", new_address, hex(10**20))
    role = points.functions.ISSUER_ROLE().call()

    assert platform.client.post("/v1/purchases", json=_purchase("I-1"), headers=platform.headers()).status_code == 200
    platform.settle()
    send(admin, points.functions.grantRole(role, new_address))
    rotated = make_platform(
        platform.settings.model_copy(update={"issuer_key": SecretStr(new_key)}), platform.engine, platform.keys
    )
    send(admin, points.functions.revokeRole(role, old_issuer.address))

    assert rotated.client.post("/v1/purchases", json=_purchase("I-2"), headers=rotated.headers()).status_code == 200
    rotated.settle()
    statuses = [
        rotated.client.get(f"/v1/purchases/I-{n}", params={"store_id": "demo-store"}, headers=rotated.headers()).json()[
            "status"
        ]
        for n in (1, 2)
    ]
    assert statuses == ["confirmed", "confirmed"]
    balance = rotated.client.get("/v1/customers/lee/balance", headers=rotated.headers()).json()
    assert balance["balance"] == 30
    assert points.functions.balanceOf(balance["address"]).call() == 30
    with pytest.raises(TransactionFailed) as refused:
        send(old_issuer, points.functions.awardBatch([(balance["address"], 999_999, 1, 5, b"\x00" * 32)]))
    assert refused.value.error_name == "AccessControlUnauthorizedAccount"
    assert json.loads(json.dumps(platform.ctx.manifest.roles))["issuer"] == old_issuer.address
