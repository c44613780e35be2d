"""Shared fixtures. Every chain test runs against a real Anvil started here (one per test
process), reverted to a clean snapshot between tests; every database test gets a fresh database
migrated by Alembic (copied from a migrated template, which is quicker).

Database-facing tests (those that use ``settings``, ``engine`` or ``platform``) run twice: on
SQLite and on a real PostgreSQL server started here (one throwaway cluster per test process).
``CREDANCE_TEST_DATABASES=sqlite`` (or ``postgresql``) narrows that; ``-m "not postgres"``
deselects the PostgreSQL variants; ``@pytest.mark.sqlite_only`` keeps a test on SQLite,
``@pytest.mark.postgres_only`` on PostgreSQL.

Chain tests run on Anvil. ``@pytest.mark.nodes("ganache", "hardhat")`` runs a test built on the
``platform`` (or ``settings``) fixture on those nodes as well (on SQLite only: the node and the
database do not meet), each started once per test process from its npm package when first asked
for."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import Engine
from web3 import Web3

from backend.chain.anvil import dev_private_keys, start_anvil, stop_anvil
from backend.chain.bootstrap import ensure_deployment
from backend.chain.client import connect
from backend.chain.manifest import Manifest
from backend.chain.nodes import NodeName
from backend.cli.seed import seed_demo
from backend.db.cluster import LocalPostgres
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.loyalty import refs
from backend.settings import PROJECT_ROOT, Settings
from tests.support import Platform, copy_database, free_port, make_platform, rpc


@pytest.fixture(scope="session", autouse=True)
def reference_secret(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The references' secret of this test process (never one in the working tree's home)."""
    refs.configure(Settings(home=tmp_path_factory.mktemp("references")))


@pytest.fixture(scope="session")
def chain_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An Anvil of our own for this test process (chain kept in memory)."""
    home = tmp_path_factory.mktemp("chain-home")
    port = free_port()
    start_anvil(home, port, PROJECT_ROOT / "node_modules", persist=False)
    (home / "port").write_text(str(port))
    yield home
    stop_anvil(home)


@pytest.fixture(scope="session")
def chain_port(chain_home: Path) -> int:
    return int((chain_home / "port").read_text())


@pytest.fixture(scope="session")
def w3(chain_port: int) -> Web3:
    return connect(f"http://127.0.0.1:{chain_port}")


@pytest.fixture(scope="session")
def dev_keys(chain_home: Path) -> list[str]:
    return dev_private_keys(chain_home)


@pytest.fixture(scope="session")
def base_settings(chain_home: Path, chain_port: int, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        home=chain_home,
        chain_port=chain_port,
        deployments_dir=tmp_path_factory.mktemp("deployments"),
        database_url=f"sqlite:///{tmp_path_factory.mktemp('db-unused') / 'unused.db'}",
    )


@pytest.fixture(scope="session")
def deployment(base_settings: Settings) -> Manifest:
    manifest, _ = ensure_deployment(base_settings, force=True)
    return manifest


def _other_node(node: NodeName, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp(f"{node}-home")
    port = free_port()
    start_anvil(home, port, PROJECT_ROOT / "node_modules", persist=False, node=node, timeout=60)
    settings = Settings(
        node=node,
        home=home,
        chain_port=port,
        deployments_dir=tmp_path_factory.mktemp(f"{node}-deployments"),
        database_url=f"sqlite:///{tmp_path_factory.mktemp('db-unused') / 'unused.db'}",
    )
    try:
        ensure_deployment(settings, force=True)
        yield settings
    finally:
        stop_anvil(home)


@pytest.fixture(scope="session")
def ganache_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Ganache of this test process (Shanghai build), deployed."""
    yield from _other_node("ganache", tmp_path_factory)


