"""The interactive API reference at ``/docs`` (Swagger UI) and ``/redoc`` (Redoc), served from this origin.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, which the
pages' Content-Security-Policy forbids (nothing from other origins, no inline script). Here the
page, the npm package's files (``swagger-ui-dist``, installed with the toolchain) and a small
start-up script all come from this origin. ``/redoc`` loads Redoc's standalone bundle (npm
``redoc``, through ``/static/vendor``); Redoc styles itself with ``<style>`` elements it writes at
run time, so that one page's policy allows inline styles (still no script from anywhere else, and
the page shows nothing but the public OpenAPI document). Without the package (an API host without
``node_modules``) the page says where the OpenAPI schema is instead of loading anything else.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, Response

from backend.api.deps import StateDep
from backend.api.headers import CSP
from backend.api.policy import PUBLIC
from backend.errors import NotFound
from backend.web.assets import vendor_file

router = APIRouter(include_in_schema=False, dependencies=[Depends(PUBLIC)])

ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript", "favicon-32x32.png": "image/png"}
START = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credance API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/start.js"></script>
</body>
</html>
"""
WITHOUT_UI = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Credance API</title></head>
<body>
<h1>Credance API</h1>
<p>The OpenAPI schema is at <a href="/openapi.json">/openapi.json</a>. (The interactive reference needs the
npm package <code>swagger-ui-dist</code>: <code>make deps</code>.)</p>
</body>
</html>
"""


REDOC = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credance API · Redoc</title>
</head>
<body>
<redoc spec-url="/openapi.json" disable-search="true"></redoc>
<script src="/static/vendor/redoc.standalone.js"></script>
</body>
</html>
"""
# The pages' policy (headers.CSP) with inline styles allowed: Redoc writes its own at run time.
REDOC_CSP = "; ".join(
    part if not part.startswith("style-src") else "style-src 'self' 'unsafe-inline'" for part in CSP.split("; ")
)


def _dist(state: StateDep) -> Path:
    return state.settings.node_modules / "swagger-ui-dist"


@router.get("/docs", response_class=HTMLResponse)
def docs(state: StateDep) -> HTMLResponse:
    return HTMLResponse(PAGE if (_dist(state) / "swagger-ui-bundle.js").exists() else WITHOUT_UI)


@router.get("/redoc", response_class=HTMLResponse)
def redoc(state: StateDep) -> HTMLResponse:
    if vendor_file(state.settings.node_modules, "redoc.standalone.js") is None:
        return HTMLResponse(WITHOUT_UI)
    return HTMLResponse(REDOC, headers={"Content-Security-Policy": REDOC_CSP})


@router.get("/docs/assets/{name}")
def asset(name: str, state: StateDep) -> Response:
    if name == "start.js":
        return Response(START, media_type="text/javascript")
    path = _dist(state) / name
    if name not in ASSETS or not path.exists():  # only the files the page names: no path from the request
        raise NotFound(f"no asset {name!r}", field="name")
    return FileResponse(path, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
