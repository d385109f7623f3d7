"""One chat use case in three phases, shared by REST, streaming, the OpenAI-compatible endpoint and MCP.

1. read (`prepare`): the persona (cached for a few seconds), the session and its history in one short
   transaction, the question embedded with no connection held, then the search in another short
   transaction. Every client error (unknown agent, foreign or expired session) is raised here, before
   any model call. A persona with retrieval off skips the search; one with retrieval on whose search
   finds no passage over `min_score` gets the fixed abstention, and no model is asked.
2. call (`complete`, or the router's stream): no transaction is open and no pooled connection held,
   however long the model takes, so requests never queue behind one another for a connection or a lock.
   Who answers is `chat.answering`'s decision: the models of the chain, their answers checked against
   the passages, or the passages quoted (`chat.extractive`): without a remote model (unless the
   built-in one is asked to answer), when every model fails (`extractive_fallback`), and in place of
   a built-in model's answer the passages do not support.
3. write (`remember`): the question and its answer in one short transaction, once the answer is whole.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.auth.metering import KeyMeter
from purpose_agent.auth.principal import Principal
from purpose_agent.auth.scopes import check_agent
from purpose_agent.chat import sessions
from purpose_agent.chat.answer_metrics import count_answer, count_new_session
from purpose_agent.chat.answering import Reply, answering_chain, grounding_check, replaced
from purpose_agent.chat.citations import cited
from purpose_agent.chat.errors import AgentNotFound, NoModelAnswered
from purpose_agent.chat.extractive import ExtractiveReason, extractive_answer
from purpose_agent.chat.passages import Passage
from purpose_agent.chat.prompt import Turn, build_messages, build_plain_messages
from purpose_agent.chat.schemas import ChatAnswer, ChatUsage, Citation
from purpose_agent.kit.timings import timed
from purpose_agent.kit.tracing import traced
from purpose_agent.knowledge.blocks import HEADING_SEPARATOR
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.search import SearchHit, SearchMode, search_chunks
from purpose_agent.llm.errors import AllProvidersFailed, Attempt
from purpose_agent.llm.router import AnswerCheck, LLMRouter, RoutedAnswer
from purpose_agent.llm.types import ChatRequest, Usage
from purpose_agent.personas.profile import AgentProfile, ProfileCache

log = structlog.get_logger("purpose_agent.chat")

ABSTENTION = (
    "I don't know: the knowledge I answer from has nothing on this question. "
    "Try asking it another way, or ask about what this agent covers."
)
ABSTAINED_MODEL = "none"
SNIPPET_CHARS = 300
# What a session's history keeps of each answer besides its text: what a reader of it needs to trust it.
STORED_DETAILS = {"citations", "model_used", "usage", "grounded", "unsupported", "extractive_reason"}


@dataclass(frozen=True, slots=True)
class ChatDeps:
    """The process-wide parts chat needs, built once in the app's lifespan."""

    router: LLMRouter
    embedder: Embedder
    session_lifetime: timedelta
    history_budget: int
    profiles: ProfileCache
    # With every model down, quote the retrieved passages (model_used "extractive") rather than fail.
    extractive_fallback: bool
    # The built-in model answers questions with passages too (else they are quoted when no remote
    # model is configured).
    local_answers: bool
    # Each answer's tokens and cost, charged to the asking key's quotas and usage.
    meter: KeyMeter


@dataclass(slots=True)
class Prepared:
    """A question ready to be answered: validated, retrieved, and (unless it abstains) its prompt."""

    persona: AgentProfile
    principal: Principal
    question: str
    # The question this one follows in its conversation ("" for the first): what a follow-up refers to.
    follows: str
    session_id: uuid.UUID
    hits: list[SearchHit]
    passages: list[Passage]
    request: ChatRequest | None
    # When it was asked, by the app's clock: the day and month its answer is charged to.
    asked_at: datetime
    started: float = field(default_factory=time.monotonic)

    @property
    def abstains(self) -> bool:
        return self.request is None

    @property
    def chain(self) -> list[str] | None:
        return list(self.persona.llm_chain) if self.persona.llm_chain else None

    def quotes_on_failure(self, deps: ChatDeps) -> bool:
        """True when, every model failing, its passages are quoted: the fallback is on and there are some."""
        return deps.extractive_fallback and bool(self.passages)

    def answering_chain(self, deps: ChatDeps) -> list[str]:
        """The providers to ask; empty when the passages are quoted without asking any."""
        return answering_chain(
            deps.router, self.chain, local_answers=deps.local_answers, has_passages=bool(self.passages)
        )

    def check(self, deps: ChatDeps) -> AnswerCheck | None:
        """The groundedness check of a model's answer to it (None: no passages to check against)."""
        return grounding_check(deps.embedder, self.passages)


