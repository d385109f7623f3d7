"""Debian's chromium as the tests run it: headless, and reaching no host but this machine."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium")
HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Only our own server is reachable: any other host would fail to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
