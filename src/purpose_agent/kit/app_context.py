"""How a route reaches the application context that the composition root (`context.py`) built.

The root stores its one typed, frozen `AppContext` on the app; this module is the only reader. A package
never imports the root (that would point upwards): it declares the few parts it reads as a `Protocol`
of its own and gets them through `context_of`, and the root checks with mypy that its context
satisfies every such protocol. So the wiring stays typed at both ends without a package knowing the
whole.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

_KEY = "context"


def install_context(app: Starlette, context: object) -> None:
    """Make `context` the one every request of `app` sees (set by the composition root at start)."""
    setattr(app.state, _KEY, context)


def installed_context(app: Starlette) -> Any:
    """The context installed on `app`; typed by the caller's protocol."""
    try:
        return getattr(app.state, _KEY)
    except AttributeError:
        raise RuntimeError("the application context is not installed: is the lifespan running?") from None


def context_of(connection: HTTPConnection) -> Any:
    """The context of the app serving this request; typed by the caller's protocol."""
    return installed_context(connection.app)
