"""Fast log decoding, straight from the JSON-RPC hex strings.

Every event of our contracts has static parameters only (integers, addresses, booleans, fixed
bytes), so each 32-byte word of a log decodes by slicing its hex text: no bytes objects, no
eth_abi call per log. Events with dynamic parameters still decode, through eth_abi. web3.py's
``process_log`` rebuilds much of this per log, which makes it ~20x slower (see bench/indexer.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

Convert = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    topics: tuple[str, ...] = ()  # the indexed topics (after the signature), as 0x-hex

    def topic(self, position: int) -> str | None:
        """Indexed topic ``position`` (1-3) as stored in ``chain_events.topicN``."""
        return self.topics[position - 1] if len(self.topics) >= position else None


class MalformedLog(ValueError):
    """A log at one of our addresses that none of our events can have produced."""


@lru_cache(maxsize=1 << 16)
def checksum(address_hex: str) -> str:
    """EIP-55 address from 40 hex digits (cached: the same accounts recur in every batch)."""
    return to_checksum_address("0x" + address_hex)


def _word_converter(kind: str) -> Convert | None:
    """A converter of one 64-hex-digit word for a static ABI type (None if not static)."""
    if kind == "address":
        return lambda word: checksum(word[24:].lower())
    if kind == "bool":
        return lambda word: int(word, 16) != 0
    if kind.startswith("uint"):
        return lambda word: int(word, 16)
    if kind.startswith("int"):
        bits = int(kind[3:] or 256)

        def signed(word: str) -> int:
            value = int(word, 16) & ((1 << bits) - 1)
            return value - (1 << bits) if value >> (bits - 1) else value

        return signed
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        return lambda word: "0x" + word[: size * 2].lower()
    return None


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


@dataclass(frozen=True)
class _EventSpec:
    contract: str
    name: str
    indexed: list[tuple[str, Convert]]
    data_names: list[str]
    data_types: list[str]
    data_static: list[Convert] | None  # one converter per data word, or None: decode with eth_abi

    def decode_data(self, data: str) -> dict[str, Any]:
        hex_data = data[2:] if data.startswith("0x") else data
        if self.data_static is not None:
            if len(hex_data) != 64 * len(self.data_static):
                raise MalformedLog(f"{self.name}: {len(hex_data) // 2} data bytes")
            return {
                name: convert(hex_data[64 * i : 64 * i + 64])
                for i, (name, convert) in enumerate(zip(self.data_names, self.data_static, strict=True))
            }
        try:
            values = abi_decode(self.data_types, bytes.fromhex(hex_data))
        except Exception as exc:
            raise MalformedLog(f"{self.name}: {exc}") from exc
        return {n: _normalise(t, v) for n, t, v in zip(self.data_names, self.data_types, values, strict=True)}


def _spec(contract: str, item: dict[str, Any]) -> _EventSpec:
    inputs = item.get("inputs", [])
    indexed: list[tuple[str, Convert]] = []
    for i in inputs:
        if i.get("indexed"):
            # Indexed dynamic values arrive as their hash: keep the 32 bytes.
            convert = _word_converter(_canonical_type(i)) or _word_converter("bytes32")
            assert convert is not None
            indexed.append((i["name"], convert))
    data = [i for i in inputs if not i.get("indexed")]
    converters = [_word_converter(_canonical_type(i)) for i in data]
    static = [c for c in converters if c is not None]
    return _EventSpec(
        contract=contract,
        name=item["name"],
        indexed=indexed,
        data_names=[i["name"] for i in data],
        data_types=[_canonical_type(i) for i in data],
        data_static=static if len(static) == len(converters) else None,
    )


class LogDecoder:
    def __init__(self, contracts: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        """``contracts``: name → (address, ABI)."""
        self._names = {to_checksum_address(address): name for name, (address, _) in contracts.items()}
        self._specs: dict[tuple[str, str], _EventSpec] = {}
        for name, (address, abi) in contracts.items():
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                topic = "0x" + bytes(event_abi_to_log_topic(item)).hex()  # type: ignore[arg-type]
                self._specs[(address.lower(), topic)] = _spec(name, item)

    @property
    def addresses(self) -> list[str]:
        return list(self._names)

    def decode(self, log: dict[str, Any]) -> DecodedEvent | None:
        """Decode one raw JSON-RPC log (hex strings, as the node sent it, or web3's AttributeDict).

        None for a log that is not one of our events (an unknown address or topic); raises
        MalformedLog for a log at our address whose shape does not match the event's ABI.
        """
        address = _hex(log["address"]).lower()
        topics = [_hex(t).lower() for t in log["topics"]]
        if not topics:
            return None
        spec = self._specs.get((address, topics[0]))
        if spec is None:
            return None
        if len(topics) - 1 != len(spec.indexed):
            raise MalformedLog(f"{spec.name}: {len(topics) - 1} indexed topics")
        args = {name: convert(topic[2:]) for (name, convert), topic in zip(spec.indexed, topics[1:], strict=True)}
        args.update(spec.decode_data(_hex(log["data"])))
        return DecodedEvent(
            contract=spec.contract,
            name=spec.name,
            args=args,
            block_number=_int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]).lower(),
            tx_hash=_hex(log["transactionHash"]).lower(),
            log_index=_int(log["logIndex"]),
            topics=tuple(topics[1:]),
        )


def _hex(value: Any) -> str:
    """A 0x-prefixed hex string from the node's JSON (str) or web3's formatted values (bytes)."""
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)
