"""What the OpenAI and Anthropic adapters share: both SDKs are built on httpx2 and generated alike.

Both take the same client options, raise the same tree of exceptions (a base error; connection
errors with timeouts among them; status errors; schema validation errors) and stream server-sent
events through a context manager. `HttpSdkProvider` holds that part once: the SDK client over one
pooled httpx2 client, the mapping of every failure onto `ProviderError`, and the stream's checks
(served as an event stream, ended by its last event). A vendor's adapter supplies its call, how to
read its answer and its stream events, and its exception classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Generic, Protocol, Self, TypeVar

import httpx2

from purpose_agent.kit.vendor_sdk import NO_KEY, PAYLOAD_ERRORS
from purpose_agent.llm.errors import FailureReason, ProviderError
from purpose_agent.llm.providers.base import ConfiguredProvider, ProviderConfig
from purpose_agent.llm.providers.http_errors import (
    HTTPX2_TRANSPORT_ERRORS,
    httpx2_connection_error,
    httpx2_payload_or_transport_error,
    is_event_stream,
    malformed,
    status_error,
)
from purpose_agent.llm.types import ChatRequest, Completion, StreamEnd, StreamPart, TextDelta, Usage

_Client = TypeVar("_Client")
_Client_co = TypeVar("_Client_co", covariant=True)
_Event = TypeVar("_Event")
_Event_co = TypeVar("_Event_co", covariant=True)
_Event_contra = TypeVar("_Event_contra", contravariant=True)


class SdkClientClass(Protocol[_Client_co]):
    """An SDK's async client class, built with the options both SDKs take."""

    def __call__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        timeout: httpx2.Timeout,
        max_retries: int,
        http_client: httpx2.AsyncClient,
    ) -> _Client_co: ...


class StatusError(Protocol):
    """An SDK's error for an HTTP error answer."""

    @property
    def status_code(self) -> int: ...

    @property
    def response(self) -> httpx2.Response: ...


@dataclass(frozen=True, slots=True)
class SdkErrors:
    """The SDK's exception classes, and what its answer is called in a schema error."""

    base: type[Exception]  # every SDK error, also a request refused before it was sent
    connection: type[Exception]
    timeout: type[Exception]  # a kind of connection error
    status: type[StatusError]
    validation: type[Exception]  # a 200 whose body does not match the answer's schema
    answer: str
    # An error object inside a 200 stream, when the SDK raises it without a status.
    in_stream: type[Exception] | None = None


class EventStream(Protocol[_Event_co]):
    """A streamed answer as the SDK hands it over: its HTTP response, and its events."""

    @property
    def response(self) -> httpx2.Response: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, exc_tb: TracebackType | None
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[_Event_co]: ...


class StreamReader(Protocol[_Event_contra]):
    """A vendor's reading of one stream: the text of each event, and what the events said overall."""

    @property
    def model(self) -> str:
        """The model that answers: the one asked for, until an event names it."""
        ...

    @property
    def usage(self) -> Usage: ...

    @property
    def finished(self) -> bool:
        """True once the event that ends a whole answer has come."""
        ...

    @property
    def last_event(self) -> str:
        """What ends a whole answer, as the error for a stream cut before it says."""
        ...

    def texts(self, event: _Event_contra) -> Iterator[str]:
        """The pieces of answer text in one event, in order."""
        ...


class HttpSdkProvider(ConfiguredProvider, ABC, Generic[_Client, _Event]):
    """An adapter over an httpx2-based SDK: the client, failures as `ProviderError`, the stream loop."""

    errors: ClassVar[SdkErrors]

    def __init__(self, config: ProviderConfig, client_class: SdkClientClass[_Client]) -> None:
        super().__init__(config)
        timeout = httpx2.Timeout(config.read_timeout, connect=config.connect_timeout)
        most, idle = config.connection_limits()
        limits = httpx2.Limits(max_connections=most, max_keepalive_connections=idle)
        self._http = httpx2.AsyncClient(timeout=timeout, limits=limits)
        self._client = client_class(
            api_key=config.api_key or NO_KEY,  # without a key, `configured` is False
            base_url=config.base_url,
            timeout=timeout,
            max_retries=0,  # the router retries, with its own backoff and deadline
            http_client=self._http,
        )
        self._caught: tuple[type[Exception], ...] = (
            self.errors.base,
            *HTTPX2_TRANSPORT_ERRORS,
            *PAYLOAD_ERRORS,
        )

    @property
    def configured(self) -> bool:
        """True when an API key is set."""
        return bool(self._config.api_key)

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        try:
            return await self._complete(request, self._model_for(request))
        except self._caught as error:
            raise self._failure(error, mid_stream=False) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamPart]:
        """Text deltas in order, then one `StreamEnd`; a stream cut before its last event raises."""
        reader = self._reader(self._model_for(request))
        try:
            events = await self._open_stream(request, reader.model)
        except self._caught as error:
            raise self._failure(error, mid_stream=False) from None
        async with events:
            if not is_event_stream(events.response.headers):
                raise malformed(self.name, "stream answer is not an event stream")
            try:
                async for event in events:
                    for text in reader.texts(event):
                        yield TextDelta(text)
            except self._caught as error:
                raise self._failure(error, mid_stream=True) from None
        if not reader.finished:
            # The body ended without its last event: a proxy or the server stopped early.
            raise ProviderError(
                self.name, FailureReason.stream_interrupted, f"stream ended before {reader.last_event}"
            )
        yield StreamEnd(usage=reader.usage, model=reader.model)

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        await self._http.aclose()

    @abstractmethod
    async def _complete(self, request: ChatRequest, model: str) -> Completion:
        """Call for the whole answer and read it."""

    @abstractmethod
    async def _open_stream(self, request: ChatRequest, model: str) -> EventStream[_Event]:
        """Call for a streamed answer; its events are read once the stream is entered."""

    @abstractmethod
    def _reader(self, model: str) -> StreamReader[_Event]:
        """A reader for one stream's events."""

    @abstractmethod
    def _error_code(self, error: Exception) -> object:
        """The vendor's short error type of an SDK error, if it has one (see `status_error`)."""

    def _failure(self, error: Exception, *, mid_stream: bool) -> ProviderError:
        name, sdk = self.name, self.errors
        if isinstance(error, sdk.timeout):
            return ProviderError(name, FailureReason.timeout, "request timed out")
        if isinstance(error, sdk.connection):
            return httpx2_connection_error(name, error, mid_stream=mid_stream)
        if isinstance(error, sdk.status):
            return status_error(name, error.status_code, error.response.headers, self._error_code(error))
        if isinstance(error, sdk.validation):
            return malformed(name, f"answer does not match the {sdk.answer} schema")
        if sdk.in_stream is not None and isinstance(error, sdk.in_stream):
            return status_error(name, 200, {}, self._error_code(error))
        if isinstance(error, sdk.base):
            # The SDK refused the request before sending it.
            return ProviderError(name, FailureReason.bad_request, type(error).__name__)
        return httpx2_payload_or_transport_error(name, error, mid_stream=mid_stream)
