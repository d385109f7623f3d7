"""The request session commits when the route succeeds and rolls back when it raises."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from purpose_agent.db.engine import SessionDep
from purpose_agent.kit.problems import Conflict


async def test_route_writes_commit_on_success_and_roll_back_on_error(
    app: FastAPI, client: AsyncClient, connection: AsyncConnection
) -> None:
    await connection.execute(text("CREATE TABLE notes (body text)"))

    @app.post("/test/notes/{body}")
    async def add_note(body: str, session: SessionDep) -> dict[str, str]:
        await session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": body})
        if body == "refused":
            raise Conflict("refused after writing")
        return {"saved": body}

    assert (await client.post("/test/notes/kept")).status_code == 200
    assert (await client.post("/test/notes/refused")).status_code == 409

    rows = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
    assert rows == ["kept"]
