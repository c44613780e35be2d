"""`credance run` (what `make run` starts) as a user sees it: from nothing to a confirmed purchase
over HTTP, then stopped and started again with every balance kept."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.settings import PROJECT_ROOT
from tests.support import free_port

pytestmark = [pytest.mark.chain, pytest.mark.slow]

ADMIN_KEY = "cred_test_admin_key_0123456789abcdefghij"
CHECKOUT_KEY = "cred_test_checkout_key_0123456789abcdefgh"


def credance(env: dict[str, str], *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli.main", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CREDANCE_HOME": str(tmp_path / "home"),
        "CREDANCE_PORT": str(free_port()),
        "CREDANCE_CHAIN_PORT": str(free_port()),
        "CREDANCE_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "CREDANCE_ADMIN_KEY": ADMIN_KEY,
        "CREDANCE_CHECKOUT_KEY": CHECKOUT_KEY,
    }


def wait_until(predicate: object, timeout: float = 180.0) -> None:  # a readiness bound, not a timing
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError("condition not reached")


def assert_private(home: Path) -> None:
    """The home (database, dev keys, keystore password, logs, chain) is its owner's alone."""
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    exposed = [(str(p), oct(stat.S_IMODE(p.lstat().st_mode))) for p in home.rglob("*") if p.lstat().st_mode & 0o077]
    assert exposed == []
    assert (home / "credance.db").exists()
    assert (home / "keystore.password").exists()


def test_run_serves_purchases_and_keeps_state_across_restarts(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{env['CREDANCE_PORT']}"
    auth = {"Authorization": f"Bearer {CHECKOUT_KEY}"}
    order = {
        "order_id": "RUN-1",
        "customer_id": "rita",
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 3, "unit_price": "10.00"}],
    }

    first = credance(env, "run")
    try:
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200)
        accepted = httpx.post(f"{url}/v1/purchases", json=order, headers=auth, timeout=10)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["points_awarded"] == 30
        wait_until(lambda: httpx.get(f"{url}/v1/customers/rita/balance", headers=auth).json()["balance"] == 30)
        wait_until(
            lambda: "Genuine" in httpx.get(f"{url}/01/09506000134352/21/SN0001", headers={"Accept": "text/html"}).text
        )
    finally:
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=60)
    assert "Credance is running" in output, output
    assert CHECKOUT_KEY in output
    program = re.search(r"program key \(the store's retailer\)\s+(cred_\S+)", output)
    assert program is not None, output
    member_link = re.search(r"Member pages\s+(http://\S+/me/sign-in\?token=cust_\S+)", output)
    assert member_link is not None, output
    assert re.search(r"Console\s+http://\S+/console/", output), output
    assert_private(Path(env["CREDANCE_HOME"]))

    second = credance(env, "run")
    try:
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200)
        balance = httpx.get(f"{url}/v1/customers/rita/balance", headers=auth).json()
        assert balance["balance"] == 30
        replay = httpx.post(f"{url}/v1/purchases", json=order, headers=auth, timeout=10)
        assert replay.json() == accepted.json()
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert httpx.get(f"{url}/v1/stores", headers=admin).status_code == 200
        # The banner's program key issues rita a customer token, as the retailer's backend would.
        issued = httpx.post(
            f"{url}/v1/customers/rita/tokens",
            json={},
            headers={"Authorization": f"Bearer {program.group(1)}"},
            timeout=10,
        )
        assert issued.status_code == 201, issued.text
        own = httpx.get(
            f"{url}/v1/customers/rita/history", headers={"Authorization": f"Bearer {issued.json()['token']}"}
        )
        assert [e["amount"] for e in own.json()["entries"]] == [30]
        # The banner's member link signs the demo member in to their pages (once).
        with httpx.Client(headers={"Accept": "text/html"}, timeout=10) as phone:
            form = phone.get(member_link.group(1))
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200
            assert csrf is not None, form.text
            token = member_link.group(1).rsplit("=", 1)[1]
            signed = phone.post(f"{url}/me/sign-in", data={"csrf_token": csrf.group(1), "token": token})
            assert signed.status_code == 303, signed.text
            assert "Your points" in phone.get(f"{url}/me/").text
    finally:
        second.send_signal(signal.SIGINT)
        output, _ = second.communicate(timeout=60)
    assert "using deployment" in output, output


def test_a_chain_that_is_down_is_reported_clearly(env: dict[str, str]) -> None:
    process = credance(env, "indexer")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no JSON-RPC answer" in output
    assert "Traceback" not in output
