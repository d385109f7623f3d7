"""MCP over HTTP: POST /api/mcp (streamable HTTP, stateless, JSON) and GET /api/mcp/tools.

POST /api/mcp is an ordinary route, so the caller is authenticated and authorised by the same
dependency as every REST route (401 and 403 problems; a scope without `mcp` is a 403), rate limited
as its own route class by the middleware, and its body bounded like any other. The route checks
the Host and Origin headers, then hands the request to the SDK's session manager, which finds the
principal in the request's state. Stateless: no session lives in this process, so any replica
serves any request.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from purpose_agent.auth.dependencies import MISSING, McpPrincipal
from purpose_agent.auth.errors import OutOfScope, Unauthenticated
from purpose_agent.auth.principal import Principal
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.problems import problem_responses
from purpose_agent.kit.request_context import new_request_id
from purpose_agent.mcp.errors import HostNotAllowed, OriginNotAllowed
from purpose_agent.mcp.schemas import ToolRead

router = APIRouter(tags=["mcp"])

MCP_PATH = "/api/mcp"
JSON_RPC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "One JSON-RPC request or notification (MCP)."}
            }
        },
    }
}


class McpContext(Protocol):
    """The parts of the application context that serve MCP over HTTP."""

    @property
    def mcp_server(self) -> MCPServer: ...

    @property
    def mcp_sessions(self) -> StreamableHTTPSessionManager: ...


def mcp_context(request: Request) -> McpContext:
    context: McpContext = context_of(request)
    return context


McpContextDep = Annotated[McpContext, Depends(mcp_context)]


class RequestCaller:
    """The principal that POST /api/mcp authenticated, from the request the SDK hands the tool."""

    async def principal(self, ctx: Context) -> Principal:
        request = ctx.request_context.request
        principal = getattr(request.state, "principal", None) if isinstance(request, Request) else None
        if not isinstance(principal, Principal):
            raise Unauthenticated(MISSING)
        return principal

    def request_id(self, ctx: Context) -> str:
        request = ctx.request_context.request
        found = getattr(request.state, "request_id", None) if isinstance(request, Request) else None
        return str(found or new_request_id())


class _SessionManagerResponse(Response):
    """The SDK's transport answering in place of a response the route would build."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


@router.post(
    MCP_PATH,
    response_class=Response,
    responses={
        200: {"description": "The JSON-RPC response.", "content": {"application/json": {}}},
        202: {"description": "A notification, accepted."},
        # The protocol's own error for a request it cannot take (not JSON-RPC, an unknown method...).
        400: {"description": "A JSON-RPC error.", "content": {"application/json": {}}},
        **problem_responses(OutOfScope, HostNotAllowed, OriginNotAllowed),
    },
    openapi_extra=JSON_RPC_BODY,
)
async def mcp_endpoint(request: Request, context: McpContextDep, _: McpPrincipal) -> Response:
    """MCP streamable HTTP (stateless, JSON responses): the tools ask_agent, search_knowledge and list_agents.

    Point an MCP client at this URL with the API key as `X-API-Key` or `Authorization: Bearer`."""
    manager = context.mcp_sessions
    refusal = await TransportSecurityMiddleware(manager.security_settings).validate_request(request)
    if refusal is not None and refusal.status_code == HostNotAllowed.status:
        raise HostNotAllowed(
            f"MCP does not answer for the host {request.headers.get('host')!r}; "
            "MCP_ALLOWED_HOSTS lists those it does."
        )
    if refusal is not None:
        raise OriginNotAllowed(
            f"MCP refuses requests from the origin {request.headers.get('origin')!r}; "
            "MCP_ALLOWED_ORIGINS lists those it accepts."
        )
    return _SessionManagerResponse(manager)


@router.get("/api/mcp/tools", responses=problem_responses(OutOfScope))
async def list_tools(context: McpContextDep, _: McpPrincipal) -> list[ToolRead]:
    """The MCP tools with their descriptions and input and output JSON schemas."""
    server = context.mcp_server
    return [
        ToolRead(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.input_schema,
            output_schema=tool.output_schema,
        )
        for tool in await server.list_tools()
    ]
