"""`credance loyalty`: load rules from a file (once), show them, run the upkeep, print reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from backend.cli.main import app
from backend.db.models import Operation, RuleSetRecord
from backend.settings import PROJECT_ROOT, Settings, get_settings

EXAMPLE = PROJECT_ROOT / "backend" / "loyalty" / "examples" / "rules.yaml"


@pytest.fixture
def cli(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CREDANCE_DATABASE_URL", settings.resolved_database_url)
    # The commands would point the process's logs at the runner's captured stderr, closed afterwards.
    monkeypatch.setattr("backend.cli.common.configure_logging", lambda *args: None)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_rules_load_publishes_a_file_once(cli: CliRunner, engine: Engine, tmp_path: Path) -> None:
    loaded = cli.invoke(app, ["loyalty", "rules", "load", str(EXAMPLE)])
    assert loaded.exit_code == 0, loaded.output
    again = cli.invoke(app, ["loyalty", "rules", "load", str(EXAMPLE)])
    assert again.exit_code == 0
    with Session(engine) as session:
        records = session.exec(select(RuleSetRecord)).all()
        ops = session.exec(select(Operation).where(Operation.kind == "publish_rules")).all()
    assert [r.version for r in records] == [1]
    assert [op.ref for op in ops] == [records[0].content_hash]

    shown = json.loads(cli.invoke(app, ["loyalty", "rules", "show"]).stdout)
    assert shown["content"]["tiers"]["levels"][2] == {"name": "gold", "threshold": 5000, "multiplier": "1.5"}

    as_json = tmp_path / "rules.json"
    as_json.write_text(json.dumps({"points_per_unit": "-3"}))
    bad = cli.invoke(app, ["loyalty", "rules", "load", str(as_json)])
    assert bad.exit_code == 2
    assert "points_per_unit" in bad.output


def test_maintain_and_report(cli: CliRunner) -> None:
    done = cli.invoke(app, ["loyalty", "maintain"])
    assert done.exit_code == 0, done.output
    assert "expired 0 points" in done.output
    report = json.loads(cli.invoke(app, ["loyalty", "report"]).stdout)
    assert report["liability"]["outstanding_points"] == 0
