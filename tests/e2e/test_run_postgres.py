"""`make run-postgres` as a user sees it: PostgreSQL started in CREDANCE_HOME, several API
workers, the indexer and sender beside them; metrics of every process on /metrics."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DATABASES
from tests.e2e.test_make_run import ADMIN_KEY, CHECKOUT_KEY, credance, wait_until
from tests.support import free_port

pytestmark = [pytest.mark.chain, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def home() -> Iterator[Path]:
    if "postgresql" not in TEST_DATABASES:
        pytest.skip("PostgreSQL deselected (CREDANCE_TEST_DATABASES)")
    path = Path(tempfile.mkdtemp(prefix="credance-run-pg-"))
    path.chmod(0o755)  # the server may run as another user (under root): it must reach its directory
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_run_on_postgres_with_several_workers(home: Path) -> None:
    env = {
        **os.environ,
        "CREDANCE_HOME": str(home),
        "CREDANCE_PORT": str(free_port()),
        "CREDANCE_CHAIN_PORT": str(free_port()),
        "CREDANCE_PG_PORT": str(free_port()),
        "CREDANCE_DEPLOYMENTS_DIR": str(home / "deployments"),
        "CREDANCE_ADMIN_KEY": ADMIN_KEY,
        "CREDANCE_CHECKOUT_KEY": CHECKOUT_KEY,
    }
    env.pop("CREDANCE_DATABASE_URL", None)
    url = f"http://127.0.0.1:{env['CREDANCE_PORT']}"
    auth = {"Authorization": f"Bearer {CHECKOUT_KEY}"}
    order = {
        "order_id": "PG-1",
        "customer_id": "pia",
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "COFFEE", "quantity": 2, "unit_price": "10.00"}],
    }
    process = credance(env, "run", "--postgres", "--workers", "2")
    try:
        try:
            wait_until(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=300)
        except TimeoutError:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((home / "logs").glob("*.log")))
            raise AssertionError(f"not ready: {httpx.get(f'{url}/readyz', timeout=5).text}\n{logs}") from None
        assert httpx.post(f"{url}/v1/purchases", json=order, headers=auth, timeout=10).status_code == 200
        wait_until(lambda: httpx.get(f"{url}/v1/customers/pia/balance", headers=auth).json()["balance"] == 20)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "credance_indexer_leader 1.0" in metrics  # written by the indexer process
        assert 'credance_outbox_operations{status="pending"} 0.0' in metrics
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)
    assert "postgresql+psycopg://" in output, output
    assert "Credance is running" in output
