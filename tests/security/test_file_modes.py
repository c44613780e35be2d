"""Finding 11: ``CREDANCE_HOME`` and the SQLite files were world-readable (personal data, encrypted
keystores), and the keystore password sat beside the keystores. Now the home is 0700, its files
0600 (SQLite's WAL and SHM files too), every `credance` process runs with umask 077, and off the
dev chain the password comes from a setting or a file the admin keeps outside the home."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from backend.chain.keys import KeyNotConfigured, keystore_password, platform_key
from backend.cli.main import app
from backend.db.engine import make_engine, session_scope
from backend.home import secure_home
from backend.settings import Settings

pytestmark = pytest.mark.sqlite_only


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022 (what a test process, or a service started by hand, may well have)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    database = tmp_path / "state" / "credance.db"
    engine = make_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE t (x TEXT)"))
        session.execute(text("INSERT INTO t VALUES ('personal data')"))
    with engine.connect() as reader:  # WAL and SHM exist while a connection is open
        assert reader.execute(text("SELECT x FROM t")).scalar() == "personal data"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}.writers")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()
    assert mode(database.parent) == 0o700


def test_an_existing_home_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    for name, file_mode in (("credance.db", 0o644), ("logs/api.log", 0o664), ("keystore.password", 0o640)):
        (home / name).write_text("x")
        (home / name).chmod(file_mode)
    home.chmod(0o755)
    (home / "logs").chmod(0o775)
    secure_home(home)
    assert (mode(home), mode(home / "logs")) == (0o700, 0o700)
    assert {mode(home / n) for n in ("credance.db", "logs/api.log", "keystore.password")} == {0o600}
    secure_home(home, traversable=True)  # a local PostgreSQL run as another user may pass through
    assert mode(home) == 0o711


def test_every_credance_command_runs_with_a_private_umask(loose_umask: None) -> None:
    # The app's callback runs before the subcommand parses its options (which then fails): nothing
    # else runs, nothing is configured.
    result = CliRunner().invoke(app, ["chain", "status", "--no-such-option"])
    assert result.exit_code == 2
    assert os.umask(0o022) == 0o077


def test_the_keystore_password_never_sits_beside_the_keystores(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, rpc_url="http://127.0.0.1:1")  # not the dev chain
    with pytest.raises(KeyNotConfigured, match="CREDANCE_KEYSTORE_PASSWORD_FILE"):
        keystore_password(settings, 1)

    inside = home / "keystore.password"
    inside.parent.mkdir(parents=True)
    inside.write_text("in the home")
    inside.chmod(0o600)
    with pytest.raises(KeyNotConfigured, match="inside CREDANCE_HOME"):
        keystore_password(settings.model_copy(update={"keystore_password_file": inside}), 1)

    outside = tmp_path / "secrets" / "keystore.password"
    outside.parent.mkdir()
    outside.write_text("kept elsewhere\n")
    outside.chmod(0o644)
    with pytest.raises(KeyNotConfigured, match="readable by others"):
        keystore_password(settings.model_copy(update={"keystore_password_file": outside}), 1)
    outside.chmod(0o600)
    configured = settings.model_copy(update={"keystore_password_file": outside})
    assert keystore_password(configured, 1) == "kept elsewhere"
    assert keystore_password(settings.model_copy(update={"keystore_password": SecretStr("from env")}), 1) == "from env"
    with pytest.raises(KeyNotConfigured, match="CREDANCE_OPERATOR_KEY"):  # nothing falls back on dev keys here
        platform_key(configured, 1, "operator")


def test_the_dev_chain_password_is_made_once_and_private(tmp_path: Path) -> None:
    dev = Settings(home=tmp_path / "home")  # the local Anvil: zero configuration for `make run`
    first = keystore_password(dev, 31337)
    assert first == keystore_password(dev, 31337)
    assert mode(tmp_path / "home" / "keystore.password") == 0o600
    assert mode(tmp_path / "home") == 0o700
