"""SECRETS_PROVIDER=file: one file per secret setting, as Docker and Kubernetes mount them."""

from __future__ import annotations

from pathlib import Path

import pytest

from purpose_agent.settings import SettingsError, load_settings
from tests.secrets.conftest import JWT_SECRET, OPENAI_API_KEY


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    monkeypatch.setenv("SECRETS_PROVIDER", "file")
    monkeypatch.setenv("SECRETS_DIR", str(directory))
    monkeypatch.setenv("LLM_CHAIN", "openai,local")
    return directory


def test_files_named_like_the_variable_or_the_field_give_the_settings(secrets_dir: Path) -> None:
    (secrets_dir / "JWT_SECRET").write_text(JWT_SECRET + "\n")
    (secrets_dir / "openai_api_key").write_text(OPENAI_API_KEY)
    (secrets_dir / "DATABASE_URL").write_text("postgresql://app:pw@db:5432/agents\r\n")

    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == JWT_SECRET
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == OPENAI_API_KEY
    assert settings.database.url == "postgresql://app:pw@db:5432/agents"


def test_only_one_trailing_newline_is_dropped(secrets_dir: Path) -> None:
    (secrets_dir / "JWT_SECRET").write_text("  spaces kept  \n\n")
    settings = load_settings()
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "  spaces kept  \n"


def test_an_environment_variable_still_wins(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (secrets_dir / "JWT_SECRET").write_text(JWT_SECRET)
    (secrets_dir / "OPENAI_API_KEY").write_text(OPENAI_API_KEY)
    monkeypatch.setenv("JWT_SECRET", "the-operator-override-of-32-bytes-or-more")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-override")

    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "the-operator-override-of-32-bytes-or-more"
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == "sk-operator-override"


def test_a_setting_that_is_not_a_secret_is_not_read_from_the_directory(secrets_dir: Path) -> None:
    (secrets_dir / "PORT").write_text("9999")
    (secrets_dir / "openai_model").write_text("gpt-from-a-file")
    settings = load_settings()
    assert settings.server.port == 8000
    assert settings.provider_settings()["openai"].model == "gpt-4o"


def test_a_missing_directory_stops_the_start_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_PROVIDER", "file")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert (
        str(caught.value) == f"secrets provider file: SECRETS_DIR {tmp_path / 'nowhere'} is not a directory"
    )
