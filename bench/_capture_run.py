"""One capture measurement, run in a process of its own by ``bench/provenance.py``: the pipeline
of whichever code tree comes first on ``sys.path`` (this checkout, or the baseline's tree that
``provenance.py`` unpacks from git), so both are measured on the same documents, the same
machine, in the same run. Only functions that both trees have are used.

    python bench/_capture_run.py ROOT DOCUMENTS.json OUT.json [--items N]
        [--database URL [--setup-only | --share K/N --start-at UNIX_TIME]]

Registers the items the documents name (plus ``--items`` more, so the items table has the size of
a real catalogue), then captures each document in its own transaction, as the API does, and
writes the elapsed and CPU time of each phase (documents are tagged with their phase). On a
shared machine the CPU time is the steadier figure: events per CPU-second is what one quiet core
would capture.

Several API workers capture at once: with ``--database`` the catalogue is registered once
(``--setup-only``), then N processes each capture every N-th document of each phase (``--share
K/N``, a document's items always in the same share) from the same moment (``--start-at``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path, help="the code tree to measure")
    parser.add_argument("documents", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--items", type=int, default=0, help="extra registered items (catalogue size)")
    parser.add_argument("--database", help="a database shared with other capture processes")
    parser.add_argument("--setup-only", action="store_true", help="register the catalogue and stop")
    parser.add_argument("--share", default="0/1", help="K/N: every N-th document of each phase, from the K-th")
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock time to start capturing at")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))

    from backend.db.engine import make_engine, session_scope
    from backend.db.migrate import upgrade
    from backend.db.models import Organisation
    from backend.provenance.epcis.capture import capture_document
    from backend.provenance.items import register_items
    from backend.provenance.organisations import create_organisation
    from backend.provenance.prefixes import assign_prefix
    from backend.provenance.products import register_product
    from backend.provenance.roles import OrgRole

    try:  # where the settings live today
        from backend.settings import ProvenanceSettings
    except ImportError:  # the baseline's tree (before issue 12): a module of their own
        from backend.provenance.settings import ProvenanceSettings  # type: ignore[no-redef]

    try:  # today's pipeline: checked and parsed before the write transaction, as the API does
        from backend.provenance.epcis.capture import capture_in
    except ImportError:  # the baseline's tree
        capture_in = None  # type: ignore[assignment]

    spec = json.loads(args.documents.read_text())
    gtin: str = spec["gtin"]
    share, shares = (int(n) for n in args.share.split("/"))
    with tempfile.TemporaryDirectory(prefix="credance-capture-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'capture.db'}"
        engine = make_engine(url)
        if args.setup_only or not args.database:
            upgrade(url)
            with session_scope(engine) as session:
                org = create_organisation(
                    session, "bench-brand", "Bench Brand", int(OrgRole.BRAND | OrgRole.MANUFACTURER), "bench-password"
                )
                assign_prefix(session, org, gtin[1:8])
                session.flush()
                register_product(session, org, gtin, "Bench product")
            serials = list(spec["serials"]) + [f"X{n:07d}" for n in range(args.items)]
            for start in range(0, len(serials), 20_000):
                with session_scope(engine) as session:
                    brand = session.get(Organisation, "bench-brand")
                    register_items(session, brand, gtin, serials[start : start + 20_000])
            if args.setup_only:
                engine.dispose()
                args.out.write_text(json.dumps({"registered_items": len(serials)}))
                return 0
        settings = ProvenanceSettings()
        seen: dict[str, int] = {}
        mine = []
        for phase, document in spec["documents"]:
            index = seen[phase] = seen.get(phase, -1) + 1
            if index % shares == share:
                mine.append((phase, document))
        time.sleep(max(0.0, args.start_at - time.time()))
        began = time.time()
        phases: dict[str, dict[str, float]] = {}
        for phase, document in mine:
            started, cpu_started = time.perf_counter(), time.process_time()
            if capture_in is not None:
                captured = capture_in(engine, "bench-brand", document, settings)
            else:
                with session_scope(engine) as session:
                    writer = session.get(Organisation, "bench-brand")
                    captured = capture_document(session, writer, document, settings)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            totals = phases.setdefault(phase, {"documents": 0, "events": 0, "seconds": 0.0, "cpu_seconds": 0.0})
            totals["documents"] += 1
            totals["events"] += len(captured)
            totals["seconds"] += elapsed
            totals["cpu_seconds"] += cpu
        ended = time.time()
        engine.dispose()
    registered = len(spec["serials"]) + args.items
    args.out.write_text(json.dumps({"registered_items": registered, "phases": phases, "began": began, "ended": ended}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
