"""MCP against the real app: the SDK's own client over streamable HTTP, in process.

The chat fixtures (fake OpenAI and Anthropic servers, the `kettle` persona with its manual) are
shared with tests/chat, so an MCP answer can be compared with a REST one from the same fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx2
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from tests.chat.conftest import app_with, kettle, reset_fakes, settings

__all__ = ["app_with", "kettle", "mcp_client", "reset_fakes", "settings", "structured", "text"]

# A Host that the default MCP_ALLOWED_HOSTS (127.0.0.1:*, localhost:*, [::1]:*) accepts.
MCP_URL = "http://127.0.0.1:8000/api/mcp"


@asynccontextmanager
async def mcp_client(
    app: FastAPI,
    key: str | None,
    *,
    url: str = MCP_URL,
    mode: Literal["auto", "legacy"] = "auto",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    """The SDK's client on the app in process, sending `key` as X-API-Key when given."""
    sent = {**({"X-API-Key": key} if key else {}), **(headers or {})}
    transport = httpx2.ASGITransport(app=app)
    async with (
        httpx2.AsyncClient(transport=transport, headers=sent, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def text(result: CallToolResult) -> str:
    """The text of the result's content blocks, one per line."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful result."""
    assert not result.is_error, text(result)
    content: dict[str, Any] = result.structured_content or {}
    assert content, "a structured result"
    return content
