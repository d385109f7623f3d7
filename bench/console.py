"""The web console's weight and speed, and screenshots of its main pages.

Run by hand (never part of the test suite):

    .venv/bin/python bench/console.py [--loads 20] [--screenshots docs/screenshots]
        [--out bench/results/console.json]

Starts `purpose-agent up` in a temporary folder on free ports (its own embedded PostgreSQL, a worker)
with the sample personas and knowledge and no provider key (answers quote the passages), waits until
the knowledge is ready, then, in Debian's chromium driven by Playwright:

- assets: the bytes of every file the console ships (uncompressed), and of what a first load fetches;
- interactive: `--loads` cold loads of `/`, each in a new browser context (no cache), timed from the
  navigation's start to the `console-interactive` mark `js/main.js` sets once the sign-in form can be
  used; and from pressing "Sign in" to the chat page's agent list filled;
- with `--screenshots DIR`: the sign-in page, a chat answer with its citation open, personas, knowledge,
  search, keys, usage, audit log and status at 1280x800, and chat at phone width (390x844).

Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from purpose_agent.kit.console import assets_dir  # noqa: E402
from tests.chromium import CHROMIUM, HEADLESS_ARGS  # noqa: E402
from tests.test_cli import SAMPLE_KNOWLEDGE, Service, documents_by_status, printed_admin_key  # noqa: E402

PERSONAS = ROOT / "config" / "personas.json"


def start_service(workdir: Path) -> tuple[Service, str]:
    service = Service(workdir, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    service.env.update(
        KNOWLEDGE_SEED_DIR=str(SAMPLE_KNOWLEDGE),
        PERSONAS_FILE=str(PERSONAS),
        LLM_CHAIN="gemini,openai,anthropic,ollama,local",
        GEMINI_API_KEY="",
        OPENAI_API_KEY="",
        ANTHROPIC_API_KEY="",
        OLLAMA_BASE_URL="",
    )
    service.start()
    key = printed_admin_key(service.output.read_text())
    samples = len([path for path in SAMPLE_KNOWLEDGE.rglob("*") if path.is_file()])
    deadline = time.monotonic() + 300
    while documents_by_status(service, key) != {"ready": samples}:
        if time.monotonic() > deadline:
            raise SystemExit(f"the sample knowledge is not ready: {documents_by_status(service, key)}")
        time.sleep(1)
    return service, key


def cold_load(browser: Browser, url: str, key: str) -> tuple[float, float, int]:
    """(ms to interactive, ms from "Sign in" to the chat page ready, bytes fetched) of one new context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    fetched: list[int] = []
    page.on("response", lambda response: fetched.append(len(response.body())) if response.ok else None)
    page.goto(url)
    page.wait_for_function("() => performance.getEntriesByName('console-interactive').length > 0")
    interactive = page.evaluate("() => performance.getEntriesByName('console-interactive')[0].startTime")
    page.get_by_label("API key", exact=True).fill(key)
    started = time.perf_counter()
    page.get_by_role("button", name="Sign in with the key").click()
    page.locator("select[name=agent] option").first.wait_for(state="attached")
    signed_in = (time.perf_counter() - started) * 1000
    context.close()
    return float(interactive), signed_in, sum(fetched)


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url)
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    page.get_by_role("navigation", name="Pages").wait_for()


def screenshots(browser: Browser, url: str, key: str, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url)
    page.get_by_label("API key", exact=True).wait_for()
    page.screenshot(path=folder / "sign-in.png")
    taken.append("sign-in.png")
    sign_in(page, url, key)
    page.get_by_label("Agent").select_option("support-agent")
    page.get_by_label("Question").fill("What does a 413 error mean?")
    page.get_by_role("button", name="Send").click()
    page.locator(".answer-meta").filter(has_text="model").wait_for()
    page.get_by_label("Question").fill("And a 415?")
    page.keyboard.press("Enter")
    page.locator(".answer-meta").nth(1).filter(has_text="model").wait_for()
    page.locator("button.cite").first.click()
    page.screenshot(path=folder / "chat.png")
    taken.append("chat.png")
    page.get_by_role("button", name="Close").click()
    for path, name in [
        ("personas", "personas.png"),
        ("knowledge", "knowledge.png"),
        ("keys", "keys.png"),
        ("usage", "usage.png"),
        ("audit", "audit.png"),
        ("status", "status.png"),
    ]:
        page.evaluate(f"() => {{ window.location.hash = '#/{path}'; }}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        page.screenshot(path=folder / name, full_page=path == "knowledge")
        taken.append(name)
    page.evaluate("() => { window.location.hash = '#/search'; }")
    page.get_by_label("Query").fill("rate limit")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("region", name="Search results").wait_for()
    page.screenshot(path=folder / "search.png")
    taken.append("search.png")
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = phone.new_page()
    sign_in(page, url, key)
    page.get_by_label("Agent").select_option("support-agent")
    page.get_by_label("Question").fill("How do I reset a conversation?")
    page.get_by_role("button", name="Send").click()
    page.locator(".answer-meta").filter(has_text="model").wait_for()
    page.screenshot(path=folder / "chat-phone.png")
    taken.append("chat-phone.png")
    phone.close()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--screenshots", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "console.json")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    shipped = {
        str(path.relative_to(assets_dir())): path.stat().st_size
        for path in sorted(assets_dir().rglob("*"))
        if path.is_file() and path.suffix != ".md"
    }
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:
        service, key = start_service(Path(folder))
        try:
            url = f"{service.base_url}/"
            assert httpx.get(url).status_code == 200
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_ARGS)
                cold_load(browser, url, key)  # warm the server's caches, not the browser's
                loads = [cold_load(browser, url, key) for _ in range(args.loads)]
                taken = screenshots(browser, url, key, args.screenshots) if args.screenshots else []
                browser.close()
        finally:
            service.kill()

    interactive = sorted(load[0] for load in loads)
    signed_in = sorted(load[1] for load in loads)

    def p95(values: list[float]) -> float:
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]

    result: dict[str, Any] = {
        "assets_bytes": sum(shipped.values()),
        "assets": shipped,
        "first_load_bytes": loads[-1][2],
        "loads": args.loads,
        "interactive_ms": {"median": statistics.median(interactive), "p95": p95(interactive)},
        "sign_in_to_chat_ms": {"median": statistics.median(signed_in), "p95": p95(signed_in)},
        "screenshots": taken,
    }
    print(f"{'what':<40} {'value':>12}")
    print(f"{'assets shipped (uncompressed)':<40} {result['assets_bytes']:>10,} B")
    print(f"{'fetched by a first load':<40} {result['first_load_bytes']:>10,} B")
    for name in ("interactive_ms", "sign_in_to_chat_ms"):
        for stat in ("median", "p95"):
            print(f"{name + ' ' + stat:<40} {result[name][stat]:>9.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
