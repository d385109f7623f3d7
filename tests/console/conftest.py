"""The console as a person meets it: `purpose-agent up` (API, worker, embedded PostgreSQL) in a real
process, and Debian's Chromium driven by Playwright through its executable path (no browser is
downloaded). One service and one browser per module; each test gets a fresh browser context, so it
starts signed out, as a new tab does.

The service's only model is the fake OpenAI server (`tests/llm/fakes.py`), so answers stream in
pieces the test chooses, at the pace it chooses. Chromium resolves no host but 127.0.0.1, and every
request a page makes is recorded: a test fails if one went anywhere but the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, sync_playwright

from tests.chromium import CHROMIUM, HEADLESS_ARGS
from tests.llm.fake_upstream import FakeUpstream
from tests.llm.fakes import reset
from tests.test_cli import Service, printed_admin_key

AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@dataclass
class Console:
    service: Service
    admin_key: str

    @property
    def url(self) -> str:
        return f"{self.service.base_url}/"


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, openai_fake: FakeUpstream
) -> Iterator[Console]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    service = Service(tmp_path_factory.mktemp("console"), redis_url)
    service.env.update(
        LLM_CHAIN="openai",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=f"{openai_fake.base_url}/v1",
        OPENAI_MODEL="gpt-4o",
        GEMINI_API_KEY="",
        ANTHROPIC_API_KEY="",
        OLLAMA_BASE_URL="",
    )
    service.start()
    try:
        yield Console(service, printed_admin_key(service.output.read_text()))
    finally:
        service.kill()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM is not None
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_ARGS)
    yield browser
    browser.close()


@dataclass
class Watched:
    """What a page did that a person would not see: script errors and every request's URL."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser, console: Console, openai_fake: FakeUpstream) -> Iterator[Watched]:
    reset(openai_fake)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        # A refused request is logged by Chromium itself; the console shows it to the person.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            seen.errors.append(message.text)

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("request", on_request)
    yield seen
    context.close()
    assert seen.errors == [], "no script error, Trusted Types or CSP violation"
    foreign = [url for url in seen.requests if not url.startswith((console.url, "blob:", "data:"))]
    assert foreign == [], "no request to any host but the service"


@pytest.fixture
def page(watched: Watched) -> Page:
    return watched.page


def sign_in_with_key(page: Page, console: Console, key: str) -> None:
    page.goto(console.url)
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    page.get_by_role("navigation", name="Pages").wait_for()


def open_page(page: Page, title: str) -> None:
    """Follow the navigation link, as a person clicks it, and wait for the page's heading."""
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", level=1, name=title).wait_for()


def serious_accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    if not page.evaluate("() => 'axe' in window"):
        # Evaluated through the DevTools protocol: the page's CSP does not apply to the test's own script.
        page.evaluate(AXE.read_text())
    results = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}: "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in violation["nodes"])
        for violation in results
        if violation["impact"] in {"serious", "critical"}
    ]