async def find_persona(
    sessionmaker: async_sessionmaker[AsyncSession], deps: ChatDeps, agent_id: str
) -> AgentProfile:
    profile = await deps.profiles.get(sessionmaker, agent_id)
    if profile is None:
        raise AgentNotFound(f"There is no agent '{agent_id}'; GET /api/agents lists them.")
    return profile


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: ChatDeps,
    principal: Principal,
    *,
    agent_id: str,
    question: str,
    now: datetime,
    session_id: uuid.UUID | None = None,
    history: Sequence[Turn] | None = None,
    caller_instructions: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> Prepared:
    """Phase 1: check the agent and the session, retrieve, and build the prompt; problems before any call.

    `history` given (the OpenAI-compatible endpoint sends its own) means no stored session is used.
    Each read is a short transaction of its own: no connection is held once this returns. An agent
    outside the principal's scope is refused (403) before anything is read.
    """
    check_agent(principal, agent_id)
    persona = await find_persona(sessionmaker, deps, agent_id)
    if history is None:
        history = await _stored_history(sessionmaker, principal, agent_id, session_id, now)
    follows = history[-1].question if history else ""
    hits = []
    if persona.retrieval:
        hits = await _retrieve(sessionmaker, deps.embedder, persona, search_focus(question, follows))
    passages = [_passage(number, hit) for number, hit in enumerate(hits, 1)]
    request = None
    if hits or not persona.retrieval:
        messages = (
            build_messages(
                instructions=persona.instructions,
                passages=passages,
                history=history,
                question=question,
                history_budget=deps.history_budget,
                caller_instructions=caller_instructions,
            )
            if persona.retrieval
            else build_plain_messages(
                instructions=persona.instructions,
                history=history,
                question=question,
                history_budget=deps.history_budget,
                caller_instructions=caller_instructions,
            )
        )
        request = ChatRequest(
            messages=messages,
            temperature=persona.temperature if temperature is None else temperature,
            max_tokens=persona.max_tokens if max_tokens is None else max_tokens,
            model=persona.llm_model,
        )
    return Prepared(
        persona, principal, question, follows, session_id or uuid.uuid4(), hits, passages, request, now
    )


@timed("model")
async def complete(deps: ChatDeps, prepared: Prepared, request_id: str) -> Reply:
    """Phase 2: the abstention without any call; the quoted passages when no model is to answer; else
    the router's answer, checked, unless it must be replaced by quotes; the quotes when every model
    fails (a 503 problem when they cannot be given)."""
    if prepared.request is None:
        return Reply(RoutedAnswer(ABSTENTION, Usage(), ABSTAINED_MODEL, ()))
    started = time.monotonic()
    chain = prepared.answering_chain(deps)
    if not chain and prepared.passages:
        return await quote_passages(deps, prepared, (), request_id, started, ExtractiveReason.default)
    quotes = prepared.quotes_on_failure(deps)
    try:
        answer = await deps.router.complete(
            prepared.request,
            request_id=request_id,
            # Empty (nothing configured that may answer): asked as before, to fail as before.
            chain=chain or prepared.chain,
            has_fallback=quotes,
            check=prepared.check(deps),
        )
    except AllProvidersFailed as exc:
        if not quotes:
            raise NoModelAnswered.of(exc.attempts) from None
        return await quote_passages(deps, prepared, exc.attempts, request_id, started)
    if replaced(answer):
        return await replace_answer(deps, prepared, ExtractiveReason.ungrounded, answer)
    return Reply(answer)


async def quote_passages(
    deps: ChatDeps,
    prepared: Prepared,
    attempts: Sequence[Attempt],
    request_id: str,
    started: float,
    reason: ExtractiveReason = ExtractiveReason.models_failed,
) -> Reply:
    """The passages quoted in place of any model's answer, recorded as the request's route (as the
    router records an answer); `started` is when the router was asked, by `time.monotonic()`."""
    answer = await extractive_answer(
        prepared.question, prepared.passages, deps.embedder, reason, attempts, follows=prepared.follows
    )
    deps.router.record_fallback(request_id, answer, started)
    return Reply(answer, reason)


async def replace_answer(
    deps: ChatDeps, prepared: Prepared, reason: ExtractiveReason, answer: RoutedAnswer | None = None
) -> Reply:
    """The passages quoted in place of a model's answer that cannot stand: one they do not support
    (`answer`), or a stream cut before any of it was shown. Not recorded again: the route's record
    already names the model and what the check found."""
    if answer is not None:
        log.warning(
            "answer_replaced_by_quotes",
            model_used=answer.model_used,
            unsupported=list(answer.grounding.unsupported),
        )
    quoted = await extractive_answer(
        prepared.question, prepared.passages, deps.embedder, reason, follows=prepared.follows
    )
    return Reply(quoted, reason)


def citations_for(text: str, hits: Sequence[SearchHit]) -> list[Citation]:
    """The passages the answer cites, numbered as in the prompt; all of them if it marks none."""
    numbered = list(enumerate(hits, 1))
    return [_citation(number, hit) for number, hit in cited(text, numbered)]


def all_citations(hits: Sequence[SearchHit]) -> list[Citation]:
    return [_citation(number, hit) for number, hit in enumerate(hits, 1)]


