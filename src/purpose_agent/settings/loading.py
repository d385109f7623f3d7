"""Read the settings once at start, and stop with one clear line when one is bad."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import SettingsError as PydanticSettingsError

from purpose_agent.llm.providers.local import runtime_installed
from purpose_agent.secrets import SecretsError
from purpose_agent.settings.errors import SettingsError, describe_settings_error
from purpose_agent.settings.model import Settings
from purpose_agent.settings.server import AppEnv


def load_settings() -> Settings:
    """Read and validate the settings, turning a validation failure into one clear line."""
    try:
        settings = Settings()
        settings.provider_settings()  # validated now, so a bad provider setting stops the start
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
    except PydanticSettingsError as exc:
        # A JSON value that does not parse (LLM_PROVIDERS, LLM_PRICES): its line names the variable.
        raise SettingsError(str(exc)) from None
    except SecretsError as exc:
        # Already one line naming the provider and what is wrong, never a value.
        raise SettingsError(str(exc)) from None
    if settings.server.app_env is AppEnv.production and (problems := settings.production_problems()):
        raise SettingsError("refusing to start in production: " + "; ".join(problems))
    if settings.llm.local_answers and not runtime_installed():
        raise SettingsError(
            "LLM_LOCAL_ANSWERS=true needs the built-in model, which is not installed: "
            "pip install 'purpose-agent[local-model]'"
        )
    return settings
