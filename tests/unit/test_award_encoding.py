"""The hand-packed ``awardBatch`` calldata is exactly what web3's ABI encoder produces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from backend.chain.artifacts import load_artifact
from backend.chain.calls import encode_award_batch
from backend.db.models import Operation
from backend.settings import Settings
from tests.budget import examples

points = Web3().eth.contract(abi=load_artifact(Settings().build_dir, "LoyaltyPoints").abi)

awards = st.builds(
    lambda account, op_id, version, amount, ref: Operation(
        id=op_id,
        kind="award",
        signer="issuer",
        account=Web3.to_checksum_address(account),
        amount=amount,
        rule_version=version,
        ref="0x" + ref.hex(),
    ),
    st.binary(min_size=20, max_size=20),
    st.integers(1, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(1, 2**128 - 1),
    st.binary(min_size=32, max_size=32),
)


@settings(max_examples=examples(60, 600), deadline=None)
@given(st.lists(awards, min_size=1, max_size=20))
def test_hand_packed_calldata_matches_web3(operations: list[Operation]) -> None:
    expected = points.encode_abi(
        "awardBatch",
        args=[
            [(op.account, op.id, op.rule_version, op.amount, bytes.fromhex((op.ref or "")[2:])) for op in operations]
        ],
    )
    assert "0x" + encode_award_batch(operations).hex() == expected


def test_values_that_do_not_fit_are_refused() -> None:
    op = Operation(
        id=1,
        kind="award",
        signer="issuer",
        account="0x" + "11" * 20,
        amount=2**128,
        rule_version=1,
        ref="0x" + "22" * 32,
    )
    with pytest.raises(ValueError, match="uint128"):
        encode_award_batch([op])
