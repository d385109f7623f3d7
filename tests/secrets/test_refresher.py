"""The background refresh from a real directory of secret files: what it hands on, and what it keeps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from purpose_agent.secrets import SecretCache
from purpose_agent.secrets.files import FileProvider
from purpose_agent.secrets.refresher import SecretRefresher
from tests.conftest import LogCapture

NAMES = ["JWT_SECRET", "OPENAI_API_KEY"]


async def test_changed_values_are_handed_on_and_a_value_gone_missing_is_kept(
    tmp_path: Path, logs: LogCapture
) -> None:
    (tmp_path / "JWT_SECRET").write_text("first-secret-0123456789abcdef0123456789\n")
    (tmp_path / "openai_api_key").write_text("sk-first\n")
    cache = SecretCache(FileProvider(tmp_path), ttl_seconds=300)
    cache.get(NAMES)
    refresher = SecretRefresher(cache, NAMES, every=300)
    handed: list[Mapping[str, str]] = []
    refresher.subscribe(handed.append)

    assert await refresher.refresh()
    assert handed == [], "nothing changed"

    (tmp_path / "openai_api_key").write_text("sk-second\n")
    assert await refresher.refresh()
    assert handed == [
        {"JWT_SECRET": "first-secret-0123456789abcdef0123456789", "OPENAI_API_KEY": "sk-second"}
    ]

    (tmp_path / "JWT_SECRET").unlink()
    assert await refresher.refresh()
    assert len(handed) == 1, "a value gone missing is no change"
    assert refresher.values["JWT_SECRET"] == "first-secret-0123456789abcdef0123456789"
    [missing] = [record for record in logs.records() if record["event"] == "secrets_missing"]
    assert missing["names"] == ["JWT_SECRET"]
    assert "sk-second" not in logs.text


async def test_a_subscriber_that_fails_is_logged_and_the_others_still_called(
    tmp_path: Path, logs: LogCapture
) -> None:
    (tmp_path / "JWT_SECRET").write_text("first")
    cache = SecretCache(FileProvider(tmp_path), ttl_seconds=300)
    cache.get(NAMES)
    refresher = SecretRefresher(cache, NAMES, every=300)
    handed: list[Mapping[str, str]] = []

    def broken(values: Mapping[str, str]) -> None:
        raise ValueError("cannot use it")

    refresher.subscribe(broken)
    refresher.subscribe(handed.append)
    (tmp_path / "JWT_SECRET").write_text("second")
    assert await refresher.refresh()
    assert handed == [{"JWT_SECRET": "second"}]
    assert any(record["event"] == "secrets_not_applied" for record in logs.records())
