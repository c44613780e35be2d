"""The item a verifier was asked about, from a GS1 Digital Link or a GTIN and serial. Everything
the verifier recomputes starts here, never from the server's answer."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from backend.provenance.epcis.identifiers import item_key, parse_identifier
from backend.provenance.gtin import InvalidGtin, normalise_gtin
from backend.provenance.items import SERIAL_PATTERN


class NotAnItem(ValueError):
    """Not a serialized item's Digital Link, GTIN or serial."""


@dataclass(frozen=True)
class AskedItem:
    gtin: str  # 14 digits
    serial: str

    @property
    def key(self) -> str:
        """The item's canonical EPC (``https://id.gs1.org/01/{gtin}/21/{serial}``), as events name it."""
        return item_key(self.gtin, self.serial)

    def path(self) -> str:
        return f"/01/{self.gtin}/21/{quote(self.serial, safe='')}"


def item_of(gtin: str, serial: str) -> AskedItem:
    try:
        normalised = normalise_gtin(gtin.strip())
    except InvalidGtin as exc:
        raise NotAnItem(exc.message) from exc
    if not SERIAL_PATTERN.match(serial):
        raise NotAnItem(f"serial {serial!r} is not a GS1 serial (1-20 characters)")
    return AskedItem(normalised, serial)


def item_of_link(link: str) -> AskedItem:
    """The item of a Digital Link URI (``https://host[/path]/01/{gtin}/21/{serial}[?…]``)."""
    identifier = parse_identifier(link)
    if identifier is None or not identifier.is_item or not identifier.gtin or identifier.serial is None:
        raise NotAnItem(f"{link!r} is not the GS1 Digital Link of a serialized item (…/01/<gtin>/21/<serial>)")
    return item_of(identifier.gtin, identifier.serial)


def server_of(link: str) -> str:
    """The resolver a Digital Link points at (what comes before ``/01/``)."""
    bare = link.split("?", 1)[0].split("#", 1)[0]
    for marker in ("/01/", "/gtin/"):
        if marker in bare:
            return bare[: bare.index(marker)]
    raise NotAnItem(f"{link!r} has no /01/ path")
