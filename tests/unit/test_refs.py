"""Keyed references (backend/loyalty/refs.py): one secret, a key per audience, nothing a receipt
gives; the secret created once, private, and blanked in the logs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_utils import keccak
from pydantic import SecretStr

from backend.loyalty import refs
from backend.loyalty.refs import Audience, References
from backend.redaction import scrub
from backend.settings import Settings


@pytest.fixture(autouse=True)
def restore_references(tmp_path_factory: pytest.TempPathFactory) -> object:
    yield
    refs.configure(Settings(home=tmp_path_factory.mktemp("references-again")))


def test_each_audience_has_its_own_key_and_parts_never_run_together() -> None:
    keys = References(b"s" * 32)
    chain = keys.reference(Audience.CHAIN, "order", "store", "A-1")
    assert chain != keys.reference(Audience.EPCIS, "order", "store", "A-1")
    assert chain != References(b"t" * 32).reference(Audience.CHAIN, "order", "store", "A-1")
    assert chain != "0x" + keccak(text="credance:order:store:A-1").hex()  # the old, unkeyed derivation
    assert keys.reference(Audience.CHAIN, "order", "a:b", "c") != keys.reference(Audience.CHAIN, "order", "a", "b:c")
    assert len(bytes.fromhex(chain[2:])) == 32
    with pytest.raises(ValueError, match="16 bytes"):
        References(b"short")


def test_the_secret_is_created_once_private_and_redacted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = refs.configure(Settings(home=home))
    secret = home / refs.SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    again = refs.configure(Settings(home=home))
    assert first.reference(Audience.CHAIN, "x") == again.reference(Audience.CHAIN, "x")
    assert scrub(f"leaked {secret.read_text()}") == "leaked [redacted]"


def test_a_configured_secret_wins_and_several_hosts_agree(tmp_path: Path) -> None:
    shared = SecretStr("a shared secret of the deployment")
    one = refs.configure(Settings(home=tmp_path / "one", reference_secret=shared))
    two = refs.configure(Settings(home=tmp_path / "two", reference_secret=shared))
    assert one.reference(Audience.CHAIN, "order", "s", "1") == two.reference(Audience.CHAIN, "order", "s", "1")
    assert not (tmp_path / "one" / refs.SECRET_FILE).exists()
    assert refs.order_ref("s", "1") == two.reference(Audience.CHAIN, "order", "s", "1")
    assert refs.sale_ref("s", "1", "09506000134352", "SN1") != refs.order_ref("s", "1")