@pytest.fixture(scope="session")
def hardhat_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Hardhat node of this test process, deployed."""
    yield from _other_node("hardhat", tmp_path_factory)


@pytest.fixture
def node(request: pytest.FixtureRequest) -> str:
    """The node the test runs on: Anvil, unless ``@pytest.mark.nodes`` parametrises it."""
    return str(getattr(request, "param", "anvil"))


@pytest.fixture
def node_settings(request: pytest.FixtureRequest, node: str, base_settings: Settings, deployment: Manifest) -> Settings:
    if node == "anvil":
        return base_settings
    other: Settings = request.getfixturevalue(f"{node}_settings")
    return other


@pytest.fixture
def clean_chain(node_settings: Settings, w3: Web3, deployment: Manifest) -> Iterator[Web3]:
    """The chain as it was right after deployment, restored after the test."""
    chain = w3 if node_settings.node == "anvil" else connect(node_settings.resolved_rpc_url)
    snapshot = rpc(chain, "evm_snapshot")
    yield chain
    rpc(chain, "evm_revert", snapshot)
    if node_settings.node == "anvil":
        # A snapshot does not hold the transaction pool: a transaction a test left in it (queued
        # behind a nonce gap, or sent while mining was off) would be mined into a later test's
        # chain under the nonce its signer is about to use (measured with Anvil 1.7.1: a queued
        # transaction survives evm_revert). The later test's own transaction then never lands.
        rpc(chain, "anvil_dropAllTransactions")


TEST_DATABASES = [
    name.strip() for name in os.environ.get("CREDANCE_TEST_DATABASES", "sqlite,postgresql").split(",") if name.strip()
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that touches the database on each database of TEST_DATABASES, and a test
    marked ``nodes`` on Anvil and on each node it names."""
    nodes = metafunc.definition.get_closest_marker("nodes")
    if nodes is not None and "node" in metafunc.fixturenames:
        names = ["anvil", *nodes.args]
        metafunc.parametrize("node", names, indirect=True, ids=names)
    if "database_kind" not in metafunc.fixturenames:
        return
    kinds = TEST_DATABASES
    if metafunc.definition.get_closest_marker("sqlite_only"):
        kinds = ["sqlite"]
    elif metafunc.definition.get_closest_marker("postgres_only"):
        kinds = [kind for kind in TEST_DATABASES if kind == "postgresql"]
    params = [pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgresql" else []) for kind in kinds]
    metafunc.parametrize("database_kind", params, indirect=True, ids=kinds)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Other nodes run on SQLite only."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        other_node = params.get("node", "anvil") != "anvil"
        (dropped if other_node and params.get("database_kind") == "postgresql" else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster of this test process, in a temporary directory, on a free port."""
    directory = Path(tempfile.mkdtemp(prefix="credance-pg-"))  # under /tmp: reachable by the server's user
    server = LocalPostgres(directory, free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: LocalPostgres) -> str:
    """Name of a migrated database that each test's database is created from."""
    upgrade(postgres_server.create_database("credance_template"))
    return "credance_template"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of the kind under test."""
    if database_kind == "sqlite":
        path = tmp_path / "credance.db"
        copy_database(request.getfixturevalue("migrated_template"), path)
        yield f"sqlite:///{path}"
        return
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name, template=template)
    server.drop_database(name)


@pytest.fixture
def settings(node_settings: Settings, database_url: str) -> Settings:
    return node_settings.model_copy(update={"database_url": database_url, "sender_max_delay_ms": 0})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def platform(settings: Settings, engine: Engine, clean_chain: Web3) -> Platform:
    """Demo data seeded and settled on chain: retailer and store, brand, products, items, keys."""
    keys = seed_demo(engine, settings, 31337)
    platform = make_platform(
        settings, engine, {"admin": keys.admin, "checkout": keys.checkout, "brand": keys.brand, "program": keys.program}
    )
    platform.settle()
    return platform


@pytest.fixture(scope="session")
def stranger() -> str:
    return str(Account.create().address)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.contracts.helpers import GAS_REPORT

    if GAS_REPORT:
        terminalreporter.section("gas")
        for label, gas in GAS_REPORT.items():
            terminalreporter.write_line(f"{label}: {gas:,.0f}")
