"""`credance loyalty predict run|show|evaluate` and `credance loyalty history import`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from backend.cli.common import console

predict_app = typer.Typer(help="Predictive loyalty: runs of the purchase models.", no_args_is_help=True)
history_app = typer.Typer(help="Past orders imported as purchase history (they earn nothing).", no_args_is_help=True)


def _engine() -> Any:
    from backend.cli.loyalty import _engine as engine

    return engine()


def _day(text: str | None) -> date:
    from backend.db.types import utcnow

    if text is None:
        return utcnow().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        console.print(f"[bold red]error:[/] --as-of {text!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(code=2) from None


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


@predict_app.command("run")
def run_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Transactions through this day (default today).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's summary as one JSON object.")] = False,
    backtest: Annotated[bool, typer.Option(help="Backtest on the horizon before the day.")] = True,
) -> None:
    """Fit the models, score every member, publish the rules' predicted: segments (refused below
    the rules' minimum of data)."""
    from backend.db.engine import session_scope
    from backend.predictive.runs import run

    day = _day(as_of)
    with session_scope(_engine()) as session:
        outcome = run(session, day, "cli", evaluate=backtest)
    if as_json:
        print(json.dumps(outcome.summary, sort_keys=True))
    else:
        summary = outcome.summary
        console.print(
            f"run {outcome.run.id} as of {day}: {outcome.run.status}"
            f"{' (' + outcome.run.reason + ')' if outcome.run.reason else ''}; "
            f"{summary['customers']} customers, {summary['repeat_customers']} repeat; "
            f"segments {summary.get('segments', {})}"
        )
    if outcome.run.status == "refused":
        raise typer.Exit(code=3)


@predict_app.command("show")
def show_command(
    run_id: Annotated[int | None, typer.Argument(help="A run id; the runs, newest first, by default.")] = None,
    customer: Annotated[str | None, typer.Option(help="A member's predictions (latest published run).")] = None,
) -> None:
    """Print runs, one run, or a member's predictions with their explanation, as JSON."""
    from sqlmodel import Session

    from backend.errors import DomainError
    from backend.loyalty.customers import get_customer
    from backend.predictive.runs import get_run, list_runs, run_view
    from backend.predictive.views import member_predictions

    try:
        with Session(_engine()) as session:
            if customer is not None:
                _print(member_predictions(session, get_customer(session, customer), run_id))
            elif run_id is not None:
                _print(run_view(get_run(session, run_id)))
            else:
                _print([run_view(r) for r in list_runs(session)])
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=2) from None


@predict_app.command("evaluate")
def evaluate_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="End of the holdout (default today).")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the differences.")] = 200,
) -> None:
    """Backtest without publishing: fit up to one horizon before the day, compare the holdout with
    the models' and the baselines' forecasts (JSON)."""
    from sqlmodel import Session

    from backend.predictive.extract import Rules
    from backend.predictive.runs import _excluded_skus, backtest, policy_in_force

    day = _day(as_of)
    with Session(_engine()) as session:
        _, policy, _ = policy_in_force(session)
        _print(backtest(session, Rules.of(session, _excluded_skus(session)), day, policy, resamples))


@history_app.command("import")
def import_command(
    path: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV: order_id,customer_id,date,total [,sku,category,quantity]."
        ),
    ],
    store: Annotated[str, typer.Option(help="The store the orders were placed in.")],
) -> None:
    """Import past orders, checked whole before anything is written; they earn nothing."""
    from rich.progress import Progress

    from backend.db.engine import session_scope
    from backend.db.types import utcnow
    from backend.errors import DomainError
    from backend.predictive.history import HistoryProblems, import_history, read_file

    try:
        orders = read_file(path, utcnow().date())
        with Progress(console=console, transient=True) as bar, session_scope(_engine()) as session:
            task = bar.add_task("importing", total=len(orders))

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            report = import_history(session, store, orders, progress)
    except HistoryProblems as exc:
        console.print("[bold red]nothing was imported:[/]")
        for problem in exc.problems:
            console.print(f"  {problem}")
        raise typer.Exit(code=2) from None
    except DomainError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(code=2) from None
    console.print(
        f"imported {report.orders} orders ({report.lines} lines) as {report.import_id}; "
        f"{report.customers_enrolled} customers enrolled"
    )
