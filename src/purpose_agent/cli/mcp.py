"""`purpose-agent mcp`: the MCP tools on stdin/stdout, for a desktop client."""

from __future__ import annotations

import asyncio
import sys

from purpose_agent.cli.common import check_embedder, fail, settings_and_logging


def mcp_stdio() -> None:
    """Serve the MCP tools on stdin/stdout for a desktop client, as the key in MCP_API_KEY."""
    from purpose_agent.composition import rate_limit_policy
    from purpose_agent.context import open_context
    from purpose_agent.kit.problems import ProblemError
    from purpose_agent.mcp.stdio import serve_stdio

    # stdout carries the protocol: logs go to stderr, where desktop clients keep them.
    settings = settings_and_logging(log_stream=sys.stderr)
    if settings.mcp.api_key is None:
        raise fail("MCP_API_KEY is not set: give it an API key (`purpose-agent keys create`)")
    check_embedder(settings)
    secret = settings.mcp.api_key.get_secret_value()

    async def serve() -> None:
        async with open_context(settings) as context:
            await serve_stdio(context, secret, rate_limit_policy(settings))

    try:
        asyncio.run(serve())
    except ProblemError as exc:
        raise fail(exc.detail) from None
