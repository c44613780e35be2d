"""`credance`: build, chain, deploy, database, the three services, and the all-in-one `run`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.collectibles import collectibles_app
from backend.cli.common import console, friendly_errors, settings
from backend.cli.loyalty import loyalty_app
from backend.cli.passports import passports_app
from backend.cli.polls import polls_app
from backend.cli.provenance import app as provenance_app
from backend.runtime import freeze_startup_heap

app = typer.Typer(help="Credance: blockchain-backed loyalty and product provenance.", no_args_is_help=True)
chain_app = typer.Typer(help="The project's own Anvil chain.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(passports_app, name="passports")
app.add_typer(provenance_app)  # items import|qr, verify, anchorer
app.add_typer(polls_app, name="polls")
app.add_typer(collectibles_app, name="collectibles")


@app.callback()
def _private_files() -> None:
    """Every file a command (and the services it starts) creates is its owner's alone: the home
    holds personal data, encrypted keys and dev keys."""
    from backend.home import restrict_umask

    restrict_umask()


def _stop_event() -> threading.Event:
    """An event set by SIGINT/SIGTERM, so loops finish their current step and exit cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command()
def build(force: Annotated[bool, typer.Option(help="Recompile even if up to date.")] = False) -> None:
    """Compile the contracts with solc-js (offline) into build/."""
    from backend.chain.build import build_contracts

    s = settings()
    with friendly_errors():
        result = build_contracts(s.build_dir, s.node_modules, force=force, evm_version=s.resolved_evm_version)
    console.print(f"contracts {'compiled' if result.compiled else 'up to date'} in {result.artifacts_dir}")


@chain_app.command("up")
def chain_up() -> None:
    """Start the local node (CREDANCE_NODE: anvil, ganache or hardhat) on CREDANCE_CHAIN_PORT,
    keeping its chain under CREDANCE_HOME/chain where the node can."""
    from backend.chain.anvil import start_anvil

    s = settings()
    with friendly_errors():
        pid = start_anvil(
            s.resolved_home, s.chain_port, s.node_modules, s.chain_state_interval, s.block_time, node=s.node
        )
    console.print(f"{s.node} running (pid {pid}) at http://127.0.0.1:{s.chain_port}")


@chain_app.command("down")
def chain_down() -> None:
    """Stop the local node; Anvil writes its state first, so `chain up` resumes the same chain."""
    from backend.chain.anvil import chain_paths, stop_anvil

    s = settings()
    node = chain_paths(s.resolved_home).node
    console.print(f"{node} stopped" if stop_anvil(s.resolved_home) else f"{node} was not running")


@chain_app.command("status")
def chain_status() -> None:
    """Say whether the chain answers, and at which block."""
    from backend.chain.client import chain_id_of, connect

    s = settings()
    with friendly_errors():
        w3 = connect(s.resolved_rpc_url, timeout=3)
        chain_id = chain_id_of(w3)
        console.print(f"chain {chain_id} at {s.resolved_rpc_url}, block {w3.eth.block_number}")


