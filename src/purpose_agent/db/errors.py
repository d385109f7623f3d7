"""The database's failures as the API reports them: busy or unreachable is a 503 problem, never a 500.

A value the database refuses to store (a NUL character in text, a number out of its column's range)
is the client's: a 400 problem. Validation cleans or bounds every field it knows of; this is the net
for one it missed, and the warning logged names the statement's error so that the gap is closed.

A pool with no free connection for `DATABASE_POOL_TIMEOUT_SECONDS` (more requests at once than the
pool holds, each of them short) and a server that refuses or drops connections are both conditions
that pass: the client is told to retry after a second, and the process recovers by itself.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response

from purpose_agent.kit.error_handlers import retry_later
from purpose_agent.kit.problems import problem_body, problem_response

log = structlog.get_logger("purpose_agent.db")

# What a database that is down, restarting, unreachable or out of connections raises through SQLAlchemy.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def install_database_problem_handlers(app: FastAPI) -> None:
    """Answer a busy or unreachable database with a 503 problem and Retry-After, a refused value with 400."""
    busy = retry_later(
        "Database busy", "Every database connection is in use; retry in a moment.", "database-busy"
    )
    unreachable = retry_later(
        "Database unavailable", "The database cannot be reached; retry in a moment.", "database-unavailable"
    )
    app.add_exception_handler(PoolTimeout, busy)
    app.add_exception_handler(OperationalError, unreachable)
    app.add_exception_handler(InterfaceError, unreachable)
    app.add_exception_handler(DataError, _refused_value)


async def _refused_value(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DataError)
    log.warning("value_refused_by_database", path=request.url.path, error=str(exc.orig))
    body = problem_body(
        status=400,
        title="Invalid value",
        detail="The request holds a value that cannot be stored (such as a NUL character).",
        instance=request.url.path,
        request_id=str(getattr(request.state, "request_id", "")),
        slug="invalid-value",
    )
    return problem_response(body)
