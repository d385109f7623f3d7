"""Translation of HTTP-level failures into `ProviderError`, shared by the SDK-based adapters.

The SDKs wrap most transport failures in their own exceptions, but not all of them: a body cut
mid-stream can reach the caller as a raw transport error, and a 200 whose body is not JSON as a
`ValueError`. These helpers classify what every adapter sees alike; each adapter maps its own
SDK's exception classes onto them.

Only the transport's own exceptions differ between adapters, so only their translation comes in two
forms: `httpx2_*` for the OpenAI and Anthropic SDKs, which are built on httpx2, and `httpx_*` for
Gemini and Ollama, which send through an `httpx.AsyncClient` (Gemini's is injected so that the SDK
cannot switch to httpx2 or aiohttp; the Ollama SDK also makes a refused connection a builtin
`ConnectionError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import httpx2

from purpose_agent.llm.errors import FailureReason, ProviderError

# What the transport raises that an SDK may let through unwrapped, e.g. while a stream is read.
HTTPX2_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx2.HTTPError, httpx2.StreamError, OSError)
HTTPX_TRANSPORT_ERRORS: tuple[type[httpx.HTTPError], type[OSError]] = (httpx.HTTPError, OSError)

# Vendor error codes and status names are short identifiers (`rate_limit_error`, `RESOURCE_EXHAUSTED`);
# anything else (free text that may echo the prompt or a masked key) stays out of `detail`.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date); None if absent or bad."""
    if headers is None:
        return None
    # Plain dicts (Gemini's parsed headers) are case-sensitive; httpx and httpx2 `Headers` are not.
    raw = next((value for key, value in headers.items() if key.lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def reason_for_status(status: int) -> FailureReason:
    """The failure class of an HTTP error status."""
    if status == 429:
        return FailureReason.rate_limited
    if status in (401, 403):
        return FailureReason.credentials_rejected
    if status == 408:
        # The server (or a proxy) gave up waiting: the request may well succeed if sent again.
        return FailureReason.timeout
    if status >= 500:
        return FailureReason.server_error
    if status >= 400:
        return FailureReason.bad_request
    # An error reported with a success status, e.g. an error event inside a 200 stream.
    return FailureReason.server_error


def status_error(
    provider: str, status: int, headers: Mapping[str, str] | None = None, code: object = None
) -> ProviderError:
    """A `ProviderError` for an HTTP error answer; `code` is the vendor's error type, kept if it is one."""
    detail = f"HTTP {status}"
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        detail += f" {code}"
    reason = reason_for_status(status)
    retry_after = parse_retry_after(headers) if reason is FailureReason.rate_limited else None
    return ProviderError(provider, reason, detail, status=status, retry_after=retry_after)


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """True when a streamed answer is served as server-sent events, as a stream must be."""
    return "text/event-stream" in headers.get("content-type", "")


def malformed(provider: str, what: str) -> ProviderError:
    """A `ProviderError` for a success answer whose body is not the vendor's format."""
    return ProviderError(provider, FailureReason.malformed_response, what)


def httpx2_transport_error(provider: str, error: Exception, *, mid_stream: bool) -> ProviderError:
    """A `ProviderError` for a failure below httpx2: timeouts, refused or dropped connections."""
    name = type(error).__name__
    if isinstance(error, httpx2.TimeoutException):
        return ProviderError(provider, FailureReason.timeout, name)
    if mid_stream:
        return ProviderError(provider, FailureReason.stream_interrupted, f"{name} mid-stream")
    return ProviderError(provider, FailureReason.connect_error, name)


def httpx2_connection_error(provider: str, error: Exception, *, mid_stream: bool) -> ProviderError:
    """A `ProviderError` for an SDK's connection error, classified by the httpx2 error it wraps if any."""
    cause = error.__cause__
    return httpx2_transport_error(
        provider, cause if isinstance(cause, Exception) else error, mid_stream=mid_stream
    )


def httpx2_payload_or_transport_error(provider: str, error: Exception, *, mid_stream: bool) -> ProviderError:
    """A `ProviderError` for an exception no httpx2-based SDK class covers: transport or unreadable body."""
    if isinstance(error, HTTPX2_TRANSPORT_ERRORS):
        return httpx2_transport_error(provider, error, mid_stream=mid_stream)
    return malformed(provider, f"unreadable answer ({type(error).__name__})")


def httpx_transport_error(
    provider: str, error: httpx.HTTPError | OSError, *, mid_stream: bool
) -> ProviderError:
    """A `ProviderError` for a failure below httpx: timeouts, refused, reset or dropped connections."""
    # Only the class name: a message can carry the URL, and a key sent as a query parameter with it.
    name = type(error).__name__
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return ProviderError(provider, FailureReason.timeout, f"no answer in time ({name})")
    if isinstance(error, httpx.DecodingError):
        return ProviderError(provider, FailureReason.malformed_response, f"undecodable body ({name})")
    if mid_stream and not isinstance(error, httpx.ConnectError | ConnectionRefusedError):
        return ProviderError(
            provider, FailureReason.stream_interrupted, f"connection lost mid-stream ({name})"
        )
    return ProviderError(provider, FailureReason.connect_error, f"could not reach the server ({name})")