def result(prepared: Prepared, reply: Reply) -> ChatAnswer:
    """The answer as the API gives it; counted in the metrics as given."""
    answer = reply.routed
    given = ChatAnswer(
        answer=answer.text,
        citations=[] if prepared.abstains else citations_for(answer.text, prepared.hits),
        model_used=answer.model_used,
        session_id=prepared.session_id,
        usage=ChatUsage(
            prompt_tokens=answer.usage.prompt_tokens, completion_tokens=answer.usage.completion_tokens
        ),
        latency_ms=round((time.monotonic() - prepared.started) * 1000, 2),
        abstained=prepared.abstains,
        grounded=answer.grounding.grounded,
        unsupported=list(answer.grounding.unsupported),
        extractive_reason=reply.quoted_because,
    )
    count_answer(prepared.persona.id, given)
    return given


async def answered(deps: ChatDeps, prepared: Prepared, reply: Reply) -> ChatAnswer:
    """The answer as the API gives it (`result`), its tokens and cost charged to the asking key."""
    answer = result(prepared, reply)
    await deps.meter.charge(
        prepared.principal,
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        cost_usd=reply.routed.cost_usd,
        now=prepared.asked_at,
    )
    return answer


@timed("write")
async def remember(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: ChatDeps,
    prepared: Prepared,
    answer: ChatAnswer,
    now: datetime,
) -> None:
    """Phase 3: store the exchange in its session (made on the first exchange), in one short transaction."""
    count = deps.embedder.count_tokens
    details: dict[str, Any] = answer.model_dump(mode="json", include=STORED_DETAILS)
    async with sessionmaker() as session, session.begin():
        stored = await sessions.record_exchange(
            session,
            session_id=prepared.session_id,
            principal=prepared.principal,
            agent_id=prepared.persona.id,
            question=(prepared.question, count(prepared.question)),
            answer=(answer.answer, count(answer.answer)),
            details=details,
            now=now,
            lifetime=deps.session_lifetime,
        )
    if stored is None:
        raise AgentNotFound(f"The agent '{prepared.persona.id}' was deleted while it answered.")
    if stored is sessions.StoredIn.new_session:
        count_new_session()


async def ask(
    sessionmaker: async_sessionmaker[AsyncSession],
    deps: ChatDeps,
    principal: Principal,
    *,
    agent_id: str,
    question: str,
    session_id: uuid.UUID | None,
    now: datetime,
    request_id: str,
) -> ChatAnswer:
    """One question answered and remembered in its session: read, call, write."""
    prepared = await prepare(
        sessionmaker, deps, principal, agent_id=agent_id, question=question, session_id=session_id, now=now
    )
    answer = await answered(deps, prepared, await complete(deps, prepared, request_id))
    await remember(sessionmaker, deps, prepared, answer, now)
    return answer


@timed("history")
async def _stored_history(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    agent_id: str,
    session_id: uuid.UUID | None,
    now: datetime,
) -> list[Turn]:
    if session_id is None:
        return []
    async with sessionmaker() as session:
        await sessions.continued_session(session, session_id, principal, agent_id, now)
        return await sessions.turns(session, session_id)


def search_focus(question: str, follows: str) -> str:
    """What a question is searched for: a follow-up ("and how long does it take?") often names nothing
    itself, so the question it follows comes first to give it what it refers to."""
    return f"{follows}\n{question}" if follows else question


@timed("retrieval")
@traced("retrieval")
async def _retrieve(
    sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder, persona: AgentProfile, query: str
) -> list[SearchHit]:
    # Embedded before the search's transaction begins: no connection waits on the model.
    [embedding] = await embedder.embed([query])
    assert persona.knowledge_category is not None  # a persona that retrieves has one (a table constraint)
    async with sessionmaker() as session:
        return await _search(session, query, embedding, embedder.dimension, persona)


async def _search(
    session: AsyncSession, query: str, embedding: list[float], dimension: int, persona: AgentProfile
) -> list[SearchHit]:
    return await search_chunks(
        session,
        query=query,
        embedding=embedding,
        dimension=dimension,
        top_k=persona.top_k,
        category=persona.knowledge_category,
        mode=SearchMode.hybrid,
        min_score=persona.min_score,
    )


def _heading(hit: SearchHit) -> str:
    return HEADING_SEPARATOR.join(hit.heading_path)


def _passage(number: int, hit: SearchHit) -> Passage:
    return Passage(
        index=number,
        text=hit.text,
        source=hit.source_name,
        page=hit.page,
        heading=_heading(hit) or None,
        score=hit.similarity if hit.similarity is not None else hit.score,
    )


def _citation(number: int, hit: SearchHit) -> Citation:
    text = " ".join(hit.text.split())
    return Citation(
        index=number,
        document_id=hit.document_id,
        chunk_id=hit.chunk_id,
        source=hit.source_name,
        page=hit.page,
        heading=_heading(hit),
        snippet=text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…",
        score=round(hit.similarity if hit.similarity is not None else hit.score, 4),
    )
