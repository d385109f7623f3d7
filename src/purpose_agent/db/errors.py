"""The database's failures as the API reports them: busy or unreachable is a 503 problem, never a 500.

A pool with no free connection for `DATABASE_POOL_TIMEOUT_SECONDS` (more requests at once than the
pool holds, each of them short) and a server that refuses or drops connections are both conditions
that pass: the client is told to retry after a second, and the process recovers by itself.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from purpose_agent.kit.error_handlers import retry_later

# What a database that is down, restarting, unreachable or out of connections raises through SQLAlchemy.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def install_database_problem_handlers(app: FastAPI) -> None:
    """Answer a busy or unreachable database with a 503 problem and Retry-After."""
    busy = retry_later(
        "Database busy", "Every database connection is in use; retry in a moment.", "database-busy"
    )
    unreachable = retry_later(
        "Database unavailable", "The database cannot be reached; retry in a moment.", "database-unavailable"
    )
    app.add_exception_handler(PoolTimeout, busy)
    app.add_exception_handler(OperationalError, unreachable)
    app.add_exception_handler(InterfaceError, unreachable)
