"""Where a secret setting comes from: the environment, then the provider, then `.env`, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from purpose_agent.settings import AppEnv, SettingsError, load_settings


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    (directory / "JWT_SECRET").write_text("jwt-secret-from-the-provider-files-0123456789")
    (directory / "REDIS_URL").write_text("redis://provider:6379/0")
    (directory / "ANTHROPIC_API_KEY").write_text("sk-ant-from-the-provider")
    return directory


def test_environment_then_provider_then_dotenv_then_default(
    empty_workdir: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider is chosen in .env, as an operator would.
    (empty_workdir / ".env").write_text(
        f"SECRETS_PROVIDER=file\nSECRETS_DIR={secrets_dir}\nLLM_CHAIN=anthropic,openai,local\n"
        "JWT_SECRET=jwt-secret-from-dotenv-0123456789abcdef\n"
        "REDIS_URL=redis://dotenv:6379/0\n"
        "DATABASE_URL=postgresql://app:from-dotenv@db:5432/agents\n"
        "ANTHROPIC_API_KEY=sk-ant-from-dotenv\nOPENAI_API_KEY=sk-openai-from-dotenv\n"
    )
    monkeypatch.setenv("REDIS_URL", "redis://environment:6379/0")

    settings = load_settings()
    providers = settings.provider_settings()

    assert settings.redis.url == "redis://environment:6379/0"  # environment over provider
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "jwt-secret-from-the-provider-files-0123456789"
    assert providers["anthropic"].api_key is not None
    assert providers["anthropic"].api_key.get_secret_value() == "sk-ant-from-the-provider"
    # Not held by the provider: .env, then the default.
    assert settings.database.url == "postgresql://app:from-dotenv@db:5432/agents"
    assert providers["openai"].api_key is not None
    assert providers["openai"].api_key.get_secret_value() == "sk-openai-from-dotenv"
    assert settings.knowledge.embedder_api_key is None
    # What a refresh may change: what the provider gave and nothing above it set (REDIS_URL: the
    # environment); the LLM providers' keys are their own settings'.
    assert settings.provided_secrets == {"JWT_SECRET"}


def test_the_default_env_provider_reads_no_files(
    empty_workdir: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_DIR", str(secrets_dir))
    (empty_workdir / ".env").write_text("JWT_SECRET=jwt-secret-from-dotenv-0123456789abcdef\n")
    settings = load_settings()
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "jwt-secret-from-dotenv-0123456789abcdef"
    assert settings.redis.url == ""
    assert settings.secret_cache is None


def test_a_production_start_accepts_the_secret_from_the_provider(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (secrets_dir / "DATABASE_URL").write_text("postgresql://app:s3cret-Enough@db:5432/agents")
    monkeypatch.setenv("SECRETS_PROVIDER", "file")
    monkeypatch.setenv("SECRETS_DIR", str(secrets_dir))
    monkeypatch.setenv("APP_ENV", "production")
    assert load_settings().server.app_env is AppEnv.production


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRETS_PROVIDER": "gcp"}, r"^invalid setting SECRETS_PROVIDER: Input should be 'env', 'file'"),
        ({"SECRETS_PROVIDER": "vault"}, r"^secrets provider vault: VAULT_ADDR is not set$"),
        (
            {"SECRETS_PROVIDER": "vault", "VAULT_ADDR": "http://127.0.0.1:8200"},
            r"^secrets provider vault: neither VAULT_TOKEN nor VAULT_TOKEN_FILE is set$",
        ),
        ({"SECRETS_PROVIDER": "vault", "VAULT_ADDR": "vault:8200"}, r"^invalid setting VAULT_ADDR: "),
        (
            {"SECRETS_PROVIDER": "aws", "AWS_REGION": "eu-west-1"},
            r"^secrets provider aws: AWS_SECRET_ID is not set$",
        ),
        (
            {"SECRETS_PROVIDER": "aws", "AWS_SECRET_ID": "prod"},
            r"^secrets provider aws: AWS_REGION is not set$",
        ),
        ({"SECRETS_CACHE_TTL_SECONDS": "-1"}, r"^invalid setting SECRETS_CACHE_TTL_SECONDS: "),
    ],
)
def test_an_incomplete_provider_configuration_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
