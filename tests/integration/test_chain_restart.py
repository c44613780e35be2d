"""An Anvil of its own per test, restarted (its state kept) or reset (same chain id, new
history, contracts deployed again): the mirror follows, and reconcile proves it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from backend.chain.anvil import start_anvil, stop_anvil
from backend.chain.bootstrap import ensure_deployment
from backend.chain.context import ChainContext, open_chain
from backend.cli.seed import seed_demo
from backend.indexer.runner import Indexer
from backend.settings import Settings
from tests.integration.test_indexer import balance, buy
from tests.support import Platform, free_port, make_platform, rpc

pytestmark = [pytest.mark.chain, pytest.mark.slow]


@pytest.fixture
def own_chain(settings: Settings, engine: Engine) -> Iterator[Platform]:
    home = Path(tempfile.mkdtemp(prefix="credance-anvil-"))
    port = free_port()
    start_anvil(home, port, settings.node_modules, state_interval=1)
    own = settings.model_copy(update={"home": home, "chain_port": port, "deployments_dir": home / "deployments"})
    try:
        ensure_deployment(own)
        keys = seed_demo(engine, own, 31337)
        platform = make_platform(own, engine, {"admin": keys.admin, "checkout": keys.checkout, "brand": keys.brand})
        platform.settle()
        yield platform
    finally:
        stop_anvil(home)
        shutil.rmtree(home, ignore_errors=True)


def follow_manifest(platform: Platform) -> Indexer:
    def reload() -> ChainContext:
        return open_chain(platform.settings)

    return Indexer(platform.engine, platform.ctx, reload=reload)


def test_an_anvil_restarted_with_its_state_changes_nothing(own_chain: Platform) -> None:
    platform = own_chain
    buy(platform, "RS-1", amount="11")
    platform.assert_mirror_matches_chain()
    home, port = platform.settings.resolved_home, platform.settings.chain_port
    stop_anvil(home)  # dumps its state
    start_anvil(home, port, platform.settings.node_modules)

    assert platform.indexer.step() is None  # same chain, same hashes: nothing to do
    buy(platform, "RS-2", amount="4")
    platform.assert_mirror_matches_chain()
    assert balance(platform) == 15


def test_an_anvil_reset_and_a_new_deployment_are_followed(own_chain: Platform) -> None:
    platform = own_chain
    buy(platform, "RS-3", amount="13")
    platform.assert_mirror_matches_chain()
    home, port = platform.settings.resolved_home, platform.settings.chain_port
    stop_anvil(home)
    (home / "chain" / "state.json").unlink()
    start_anvil(home, port, platform.settings.node_modules)  # same chain id, empty history
    # Started and deployed in the same second, the new chain could repeat the old blocks hash for
    # hash (Anvil is deterministic): move its clock so that its history differs.
    rpc(platform.ctx.w3, "evm_increaseTime", 3600)
    rpc(platform.ctx.w3, "anvil_mine", "0x1")

    _, deployed = ensure_deployment(platform.settings)
    assert deployed
    indexer = follow_manifest(platform)
    assert indexer.refresh_deployment()
    result = indexer.step()
    assert result is not None
    assert result.reorged_to == -1  # everything of the old deployment rolled back
    indexer.sync()
    platform.ctx, platform.indexer = indexer.ctx, indexer
    assert platform.reconcile().ok
    assert balance(platform) == 0  # the new chain has no points yet

    # The outbox still holds every operation: sent again, the new chain gets the same state.
    platform.sender = make_platform(platform.settings, platform.engine, platform.keys).sender
    for _ in range(10):  # what the sender's loop does: recover (rebroadcast, or re-queue the dropped), send
        platform.sender.recover()
        platform.sender.step()
        platform.indexer.sync()
        if platform.in_flight() == 0:
            break
    platform.assert_mirror_matches_chain()
    assert balance(platform) == 13
