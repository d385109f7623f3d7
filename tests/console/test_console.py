"""The web console in headless Chromium, as a person uses it: sign in, upload a PDF and watch it
ingested, ask and follow a citation to its page, continue and stop a conversation, manage personas
with the API's validation messages, and what a user-role key and an expired session see."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import (
    Console,
    Watched,
    open_page,
    serious_accessibility_violations,
    sign_in_with_key,
)
from tests.knowledge.test_parsing import create_pdf
from tests.llm.fake_upstream import FakeUpstream

CATEGORY = "manuals"
PDF_NAME = "kettle-manual.pdf"
AGENT = "kettle-agent"
# The third page holds the answer; the first two hold other topics, so that page 3 is what is cited.
PAGES = [
    ("Unpacking", "Remove the kettle from its box and keep the receipt. The base plugs into any socket."),
    ("Filling", "Fill the kettle with cold water up to the maximum line. Never fill it above that line."),
    (
        "Descaling",
        "Descale the kettle every 42 days with white vinegar. Hard water leaves limescale on the element.",
    ),
]
# Every text the answer shows while it streams, in order (a test's script: the page's policy does not
# apply to what the DevTools protocol evaluates).
RECORD_ANSWER_TEXTS = """() => {
    window.answerTexts = [];
    new MutationObserver(() => {
        const texts = document.querySelectorAll(".answer-text");
        const text = texts.length ? texts[texts.length - 1].textContent : "";
        if (text && text !== window.answerTexts.at(-1)) window.answerTexts.push(text);
    }).observe(document.querySelector(".chat-log"), {subtree: true, childList: true, characterData: true});
}"""
XSS_NAME = "<img src=x onerror=alert(1)>"
ELF = b"\x7fELF\x02\x01\x01" + bytes(120)


def kettle_pdf() -> bytes:
    return create_pdf(PAGES)


def api(console: Console, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": key or console.admin_key}
    return httpx.request(method, f"{console.service.base_url}{path}", headers=headers, timeout=30, **kwargs)


def ensure_kettle_agent(console: Console) -> None:
    """The category, the PDF (ready) and an agent on them, made through the API when missing."""
    assert api(console, "POST", "/api/knowledge/categories", json={"name": CATEGORY}).status_code in {
        201,
        409,
    }
    uploaded = api(
        console,
        "POST",
        "/api/knowledge/documents",
        data={"category": CATEGORY},
        files={"file": (PDF_NAME, kettle_pdf(), "application/pdf")},
    )
    assert uploaded.status_code in {200, 202}, uploaded.text
    document = uploaded.json()["document_id"]
    deadline = time.monotonic() + 90
    while (status := api(console, "GET", f"/api/knowledge/documents/{document}").json()["status"]) != "ready":
        assert status != "failed"
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    persona = {"id": AGENT, "name": "Kettle helper", "knowledge_category": CATEGORY}
    assert api(console, "POST", "/api/personas", json=persona).status_code in {201, 409}


def drop_files(page: Page, selector: str, files: dict[str, bytes]) -> None:
    """Drag files onto `selector` and drop them, as from a file manager."""
    encoded = [[name, base64.b64encode(content).decode()] for name, content in files.items()]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, encoded] of files) {
                const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name));
            }
            return transfer;
        }""",
        encoded,
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_an_admin_signs_in_drops_a_pdf_and_another_file_and_watches_each_to_its_end(
    watched: Watched, console: Console
) -> None:
    page = watched.page
    assert f"console:   {console.url}" in console.service.output.read_text(), "`make run` says where it is"
    sign_in_with_key(page, console, console.admin_key)
    open_page(page, "Knowledge")
    page.get_by_label("New category").fill(CATEGORY)
    page.get_by_role("button", name="Create category").click()
    expect(page.get_by_role("region", name="Category list")).to_contain_text(CATEGORY)

    page.get_by_label("Upload into category").select_option(CATEGORY)
    drop_files(page, ".drop-zone", {PDF_NAME: kettle_pdf(), "setup.exe.pdf": ELF})

    pdf_row = page.locator(".upload").filter(has_text=PDF_NAME)
    expect(pdf_row).to_have_attribute("data-status", "ready", timeout=90_000)
    expect(pdf_row).to_contain_text("3 pages parsed")
    refused = page.locator(".upload").filter(has_text="setup.exe.pdf")
    expect(refused).to_have_attribute("data-status", "refused")
    expect(refused.get_by_role("alert")).to_contain_text("Unsupported document type")
    expect(refused.get_by_role("alert")).to_contain_text("executable")
    documents = page.get_by_role("region", name="Document list")
    expect(documents.get_by_role("row").filter(has_text=PDF_NAME)).to_contain_text("ready")


