"""Files the pages load, all from this origin: our own (``backend/api/static``) and the npm
packages of ``package.json`` (installed with the toolchain in ``node_modules``). Only the files
listed here are served: no path from a request ever reaches the file system."""

from __future__ import annotations

from pathlib import Path

OWN = Path(__file__).resolve().parent.parent / "api" / "static"
MEDIA = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}

# name under /static/vendor/ -> the file in node_modules
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",  # progressive enhancement of the pages
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",  # the console's charts
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
    "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",  # /redoc
}


def own_files() -> dict[str, Path]:
    return {p.name: p for p in OWN.iterdir() if p.suffix in MEDIA} if OWN.is_dir() else {}


def media_type(name: str) -> str:
    return MEDIA.get(Path(name).suffix, "application/octet-stream")


def vendor_file(node_modules: Path, name: str) -> Path | None:
    relative = VENDOR.get(name)
    if relative is None:
        return None
    path = node_modules / relative
    return path if path.is_file() else None
