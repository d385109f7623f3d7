"""The only package that reads the environment: every setting, typed and validated once at start.

Settings come in groups (`settings.database.pool_size`), each read from its flat variable
(DATABASE_POOL_SIZE): from the environment first, then the secrets provider chosen with
SECRETS_PROVIDER (for the secret ones), then a `.env` file in the working directory, then the
defaults. `.env.example` is written from the groups' docstrings (`make env-example`).

    model.py        Settings: the groups, the LLM providers' settings, production checks
    loading.py      load_settings(): read and validate once, one line per bad setting
    errors.py       SettingsError and describe_settings_error()
    sources.py      where values come from, in order; each read by its flat variable name
    variables.py    every setting with its variable
    fields.py       what a group is made of: its config, shared field types and checks
    server.py       HOST, PORT, APP_ENV, ...; logs and health
    metrics.py      METRICS_TOKEN, WORKER_METRICS_*: who reads the metrics, where the worker serves them
    storage.py      DATABASE_*, the embedded database, REDIS_*
    rate_limits.py  RATE_LIMIT_*, TRUSTED_PROXIES
    llm.py          LLM_*: the chain, deadlines, retries, breakers, prices
    providers.py    GEMINI_*, OPENAI_*, ANTHROPIC_*, OLLAMA_*, LOCAL_*: each provider's settings
    knowledge.py    EMBEDDER_*, uploads, ingestion jobs and the worker
    chat.py         personas and conversations
    security.py     JWT_*, sign-in throttling, CORS, HTTPS, the audit log
    mcp.py          MCP_*
    telemetry.py    LOG_FORMAT, LOG_SINKS, SEQ_*, TRACING_ENABLED, OTEL_*, SERVER_TIMING
    example.py      writes `.env.example` from all of the above

The SECRETS_*, VAULT_*, AWS_* and AZURE_* settings are `purpose_agent.secrets.SecretsConfig`.
"""

from purpose_agent.settings.errors import SettingsError, describe_settings_error
from purpose_agent.settings.loading import load_settings
from purpose_agent.settings.model import Settings
from purpose_agent.settings.providers import ProviderSettings
from purpose_agent.settings.security import JwtAlgorithm, jwt_secret_problem
from purpose_agent.settings.server import AppEnv, LogLevel
from purpose_agent.settings.telemetry import LogFormat
from purpose_agent.settings.variables import settings_variables

__all__ = [
    "AppEnv",
    "JwtAlgorithm",
    "LogFormat",
    "LogLevel",
    "ProviderSettings",
    "Settings",
    "SettingsError",
    "describe_settings_error",
    "jwt_secret_problem",
    "load_settings",
    "settings_variables",
]
