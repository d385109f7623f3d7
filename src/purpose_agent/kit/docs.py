"""Swagger UI served from assets inside an installed package, so the docs page works offline."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from purpose_agent.kit.security_headers import page_csp

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"


def _assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_offline_docs(app: FastAPI, *, title: str) -> None:
    """Serve Swagger UI at /api/docs from local assets; the app must be built with docs_url=None."""
    app.mount(ASSETS_PATH, StaticFiles(directory=_assets_dir()), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{title} - API docs",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
    )
    body = bytes(page.body)
    # The page starts Swagger UI with one inline script: allowed by its hash, and nothing else inline.
    inline = re.findall(rb"<script>(.*?)</script>", body, flags=re.DOTALL)
    hashes = [base64.b64encode(hashlib.sha256(script).digest()).decode() for script in inline]
    policy = page_csp(hashes)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(body, headers={"Content-Security-Policy": policy})
