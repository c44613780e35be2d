"""Write docs/security/policy.md: every route of the API and who may call it, from the policies
the routes declare (backend/api/policy.py). tests/security/test_policy_table.py checks it is current.

    .venv/bin/python scripts/security/policy_table.py
"""

from __future__ import annotations

from pathlib import Path

from backend.api.app import create_app
from backend.api.policy_table import policy_document
from backend.settings import PROJECT_ROOT, Settings

DOC = PROJECT_ROOT / "docs" / "security" / "policy.md"


def render() -> str:
    return policy_document(create_app(Settings(database_url="sqlite://")))


def main(path: Path = DOC) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
