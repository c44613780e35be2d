"""Provenance commands: `credance items import|qr`, `credance verify`, `credance anchorer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from backend.bounds import json_depth_exceeds
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
            written = write_qr_codes(
                session, s.resolved_public_url, gtin, out, lot, serial, kind, scale, lambda n: progress.advance(task, n)
            )
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=1) from None
    console.print(f"{len(written)} QR codes in {out}")


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@app.command()
def verify(
    link: Annotated[
        str | None, typer.Argument(help="The item's GS1 Digital Link: https://…/01/<gtin>/21/<serial>.")
    ] = None,
    gtin: Annotated[str | None, typer.Option(help="The item's GTIN (with --serial, instead of a link).")] = None,
    serial: Annotated[str | None, typer.Option(help="The item's serial (with --gtin).")] = None,
    answer_file: Annotated[
        Path | None,
        typer.Option("--answer", dir_okay=False, help="Check this saved answer (JSON) instead of asking the server."),
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="Resolver asked with --gtin/--serial (default CREDANCE_PUBLIC_URL).")
    ] = None,
    rpc_url: Annotated[str | None, typer.Option(help="Any node of the chain (default: CREDANCE_RPC_URL).")] = None,
    registry: Annotated[str | None, typer.Option(help="Pin the ProvenanceRegistry by its address.")] = None,
    manifest: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Pin it by a trusted manifest deployments/<chain_id>.json.")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="The chain id the node must serve.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on standard output.")] = False,
) -> None:
    """Check an item against the chain, trusting nothing the server says.

    The item is what you ask about (the link, or --gtin and --serial), the chain is the node and
    the registry you pin (--registry or --manifest; by default the local manifest of the node's
    chain), and the server's answer is only material to check. Exit 0: every check passed;
    1: a check failed; 2: the question itself could not be asked.
    """
    import httpx
    from rich.markup import escape

    from backend.chain.client import connect
    from backend.provenance.proofcheck import verify_answer
    from backend.provenance.verifier.item import NotAnItem, item_of, item_of_link, server_of
    from backend.provenance.verifier.pinning import PinError, pin_chain

    s = settings()
    if link is not None and Path(link).is_file() and answer_file is None:
        raise _fail(
            "a saved answer is checked with --answer FILE, naming the item it must be about "
            "(its Digital Link, or --gtin and --serial)"
        )
    try:
        if (link is None) == (gtin is None or serial is None) or (link is not None and (gtin or serial)):
            raise NotAnItem("name the item once: its Digital Link, or --gtin and --serial")
        asked = item_of_link(link) if link is not None else item_of(str(gtin), str(serial))
        base = server_of(link) if link is not None else (server or s.resolved_public_url).rstrip("/")
    except NotAnItem as exc:
        raise _fail(str(exc)) from None
    with friendly_errors():
        w3 = connect(rpc_url or s.resolved_rpc_url, timeout=10)
        if registry is None and manifest is None:
            manifest = s.deployments_dir / f"{int(w3.eth.chain_id)}.json"
            if not manifest.exists():
                raise _fail(
                    "pin the registry: --registry ADDRESS or --manifest deployments/<chain_id>.json "
                    f"(no local manifest {manifest})"
                )
        try:
            pin = pin_chain(w3, registry, manifest, chain_id)
        except PinError as exc:
            raise _fail(str(exc)) from None
        if answer_file is not None:
            try:
                answer: Any = _bounded_json(answer_file.read_bytes(), str(answer_file))
            except OSError as exc:
                raise _fail(f"{answer_file}: {exc}") from None
        else:
            url = link if link is not None else base + asked.path()
            response = httpx.get(url, params={"format": "json", "scan": "false"}, timeout=10, follow_redirects=True)
            if response.status_code != 200:
                raise _fail(f"{url} answered {response.status_code}: {response.text[:200]}")
            answer = _bounded_json(response.content, url)
        report = verify_answer(pin, asked, answer, base)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        console.print(
            f"GTIN {asked.gtin} serial {asked.serial}: the server says {report.verdict!r}; chain "
            f"{pin.chain_id}, registry {pin.address} pinned by {pin.source}",
            markup=False,
        )
        for check in report.checks:
            mark = "[green]ok[/]    " if check.ok else "[red]FAILED[/]"
            console.print(f"{mark} {escape(check.what)}: {escape(check.detail)}")
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}")
        failed = len(report.failures)
        console.print(
            "[bold green]VERIFIED[/]: every check passed"
            if report.ok
            else f"[bold red]NOT VERIFIED[/]: {failed} check(s) FAILED"
        )
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def anchorer() -> None:
    """Seal accepted EPCIS events into Merkle batches for the chain, until stopped."""
    import signal
    import threading

    from backend.db.engine import make_engine
    from backend.provenance.epcis.anchoring import Anchorer

    s = settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"anchoring EPCIS events: batches of {s.anchor_batch_size}, at most {s.anchor_max_delay_ms} ms")
    Anchorer(make_engine(s.resolved_database_url), s.anchor_batch_size, s.anchor_max_delay_ms).run(
        stop, s.anchor_poll_ms / 1000
    )


ANSWER_MAX_DEPTH = 128  # an answer nests ~10 deep, plus event bodies (EPCIS extensions are capped at 32)


def _bounded_json(raw: bytes, source: str) -> Any:
    """An answer as JSON, its depth measured before parsing: a hostile server or file cannot make
    the verifier recurse without bound."""
    if json_depth_exceeds(raw, ANSWER_MAX_DEPTH):
        raise _fail(f"{source}: the answer nests deeper than {ANSWER_MAX_DEPTH} levels")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _fail(f"{source}: not JSON: {exc}") from None
