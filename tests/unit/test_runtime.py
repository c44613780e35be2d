"""The services' runtime (backend/runtime.py): an API worker freezes its start-up heap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.settings import PROJECT_ROOT


@pytest.mark.sqlite_only
def test_an_api_worker_takes_its_start_up_heap_out_of_the_collectors_reach(tmp_path: Path) -> None:
    """What uvicorn imports (backend.api.main) freezes the app it built: a full collection no longer
    walks the ~300,000 start-up objects (each such walk stalled the event loop, docs/performance.md)."""
    probe = "import gc, backend.api.main; print(gc.get_freeze_count())"
    env = {**os.environ, "CREDANCE_HOME": str(tmp_path)}
    frozen = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert int(frozen.stdout.strip().splitlines()[-1]) > 100_000
