"""SECRETS_PROVIDER=aws: one Secrets Manager secret, read with the real boto3 client from a local fake."""

from __future__ import annotations

import pytest

from purpose_agent.settings import SettingsError, load_settings
from tests.ports import refused_url
from tests.secrets.conftest import AWS_ACCESS_KEY_ID, AWS_REGION, JWT_SECRET, OPENAI_API_KEY
from tests.secrets.local_server import FakeSecretsManager


@pytest.fixture
def aws_env(
    secrets_manager: FakeSecretsManager, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> FakeSecretsManager:
    monkeypatch.setenv("SECRETS_PROVIDER", "aws")
    monkeypatch.setenv("AWS_SECRET_ID", "prod/purpose-agent")
    monkeypatch.setenv("AWS_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", secrets_manager.url)
    monkeypatch.setenv("LLM_CHAIN", "openai,local")
    return secrets_manager


def test_load_settings_reads_the_secret_once_signed_with_the_chain_credentials(
    aws_env: FakeSecretsManager,
) -> None:
    settings = load_settings()

    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == JWT_SECRET
    openai = settings.provider_settings()["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == OPENAI_API_KEY
    [request] = aws_env.requests
    assert request.headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert request.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/")
    assert request.body == {"SecretId": "prod/purpose-agent"}


def test_an_environment_variable_wins_over_aws(
    aws_env: FakeSecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", "the-operator-override-of-32-bytes-or-more")
    settings = load_settings()
    assert settings.security.jwt_secret is not None
    assert settings.security.jwt_secret.get_secret_value() == "the-operator-override-of-32-bytes-or-more"


def test_refused_credentials_are_one_line_without_a_secret(
    aws_env: FakeSecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAANOTHERKEY000000")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == (
        "secrets provider aws: AWS refused the credentials for prod/purpose-agent"
        " (UnrecognizedClientException)"
    )
    assert "dummy-secret-access-key" not in message


def test_no_credentials_at_all_says_so(aws_env: FakeSecretsManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SettingsError, match=r"^secrets provider aws: boto3 found no usable AWS credentials$"):
        load_settings()
    assert aws_env.requests == []


def test_an_unknown_secret_id_names_it(aws_env: FakeSecretsManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ID", "prod/missing")
    with pytest.raises(
        SettingsError, match=rf"^secrets provider aws: no secret prod/missing in {AWS_REGION}$"
    ):
        load_settings()


def test_an_unreachable_endpoint_is_one_clear_line(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = refused_url()
    monkeypatch.setenv("SECRETS_PROVIDER", "aws")
    monkeypatch.setenv("AWS_SECRET_ID", "prod/purpose-agent")
    monkeypatch.setenv("AWS_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f"secrets provider aws: cannot reach {endpoint}: EndpointConnectionError"


def test_a_failing_service_is_unreachable(aws_env: FakeSecretsManager) -> None:
    aws_env.down = True
    with pytest.raises(
        SettingsError, match=r"^secrets provider aws: Secrets Manager failed \(InternalServiceError\)$"
    ):
        load_settings()


@pytest.mark.parametrize("secret_string", ["not json at all", '["a", "list"]', '{"JWT_SECRET": 12345}'])
def test_a_secret_string_that_is_not_an_object_of_strings_is_refused_without_its_content(
    aws_env: FakeSecretsManager, secret_string: str
) -> None:
    aws_env.secrets["prod/purpose-agent"] = secret_string
    with pytest.raises(SettingsError, match=r"^secrets provider aws: ") as caught:
        load_settings()
    assert "12345" not in str(caught.value)
    assert "not json" not in str(caught.value)
