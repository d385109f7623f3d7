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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from purpose_agent.llm.backoff import BackoffPolicy
from purpose_agent.llm.breaker import BreakerStore
from purpose_agent.llm.errors import AllProvidersFailed, Attempt, FailureReason, ProviderError
from purpose_agent.llm.pricing import PriceTable
from purpose_agent.llm.providers.base import Provider
from purpose_agent.llm.recorder import RouteRecord, RouteRecorder
from purpose_agent.llm.types import ChatRequest, StreamEnd, StreamPart, TextDelta, Usage

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


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing yet; the stream is alive."""


@dataclass(frozen=True, slots=True)
class Token:
    text: str


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


class _Clock:
    def __init__(self, deadline_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + deadline_seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


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
                breaker = (await self.breakers.state(name, now)).value
            except Exception:
                # The breakers' store (Redis) is down; readiness reports that store on its own.
                breaker = "unknown"
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
    ) -> RoutedAnswer:
        """The first successful answer along the chain, or `AllProvidersFailed`.

        `has_fallback`: the caller answers by itself when every provider fails, and records that answer
        with `record_fallback`; the failure is then not recorded here, so the request has one route.
        """
        clock = _Clock(self.policy.deadline_seconds)
        attempts: list[Attempt] = []
        for provider in self.chain(chain):
            model = request.model or provider.model
            for try_number in range(self.retries.get(provider.name, 2) + 1):
                error = await self._gate(provider, model, clock, attempts)
                if error is not None:
                    break
                started = time.monotonic()
                try:
                    async with asyncio.timeout(clock.remaining()):
                        completion = await provider.complete(request)
                except TimeoutError:
                    error = ProviderError(
                        provider.name, FailureReason.deadline_exceeded, "request deadline reached"
                    )
                except ProviderError as failure:
                    error = failure
                else:
                    await self.breakers.record_success(provider.name, self._now())
                    answer = self._answer(completion.text, completion.usage, provider.name, model, attempts)
                    self._record(request_id, answer, clock.started, attempts)
                    return answer
                if not await self._after_failure(
                    provider, model, error, started, try_number, clock, attempts
                ):
                    break
        if not has_fallback:
            self._record(request_id, None, clock.started, attempts)
        raise AllProvidersFailed(attempts)

    async def stream(
        self,
        request: ChatRequest,
        *,
        request_id: str = "",
        chain: Sequence[str] | None = None,
        has_fallback: bool = False,
    ) -> AsyncIterator[RouterEvent]:
        """Events of one streamed answer: heartbeats, tokens, then `Finished` or `StreamFailed`.

        `has_fallback` as for `complete`: it concerns only the failure of every provider before any
        token (`StreamFailed` without a reason); a stream cut after its first token is always recorded.
        """
        clock = _Clock(self.policy.deadline_seconds)
        attempts: list[Attempt] = []
        for provider in self.chain(chain):
            model = request.model or provider.model
            for try_number in range(self.retries.get(provider.name, 2) + 1):
                if await self._gate(provider, model, clock, attempts) is not None:
                    break
                started = time.monotonic()
                parts = provider.stream(request)
                texts: list[str] = []
                ends: list[StreamEnd] = []
                try:
                    async for event in self._relay(parts, texts, ends, clock):
                        yield event
                except ProviderError as error:
                    if texts:  # the answer has begun: it cannot move to another provider now
                        attempts.append(self._attempt(provider.name, model, error, started))
                        await self.breakers.record_failure(provider.name, self._now())
                        self._log_failure(attempts[-1])
                        yield StreamFailed(error.reason, error.detail, tuple(attempts))
                        self._record(request_id, None, clock.started, attempts)
                        return
                    if await self._after_failure(
                        provider, model, error, started, try_number, clock, attempts
                    ):
                        continue
                    break
                finally:
                    await _close(parts)
                await self.breakers.record_success(provider.name, self._now())
                answer = self._answer("".join(texts), ends[0].usage, provider.name, model, attempts)
                yield Finished(answer)
                self._record(request_id, answer, clock.started, attempts)
                return
        if not has_fallback:
            self._record(request_id, None, clock.started, attempts)
        yield StreamFailed(None, str(AllProvidersFailed(attempts)), tuple(attempts))

    async def _relay(
        self, parts: AsyncIterator[StreamPart], texts: list[str], ends: list[StreamEnd], clock: _Clock
    ) -> AsyncIterator[RouterEvent]:
        """Forward a provider's parts as events, with heartbeats until the first token and a deadline."""
        while True:
            pending = asyncio.ensure_future(anext(parts))
            try:
                while True:
                    remaining = clock.remaining()
                    if remaining <= 0:
                        raise ProviderError(
                            "router", FailureReason.deadline_exceeded, "request deadline reached"
                        )
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
                yield Token(part.text)
            else:
                ends.append(part)
                return

    async def _gate(
        self, provider: Provider, model: str, clock: _Clock, attempts: list[Attempt]
    ) -> ProviderError | None:
        """None when a call may go out now; else the reason it may not, recorded as an attempt."""
        started = time.monotonic()
        if clock.remaining() <= 0:
            error = ProviderError(provider.name, FailureReason.deadline_exceeded, "request deadline reached")
        elif not await self.breakers.acquire(provider.name, self._now()):
            error = ProviderError(provider.name, FailureReason.circuit_open, "circuit breaker is open")
        else:
            return None
        attempts.append(self._attempt(provider.name, model, error, started))
        return error

    async def _after_failure(
        self,
        provider: Provider,
        model: str,
        error: ProviderError,
        started: float,
        try_number: int,
        clock: _Clock,
        attempts: list[Attempt],
    ) -> bool:
        """Record a failed call; True when the same provider should be tried again (after the pause)."""
        attempts.append(self._attempt(provider.name, model, error, started))
        if error.reason is not FailureReason.busy:  # a full queue is load, not a broken provider
            trip = error.reason is FailureReason.credentials_rejected
            await self.breakers.record_failure(provider.name, self._now(), trip=trip)
        self._log_failure(attempts[-1])
        if not error.retryable or try_number >= self.retries.get(provider.name, 2):
            return False
        delay = self.policy.backoff.delay(try_number, error.retry_after)
        if delay >= clock.remaining():
            return False
        await self._sleep(delay)
        return True

    def _attempt(self, name: str, model: str, error: ProviderError, started: float) -> Attempt:
        reason = error.reason
        return Attempt(name, model, reason, error.detail, _elapsed_ms(started), error.status)

    def _answer(
        self, text: str, usage: Usage, name: str, model: str, attempts: list[Attempt]
    ) -> RoutedAnswer:
        model_used = f"{name}/{model}"
        cost = self.prices.cost(model_used, usage)
        return RoutedAnswer(text, usage, model_used, tuple(attempts), cost)

    def _log_failure(self, attempt: Attempt) -> None:
        log.warning(
            "llm_attempt_failed",
            provider=attempt.provider,
            model=attempt.model,
            reason=attempt.reason.value,
            detail=attempt.detail,
            latency_ms=attempt.latency_ms,
            status=attempt.status,
        )

    def record_fallback(self, request_id: str, answer: RoutedAnswer, started: float) -> None:
        """Record the caller's own answer to a request every provider failed (see `has_fallback`).

        `started` is when the request was routed, by `time.monotonic()`.
        """
        self._record(request_id, answer, started, answer.attempts)

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
        )
        self.recorder.submit(record)

    async def aclose(self) -> None:
        """Close every provider's client."""
        for provider in self.providers.values():
            await provider.aclose()


async def _close(parts: AsyncIterator[StreamPart]) -> None:
    # A generator still running is inside the `anext` task that `_relay` cancelled on its way out (the
    # caller went away during a wait): that cancellation ends it and its own cleanup closes its stream.
    if getattr(parts, "ag_running", False):
        return
    close = getattr(parts, "aclose", None)
    if close is not None:
        await close()
