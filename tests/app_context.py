"""The application context of a test's app: read it, or swap a part of it (a test's sessionmaker,
a clock moved forward) as the routes and tools will see it from their next request on."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.applications import Starlette

from purpose_agent.context import AppContext
from purpose_agent.kit.app_context import install_context, installed_context


def context(app: Starlette) -> AppContext:
    found: AppContext = installed_context(app)
    return found


def swap_context(app: Starlette, **changes: Any) -> None:
    install_context(app, dataclasses.replace(context(app), **changes))
