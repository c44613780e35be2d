"""Crash tests: a load of checkouts runs while the API, the sender and the indexer are killed with
SIGKILL at random moments and restarted, and Anvil is crashed mid-load, losing the blocks mined
since its last state dump. Afterwards every accepted request is reflected exactly once on chain
and in SQL, nothing accepted is lost, nothing is minted twice; the counts are printed.

`make test` runs a short storm; `make test-faults` a long one (``CREDANCE_PROOF_LEVEL=long``);
``CREDANCE_FAULT_SEED``, ``CREDANCE_FAULT_KILLS`` and ``CREDANCE_FAULT_CHAIN_CRASHES`` replay or
change a storm.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.budget import long_run
from tests.faults.cluster import Cluster
from tests.faults.load import Chaos, Load
from tests.faults.verify import verify

pytestmark = [pytest.mark.chain, pytest.mark.slow, pytest.mark.faults]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    try:
        cluster.bootstrap()
        yield cluster
    finally:
        cluster.shutdown()


def test_accepted_requests_survive_kills_and_a_chain_that_forgets(cluster: Cluster) -> None:
    seed = int(os.environ.get("CREDANCE_FAULT_SEED", "20261122"))
    kills = int(os.environ.get("CREDANCE_FAULT_KILLS", "40" if long_run() else "4"))
    crashes = int(os.environ.get("CREDANCE_FAULT_CHAIN_CRASHES", "4" if long_run() else "1"))

    load = Load(cluster, seed)
    chaos = Chaos(cluster, seed, kills=kills, chain_crashes=crashes)
    load.start(workers=3)
    chaos.start()
    chaos.join()
    load.finish()

    report = verify(cluster, load.stats)
    report.counts["blocks lost in chain crashes"] = chaos.blocks_lost
    report.counts["attempts to beat a state dump"] = chaos.dump_races
    print(f"\nseed {seed}; chaos: {', '.join(f'{t:.1f}s {who}' for t, who in chaos.events)}")
    print(report.render())
    assert report.counts["purchases accepted"] > 0
    assert report.counts["chain crashes"] == crashes
    assert chaos.blocks_lost > 0, "the chain crashes lost nothing: the test did not exercise a forgetful chain"
    assert not report.problems, report.render() + "\n" + cluster.log_tail()
