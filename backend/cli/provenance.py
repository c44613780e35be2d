"""Provenance commands: `credance items import|qr`, `credance verify`, `credance anchorer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from backend.cli.common import console, friendly_errors, settings

app = typer.Typer()
items_app = typer.Typer(help="Serialized items: bulk import, QR codes.", no_args_is_help=True)
app.add_typer(items_app, name="items")


@items_app.command("import")
def items_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns gtin, serial[, lot].")],
    org: Annotated[str, typer.Option(help="The manufacturer registering the items.")],
    gtin: Annotated[str | None, typer.Option(help="GTIN of every row, if the file has no gtin column.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Serials per Merkle batch.")] = 10_000,
) -> None:
    """Register thousands of serials at once: one Merkle root per batch goes on chain."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from backend.db.engine import make_engine, session_scope
    from backend.errors import DomainError
    from backend.provenance.importer import ImportProblems, import_rows, read_rows
    from backend.provenance.organisations import get_organisation

    s = settings()
    try:
        rows = read_rows(file, gtin)
    except ImportProblems as bad:
        for problem in bad.problems:
            console.print(f"[red]{problem}[/]")
        console.print(f"[bold red]error:[/] {bad}")
        raise typer.Exit(code=1) from None
    columns = (TextColumn("registering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress, session_scope(make_engine(s.resolved_database_url)) as db:
            task = progress.add_task("items", total=len(rows))
            manufacturer = get_organisation(db, org)
            registered = import_rows(db, manufacturer, rows, batch_size, lambda n: progress.advance(task, n))
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message} (nothing was imported)")
        raise typer.Exit(code=1) from None
    for batch in registered:
        console.print(f"batch {batch.root}: {batch.count} items of GTIN {batch.gtin}")
    console.print(f"{len(rows)} items registered in {len(registered)} batch(es); the sender puts the roots on chain")


@items_app.command("qr")
def items_qr(
    gtin: Annotated[str, typer.Option(help="The product's GTIN.")],
    out: Annotated[Path, typer.Option(help="Directory for the QR codes.")] = Path("qr"),
    lot: Annotated[str | None, typer.Option(help="Only this lot.")] = None,
    serial: Annotated[list[str] | None, typer.Option(help="Only these serials (repeat the option).")] = None,
    kind: Annotated[str, typer.Option("--format", help="svg or png.")] = "svg",
    scale: Annotated[int, typer.Option(min=1, max=40)] = 4,
) -> None:
    """One QR code per item carrying its GS1 Digital Link URI (CREDANCE_PUBLIC_URL/01/{gtin}/21/{serial})."""
    from rich.progress import Progress

    from backend.db.engine import make_engine
    from backend.errors import DomainError
    from backend.provenance.qr import write_qr_codes

    s = settings()
    if kind not in ("svg", "png"):
        raise typer.BadParameter("svg or png", param_hint="--format")
    try:
        with Progress(console=console) as progress, Session(make_engine(s.resolved_database_url)) as session:
            task = progress.add_task("QR codes")
            written = write_qr_codes(session, s.resolved_public_url, gtin, out, lot, serial, kind, scale,
                                     lambda n: progress.advance(task, n))  # fmt: skip
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=1) from None
    console.print(f"{len(written)} QR codes in {out}")


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="A Digital Link URL, or a file with the verification JSON.")],
    rpc_url: Annotated[str | None, typer.Option(help="Any node of the chain (default: CREDANCE_RPC_URL).")] = None,
) -> None:
    """Check an item's proofs against the chain, without trusting the server that gave them."""
    import httpx
    from rich.table import Table

    from backend.chain.client import connect
    from backend.provenance.proofcheck import check_proof, http_scope_fetcher

    s = settings()
    if source.startswith(("http://", "https://")):
        response = httpx.get(source, params={"format": "json", "scan": "false"}, timeout=10, follow_redirects=True)
        if response.status_code != 200:
            console.print(f"[bold red]error:[/] {source} answered {response.status_code}: {response.text[:200]}")
            raise typer.Exit(code=2)
        answer: dict[str, Any] = response.json()
    else:
        answer = json.loads(Path(source).read_text())
    with friendly_errors():
        w3 = connect(rpc_url or s.resolved_rpc_url, timeout=10)
        # Recall scopes come from the server asked (a saved answer: the one its Digital Link names).
        scopes = http_scope_fetcher(source) if source.startswith(("http://", "https://")) else None
        checks = check_proof(w3, answer, scopes)
    table = Table(title=f"{answer.get('gtin')} / {answer.get('serial')}: server says {answer.get('verdict')}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.what, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(code=1)


@app.command()
def anchorer() -> None:
    """Seal accepted EPCIS events into Merkle batches for the chain, until stopped."""
    import signal
    import threading

    from backend.db.engine import make_engine
    from backend.provenance.epcis.anchoring import Anchorer
    from backend.provenance.settings import get_provenance_settings

    s, p = settings(), get_provenance_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"anchoring EPCIS events: batches of {p.anchor_batch_size}, at most {p.anchor_max_delay_ms} ms")
    Anchorer(make_engine(s.resolved_database_url), p.anchor_batch_size, p.anchor_max_delay_ms).run(
        stop, p.anchor_poll_ms / 1000
    )