def test_an_admin_creates_and_edits_a_persona_the_api_s_message_shown_by_the_field_it_concerns(
    page: Page, console: Console
) -> None:
    sign_in_with_key(page, console, console.admin_key)
    open_page(page, "Personas")
    page.get_by_role("button", name="New persona").click()
    form = page.get_by_role("form", name="New persona")
    form.get_by_label("Id", exact=True).fill("descaling-guide")
    form.get_by_label("Name", exact=True).fill("Descaling guide")
    form.get_by_label("Knowledge category").fill(CATEGORY)
    temperature = form.get_by_label("Temperature")
    temperature.fill("5")
    form.get_by_role("button", name="Create persona").click()

    expect(temperature).to_have_attribute("aria-invalid", "true")
    expect(form.locator('[data-field="temperature"] .field-error')).to_have_text(
        "Input should be less than or equal to 2"
    )
    expect(form.get_by_role("alert")).to_contain_text("Validation failed")
    expect(temperature).to_be_focused()

    temperature.fill("0.2")
    form.get_by_role("button", name="Create persona").click()
    expect(page.get_by_text("Persona descaling-guide created.")).to_be_visible()
    personas = page.get_by_role("region", name="Persona list")
    expect(personas.get_by_role("row").filter(has_text="descaling-guide")).to_contain_text("Descaling guide")

    page.get_by_role("button", name="Edit descaling-guide").click()
    form = page.get_by_role("form", name="Edit descaling-guide")
    expect(form.get_by_label("Temperature")).to_have_value("0.2")
    form.get_by_label("Name", exact=True).fill("Descaling expert")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Persona descaling-guide saved.")).to_be_visible()
    expect(personas.get_by_role("row").filter(has_text="descaling-guide")).to_contain_text("Descaling expert")
    saved = api(console, "GET", "/api/personas/descaling-guide").json()
    assert (saved["name"], saved["temperature"], saved["knowledge_category"]) == (
        "Descaling expert",
        0.2,
        CATEGORY,
    )


