"""The failover router: try each configured provider in order, retrying transient failures.

For one request, each provider of the chain is tried in turn. Within a provider, transient
failures (connect errors, timeouts, 429, 5xx) are retried with full-jitter backoff that honours
`Retry-After`, as long as the request's deadline leaves time; other failures move on at once.
Every failure is counted by the provider's circuit breaker, and an open breaker skips the
provider without a call. When all fail, `AllProvidersFailed` lists every attempt; a caller that
answers anyway says so up front (`has_fallback`) and records its own answer in the route's place.

Streams fail over the same way until the first token has left. After that the answer cannot be
taken back, so a failure ends the stream with one typed `StreamFailed` event, never silently.
While the first token is awaited, `Heartbeat` events let the caller keep its connection alive.

A caller may have each answer checked before its route is recorded (`check`: whether the answer is
supported by the context it was given), so that the usage record says what the check found.

Every attempt, answer, failover and breaker state read also moves the metrics (`llm.route_metrics`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

import structlog
from opentelemetry.trace import Span

from purpose_agent.kit.backoff import BackoffPolicy
from purpose_agent.kit.tracing import current
from purpose_agent.llm import route_metrics
from purpose_agent.llm.attempt_spans import end_attempt_span, refused_attempt_span, start_attempt_span
from purpose_agent.llm.breaker import BreakerStore
from purpose_agent.llm.errors import AllProvidersFailed, Attempt, FailureReason, ProviderError
from purpose_agent.llm.pricing import PriceTable
from purpose_agent.llm.providers.base import Provider
from purpose_agent.llm.recorder import RouteRecord, RouteRecorder
from purpose_agent.llm.types import ChatRequest, Grounding, StreamEnd, StreamPart, TextDelta, Usage

log = structlog.get_logger("purpose_agent.llm")


@dataclass(frozen=True, slots=True)
class RouterPolicy:
    deadline_seconds: float = 60.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    heartbeat_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class RoutedAnswer:
    text: str
    usage: Usage
    model_used: str
    attempts: tuple[Attempt, ...]
    cost_usd: float | None = None
    # What the caller's `check` found; unchecked (grounded None) when it gave none.
    grounding: Grounding = field(default_factory=Grounding)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing yet; the stream is alive."""


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    provider: str  # who writes it: a caller may hold back a provider's text until it is checked


