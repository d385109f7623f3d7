"""The web console at `/`: a page and its ES modules and stylesheet, served from the installed package.

The assets are committed as the sources the browser runs (see `purpose_agent/console/README.md` for
why there is no build step), so serving them is a plain static mount. The page's policy is the
strictest the console can run under: scripts and styles from this origin only (nothing inline, no
eval), requests to this origin only, and Trusted Types required, so that a string can never reach an
HTML sink such as `innerHTML`: the browser refuses it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

CONSOLE_PATH = "/"
ASSETS_PATH = "/console"
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
# Revalidated on every load (a 304 when unchanged), so that an upgrade never runs old modules.
NO_CACHE = {"Cache-Control": "no-cache"}


def assets_dir() -> Path:
    """Where the console's files are in the installed package."""
    return Path(str(files("purpose_agent") / "console"))


class _RevalidatedFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(NO_CACHE)
        return response


def install_console(app: FastAPI) -> None:
    """Serve the console's page at `/` and its assets under `/console/`."""
    directory = assets_dir()
    app.mount(ASSETS_PATH, _RevalidatedFiles(directory=directory), name="console-assets")
    page = directory / "index.html"

    @app.get(CONSOLE_PATH, include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(page, headers={"Content-Security-Policy": CONSOLE_CSP, **NO_CACHE})
