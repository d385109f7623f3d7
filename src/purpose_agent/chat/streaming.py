"""A streamed answer as typed items, and its Server-Sent Events for `POST /api/chat/stream`.

Before the first token the router fails over invisibly, and heartbeats keep proxies from closing
the connection; when every model fails before it, the quoted passages come as one piece (when chat
quotes them); after it, a failure ends the stream with one `Failed` item holding a problem object,
never a silent stop. The exchange is stored (by `store`) only once the answer is whole.
Quotes given without asking a model come as one piece too. The built-in model's text is held back
until its answer is checked (it may be replaced by quotes), with heartbeats meanwhile.
The REST events are `meta` (session id, every passage given to the model), `token`, then `done`
(model used, usage, the passages the answer cites, whether it is grounded) or `error` (a problem
object); the OpenAI-compatible endpoint encodes the same items as its chunks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from fastapi.sse import format_sse_event

from purpose_agent.chat import service
from purpose_agent.chat.answering import Reply, holds_back, replaced
from purpose_agent.chat.errors import NoModelAnswered
from purpose_agent.chat.extractive import ExtractiveReason
from purpose_agent.chat.schemas import ChatAnswer
from purpose_agent.chat.service import ChatDeps, Prepared
from purpose_agent.db.errors import DATABASE_UNAVAILABLE
from purpose_agent.kit.problems import problem_body
from purpose_agent.kit.timings import stage
from purpose_agent.llm.router import Finished, Heartbeat, StreamFailed, Token

log = structlog.get_logger("purpose_agent.chat")

HEARTBEAT = b": heartbeat\n\n"
# What the `done` event tells of the answer, beside the session id.
DONE_FIELDS = {
    "model_used",
    "usage",
    "citations",
    "latency_ms",
    "abstained",
    "grounded",
    "unsupported",
    "extractive_reason",
}


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Completed:
    answer: ChatAnswer


@dataclass(frozen=True, slots=True)
class Failed:
    problem: dict[str, Any]


StreamItem = TextPiece | KeepAlive | Completed | Failed


async def answer_stream(
    prepared: Prepared,
    deps: ChatDeps,
    *,
    request_id: str,
    instance: str,
    store: Callable[[ChatAnswer], Awaitable[None]] | None = None,
) -> AsyncIterator[StreamItem]:
    """The items of one streamed answer, ending with `Completed` or `Failed`."""
    reply: Reply | None = None
    chain = prepared.answering_chain(deps)
    if prepared.request is None or (not chain and prepared.passages):
        reply = await service.complete(deps, prepared, request_id)
        yield TextPiece(reply.routed.text)
    else:
        quotes = prepared.quotes_on_failure(deps)
        started = time.monotonic()
        # Ended once the answer is whole; a stream cut short is counted up to the end of the request.
        model = stage("model")
        events = deps.router.stream(
            prepared.request,
            request_id=request_id,
            chain=chain or prepared.chain,  # empty: asked as before, to fail as before
            has_fallback=quotes,
            check=prepared.check(deps),
        )
        held: list[str] = []  # the built-in model's text, shown once its answer is checked
        alive = time.monotonic()
        async for event in events:
            if isinstance(event, Heartbeat):
                yield KeepAlive()
            elif isinstance(event, Token) and holds_back(event.provider):
                held.append(event.text)
                if time.monotonic() - alive >= deps.router.policy.heartbeat_seconds:
                    alive = time.monotonic()
                    yield KeepAlive()  # the router sends none once tokens flow
            elif isinstance(event, Token):
                yield TextPiece(event.text)
            elif isinstance(event, Finished):
                reply = Reply(event.answer)
                if replaced(event.answer):
                    reason = ExtractiveReason.ungrounded
                    reply = await service.replace_answer(deps, prepared, reason, event.answer)
                if held:
                    yield TextPiece(reply.routed.text)
            elif isinstance(event, StreamFailed):
                if event.reason is None and quotes:  # every model failed before its first token
                    reply = await service.quote_passages(deps, prepared, event.attempts, request_id, started)
                    yield TextPiece(reply.routed.text)
                    continue
                if held and quotes:  # cut, but nothing of it was shown: quotes can take its place
                    reason = ExtractiveReason.models_failed
                    reply = await service.replace_answer(deps, prepared, reason)
                    yield TextPiece(reply.routed.text)
                    continue
                yield Failed(_failure(event, instance, request_id))
                return
        model.end()
    assert reply is not None
    result = await service.answered(deps, prepared, reply)
    if store is not None:
        try:
            await store(result)
        except DATABASE_UNAVAILABLE as exc:
            # The database went away while the answer streamed: it passes, so 503, never a 500.
            log.warning("exchange_not_stored", session_id=str(prepared.session_id), error=type(exc).__name__)
            detail = "The answer could not be stored in the session: the database is unavailable."
            yield Failed(
                _problem(
                    503, "Database unavailable", detail, instance, request_id, slug="database-unavailable"
                )
            )
            return
        except Exception:
            log.exception("exchange_not_stored", session_id=str(prepared.session_id))
            detail = "The answer could not be stored in the session; quote the request id."
            yield Failed(_problem(500, "Internal Server Error", detail, instance, request_id))
            return
    yield Completed(result)


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One event in the text/event-stream format, its data as one JSON line."""
    return format_sse_event(event=event, data_str=orjson.dumps(data).decode())


async def rest_events(prepared: Prepared, items: AsyncIterator[StreamItem]) -> AsyncIterator[bytes]:
    """The SSE body of `POST /api/chat/stream`."""
    yield sse(
        "meta",
        {
            "session_id": str(prepared.session_id),
            "agent_id": prepared.persona.id,
            "citations": [c.model_dump(mode="json") for c in service.all_citations(prepared.hits)],
        },
    )
    async for item in items:
        if isinstance(item, KeepAlive):
            yield HEARTBEAT
        elif isinstance(item, TextPiece):
            yield sse("token", {"text": item.text})
        elif isinstance(item, Failed):
            yield sse("error", item.problem)
        else:
            done = item.answer.model_dump(mode="json", include=DONE_FIELDS)
            yield sse("done", done | {"session_id": str(prepared.session_id)})


def _problem(
    status: int, title: str, detail: str, instance: str, request_id: str, **kw: Any
) -> dict[str, Any]:
    return problem_body(
        status=status, title=title, detail=detail, instance=instance, request_id=request_id, **kw
    )


def _failure(event: StreamFailed, instance: str, request_id: str) -> dict[str, Any]:
    if event.reason is None:  # nothing was sent: every provider failed before its first token
        problem = NoModelAnswered.of(list(event.attempts))
        return _problem(
            problem.status,
            problem.title,
            problem.detail,
            instance,
            request_id,
            slug=problem.slug,
            extensions=problem.extensions,
        )
    return _problem(
        502,
        "Answer interrupted",
        f"The model stopped answering mid-stream: {event.detail}",
        instance,
        request_id,
        slug="answer-interrupted",
        extensions={"reason": event.reason.value},
    )
