"""Fast log decoding: topic0 → event ABI, then eth_abi on topics and data.

web3.py's ``process_log`` rebuilds much of this per log; doing it once per event type keeps
the indexer's backfill well above the RPC's own speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes


@dataclass(frozen=True)
class DecodedEvent:
    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class _EventSpec:
    name: str
    indexed: list[tuple[str, str]]
    data_names: list[str]
    data_types: list[str]


def _canonical_type(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def _normalise(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes") and isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


class LogDecoder:
    def __init__(self, contracts: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        """``contracts``: name → (address, ABI)."""
        self._names = {to_checksum_address(address): name for name, (address, _) in contracts.items()}
        self._specs: dict[tuple[str, bytes], _EventSpec] = {}
        for address, abi in contracts.values():
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                topic = bytes(event_abi_to_log_topic(item))  # type: ignore[arg-type]
                inputs = item.get("inputs", [])
                self._specs[(to_checksum_address(address), topic)] = _EventSpec(
                    name=item["name"],
                    indexed=[(i["name"], _canonical_type(i)) for i in inputs if i.get("indexed")],
                    data_names=[i["name"] for i in inputs if not i.get("indexed")],
                    data_types=[_canonical_type(i) for i in inputs if not i.get("indexed")],
                )

    @property
    def addresses(self) -> list[str]:
        return list(self._names)

    def decode(self, log: dict[str, Any]) -> DecodedEvent | None:
        """Decode one log; None for a log that is not one of our events (e.g. a wrong address)."""
        address = to_checksum_address(log["address"])
        topics = [HexBytes(t) for t in log["topics"]]
        if not topics:
            return None
        spec = self._specs.get((address, bytes(topics[0])))
        if spec is None or len(topics) - 1 != len(spec.indexed):
            return None
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True):
            (value,) = abi_decode([kind], bytes(topic))
            args[name] = _normalise(kind, value)
        try:
            values = abi_decode(spec.data_types, bytes(HexBytes(log["data"])))
        except Exception:  # malformed data: not a log our contract could have emitted
            return None
        for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
            args[name] = _normalise(kind, value)
        return DecodedEvent(
            contract=self._names[address],
            name=spec.name,
            args=args,
            block_number=int(log["blockNumber"]),
            block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
        )
