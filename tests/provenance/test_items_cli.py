"""Bulk import (thousands of serials, Merkle batches, all or nothing) and QR codes with the
Digital Link of each item; the `credance items` commands on top of them."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import segno
from sqlmodel import Session, col, func, select

from backend.db.models import Item, ItemBatch, Operation, Organisation
from backend.errors import Conflict
from backend.provenance.importer import ImportProblems, import_rows, read_rows
from backend.provenance.merkle import item_leaf, verify
from backend.provenance.qr import write_qr_codes
from backend.settings import Settings
from tests.provenance.support import FRESH, Api
from tests.support import CREDANCE_CLI


def test_import_thousands_of_serials_in_merkle_batches(api: Api, tmp_path: Path) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text("GTIN,Serial,Lot\n" + "".join(f"{FRESH},X{n:05d},L{n % 2}\n" for n in range(5000)))
    rows = read_rows(csv)
    done: list[int] = []
    with Session(api.engine) as session:
        brand = session.get(Organisation, "demo-brand")
        assert brand is not None
        registered = import_rows(session, brand, rows, 2000, done.append)
        session.commit()
    assert sum(done) == 5000
    assert sorted(b.count for b in registered) == [500, 500, 2000, 2000]  # two lots of 2,500
    with Session(api.engine) as session:
        batches = session.exec(select(ItemBatch).where(col(ItemBatch.lot).in_(["L0", "L1"]))).all()
        assert {b.root for b in batches} == {b.root for b in registered}
        items = session.exec(select(Item).where(col(Item.serial).startswith("X"))).all()
        assert len(items) == 5000
        for item in items[::499]:
            leaf = item_leaf(int(item.gtin), bytes.fromhex(item.commitment[2:]))
            nodes = [bytes.fromhex(p[2:]) for p in json.loads(item.proof)]
            assert verify(nodes, bytes.fromhex(item.batch_root[2:]), leaf)
        payloads = session.exec(select(Operation.payload).where(Operation.kind == "register_items")).all()
        assert {json.loads(p)["root"] for p in payloads} >= {b.root for b in registered}


def test_a_bad_file_is_refused_line_by_line(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(f"gtin,serial\n{FRESH},OK1\n09506000134353,OK2\n{FRESH},way too long for a serial\n{FRESH},OK1\n")
    with pytest.raises(ImportProblems) as bad:
        read_rows(csv)
    assert [p.split(":")[0] for p in bad.value.problems] == ["line 3", "line 4", "line 5"]
    assert "check digit 3, expected 2" in bad.value.problems[0]
    (tmp_path / "header.csv").write_text("code,number\n1,2\n")
    with pytest.raises(ImportProblems):
        read_rows(tmp_path / "header.csv")


def test_a_clash_with_registered_serials_imports_nothing(api: Api, tmp_path: Path) -> None:
    csv = tmp_path / "clash.csv"
    csv.write_text(f"gtin,serial\n{FRESH},NEW1\n{FRESH},SN0001\n")  # SN0001 is already registered
    with Session(api.engine) as session:
        brand = session.get(Organisation, "demo-brand")
        assert brand is not None
        with pytest.raises(Conflict, match="already registered"):
            import_rows(session, brand, read_rows(csv), 1000)
        session.rollback()
        assert session.exec(select(func.count()).select_from(Item).where(Item.serial == "NEW1")).one() == 0


def test_qr_codes_carry_the_digital_link(api: Api, tmp_path: Path) -> None:
    with Session(api.engine) as session:
        files = write_qr_codes(session, "https://verify.example.com", FRESH, tmp_path, serials=["SN0001", "SN0002"])
    assert [f.name for f in files] == [f"{FRESH}_SN0001.svg", f"{FRESH}_SN0002.svg"]
    expected = io.BytesIO()
    segno.make(f"https://verify.example.com/01/{FRESH}/21/SN0001", error="m", micro=False).save(
        expected, kind="svg", scale=4
    )
    assert files[0].read_bytes() == expected.getvalue()


def test_the_commands(api: Api, settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CREDANCE_DATABASE_URL": settings.resolved_database_url,
        "CREDANCE_HOME": str(settings.home),
        "CREDANCE_PUBLIC_URL": "https://verify.example.com",
    }
    csv = tmp_path / "items.csv"
    csv.write_text("serial\n" + "".join(f"C{n:04d}\n" for n in range(1500)))
    qr = f"{CREDANCE_CLI} items qr --gtin {FRESH} --serial C0001 --serial C0002 --format png --out {tmp_path}/qr"
    script = f"{CREDANCE_CLI} items import {csv} --org demo-brand --gtin {FRESH} --batch-size 1000 && {qr}"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1500 items registered in 2 batch(es)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "qr").iterdir()) == [f"{FRESH}_C0001.png", f"{FRESH}_C0002.png"]
