"""Every Prometheus metric of the service, defined once, low enough that every package may record.

The names and labels are fixed (dashboards and alert rules are written against them). Label values
are bounded: route templates, methods, status codes, the configured providers and models, persona
ids, job task names and the kinds listed below. Keys, users, questions, documents and ids are never
labels. Histograms are in seconds.

API process (`GET /metrics`):

| metric | type | labels | moves when |
|---|---|---|---|
| `purpose_agent_http_requests_total` | counter | route, method, status | a request ends |
| `purpose_agent_http_request_duration_seconds` | histogram | route, method | the same, with its time |
| `purpose_agent_http_requests_in_flight` | gauge | | a request starts or ends |
| `purpose_agent_llm_requests_total` | counter | provider, model, outcome | a provider attempt ends |
| `purpose_agent_llm_request_duration_seconds` | histogram | provider, model | an attempt succeeds |
| `purpose_agent_llm_time_to_first_token_seconds` | histogram | provider, model | a stream's first token |
| `purpose_agent_llm_failovers_total` | counter | provider, reason | the chain moves on |
| `purpose_agent_llm_all_providers_failed_total` | counter | | every provider failed |
| `purpose_agent_llm_breaker_state` | gauge | provider | a scrape, a readiness check |
| `purpose_agent_llm_tokens_total` | counter | provider, model, kind | an attempt succeeds |
| `purpose_agent_llm_cost_usd_total` | counter | provider, model | an attempt of a priced model succeeds |
| `purpose_agent_search_duration_seconds` | histogram | mode | a knowledge search |
| `purpose_agent_search_passages_returned` | histogram | mode | a knowledge search |
| `purpose_agent_chat_answers_total` | counter | agent, model_used | an answer is complete |
| `purpose_agent_chat_abstentions_total` | counter | agent | an abstention is complete |
| `purpose_agent_chat_ungrounded_answers_total` | counter | agent, model_used | an unsupported answer |
| `purpose_agent_chat_sessions_created_total` | counter | | a session's first exchange is stored |
| `purpose_agent_auth_failures_total` | counter | kind | a caller is refused |
| `purpose_agent_rate_limit_refusals_total` | counter | class | a rate limit answers 429 |
| `purpose_agent_readiness_check` | gauge | check | readiness runs |

Worker process (its own port, WORKER_METRICS_HOST:WORKER_METRICS_PORT):

| metric | type | labels | moves when |
|---|---|---|---|
| `purpose_agent_jobs` | gauge | state | every 15 s |
| `purpose_agent_oldest_queued_job_age_seconds` | gauge | | every 15 s |
| `purpose_agent_job_duration_seconds` | histogram | task, outcome | a job run ends |
| `purpose_agent_job_failures_total` | counter | task | a job run fails |
| `purpose_agent_jobs_requeued_total` | counter | | a stalled worker's job is queued again |
| `purpose_agent_chunks_embedded_total` | counter | | ingestion embeds a batch of chunks |
| `purpose_agent_chat_sessions_expired_total` | counter | | the cleanup job deletes expired sessions |

Both: `purpose_agent_build_info{version}` (always 1), and the standard `process_*` and `python_*`
collectors.

What the labels and values hold:

- `route`: the template the router matched (`/api/knowledge/documents/{document_id}`), also for a
  request refused before routing (429, 413); `unmatched` for a 404 that matched no route. `method`:
  the seven an API uses, any other is `other`. The duration covers a whole stream.
- `model`: `provider/model` as configured, as `model_used` says it. `outcome` of an attempt:
  `success`, `error`, `timeout` (the provider's, or the request's deadline), `rate_limited`,
  `breaker_open` (skipped without a call), `cut` (a stream failed after its first token).
- A failover is counted when the router leaves `provider` for the next one of the chain after its
  last failure; `reason`: `connection`, `timeout`, `rate_limited`, `server_error`, `auth`,
  `bad_request`, `malformed`, `stream_interrupted`, `breaker_open`, `deadline_exceeded`, `busy`.
  `all_providers_failed` counts requests whose chain ended without an answer before any token.
- `breaker_state`: 0 closed, 1 half-open, 2 open, read from the breakers' store (shared through
  Redis) at each scrape and readiness check. `kind` of tokens: `prompt`, `completion`. Cost: from
  the price table (`LLM_PRICES`), estimated; models without a price add nothing.
- `mode` of a search: `vector`, `keyword`, `hybrid` (its SQL only: the query's embedding is not in it).
- An answer counts once complete, however it was asked (REST, stream, OpenAI-compatible, MCP);
  `agent` is the persona id; `model_used` as the API reports it (`openai/gpt-4o`, `extractive`,
  `none` for an abstention). Ungrounded: the groundedness check found it unsupported.
- `kind` of an auth failure: `missing`, `invalid`, `expired`, `revoked` (a revoked key, a disabled
  user), `forbidden` (the role or the scope does not allow it), `login_failed`, `login_throttled`.
  `class` of a rate-limit refusal: `default` (the limits per address and per credential), or the
  route class whose own limit refused (`chat`, `mcp`).
- `readiness_check`: 1 ok, 0.5 degraded, 0 failed, per check (`database`, `redis`, `rate_limiter`);
  a skipped check is absent. Set whenever readiness runs (`/health/ready`), and at a scrape when
  its last run is over 15 s old.
- `jobs`: by procrastinate state (`todo`, `doing`, `succeeded`, `failed`, `cancelled`, `aborted`;
  0 when none); the oldest job's age counts from when a `todo` job became due (0 when none). Both
  are the whole queue's: every worker reports the same numbers, so take `max` across workers.
- A job run is `failed` when it raises, also when it will be retried; a run stopped by the
  worker's shutdown is not counted.
- With several API processes (API_WORKERS > 1) a scrape of any sums them all: counters and
  histograms over every process that ran, in-flight requests over the live ones, the other gauges
  the most recent value; `process_*` then comes per process with a `pid` label, and `python_gc_*`
  is left out (it cannot be read from outside a process).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

GaugeMode = Literal["livesum", "mostrecent", "max"]

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
SEARCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PASSAGE_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 20, 50)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, documentation, labels)


def _histogram(
    name: str, documentation: str, labels: tuple[str, ...], buckets: tuple[float, ...]
) -> Histogram:
    return Histogram(name, documentation, labels, buckets=buckets)


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = (), *, mode: GaugeMode) -> Gauge:
    # How the values of several API processes combine (multiprocess mode only).
    return Gauge(name, documentation, labels, multiprocess_mode=mode)


# HTTP
HTTP_REQUESTS = _counter(
    "purpose_agent_http_requests_total", "HTTP requests answered.", ("route", "method", "status")
)
HTTP_DURATION = _histogram(
    "purpose_agent_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ("route", "method"),
    HTTP_BUCKETS,
)
HTTP_IN_FLIGHT = _gauge(
    "purpose_agent_http_requests_in_flight", "HTTP requests being served.", mode="livesum"
)

# LLM router
_ATTEMPT = ("provider", "model")
LLM_REQUESTS = _counter("purpose_agent_llm_requests_total", "Provider attempts.", (*_ATTEMPT, "outcome"))
LLM_DURATION = _histogram(
    "purpose_agent_llm_request_duration_seconds", "Successful provider attempts.", _ATTEMPT, LLM_BUCKETS
)
LLM_FIRST_TOKEN = _histogram(
    "purpose_agent_llm_time_to_first_token_seconds", "Streams' first tokens.", _ATTEMPT, FIRST_TOKEN_BUCKETS
)
LLM_FAILOVERS = _counter(
    "purpose_agent_llm_failovers_total", "The chain moved on from a provider.", ("provider", "reason")
)
LLM_ALL_FAILED = _counter("purpose_agent_llm_all_providers_failed_total", "Every provider of a chain failed.")
LLM_BREAKER_STATE = _gauge(
    "purpose_agent_llm_breaker_state", "0 closed, 1 half-open, 2 open.", ("provider",), mode="mostrecent"
)
LLM_TOKENS = _counter("purpose_agent_llm_tokens_total", "Tokens of successful attempts.", (*_ATTEMPT, "kind"))
LLM_COST = _counter("purpose_agent_llm_cost_usd_total", "Estimated cost of successful attempts.", _ATTEMPT)

# Retrieval and chat
SEARCH_DURATION = _histogram(
    "purpose_agent_search_duration_seconds", "Knowledge searches.", ("mode",), SEARCH_BUCKETS
)
SEARCH_PASSAGES = _histogram(
    "purpose_agent_search_passages_returned", "Passages a search returned.", ("mode",), PASSAGE_BUCKETS
)
CHAT_ANSWERS = _counter("purpose_agent_chat_answers_total", "Answers given.", ("agent", "model_used"))
CHAT_ABSTENTIONS = _counter("purpose_agent_chat_abstentions_total", "Abstentions given.", ("agent",))
CHAT_UNGROUNDED = _counter(
    "purpose_agent_chat_ungrounded_answers_total", "Answers found unsupported.", ("agent", "model_used")
)
CHAT_SESSIONS_CREATED = _counter("purpose_agent_chat_sessions_created_total", "Chat sessions started.")
CHAT_SESSIONS_EXPIRED = _counter("purpose_agent_chat_sessions_expired_total", "Expired sessions deleted.")

# Jobs (worker)
JOBS = _gauge("purpose_agent_jobs", "Jobs in the queue, by state.", ("state",), mode="mostrecent")
OLDEST_QUEUED_JOB_AGE = _gauge(
    "purpose_agent_oldest_queued_job_age_seconds", "Wait of the oldest due job.", mode="mostrecent"
)
JOB_DURATION = _histogram("purpose_agent_job_duration_seconds", "Job runs.", ("task", "outcome"), JOB_BUCKETS)
JOB_FAILURES = _counter("purpose_agent_job_failures_total", "Failed job runs.", ("task",))
JOBS_REQUEUED = _counter("purpose_agent_jobs_requeued_total", "Stalled jobs queued again.")
CHUNKS_EMBEDDED = _counter("purpose_agent_chunks_embedded_total", "Chunks embedded by ingestion.")

# Security
AUTH_FAILURES = _counter("purpose_agent_auth_failures_total", "Refused callers.", ("kind",))
RATE_LIMIT_REFUSALS = _counter("purpose_agent_rate_limit_refusals_total", "Rate-limit refusals.", ("class",))

# Readiness and build
READINESS_CHECK = _gauge(
    "purpose_agent_readiness_check", "1 ok, 0.5 degraded, 0 failed.", ("check",), mode="mostrecent"
)
BUILD_INFO = _gauge("purpose_agent_build_info", "The running version (always 1).", ("version",), mode="max")

_BOTH: tuple[MetricWrapperBase, ...] = (BUILD_INFO,)
_API: tuple[MetricWrapperBase, ...] = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    LLM_REQUESTS,
    LLM_DURATION,
    LLM_FIRST_TOKEN,
    LLM_FAILOVERS,
    LLM_ALL_FAILED,
    LLM_BREAKER_STATE,
    LLM_TOKENS,
    LLM_COST,
    SEARCH_DURATION,
    SEARCH_PASSAGES,
    CHAT_ANSWERS,
    CHAT_ABSTENTIONS,
    CHAT_UNGROUNDED,
    CHAT_SESSIONS_CREATED,
    AUTH_FAILURES,
    RATE_LIMIT_REFUSALS,
    READINESS_CHECK,
)
_WORKER: tuple[MetricWrapperBase, ...] = (
    JOBS,
    OLDEST_QUEUED_JOB_AGE,
    JOB_DURATION,
    JOB_FAILURES,
    JOBS_REQUEUED,
    CHUNKS_EMBEDDED,
    CHAT_SESSIONS_EXPIRED,
)


def _family_names(metrics: tuple[MetricWrapperBase, ...]) -> frozenset[str]:
    return frozenset(family.name for metric in metrics for family in metric.describe())


# What each kind of process exposes: every process defines every metric (they share this module),
# and one that never moves in a process (a job's duration in the API) would only be noise there.
API_FAMILIES = _family_names(_API + _BOTH)
WORKER_FAMILIES = _family_names(_WORKER + _BOTH)


def publish_build_info(version: str) -> None:
    """Set `purpose_agent_build_info{version}` for this process."""
    BUILD_INFO.labels(version).set(1)
