"""Settings are validated once; a bad value is refused in one line that names the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from purpose_agent.settings import AppEnv, LogLevel, Settings, SettingsError, load_settings
from purpose_agent.settings.variables import settings_variables
from purpose_agent.vocabulary import KNOWN_PROVIDERS

# The variables a provider is configured by besides LLM_PROVIDERS (OPENAI_API_KEY, OLLAMA_BASE_URL…).
PROVIDER_PREFIXES = tuple(f"{name.upper()}_" for name in KNOWN_PROVIDERS)


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test where no `.env` exists, with none of the variables the settings read set: a
    developer's own `.env` or shell must not decide what these tests see."""
    monkeypatch.chdir(tmp_path)
    read = {variable.name for variable in settings_variables(Settings)}
    for name in list(os.environ):
        if name in read or name.startswith(PROVIDER_PREFIXES):
            monkeypatch.delenv(name)
    return tmp_path


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.server.app_env is AppEnv.development
    assert settings.database.uses_embedded
    assert settings.database.sqlalchemy_url() == "postgresql+psycopg://postgres@127.0.0.1:5433/purpose_agent"


def test_environment_overrides_and_normalises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "a-production-secret-of-more-than-32-bytes")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw@db:5432/agents")
    settings = load_settings()
    assert settings.server.port == 9001
    assert settings.observability.log_level is LogLevel.debug
    assert settings.server.app_env is AppEnv.production
    assert not settings.database.uses_embedded
    assert settings.database.sqlalchemy_url() == "postgresql+psycopg://app:pw@db:5432/agents"


def test_dotenv_file_is_read(empty_workdir: Path) -> None:
    (empty_workdir / ".env").write_text("PORT=8123\nREDIS_URL=redis://127.0.0.1:6380/1\n")
    settings = load_settings()
    assert settings.server.port == 8123
    assert settings.redis.url == "redis://127.0.0.1:6380/1"


def test_constructor_values_are_named_by_their_variables_and_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    settings = Settings(_env_file=None, port=9100, DATABASE_URL="postgresql://app:pw@db:5432/agents")
    assert settings.server.port == 9100
    assert settings.database.url == "postgresql://app:pw@db:5432/agents"
    assert settings.database.pool_size == 7