def test_a_question_streams_its_answer_cites_page_3_continues_and_stops(
    page: Page, console: Console, openai_fake: FakeUpstream
) -> None:
    ensure_kettle_agent(console)
    openai_fake.reply.chunks = ["The kettle", " needs descaling", " every 42 days", " [1]."]
    openai_fake.reply.chunk_delay = 0.4
    sign_in_with_key(page, console, console.admin_key)
    page.get_by_label("Agent").select_option(AGENT)
    page.get_by_label("Question").fill("How often should the kettle be descaled?")
    page.evaluate(RECORD_ANSWER_TEXTS)
    page.get_by_role("button", name="Send").click()

    answer = page.locator(".exchange").last.locator(".answer-text")
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(answer).to_have_text("The kettle needs descaling every 42 days 1.")
    seen = page.evaluate("() => window.answerTexts")
    assert seen[:2] == ["The kettle", "The kettle needs descaling"], "shown piece by piece as it streams"
    meta = page.locator(".exchange").last.locator(".answer-meta")
    expect(meta).to_contain_text("model openai/gpt-4o")
    expect(meta).to_contain_text("tokens")
    expect(meta).to_contain_text("grounded")

    answer.get_by_role("button", name=f"Source 1: {PDF_NAME}, page 3").click()
    dialog = page.get_by_role("dialog", name="Source 1")
    expect(dialog.get_by_test_id("citation-page")).to_have_text("3")
    expect(dialog).to_contain_text(PDF_NAME)
    expect(dialog).to_contain_text("Descaling")  # its heading
    expect(dialog.locator("blockquote")).to_contain_text("every 42 days with white vinegar")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    conversation = page.locator(".conversation-state")
    first = conversation.text_content()
    assert first is not None
    assert first.startswith("Conversation ")
    openai_fake.reply.chunks = ["Use white vinegar [1]."]
    openai_fake.reply.chunk_delay = 0.0
    page.get_by_label("Question").fill("What should I use for it?")
    page.keyboard.press("Enter")
    expect(page.locator(".exchange")).to_have_count(2)
    expect(page.locator(".exchange").last.locator(".answer-text")).to_have_text("Use white vinegar 1.")
    expect(conversation).to_have_text(first)
    history = [message["content"] for message in openai_fake.requests[-1].body["messages"]]
    assert any("How often should the kettle be descaled?" in content for content in history), (
        "one conversation"
    )
    open_page(page, "Search")
    open_page(page, "Chat")
    expect(page.locator(".exchange")).to_have_count(2)  # kept while visiting another page
    expect(conversation).to_have_text(first)

    openai_fake.reply.first_chunk_delay = 30
    page.get_by_label("Question").fill("Why does the kettle need descaling?")
    page.get_by_role("button", name="Send").click()
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".exchange").last).to_contain_text("Stopped: this answer was not kept")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".exchange")).to_have_count(0)
    expect(conversation).to_have_text("A new conversation.")

    openai_fake.reply.first_chunk_delay = 0
    page.get_by_label("Question").fill("How often should the kettle be descaled?")
    page.keyboard.press("Enter")
    expect(page.locator(".answer-meta")).to_contain_text("model")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("You are signed out.")
    page.get_by_label("API key", exact=True).fill(console.admin_key)  # in the same tab, no reload
    page.get_by_role("button", name="Sign in with the key").click()
    expect(page.get_by_role("heading", level=1, name="Chat")).to_be_visible()
    expect(page.locator(".exchange")).to_have_count(0)  # nothing of it left for whoever signs in next


def test_a_user_role_key_is_offered_no_admin_page_and_the_api_refuses_them_anyway(
    page: Page, console: Console
) -> None:
    created = api(console, "POST", "/api/keys", json={"name": "console user", "role": "user"})
    user_key = created.json()["key"]
    sign_in_with_key(page, console, user_key)
    links = page.get_by_role("navigation", name="Pages").get_by_role("link")
    expect(links).to_have_text(["Chat", "Search"])

    page.evaluate("() => { window.location.hash = '#/keys'; }")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not available")
    expect(page.get_by_role("main")).to_contain_text("The Keys page needs the admin role.")
    status = page.evaluate(
        "async (key) => (await fetch('/api/keys', {headers: {'X-API-Key': key}})).status", user_key
    )
    assert status == 403


