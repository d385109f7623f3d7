"""Translation of HTTP and transport failures into `ProviderError`, shared by the Gemini and Ollama adapters.

Both adapters send through an `httpx.AsyncClient` (Gemini's is injected so that the SDK cannot switch to
httpx2 or aiohttp), so a failure below HTTP is an `httpx.HTTPError`, or the builtin `ConnectionError` the
Ollama SDK makes of a refused connection. Each adapter maps its SDK's own error classes onto these helpers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from purpose_agent.llm.errors import FailureReason, ProviderError

# What the SDKs raise while parsing a 200 whose body is not the vendor's format: JSON and pydantic
# errors are ValueErrors; the rest come from reading fields of a payload of the wrong shape.
PAYLOAD_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, IndexError, TypeError, AttributeError)

# Vendor status names are short identifiers (`RESOURCE_EXHAUSTED`); anything else, such as free text
# that may quote the prompt, stays out of `detail`.
_VENDOR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date); None if absent or bad."""
    if headers is None:
        return None
    # Plain dicts (Gemini's parsed headers) are case-sensitive; httpx.Headers are not.
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
        # The server (or a proxy) gave up waiting for us: the same request may well succeed again.
        return FailureReason.timeout
    if status >= 500:
        return FailureReason.server_error
    if status >= 400:
        return FailureReason.bad_request
    # An error reported under a success status, e.g. an error event inside a 200 stream.
    return FailureReason.server_error


def status_error(
    provider: str, status: int, headers: Mapping[str, str] | None = None, code: object = None
) -> ProviderError:
    """A `ProviderError` for an HTTP error answer; `code` is the vendor's error name, kept if it is one."""
    detail = f"HTTP {status}"
    if isinstance(code, str) and _VENDOR_CODE.fullmatch(code):
        detail += f" {code}"
    reason = reason_for_status(status)
    retry_after = parse_retry_after(headers) if reason is FailureReason.rate_limited else None
    return ProviderError(provider, reason, detail, status=status, retry_after=retry_after)


def transport_error(provider: str, error: httpx.HTTPError | OSError, *, mid_stream: bool) -> ProviderError:
    """A `ProviderError` for a failure below HTTP: timeouts, refused, reset or dropped connections."""
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


def malformed(provider: str, what: str) -> ProviderError:
    """A `ProviderError` for a success answer whose body is not the vendor's format."""
    return ProviderError(provider, FailureReason.malformed_response, what)


def not_configured(provider: str, missing: str) -> ProviderError:
    """A `ProviderError` for a call to a provider the operator did not configure."""
    # Not retryable: nothing changes until the operator supplies what is missing.
    return ProviderError(provider, FailureReason.credentials_rejected, f"not configured: no {missing}")
