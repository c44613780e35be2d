"""`credance loyalty`: rule sets from files, the periodic upkeep, and reports."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from backend.cli.common import console, settings

loyalty_app = typer.Typer(help="The loyalty program: rules, upkeep, reports.", no_args_is_help=True)
rules_app = typer.Typer(help="Earning rule sets.", no_args_is_help=True)
loyalty_app.add_typer(rules_app, name="rules")


def _engine() -> Engine:
    from backend.db.engine import make_engine

    return make_engine(settings().resolved_database_url)


@rules_app.command("load")
def rules_load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON rule document.")],
) -> None:
    """Publish the rules in PATH as the next version (nothing happens if they are the rules in force)."""
    from backend.db.engine import session_scope
    from backend.errors import DomainError
    from backend.loyalty.program import publish_document
    from backend.loyalty.rule_document import load_rules_file

    try:
        with session_scope(_engine()) as session:
            record, created = publish_document(session, load_rules_file(path))
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=2) from None
    verb = "published" if created else "already in force:"
    console.print(f"{verb} rule set version {record.version} ({record.content_hash}); the sender puts it on chain")


@rules_app.command("show")
def rules_show(
    version: Annotated[int | None, typer.Option(help="A version; the rules in force by default.")] = None,
) -> None:
    """Print a rule set's canonical content (what its on-chain hash covers)."""
    from sqlmodel import Session

    from backend.loyalty.program import get_rule_record, publication_of, rules_in_force

    with Session(_engine()) as session:
        record = get_rule_record(session, version) if version else rules_in_force(session)[0]
        out = {
            "version": record.version,
            "content_hash": record.content_hash,
            "publication": publication_of(session, record),
            "content": json.loads(record.content),
        }
    print(json.dumps(out, indent=2, default=str))


@loyalty_app.command("maintain")
def maintain_command(
    every: Annotated[float, typer.Option(help="Repeat every N seconds until stopped (0: once).")] = 0,
) -> None:
    """Burn expired lots, evaluate tiers, undo refused redemptions and transfers."""
    import signal
    import threading

    from backend.db.engine import session_scope
    from backend.loyalty.maintenance import maintain

    engine = _engine()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while True:
        with session_scope(engine) as session:
            report = maintain(session)
        console.print(
            f"expired {report.expired_points} points ({report.expiry_operations} burns), "
            f"{report.tier_changes} tier changes, {report.undone} refused operations undone"
        )
        _predict_if_due(engine)
        if every <= 0 or stop.wait(every):
            return


def _predict_if_due(engine: Engine) -> None:
    """A prediction run when the rules' ``predictive.every_days`` have passed since the last one
    (in its own transaction: a failed run leaves the rest of the upkeep done)."""
    from backend.db.engine import session_scope
    from backend.db.types import utcnow
    from backend.predictive.runs import due, run

    today = utcnow().date()
    try:
        with session_scope(engine) as session:
            if not due(session, today):
                return
            outcome = run(session, today, "upkeep")
        console.print(f"prediction run {outcome.run.id}: {outcome.run.status} {outcome.run.reason}".rstrip())
    except Exception as exc:  # the upkeep goes on; the next pass tries again
        console.print(f"[red]prediction run failed: {exc}[/]")


@loyalty_app.command("sign-in-link")
def sign_in_link_command(
    customer_id: Annotated[str, typer.Argument(help="The member's customer id.")],
) -> None:
    """Print a one-time link to the member's pages (/me/), valid for CREDANCE_CUSTOMER_TOKEN_MAX_TTL."""
    from backend.errors import DomainError
    from backend.web.links import sign_in_link

    try:
        print(sign_in_link(_engine(), settings(), customer_id))
    except DomainError as error:
        console.print(f"[red]{error.message}[/]")
        raise typer.Exit(1) from None


@loyalty_app.command("report")
def report_command(
    days: Annotated[int, typer.Option(help="Days of daily figures.")] = 30,
) -> None:
    """Liability, and points issued, redeemed and expired per day, as JSON."""
    from sqlmodel import Session

    from backend.db.types import utcnow
    from backend.loyalty.reports import daily, liability

    last: date = utcnow().date()
    with Session(_engine()) as session:
        out = {"liability": liability(session), "daily": daily(session, last - timedelta(days=days), last)}
    print(json.dumps(out, indent=2, default=str))


def _register_predictive() -> None:
    from backend.cli.predict import history_app, predict_app

    loyalty_app.add_typer(predict_app, name="predict")
    loyalty_app.add_typer(history_app, name="history")


_register_predictive()
