"""Runs without a chain: the upkeep starts one when the rules' ``every_days`` have passed, the CLI
shows runs and a member's explained predictions, hand-set segments leave the predicted ones alone,
and a history file is checked whole (every bad line named, nothing written)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from backend.cli.main import app
from backend.db.models import CustomerSegment, HistoryOrder, PredictionRun, Retailer, Store
from backend.db.types import utcnow
from backend.errors import Unprocessable
from backend.loyalty import members
from backend.loyalty.customers import get_customer
from backend.loyalty.program import publish_document
from backend.predictive.history import import_history, parse_records
from backend.predictive.runs import due
from backend.settings import Settings, get_settings
from tests.predictive.data import fading_history

RULES = {
    "points_per_unit": "1",
    "predictive": {
        "horizon_days": 60,
        "every_days": 7,
        "control_percent": 20,
        "minimum": {"customers": 40, "repeat_customers": 20, "history_days": 120},
        "segments": {"lapsed": {"p_alive_below": "0.000001"}, "at_risk": {"p_alive_below": "0.9"}},
    },
}


@pytest.fixture
def cli(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CREDANCE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setattr("backend.cli.common.configure_logging", lambda *args: None)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def setup_program(engine: Engine, rules: dict | None = RULES, customers: int = 120) -> None:
    today = utcnow().date()
    with Session(engine) as session:
        session.add(Retailer(id="shop", name="Shop"))
        session.flush()
        session.add(Store(id="shop-1", name="Shop", currency="EUR", retailer_id="shop"))
        if rules is not None:
            publish_document(session, rules)
        import_history(session, "shop-1", parse_records(fading_history(today, customers), today))
        session.commit()


def test_the_upkeep_runs_predictions_when_due_and_the_cli_shows_them(cli: CliRunner, engine: Engine) -> None:
    setup_program(engine)
    today = utcnow().date()
    with Session(engine) as session:
        assert due(session, today)
    done = cli.invoke(app, ["loyalty", "maintain"])
    assert done.exit_code == 0, done.output
    assert "prediction run 1: published" in done.output
    with Session(engine) as session:
        assert not due(session, today)
        assert due(session, today + timedelta(days=7))
        customer = get_customer(session, "p000")
        assert customer.id is not None
        predicted = members.segments_of(session, customer.id)
        # An admin's segments replace the hand-set ones only; predicted: ones are refused by hand.
        members.set_segments(session, customer, ["vip"])
        assert members.segments_of(session, customer.id) == predicted | {"vip"}
        with pytest.raises(Unprocessable) as refused:
            members.set_segments(session, customer, ["predicted:lapsed"])
        assert refused.value.field == "segments"
        session.rollback()
    again = cli.invoke(app, ["loyalty", "maintain"])
    assert "prediction run" not in again.output

    runs = json.loads(cli.invoke(app, ["loyalty", "predict", "show"]).stdout)
    assert [(r["id"], r["trigger"], r["status"]) for r in runs] == [(1, "upkeep", "published")]
    one = json.loads(cli.invoke(app, ["loyalty", "predict", "show", "--customer", "p001"]).stdout)
    assert one["inputs"]["repeat_purchase_days"] >= 1
    assert one["run"]["id"] == 1
    assert {"pareto_nbd", "bgnbd", "value_over_horizon", "expected_next_purchase"} <= set(one["figures"])

    ran = cli.invoke(app, ["loyalty", "predict", "run", "--json", "--no-backtest"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert summary["customers"] == 120
    assert set(summary["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert set(summary["pareto_nbd"]) == {"r", "alpha", "s", "beta", "loglik"}
    assert set(summary["gamma_gamma"]) == {"p", "q", "gamma", "loglik"}
    assert summary["segments"]["predicted:at-risk"] > 0
    with Session(engine) as session:
        treated = session.exec(select(CustomerSegment).where(CustomerSegment.segment == "predicted:at-risk")).all()
    assert len(treated) == summary["segments"]["predicted:at-risk"]


@pytest.mark.sqlite_only
def test_without_a_predictive_section_runs_publish_no_segments(cli: CliRunner, engine: Engine) -> None:
    setup_program(engine, {"points_per_unit": "1"}, customers=220)  # the default minimum: 200
    with Session(engine) as session:
        assert not due(session, utcnow().date())  # the upkeep leaves such a program alone
    ran = cli.invoke(app, ["loyalty", "predict", "run", "--json", "--no-backtest"])
    summary = json.loads(ran.stdout)
    assert summary["status"] == "published"
    assert summary["segments"] == {}
    assert "no predictive section" in summary["reason"]
    with Session(engine) as session:
        assert session.exec(select(CustomerSegment)).all() == []
        assert len(session.exec(select(PredictionRun)).all()) == 1


@pytest.mark.sqlite_only
def test_a_bad_history_file_is_refused_whole(cli: CliRunner, engine: Engine, tmp_path: Path) -> None:
    setup_program(engine, None)
    path = tmp_path / "bad.csv"
    path.write_text(
        "order_id,customer_id,date,total,sku\n"
        "N1,c1,2020-01-01,10.00,A\n"
        "N2,c2,not-a-day,10.00,A\n"
        "N3,c3,2020-01-02,-4,A\n"
        "N1,c9,2020-01-01,3.00,B\n"
    )
    with Session(engine) as session:
        before = len(session.exec(select(HistoryOrder)).all())
    done = cli.invoke(app, ["loyalty", "history", "import", str(path), "--store", "shop-1"])
    assert done.exit_code == 2
    for number in (3, 4, 5):
        assert f"line {number}:" in done.output
    with Session(engine) as session:
        assert len(session.exec(select(HistoryOrder)).all()) == before
    missing = tmp_path / "missing.csv"
    missing.write_text("order_id,date,total\nA,2020-01-01,1\n")
    refused = cli.invoke(app, ["loyalty", "history", "import", str(missing), "--store", "shop-1"])
    assert refused.exit_code == 2
    assert "customer_id" in refused.output
    unknown = cli.invoke(app, ["loyalty", "history", "import", str(missing), "--store", "nowhere"])
    assert unknown.exit_code == 2
