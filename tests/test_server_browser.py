"""The web UI in headless Chromium (Debian package, driven by Playwright): ask, watch the answer stream in,
click a citation and read the source passage; upload and delete a document; API key in sessionStorage.

Chromium comes from `apt-get install chromium` (.ci/run); Playwright's own browser download is not used.
The real-model test refreshes docs/img/ui.png for the README when RAGFT_UPDATE_DOCS_IMG=1 (a test run never
changes the checkout otherwise).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ragft.server import create_app, serve_in_thread
from ragft.workspace import Workspace
from tests.fakes import HashEmbedder
from tests.test_server import FIXED_ANSWER, KETTLE, KETTLE_QUESTION, QUESTION, RETURNS, FixedGenerator

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium; .ci/run does it)"),
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


def _workspace(tmp_path: Path, **kwargs) -> Workspace:  # noqa: ANN003
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(RETURNS, encoding="utf-8")
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    ws = Workspace(tmp_path / "ws", **kwargs)
    ws.ingest([docs])
    return ws


def _page(browser, url: str, errors: list[str]):  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(60_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(url) else None)
    page.goto(url + "/")
    page.wait_for_selector("#model option[value='rag']", state="attached")
    return page, outside


def _ask_and_check_citation(page, question: str, expected_in_passage: str) -> None:  # noqa: ANN001
    # Count DOM changes to the answer while it is being written: a streamed answer changes several times.
    page.evaluate("""() => {
        window.__mutations = 0;
        new MutationObserver(() => { window.__mutations += 1; })
            .observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
    }""")
    page.select_option("#model", "rag")
    page.fill("#question", question)
    page.click("#ask-btn")
    answer = page.locator(".msg.assistant[data-done='1']").last
    answer.wait_for()
    assert page.evaluate("() => window.__mutations") >= 3, "the answer did not arrive in pieces"
    cite = answer.locator(".text button.cite").first
    cite.wait_for()
    assert cite.text_content() == "[1]"
    assert page.locator("#passage").is_hidden()
    cite.click()
    page.locator("#passage").wait_for(state="visible")
    assert expected_in_passage in page.locator("#passage-text").text_content()


def test_ui_chat_citation_upload_delete(browser, tmp_path):
    """Fast layer: deterministic cited answer (FixedGenerator), so every UI path is checked on every run."""
    ws = _workspace(tmp_path, embedder=HashEmbedder(), generator=FixedGenerator())
    key = ws.users.add("alice", ["support"]).api_key  # not an admin: uploads and deletes in her own group
    errors: list[str] = []
    with serve_in_thread(create_app(ws)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('401')")
        assert page.locator("#key-needed").is_visible()  # the page asks for the key instead of only failing
        assert page.evaluate("() => document.activeElement.id") == "api-key"
        page.fill("#api-key", key)
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#model option[value='rag']", state="attached")
        assert page.evaluate("() => sessionStorage.getItem('ragft-api-key')") == key
        _ask_and_check_citation(page, QUESTION, "30 days")
        assert page.locator(".msg.assistant .text").last.text_content() == FIXED_ANSWER
        assert page.locator("#key-needed").is_hidden()
        assert "30 days" in page.locator("#passage-text mark").text_content()  # the supporting sentence is marked

        page.wait_for_selector("#doc-list li button")
        before = page.locator("#doc-list li").count()
        upload = tmp_path / "manual.md"
        upload.write_text("# Manual\n\nDescale the kettle monthly with citric acid.\n", encoding="utf-8")
        page.set_input_files("#upload-file", str(upload))
        page.fill("#upload-groups", "support")  # public uploads need an admin once users exist
        page.click("#upload-form button[type=submit]")
        page.wait_for_function(f"() => document.querySelectorAll('#doc-list li').length === {before + 1}")
        assert "added 1" in page.locator("#status").text_content()
        row = page.locator("#doc-list li", has_text="Manual")
        assert "manual.md" in row.text_content() and "groups: support" in row.text_content()
        row.locator("button").click()  # the first click only arms the button
        assert row.locator("button").text_content() == "Confirm delete"
        assert any(d.title == "Manual" for d in ws.store.list_documents())
        row.locator("button").click()
        page.wait_for_function(f"() => document.querySelectorAll('#doc-list li').length === {before}")
        assert not any(d.title == "Manual" for d in ws.store.list_documents())
        page.screenshot(path=str(tmp_path / "ui-fast.png"), full_page=True)
    assert errors == []


@pytest.mark.real_model
def test_ui_real_model_streams_a_cited_answer(browser, tmp_path, real_embedder, real_generator):
    ws = _workspace(tmp_path, embedder=real_embedder, generator=real_generator)
    errors: list[str] = []
    with serve_in_thread(create_app(ws)) as url:
        page, outside = _page(browser, url, errors)
        _ask_and_check_citation(page, KETTLE_QUESTION, "Marta Olsen")
        assert "Marta Olsen" in page.locator(".msg.assistant").last.text_content()
        shot = tmp_path / "ui.png"
        page.screenshot(path=str(shot))
    assert errors == [] and outside == []
    if os.environ.get("RAGFT_UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "ui.png")
