"""Static files of the pages, from this origin only (the pages' policy allows nothing else):
``/static/{name}`` our own stylesheets and scripts, ``/static/vendor/{name}`` the npm packages
the pages use (``backend/web/assets.py`` lists them)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from backend.api.deps import StateDep
from backend.api.policy import PUBLIC
from backend.errors import NotFound
from backend.web import assets

router = APIRouter(prefix="/static", include_in_schema=False, dependencies=[Depends(PUBLIC)])
OWN = assets.own_files()  # read once: a file added later needs a restart, like any code


@router.get("/vendor/{name}")
def vendor(name: str, state: StateDep) -> FileResponse:
    path = assets.vendor_file(state.settings.node_modules, name)
    if path is None:
        raise NotFound(f"no asset {name!r} (are the npm packages installed? make deps)", field="name")
    return FileResponse(path, media_type=assets.media_type(name), headers={"Cache-Control": "public, max-age=86400"})


@router.get("/{name}")
def own(name: str) -> FileResponse:
    path = OWN.get(name)
    if path is None:
        raise NotFound(f"no asset {name!r}", field="name")
    return FileResponse(path, media_type=assets.media_type(name), headers={"Cache-Control": "no-cache"})
