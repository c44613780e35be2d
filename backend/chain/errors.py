"""Turn reverts into readable messages, including our contracts' custom errors."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

_extra_abis: list[list[dict[str, Any]]] = []


def register_abi(abi: list[dict[str, Any]]) -> None:
    """Make the custom errors of a contract ABI known to :func:`decode_revert`."""
    _extra_abis.append(abi)
    _selectors.cache_clear()


@cache
def _selectors() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for abi in _extra_abis:
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_canonical(i) for i in item.get("inputs", [])]
            signature = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(signature)] = (item["name"], types)
    return table


def _canonical(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def decode_revert(exc: Exception) -> tuple[str | None, str]:
    """Return (error name, message) for a revert raised by web3.py."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        raw = bytes.fromhex(data[2:])
        known = _selectors().get(raw[:4])
        if known is not None:
            name, types = known
            try:
                values = abi_decode(types, raw[4:])
            except Exception:  # malformed revert data: report the name only
                values = ()
            rendered = ", ".join(_render(v) for v in values)
            return name, f"{name}({rendered})"
    return None, str(getattr(exc, "message", None) or exc)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def register_artifacts(artifacts_dir: Path) -> None:
    from backend.chain.artifacts import load_artifact
    from backend.chain.build import CONTRACT_NAMES

    for name in CONTRACT_NAMES:
        register_abi(load_artifact(artifacts_dir, name).abi)