def test_a_changed_copy_is_validated_and_reads_nothing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    monkeypatch.setenv("PORT", "9001")
    changed = settings.changed(redis_url="redis://127.0.0.1:6380/1", DATABASE_POOL_SIZE=3)
    assert changed.redis.url == "redis://127.0.0.1:6380/1"
    assert changed.database.pool_size == 3
    assert changed.server.port == 8000
    assert settings.redis.url == ""
    with pytest.raises(ValidationError, match="REDIS_URL"):
        settings.changed(redis_url="http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="no setting is named REDIS"):
        settings.changed(redis="redis://127.0.0.1:6379")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("APP_ENV", "staging"),
        ("LOG_LEVEL", "chatty"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("METRICS_TOKEN", "too-short"),
        ("METRICS_TOKEN", "a token with spaces in it"),
        ("WORKER_METRICS_PORT", "70000"),
        ("WORKER_METRICS_PORT", "-1"),
        ("WORKER_METRICS_HOST", "not a host!"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {name}:")


def test_a_refused_credential_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:s3cret-pass@localhost/db")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "s3cret-pass" not in str(caught.value)
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("METRICS_TOKEN", "s3cret pass")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "s3cret" not in str(caught.value)


def test_metrics_are_for_this_machine_only_by_default_and_a_token_opens_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings().metrics
    assert (defaults.metrics_token, defaults.worker_metrics_host, defaults.worker_metrics_port) == (
        None,
        "127.0.0.1",
        8001,
    )
    monkeypatch.setenv("METRICS_TOKEN", "Zm9vYmFyYmF6cXV4LTEyMzQ1Ng==")
    monkeypatch.setenv("WORKER_METRICS_HOST", "::")
    monkeypatch.setenv("WORKER_METRICS_PORT", "0")
    metrics = load_settings().metrics
    assert metrics.metrics_token is not None
    assert metrics.metrics_token.get_secret_value() == "Zm9vYmFyYmF6cXV4LTEyMzQ1Ng=="
    assert (metrics.worker_metrics_host, metrics.worker_metrics_port) == ("::", 0)


def test_env_example_is_the_one_written_from_the_settings() -> None:
    from purpose_agent.settings.example import render_example

    committed = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    assert committed == render_example(), "run `make env-example` and commit .env.example"


def test_env_example_copied_as_it_is_starts_with_the_defaults(empty_workdir: Path) -> None:
    # A variable written but left empty, as the example leaves most, is unset: the default holds.
    example = Path(__file__).resolve().parents[1] / ".env.example"
    (empty_workdir / ".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.knowledge.embedder_dimension is None
    assert settings.knowledge.embedder_model is None
    assert settings.security.jwt_public_key is None
    assert settings.provider_settings()["openai"].base_url is None
    assert settings.llm.chain == ",".join(KNOWN_PROVIDERS)


def test_a_value_that_is_not_json_is_one_line_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDERS", '{"openai": {"api_key": "sk-secret"')
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == "invalid setting LLM_PROVIDERS: not valid JSON"


def test_env_example_documents_every_setting() -> None:
    from purpose_agent.settings import ProviderSettings, settings_variables

    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")
    }
    prefixes = tuple(f"{name.upper()}_" for name in KNOWN_PROVIDERS)
    per_provider = {name for name in documented if name.startswith(prefixes)}
    assert documented - per_provider == {variable.name for variable in settings_variables(Settings)}
    # Every provider variable documented is a real one.
    fields = {name.upper() for name in ProviderSettings.model_fields}
    assert all(name.split("_", 1)[1] in fields for name in per_provider)


def test_an_unknown_provider_in_the_chain_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_CHAIN", "openai,bard")
    with pytest.raises(SettingsError, match=r"^invalid setting LLM_CHAIN: .*unknown provider 'bard'"):
        load_settings()


def test_a_provider_without_a_model_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_CHAIN", "openai,ollama")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:11434")
    with pytest.raises(SettingsError, match=r"^invalid setting OLLAMA_MODEL: "):
        load_settings()


def test_a_bad_provider_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_READ_TIMEOUT_SECONDS", "soon")
    with pytest.raises(SettingsError, match=r"^invalid setting OPENAI_READ_TIMEOUT_SECONDS: "):
        load_settings()


def test_provider_settings_come_from_their_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_CHAIN", "anthropic,local")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789")
    monkeypatch.setenv("ANTHROPIC_MAX_RETRIES", "4")
    providers = load_settings().provider_settings()
    assert list(providers) == ["anthropic", "local"]
    assert providers["anthropic"].api_key is not None
    assert providers["anthropic"].api_key.get_secret_value() == "sk-ant-test-key-0123456789"
    assert providers["anthropic"].max_retries == 4
    assert providers["anthropic"].model == "claude-sonnet-4-5"
    assert "sk-ant" not in repr(providers["anthropic"])


def test_a_stalled_threshold_shorter_than_the_heartbeat_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_HEARTBEAT_SECONDS", "20")
    monkeypatch.setenv("WORKER_STALLED_AFTER_SECONDS", "10")
    with pytest.raises(SettingsError, match="WORKER_STALLED_AFTER_SECONDS must be longer"):
        load_settings()


def test_production_with_the_example_jwt_secret_refuses_to_start_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    [line] = [line for line in example.read_text().splitlines() if line.startswith("JWT_SECRET=")]
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", line.split("=", 1)[1])
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret-Enough@db:5432/agents")
    with pytest.raises(SettingsError, match="JWT_SECRET is the example value"):
        load_settings()
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(SettingsError, match="shorter than 32 bytes"):
        load_settings()
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:postgres@db:5432/agents")
    with pytest.raises(SettingsError, match="DATABASE_URL uses a default password"):
        load_settings()
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret-Enough@db:5432/agents")
    assert load_settings().server.app_env is AppEnv.production
