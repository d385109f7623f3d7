"""NAME_FILE: a secret setting read from the file the environment names, as Docker and Kubernetes
mount secrets; a file that is not there stops the start with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from purpose_agent.settings import SettingsError, load_settings


def test_a_secret_is_read_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jwt_secret").write_text("jwt-secret-from-a-mounted-file-0123456789\n")
    (tmp_path / "openai").write_text("sk-openai-from-a-file")
    (tmp_path / "database_url").write_text("postgresql://app:from-a-file@db:5432/agents")
    monkeypatch.setenv("JWT_SECRET_FILE", str(tmp_path / "jwt_secret"))
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "openai"))
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "database_url"))
    monkeypatch.setenv("APP_ENV", "production")

    settings = load_settings()

    assert settings.security.jwt_secret is not None
    # The newline `echo` and editors leave is not part of the secret.
    assert settings.security.jwt_secret.get_secret_value() == "jwt-secret-from-a-mounted-file-0123456789"
    assert settings.database.url == "postgresql://app:from-a-file@db:5432/agents"
    api_key = settings.provider_settings()["openai"].api_key
    assert api_key is not None
    assert api_key.get_secret_value() == "sk-openai-from-a-file"


def test_a_missing_secret_file_stops_the_start_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "not-mounted" / "jwt_secret"
    monkeypatch.setenv("JWT_SECRET_FILE", str(missing))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == f"JWT_SECRET_FILE: cannot read {missing}: No such file or directory"


def test_a_secret_set_both_ways_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "redis_url").write_text("redis://from-a-file:6379/0")
    monkeypatch.setenv("REDIS_URL_FILE", str(tmp_path / "redis_url"))
    monkeypatch.setenv("REDIS_URL", "redis://from-the-environment:6379/0")
    with pytest.raises(SettingsError, match=r"^set REDIS_URL or REDIS_URL_FILE, not both$"):
        load_settings()


def test_a_file_variable_wins_over_the_secrets_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider_dir = tmp_path / "provider"
    provider_dir.mkdir()
    (provider_dir / "JWT_SECRET").write_text("jwt-secret-from-the-provider-0123456789abc")
    (tmp_path / "jwt_secret").write_text("jwt-secret-from-the-file-variable-0123456789")
    monkeypatch.setenv("SECRETS_PROVIDER", "file")
    monkeypatch.setenv("SECRETS_DIR", str(provider_dir))
    monkeypatch.setenv("JWT_SECRET_FILE", str(tmp_path / "jwt_secret"))

    secret = load_settings().security.jwt_secret

    assert secret is not None
    assert secret.get_secret_value() == "jwt-secret-from-the-file-variable-0123456789"
