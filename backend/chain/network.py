"""Settings for any EVM chain: the fee policy the signers apply (EIP-1559 tip, base-fee
multiplier, hard cap), from ``CREDANCE_PRIORITY_FEE_GWEI``, ``CREDANCE_BASE_FEE_MULTIPLIER`` and
``CREDANCE_MAX_FEE_GWEI``. On a chain without EIP-1559 the signer falls back to ``gasPrice``."""

from __future__ import annotations

from decimal import Decimal

from backend.chain.local_signer import FeePolicy
from backend.settings import Settings

GWEI = Decimal(10**9)


def fee_policy(settings: Settings) -> FeePolicy:
    return FeePolicy(
        priority_fee=int(settings.priority_fee_gwei * GWEI),
        base_fee_multiplier=settings.base_fee_multiplier,
        max_fee_cap=int(settings.max_fee_gwei * GWEI) if settings.max_fee_gwei is not None else None,
    )