@app.command()
def deploy(force: Annotated[bool, typer.Option(help="Deploy again even if live.")] = False) -> None:
    """Deploy the contracts (once per chain) and write deployments/<chain_id>.json."""
    from backend.chain.bootstrap import ensure_deployment

    s = settings()
    with friendly_errors():
        manifest, deployed = ensure_deployment(s, force=force)
    verb = "deployed" if deployed else "already deployed"
    for name, contract in manifest.contracts.items():
        console.print(f"{verb}: {name} at {contract.address} (block {contract.deploy_block})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to CREDANCE_DATABASE_URL."""
    from backend.db.migrate import upgrade

    s = settings()
    upgrade(s.resolved_database_url)
    console.print("database schema is up to date")


@app.command()
def serve(
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the HTTP API on CREDANCE_HOST:CREDANCE_PORT."""
    import os

    import uvicorn

    from backend.observability import MULTIPROC_ENV, prepare_multiprocess_dir

    s = settings()
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Several processes answer /metrics: they must share their metrics (set before the workers start).
        os.environ[MULTIPROC_ENV] = str(prepare_multiprocess_dir(s.resolved_home / "metrics"))
    # Workers must answer uvicorn's health ping once started: on a loaded machine importing the
    # application takes longer than its default 5 s, and the supervisor would kill them in a loop.
    # The client address counts for rate limits and for telling scanners apart: read it from
    # X-Forwarded-For only when it comes from a proxy the operator named.
    # uvloop and httptools, named rather than left to "auto": the C event loop and HTTP parser
    # (uvicorn[standard]) serve reads several times faster than asyncio + h11, and granian did not
    # beat them (bench/reads.py, case `servers`; docs/performance.md). The protocol is uvicorn's
    # httptools one, answering /healthz and the refusals of a full class itself (http_protocol.py).
    from backend.api.http_protocol import EarlyAnsweringProtocol

    proxies = s.forwarded_allow_ips.strip()
    uvicorn.run(
        "backend.api.main:app",
        host=s.host,
        port=s.port,
        workers=workers,
        loop="uvloop",
        http=EarlyAnsweringProtocol,
        log_level=s.log_level.lower(),
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,  # no "server: uvicorn": nothing to fingerprint, one header less per answer
        timeout_worker_healthcheck=120,
    )


@app.command()
def indexer() -> None:
    """Mirror contract events into SQL until stopped (one leader among several indexers)."""
    from backend.chain.context import ChainContext, open_chain
    from backend.db.engine import make_engine
    from backend.indexer.runner import Indexer

    s = settings()
    with friendly_errors():
        ctx = open_chain(s)
    engine = make_engine(s.resolved_database_url)
    console.print(f"indexing chain {ctx.chain_id} from block {ctx.manifest.start_block}")

    def reload() -> ChainContext:
        # A redeployment (e.g. after an Anvil reset) writes a new manifest: follow it.
        return open_chain(s)

    indexer = Indexer(engine, ctx, s.confirmations, s.indexer_max_range, reload=reload)
    freeze_startup_heap()
    indexer.run(_stop_event(), s.indexer_poll_ms / 1000)


@app.command()
def reconcile(
    repair: Annotated[bool, typer.Option(help="Re-derive the mirror from the chain where it differs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Prove the SQL mirror equals the chain: list every difference, exit 1 if there is any."""
    import json

    from backend.chain.context import open_chain
    from backend.db.engine import make_engine
    from backend.indexer.reconcile import reconcile as run_reconcile
    from backend.indexer.reconcile_runs import record_run

    s = settings()
    with friendly_errors():
        ctx = open_chain(s)
    engine = make_engine(s.resolved_database_url)
    report = run_reconcile(engine, ctx, repair=repair)
    if repair and report.repaired:
        first = report
        report = run_reconcile(engine, ctx)  # prove the repair
        console.print(f"repaired {len(first.differences)} difference(s)")
    record_run(engine, report)  # the console's dashboard shows the latest
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for difference in report.differences:
            print(difference.describe())
        print(report.summary())
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def sender() -> None:
    """Send the outbox to the chain until stopped."""
    from backend.chain.context import open_chain
    from backend.chain.named_signers import Signers
    from backend.chain.sender import Sender
    from backend.db.engine import make_engine

    s = settings()
    with friendly_errors():
        ctx = open_chain(s)
    engine = make_engine(s.resolved_database_url)
    signers = Signers(ctx.w3, ctx.chain_id, s, engine)
    console.print(f"sending to chain {ctx.chain_id}")
    freeze_startup_heap()
    Sender(
        engine,
        ctx,
        signers,
        s.sender_batch_size,
        s.sender_max_delay_ms,
        max_in_flight=s.sender_max_in_flight,
        receipt_timeout=s.sender_receipt_timeout_s,
    ).run(_stop_event(), s.sender_poll_ms / 1000)


@app.command()
def seed() -> None:
    """Create the demo store, brand, products, items, customer and keys (idempotent)."""
    from backend.chain.client import chain_id_of, connect
    from backend.cli.seed import seed_demo
    from backend.db.engine import make_engine

    s = settings()
    with friendly_errors():
        chain_id = chain_id_of(connect(s.resolved_rpc_url))
    keys = seed_demo(make_engine(s.resolved_database_url), s, chain_id)
    console.print(
        f"admin key: {keys.admin}\ncheckout key (demo-store): {keys.checkout}\n"
        f"program key (the store's retailer): {keys.program}\nbrand key: {keys.brand}"
    )


@app.command()
def run(
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    postgres: Annotated[
        bool, typer.Option(help="Use PostgreSQL: CREDANCE_DATABASE_URL, or a local server started in CREDANCE_HOME.")
    ] = False,
) -> None:
    """Everything at once: chain, contracts, database, demo data, API, indexer and sender."""
    from backend.cli.run import run_platform

    s = settings()
    with friendly_errors():
        run_platform(s, workers=workers, postgres=postgres)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, program, checkout or organisation")],
    store: Annotated[str | None, typer.Option(help="Store of a checkout key.")] = None,
    org: Annotated[str | None, typer.Option(help="Organisation of an organisation key.")] = None,
    retailer: Annotated[str | None, typer.Option(help="Retailer of a program key.")] = None,
    label: str = "",
) -> None:
    """Create an API key and print it (only its digest is stored)."""
    from backend.api.auth import Role, create_api_key
    from backend.db.engine import make_engine, session_scope

    s = settings()
    with session_scope(make_engine(s.resolved_database_url)) as session:
        key, record = create_api_key(session, Role(role), store_id=store, org_id=org, label=label, retailer_id=retailer)
    console.print(f"{record.key_id}: ", end="")
    print(key)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its public id (the first characters of the key)."""
    from backend.api.auth import revoke_api_key
    from backend.db.engine import make_engine, session_scope

    s = settings()
    with session_scope(make_engine(s.resolved_database_url)) as session:
        revoked = revoke_api_key(session, key_id)
    console.print("revoked" if revoked else f"no active key {key_id}")
    if not revoked:
        raise typer.Exit(code=1)


@keys_app.command("keystore")
def keys_keystore(
    out: Annotated[Path, typer.Argument(help="Keystore file to create (mode 0600).")],
    generate: Annotated[bool, typer.Option(help="Create a new key instead of reading one from stdin.")] = False,
) -> None:
    """Encrypt a signing key into a Web3 Secret Storage file, for CREDANCE_DEPLOYER_KEYSTORE or
    CREDANCE_ISSUER_KEYSTORE. The key is read from stdin (never from the command line); the
    password from CREDANCE_KEYSTORE_PASSWORD or a prompt."""
    import sys

    from eth_account import Account

    from backend.chain.keys import write_keystore

    s = settings()
    key = Account.create().key.to_0x_hex() if generate else sys.stdin.readline().strip()
    password = (
        s.keystore_password.get_secret_value()
        if s.keystore_password
        else typer.prompt("keystore password", hide_input=True, confirmation_prompt=True)
    )
    try:
        address = write_keystore(out, key, password)
    except (ValueError, FileExistsError) as exc:
        console.print(
            f"[bold red]error:[/] {'file exists' if isinstance(exc, FileExistsError) else 'not a private key'}"
        )
        raise typer.Exit(code=2) from None
    console.print(f"wrote {out} for address {address}")


if __name__ == "__main__":
    app()