@dataclass(frozen=True, slots=True)
class Finished:
    answer: RoutedAnswer


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream ends here: before the first token every provider failed, or one failed after it."""

    reason: FailureReason | None
    detail: str
    attempts: tuple[Attempt, ...]


RouterEvent = Heartbeat | Token | Finished | StreamFailed
Sleep = Callable[[float], Awaitable[None]]
# Checks a whole answer's text (is it supported by its context?); it never raises.
AnswerCheck = Callable[[str], Awaitable[Grounding]]


class _Clock:
    def __init__(self, deadline_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + deadline_seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


def _deadline_reached(name: str) -> ProviderError:
    return ProviderError(name, FailureReason.deadline_exceeded, "request deadline reached")


class LLMRouter:
    """Routes chat requests along a chain of providers; built once per process."""

    def __init__(
        self,
        providers: Sequence[Provider],
        breakers: BreakerStore,
        policy: RouterPolicy,
        *,
        prices: PriceTable | None = None,
        recorder: RouteRecorder | None = None,
        retries: dict[str, int] | None = None,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = {provider.name: provider for provider in providers}
        self.default_chain = [provider.name for provider in providers if provider.configured]
        self.breakers = breakers
        self.policy = policy
        self.prices = prices or PriceTable({})
        self.recorder = recorder
        self.retries = retries or {}
        self._sleep = sleep
        self._now = wall_clock

    def chain(self, override: Sequence[str] | None = None) -> list[Provider]:
        """The providers to try, in order; unconfigured ones are never part of it."""
        names = override if override else self.default_chain
        return [
            self.providers[name]
            for name in names
            if name in self.providers and self.providers[name].configured
        ]

    def unconfigured(self) -> list[str]:
        """Providers that were asked for but lack what they need; never called."""
        return [name for name, provider in self.providers.items() if not provider.configured]

    async def status(self) -> dict[str, dict[str, str | bool]]:
        """Each provider: whether it is configured, in the default chain, and its breaker's state."""
        now = self._now()
        status: dict[str, dict[str, str | bool]] = {}
        for name, provider in self.providers.items():
            try:
                state = await self.breakers.state(name, now)
            except Exception:
                # The breakers' store (Redis) is down; readiness reports that store on its own.
                breaker = "unknown"
            else:
                breaker = state.value
                route_metrics.breaker_state(name, state)
            status[name] = {
                "configured": provider.configured,
                "in_chain": name in self.default_chain,
                "model": provider.model,
                "breaker": breaker,
            }
        return status

    async def complete(
        self,
        request: ChatRequest,
        *,
        request_id: str = "",
        chain: Sequence[str] | None = None,
        has_fallback: bool = False,
        check: AnswerCheck | None = None,
    ) -> RoutedAnswer:
        """The first successful answer along the chain, or `AllProvidersFailed`.

        `has_fallback`: the caller answers by itself when every provider fails, and records that answer
        with `record_fallback`; the failure is then not recorded here, so the request has one route.
        `check`: run on the answer before its route is recorded; its finding is the answer's `grounding`.
        """
        route = _Route(self, request, request_id, chain)
        while (call := await route.next_call()) is not None:
            try:
                async with asyncio.timeout(route.clock.remaining()):
                    with call.traced():
                        completion = await call.provider.complete(request)
            except TimeoutError:
                error = _deadline_reached(call.provider.name)
            except ProviderError as failure:
                error = failure
            else:
                answer = await route.answered(call, completion.text, completion.usage)
                return await route.checked(answer, check)
            await route.failed(call, error)
        route.exhausted()
        if not has_fallback:
            route.record(None)
        raise AllProvidersFailed(route.attempts)

    async def stream(
        self,
        request: ChatRequest,
        *,
        request_id: str = "",
        chain: Sequence[str] | None = None,
        has_fallback: bool = False,
        check: AnswerCheck | None = None,
    ) -> AsyncIterator[RouterEvent]:
        """Events of one streamed answer: heartbeats, tokens, then `Finished` or `StreamFailed`.

        `has_fallback` as for `complete`: it concerns only the failure of every provider before any
        token (`StreamFailed` without a reason); a stream cut after its first token is always recorded.
        `check` as for `complete`, on the whole answer before `Finished`.
        """
        route = _Route(self, request, request_id, chain)
        while (call := await route.next_call()) is not None:
            parts = call.provider.stream(request)
            texts: list[str] = []
            ends: list[StreamEnd] = []
            try:
                async for event in self._relay(call.provider.name, parts, texts, ends, route.clock):
                    if isinstance(event, Token) and len(texts) == 1:
                        route.first_token(call)
                    yield event
            except ProviderError as error:
                if texts:  # the answer has begun: it cannot move to another provider now
                    failed = await route.cut(call, error)
                    # Recorded before the last event: a consumer may stop reading at it.
                    route.record(None)
                    yield failed
                    return
                await route.failed(call, error)
                continue
            finally:
                await _close(parts)
            answer = await route.answered(call, "".join(texts), ends[0].usage)
            yield Finished(await route.checked(answer, check))
            return
        route.exhausted()
        if not has_fallback:
            route.record(None)
        yield StreamFailed(None, str(AllProvidersFailed(route.attempts)), tuple(route.attempts))

    def record_fallback(self, request_id: str, answer: RoutedAnswer, started: float) -> None:
        """Record the caller's own answer to a request every provider failed (see `has_fallback`), or
        that it answered without asking any.

        `started` is when the request was routed, by `time.monotonic()`.
        """
        self._record(request_id, answer, started, answer.attempts)

    async def _relay(
        self,
        provider: str,
        parts: AsyncIterator[StreamPart],
        texts: list[str],
        ends: list[StreamEnd],
        clock: _Clock,
    ) -> AsyncIterator[RouterEvent]:
        """Forward a provider's parts as events, with heartbeats until the first token and a deadline."""
        while True:
            pending = asyncio.ensure_future(anext(parts))
            try:
                while True:
                    remaining = clock.remaining()
                    if remaining <= 0:
                        raise _deadline_reached("router")
                    wait = min(remaining, self.policy.heartbeat_seconds) if not texts else remaining
                    done, _ = await asyncio.wait({pending}, timeout=wait)
                    if done:
                        break
                    if not texts:
                        yield Heartbeat()
            except BaseException:
                pending.cancel()
                raise
            try:
                part = pending.result()
            except StopAsyncIteration:
                raise ProviderError(
                    "router", FailureReason.stream_interrupted, "stream ended without finishing"
                ) from None
            if isinstance(part, TextDelta):
                texts.append(part.text)
                yield Token(part.text, provider)
            else:
                ends.append(part)
                return

    def _record(
        self, request_id: str, answer: RoutedAnswer | None, started: float, attempts: Sequence[Attempt]
    ) -> None:
        if self.recorder is None:
            return
        record = RouteRecord(
            request_id=request_id,
            attempts=tuple(attempts),
            model_used=answer.model_used if answer else None,
            usage=answer.usage if answer else Usage(),
            cost_usd=answer.cost_usd if answer else None,
            latency_ms=_elapsed_ms(started),
            grounding=answer.grounding if answer else Grounding(),
        )
        self.recorder.submit(record)

    async def aclose(self) -> None:
        """Close every provider's client."""
        for provider in self.providers.values():
            await provider.aclose()


