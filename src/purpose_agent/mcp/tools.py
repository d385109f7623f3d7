"""The MCP server and its three tools: ask_agent, search_knowledge and list_agents.

Each call asks the transport who is calling and runs the same service as the REST route, with the
app's sessionmaker read at call time: ask_agent runs the chat use case (short transactions of its
own, none held across the model call); the other tools read in one short transaction. An
expected failure (a problem: unknown agent, unknown category, foreign session...) becomes a tool
error whose text is the problem's title and detail; arguments outside the input schema are refused
by the SDK with the field named. Neither is a crash: the client gets an `isError` result.

A caller's scope holds inside MCP as over REST: ask_agent needs the `chat` operation and an agent of
its scope, search_knowledge the `search` operation and reads only its agents' categories, and
list_agents lists only its agents (reaching /api/mcp at all needs `mcp`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

import structlog
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent import __version__
from purpose_agent.auth.errors import Forbidden
from purpose_agent.auth.principal import Operation, Principal, Role
from purpose_agent.auth.scopes import check_operation
from purpose_agent.chat import service as chat_service
from purpose_agent.chat.schemas import AgentId, ChatAnswer, Question
from purpose_agent.chat.service import ChatDeps
from purpose_agent.kit.clock import Clock
from purpose_agent.kit.problems import ProblemError
from purpose_agent.knowledge import service as knowledge_service
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.schemas import CategoryName, SearchRequest
from purpose_agent.mcp.schemas import AgentsResult, AskAgentResult, KnowledgeHit, SearchKnowledgeResult
from purpose_agent.personas import queries as persona_queries

log = structlog.get_logger("purpose_agent.mcp")

SERVER_NAME = "purpose-agent"
INSTRUCTIONS = (
    "Agents that answer only from their own knowledge, with citations. Call list_agents to see them, "
    "ask_agent to ask one (pass the session_id it returns to continue the conversation), and "
    "search_knowledge to read the passages themselves."
)
# The tools' descriptions, as clients show them to a model.
ASK_AGENT = (
    "Ask an agent a question. It answers only from its own knowledge and cites the passages it used "
    "as [n]; when its knowledge holds nothing on the question it says it does not know. The answer "
    "comes with its citations (source, page, heading, snippet, score), the model that answered, and "
    "a session_id to pass with a follow-up question."
)
SEARCH_KNOWLEDGE = (
    "Search the knowledge base (hybrid: meaning and words) for the passages closest to a query, in "
    "one category or in all. Each result names its source document, page and heading, with a snippet "
    "and a score."
)
LIST_AGENTS = (
    "The agents one may ask: id (ask_agent's agent_id), name, description and the knowledge category "
    "each answers from."
)
# The bounds of POST /api/knowledge/search (knowledge.schemas.SearchRequest; a test holds them equal).
SearchQuery = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
TopK = Annotated[int, Field(ge=1, le=50)]
DEFAULT_TOP_K = 5

T = TypeVar("T")


class ToolContext(Protocol):
    """The parts of the application context that the tools read."""

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def chat(self) -> ChatDeps: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def agents(self) -> knowledge_service.AgentCategories: ...


class Caller(Protocol):
    """Who is calling: the transport's answer for one tool call (a problem when nobody may)."""

    async def principal(self, ctx: Context) -> Principal: ...

    def request_id(self, ctx: Context) -> str: ...