def test_an_expired_or_revoked_session_says_so_and_asks_to_sign_in_again(
    page: Page, console: Console
) -> None:
    account = {"username": "console-tester", "password": "a long enough password", "role": "user"}
    assert api(console, "POST", "/api/admin/users", json=account).status_code in {201, 409}
    page.clock.install()
    page.goto(console.url)
    page.get_by_label("Username", exact=True).fill(account["username"])
    page.get_by_label("Password", exact=True).fill(account["password"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("navigation", name="Pages")).to_be_visible()

    page.clock.fast_forward("15:01")  # the token's lifetime (JWT_TTL_SECONDS, 900) has passed
    expect(page.get_by_role("alert")).to_have_text("Your session has expired. Sign in again to go on.")
    expect(page.get_by_role("navigation", name="Pages")).to_be_hidden()
    expect(page.get_by_label("API key", exact=True)).to_be_focused()

    key = api(console, "POST", "/api/keys", json={"name": "soon revoked", "role": "user"}).json()
    page.get_by_label("API key", exact=True).fill(key["key"])
    page.get_by_role("button", name="Sign in with the key").click()
    page.get_by_role("link", name="Search").click()
    assert api(console, "DELETE", f"/api/keys/{key['id']}").status_code == 204
    page.get_by_role("link", name="Chat").click()  # the page asks for the agents: refused now
    expect(page.get_by_role("alert")).to_contain_text("no longer accepts your credentials")


def test_a_persona_named_like_markup_is_shown_as_its_characters(page: Page, console: Console) -> None:
    persona = {"id": "markup-name", "name": XSS_NAME, "description": XSS_NAME, "retrieval": False}
    assert api(console, "POST", "/api/personas", json=persona).status_code in {201, 409}
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    sign_in_with_key(page, console, console.admin_key)
    expect(page.get_by_label("Agent").locator("option", has_text=XSS_NAME)).to_have_count(1)
    open_page(page, "Personas")
    row = page.get_by_role("row").filter(has_text="markup-name")
    expect(row.locator(".persona-name")).to_have_text(XSS_NAME)
    assert page.locator("main img").count() == 0
    assert dialogs == []


@pytest.mark.parametrize("width", [1280, 375])
def test_every_page_is_accessible_and_fits_the_screen(page: Page, console: Console, width: int) -> None:
    ensure_kettle_agent(console)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(console.url)
    page.get_by_label("API key", exact=True).wait_for()
    findings = {"Sign in": serious_accessibility_violations(page)}
    sign_in_with_key(page, console, console.admin_key)
    page.get_by_label("Agent").select_option(AGENT)
    page.get_by_label("Question").fill("How often should the kettle be descaled?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".answer-meta")).to_contain_text("model")
    findings["Chat with an answer"] = serious_accessibility_violations(page)
    overflowing = {}
    for title in ["Search", "Personas", "Knowledge", "Keys", "Users", "Usage", "Audit log", "Status"]:
        open_page(page, title)
        page.wait_for_load_state("networkidle")
        if title == "Personas":
            page.get_by_role("button", name="New persona").click()
        if title == "Usage":  # the answers of this module, by the only provider
            expect(page.get_by_role("list", name="Providers")).to_contain_text("openai")
        findings[title] = serious_accessibility_violations(page)
        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        if scroll_width > width:
            overflowing[title] = scroll_width
    assert {name: found for name, found in findings.items() if found} == {}
    assert overflowing == {}, "the page itself never scrolls sideways (wide tables scroll in their region)"


def test_personas_export_to_a_file_and_import_one_each_entry_reporting_its_own_outcome(
    page: Page, console: Console, tmp_path: Path
) -> None:
    ensure_kettle_agent(console)
    sign_in_with_key(page, console, console.admin_key)
    open_page(page, "Personas")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export personas file").click()
    exported = json.loads(Path(download.value.path()).read_text())["personas"]
    kettle = next(persona for persona in exported if persona["id"] == AGENT)
    assert "created_at" not in kettle

    personas_file = tmp_path / "personas.json"
    renamed = {**kettle, "name": "Kettle helper, imported"}
    broken = {"id": "broken-import", "name": "Broken", "knowledge_category": CATEGORY, "top_k": 500}
    personas_file.write_text(json.dumps({"personas": [renamed, broken]}))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import personas file (JSON)").click()
    chooser.value.set_files(personas_file)
    report = page.locator(".card").filter(has_text="Imported personas.json")
    expect(report.get_by_role("listitem").filter(has_text=AGENT)).to_contain_text("updated")
    refused = report.get_by_role("listitem").filter(has_text="broken-import")
    expect(refused).to_contain_text("refused")
    expect(refused.get_by_role("alert")).to_contain_text("Validation failed")
    assert api(console, "GET", f"/api/personas/{AGENT}").json()["name"] == "Kettle helper, imported"
    assert api(console, "GET", "/api/personas/broken-import").status_code == 404


def test_the_chat_and_its_citations_work_from_the_keyboard_alone(page: Page, console: Console) -> None:
    ensure_kettle_agent(console)
    page.goto(console.url)
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    page.keyboard.type(console.admin_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Chat")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Agent")).to_be_focused()
    page.get_by_label("Agent").select_option(AGENT)  # a select takes arrow keys; the choice is the test's
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="New conversation")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Question")).to_be_focused()
    page.keyboard.type("How often should the kettle be descaled?")
    page.keyboard.press("Enter")
    mark = page.locator(".sources").get_by_role("button", name=f"Source 1: {PDF_NAME}, page 3")
    mark.wait_for()
    mark.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Source 1")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(mark).to_be_focused()