@dataclass(frozen=True, slots=True)
class _Call:
    """One call allowed to go out: the provider, the model asked of it, which try it is, when it began."""

    provider: Provider
    model: str
    number: int
    started: float
    span: Span  # current while the provider is called (`traced`), ended with the call's outcome

    def traced(self) -> AbstractContextManager[Span]:
        return current(self.span)


class _Route:
    """One request's way along the chain, the same for `complete` and `stream`.

    It hands out the calls in order (`next_call`): each provider of the chain, again after a retryable
    failure while its retries and the deadline allow, and only through the gate (deadline left, breaker
    not open). Every failure is an attempt, counted by the provider's breaker (a busy provider's is
    not) and logged; the route's record names who answered, if anyone.
    """

    def __init__(
        self, router: LLMRouter, request: ChatRequest, request_id: str, chain: Sequence[str] | None
    ) -> None:
        self.router = router
        self.request = request
        self.request_id = request_id
        self.clock = _Clock(router.policy.deadline_seconds)
        self.attempts: list[Attempt] = []
        self._providers = iter(router.chain(chain))
        self._again: _Call | None = None  # the call to repeat, its backoff pause already taken
        self._current: str | None = None  # the provider whose turn it is

    async def next_call(self) -> _Call | None:
        """The next call to make, its gate passed; None once the chain is done."""
        while True:
            if self._again is not None:
                provider, model, number = self._again.provider, self._again.model, self._again.number + 1
                self._again = None
            else:
                next_provider = next(self._providers, None)
                if next_provider is None:
                    return None
                if self._current is not None and self.attempts:
                    # The provider before it failed (a success ends the route): the chain moves on.
                    route_metrics.moved_on(self._current, self.attempts[-1].reason)
                self._current = next_provider.name
                provider, model, number = next_provider, self.request.model or next_provider.model, 0
            if await self._gate(provider, model):
                span = start_attempt_span(provider.name, model, number)
                return _Call(provider, model, number, time.monotonic(), span)

    async def failed(self, call: _Call, error: ProviderError) -> None:
        """Record a failed call; when the same provider should be tried again, pause first."""
        name = call.provider.name
        self._add_attempt(call.provider, call.model, error, call.started)
        route_metrics.attempt_failed(self.attempts[-1])
        end_attempt_span(call.span, error.reason.value)
        if error.reason is not FailureReason.busy:  # a full queue is load, not a broken provider
            trip = error.reason is FailureReason.credentials_rejected
            await self.router.breakers.record_failure(name, self.router._now(), trip=trip)
        self._log(self.attempts[-1])
        if not error.retryable or call.number >= self.router.retries.get(name, 2):
            return
        delay = self.router.policy.backoff.delay(call.number, error.retry_after)
        if delay >= self.clock.remaining():
            return
        await self.router._sleep(delay)
        self._again = call

    async def cut(self, call: _Call, error: ProviderError) -> StreamFailed:
        """Record a stream that failed after its first token, and the event that ends it."""
        self._add_attempt(call.provider, call.model, error, call.started)
        route_metrics.attempt_failed(self.attempts[-1], cut=True)
        end_attempt_span(call.span, error.reason.value, after_first_token=True)
        await self.router.breakers.record_failure(call.provider.name, self.router._now())
        self._log(self.attempts[-1])
        return StreamFailed(error.reason, error.detail, tuple(self.attempts))

    async def answered(self, call: _Call, text: str, usage: Usage) -> RoutedAnswer:
        """The answer of a successful call, its cost priced and its provider's breaker told."""
        await self.router.breakers.record_success(call.provider.name, self.router._now())
        end_attempt_span(call.span, "success", usage=usage)
        model_used = f"{call.provider.name}/{call.model}"
        cost = self.router.prices.cost(model_used, usage)
        route_metrics.attempt_answered(
            call.provider.name, model_used, time.monotonic() - call.started, usage, cost
        )
        return RoutedAnswer(text, usage, model_used, tuple(self.attempts), cost)

    def first_token(self, call: _Call) -> None:
        """A stream's first token arrived."""
        model_used = f"{call.provider.name}/{call.model}"
        route_metrics.first_token(call.provider.name, model_used, time.monotonic() - call.started)

    def exhausted(self) -> None:
        """The chain ended without an answer."""
        if self.attempts:  # an empty chain is a configuration, not providers failing
            route_metrics.all_failed()

    def record(self, answer: RoutedAnswer | None) -> None:
        """Record the route: its failed attempts and who answered (None: nobody)."""
        self.router._record(self.request_id, answer, self.clock.started, self.attempts)

    async def checked(self, answer: RoutedAnswer, check: AnswerCheck | None) -> RoutedAnswer:
        """The answer with what `check` found, its route recorded with it; recorded unchecked when the
        caller leaves during the check, so that a request never goes without its route."""
        checked = answer
        try:
            if check is not None:
                checked = replace(answer, grounding=await check(answer.text))
        finally:
            self.record(checked)
        return checked

    async def _gate(self, provider: Provider, model: str) -> bool:
        """True when a call may go out now; else the reason it may not is recorded as an attempt."""
        started = time.monotonic()
        if self.clock.remaining() <= 0:
            error = _deadline_reached(provider.name)
        elif not await self.router.breakers.acquire(provider.name, self.router._now()):
            error = ProviderError(provider.name, FailureReason.circuit_open, "circuit breaker is open")
        else:
            return True
        self._add_attempt(provider, model, error, started)
        route_metrics.attempt_failed(self.attempts[-1])
        refused_attempt_span(provider.name, model, error.reason.value)
        return False

    def _add_attempt(self, provider: Provider, model: str, error: ProviderError, started: float) -> None:
        self.attempts.append(
            Attempt(provider.name, model, error.reason, error.detail, _elapsed_ms(started), error.status)
        )

    def _log(self, attempt: Attempt) -> None:
        log.warning(
            "llm_attempt_failed",
            provider=attempt.provider,
            model=attempt.model,
            reason=attempt.reason.value,
            detail=attempt.detail,
            latency_ms=attempt.latency_ms,
            status=attempt.status,
        )


async def _close(parts: AsyncIterator[StreamPart]) -> None:
    # A generator still running is inside the `anext` task that `_relay` cancelled on its way out (the
    # caller went away during a wait): that cancellation ends it and its own cleanup closes its stream.
    if getattr(parts, "ag_running", False):
        return
    close = getattr(parts, "aclose", None)
    if close is not None:
        await close()