def transport_security(hosts: list[str], origins: list[str]) -> TransportSecuritySettings:
    """DNS-rebinding protection: the Host and Origin headers /api/mcp accepts."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def http_session_manager(
    server: MCPServer, security: TransportSecuritySettings, max_body_bytes: int
) -> StreamableHTTPSessionManager:
    """Streamable HTTP, stateless with JSON responses: each request stands alone, on any replica."""
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=security,
        max_request_body_size=max_body_bytes,
    )
    return server.session_manager


def build_server(context: Callable[[], ToolContext], caller: Caller) -> MCPServer:
    """The MCP server; `context` gives the application context at each call (so a test that swaps
    the app's context is seen by the tools too)."""
    server: MCPServer = MCPServer(
        SERVER_NAME, title="Purpose-Agent", version=__version__, instructions=INSTRUCTIONS
    )

    async def call(tool: str, ctx: Context, work: Callable[[Principal], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome, principal_id = "error", None
        try:
            principal = await caller.principal(ctx)
            principal_id = principal.id
            if not principal.has(Role.user):
                raise Forbidden(f"This needs the {Role.user.value} role.")
            result = await work(principal)
            outcome = "ok"
            return result
        except ProblemError as exc:
            outcome = "refused"
            raise ToolError(f"{exc.title}: {exc.detail}") from None
        finally:
            log.info(
                "mcp_tool",
                tool=tool,
                outcome=outcome,
                principal=principal_id,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    @server.tool(
        name="ask_agent",
        title="Ask an agent",
        description=ASK_AGENT,
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    )
    async def ask_agent(
        agent_id: Annotated[AgentId, Field(description="The agent's id, as list_agents gives it.")],
        question: Annotated[Question, Field(description="The question, 1 to 8,000 characters.")],
        ctx: Context,
        session_id: Annotated[
            uuid.UUID | None,
            Field(description="The session_id of an earlier answer, to continue that conversation."),
        ] = None,
    ) -> Annotated[CallToolResult, AskAgentResult]:
        async def work(principal: Principal) -> ChatAnswer:
            check_operation(principal, Operation.chat)
            parts = context()
            return await chat_service.ask(
                parts.sessionmaker,
                parts.chat,
                principal,
                agent_id=agent_id,
                question=question,
                session_id=session_id,
                now=parts.clock(),
                request_id=caller.request_id(ctx),
            )

        answer = await call("ask_agent", ctx, work)
        result = AskAgentResult.model_validate(answer.model_dump())
        return CallToolResult(
            content=[
                TextContent(type="text", text=answer.answer),
                TextContent(type="text", text=_sources(result)),
            ],
            structured_content=result.model_dump(mode="json"),
        )

    @server.tool(
        name="search_knowledge",
        title="Search the knowledge",
        description=SEARCH_KNOWLEDGE,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def search_knowledge(
        query: Annotated[SearchQuery, Field(description="What to look for, 1 to 2,000 characters.")],
        ctx: Context,
        category: Annotated[
            CategoryName | None,
            Field(description="Search only this knowledge category (an agent's knowledge_category)."),
        ] = None,
        top_k: Annotated[TopK, Field(description="How many passages, 1 to 50.")] = DEFAULT_TOP_K,
    ) -> SearchKnowledgeResult:
        async def work(principal: Principal) -> SearchKnowledgeResult:
            check_operation(principal, Operation.search)
            parts = context()
            request = SearchRequest(query=query, category=category, top_k=top_k)
            hits = await knowledge_service.scoped_search(
                parts.sessionmaker, parts.embedder, parts.agents, principal, request
            )
            return SearchKnowledgeResult(
                results=[
                    KnowledgeHit(
                        rank=citation.index,
                        source=citation.source,
                        category=hit.category,
                        page=citation.page,
                        heading=citation.heading,
                        snippet=citation.snippet,
                        score=citation.score,
                        document_id=citation.document_id,
                        chunk_id=citation.chunk_id,
                    )
                    for hit, citation in zip(hits, chat_service.all_citations(hits), strict=True)
                ]
            )

        return await call("search_knowledge", ctx, work)

    @server.tool(
        name="list_agents",
        title="List the agents",
        description=LIST_AGENTS,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def list_agents(ctx: Context) -> AgentsResult:
        async def work(principal: Principal) -> AgentsResult:
            async with context().sessionmaker() as session:
                return AgentsResult(agents=await persona_queries.list_agents(session, principal.scope.agents))

        return await call("list_agents", ctx, work)

    return server


def _sources(result: AskAgentResult) -> str:
    """The citations and the session as a text block, for clients that show the model text only."""
    lines = [
        f"[{c.index}] {c.source}"
        + (f", page {c.page}" if c.page is not None else "")
        + (f", {c.heading}" if c.heading else "")
        for c in result.citations
    ]
    sources = "Sources:\n" + "\n".join(lines) if lines else "No sources cited."
    return f"{sources}\nsession_id: {result.session_id} (pass it with a follow-up question)"
