"""The chat in a real browser: Debian chromium driven by Playwright against the real app on a free port.

Screenshots of each state land in test-artifacts/ (kept by CI as artifacts; one is in the README).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

NEW_RELEASE = """Harbour Authority Opens North Quay Ferry Terminal

Published 2 May 2024

The Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.

The terminal cost 85 million euros and was built in 26 months by a consortium of local firms.
"""
HOSTILE_RELEASE = """Harbour Safety Notice About The Northern Basin

The harbour master warned that <script>window.__xss = 1</script> swimmers must stay out of the northern basin during dredging works.

Visitors should also note <img src=x onerror="window.__xss = 2"> that the ferry timetable changes on Monday, and **bold** or [links](javascript:alert(1)) stay plain text.
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    corpus, data = root / "corpus", root / "data"
    shutil.copytree(SEEDS, corpus)
    port = _free_port()
    env = {**os.environ, "QA_CORPUS": str(corpus), "QA_INDEX": str(root / "index"), "QA_DATA": str(data),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    log = open(root / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited: {(root / 'app.log').read_text()[-2000:]}")
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail(f"app did not start: {(root / 'app.log').read_text()[-2000:]}")
    yield {"url": url, "corpus": corpus, "data": data, "root": root}
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(app["url"])
    page.wait_for_selector("#question textarea", timeout=60_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def ask(page, question: str):
    replies = "#chat .qa-answer, #chat .qa-error"
    n = page.locator(replies).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('{replies}').length > {n}", timeout=90_000)
    reply = page.locator(replies).nth(n)
    reply.scroll_into_view_if_needed()
    return reply


def upload(page, path: Path) -> str:
    page.get_by_text("Add releases").click()
    page.set_input_files("#upload input[type=file]", str(path))
    n = page.locator("#upload-status .qa-status, #upload-status .qa-error").count()
    page.wait_for_function(
        f"document.querySelectorAll('#upload-status .qa-status, #upload-status .qa-error').length > {n} || "
        f"[...document.querySelectorAll('#upload-status .qa-status, #upload-status .qa-error')].some(e => !e.dataset.seen)",
        timeout=120_000)
    page.evaluate("document.querySelectorAll('#upload-status .qa-status, #upload-status .qa-error').forEach(e => e.dataset.seen = 1)")
    return page.locator("#upload-status").inner_text()


def test_seed_question_shows_title_and_highlighted_sentence(page):
    page.wait_for_selector("text=Who co-chaired the 2nd ROK-UNCMS", timeout=10_000)  # examples on the empty chat
    shot(page, "0-empty-chat")
    reply = ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    assert "ROK-UNCMS Defense Ministerial Meeting Statement Released" in reply.locator(".qa-cite").first.inner_text()
    assert "paragraph 1" in reply.locator(".qa-cite").first.inner_text()
    assert "co-chaired by Kim Yong Hyun" in reply.locator(".qa-lead").inner_text()
    assert "co-chaired by Kim Yong Hyun" in reply.locator(".qa-text mark.qa-mark").first.inner_text()
    reply.locator(".qa-open summary").first.click()  # open the whole release, the passage marked
    release = reply.locator(".qa-release").first
    assert release.locator(".qa-cited").count() == 1
    assert "Bill Blair" in release.locator(".qa-cited").inner_text()
    assert release.locator("p").count() == 11
    reply.locator(".qa-lead").scroll_into_view_if_needed()
    shot(page, "1-answer")


def test_followup_resolves_against_first_question(page):
    ask(page, "What anniversary does the ROK-UN Joint Conference mark this year?")
    reply = ask(page, "When was it first held?")
    assert "first held in the form of international workshop in 2001" in reply.locator(".qa-text").first.inner_text()
    assert "Follow-up" in reply.inner_text()
    shot(page, "2-followup")


def test_unanswerable_question_looks_different_and_lists_closest(page):
    reply = ask(page, "What is the recipe for kimchi?")
    assert reply.locator(".qa-noanswer").count() == 1
    assert "Not in the releases" in reply.locator(".qa-noanswer").inner_text()
    assert reply.locator(".qa-lead").count() == 0
    assert reply.locator(".qa-passage").count() == 5
    shot(page, "3-not-in-releases")


def test_empty_and_passage_count_controls(page):
    reply = ask(page, "   ")
    assert "empty" in reply.inner_text()
    page.locator("#k input[type=number]").fill("2")
    page.locator("#k input[type=number]").press("Enter")
    reply = ask(page, "Which country became the 18th UNC Member State?")
    assert reply.locator(".qa-passage").count() == 2


def test_upload_then_ask_about_it(page, app, tmp_path):
    release = tmp_path / "ferry terminal.txt"
    release.write_text(NEW_RELEASE, encoding="utf-8")
    status = upload(page, release)
    assert "Added ferry_terminal.txt" in status, status
    shot(page, "4-upload")
    reply = ask(page, "How many passengers a day can the new ferry terminal handle?")
    assert "Harbour Authority Opens North Quay Ferry Terminal" in reply.locator(".qa-cite").first.inner_text()
    assert "4,000 passengers a day" in reply.locator(".qa-text").first.inner_text()
    assert (app["corpus"] / "ferry_terminal.txt").exists()


def test_bad_upload_is_rejected_by_name_and_nothing_lost(page, app, tmp_path):
    bad = tmp_path / "broken.txt"
    bad.write_bytes("Caf\xe9 au lait".encode("latin-1") * 30)
    status = upload(page, bad)
    assert "broken.txt" in status and "not UTF-8" in status
    assert not (app["corpus"] / "broken.txt").exists()
    reply = ask(page, "Which country became the 18th UNC Member State?")
    assert "Germany" in reply.locator(".qa-text").first.inner_text(), reply.inner_text()


def test_release_markup_is_shown_as_text_never_run(page, tmp_path):
    hostile = tmp_path / "safety.txt"
    hostile.write_text(HOSTILE_RELEASE, encoding="utf-8")
    assert "Added" in upload(page, hostile)
    reply = ask(page, "Where must swimmers stay out during the dredging works?")
    text = reply.locator(".qa-text").first.inner_text()
    assert "<script>window.__xss = 1</script>" in text
    reply.locator(".qa-open summary").first.click()
    assert '<img src=x onerror="window.__xss = 2">' in reply.locator(".qa-release").first.inner_text()
    assert "**bold**" in reply.locator(".qa-release").first.inner_text()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chat img[src='x'], #chat script, #chat a[href^='javascript']").count() == 0
    shot(page, "5-markup-as-text")


def test_feedback_click_writes_jsonl(page, app):
    ask(page, "Which country became the 18th UNC Member State?")
    page.get_by_label("Like").last.click()
    page.wait_for_function("(document.querySelector('#status')?.innerText || '').includes('saved')", timeout=30_000)
    lines = (app["data"] / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["vote"] == "up"
    assert record["question"] == "Which country became the 18th UNC Member State?"
    assert "Germany" in record["passages"][0]["text"] and record["history"] == []
    assert {"time", "answer", "passages"} <= record.keys()


def test_phone_width_layout(browser, app):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    page.goto(app["url"])
    page.wait_for_selector("#question textarea", timeout=60_000)
    reply = ask(page, "Which Security Council resolution established the United Nations Command?")
    assert "Resolution 84" in reply.locator(".qa-text").first.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways at phone width ({width}px)"
    shot(page, "6-phone")
    context.close()


def test_gradio_client_returns_passages_as_data(app):
    from gradio_client import Client

    client = Client(app["url"], verbose=False)
    result = client.predict("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?", 3, [], api_name="/ask")
    assert isinstance(result, dict)
    assert result["no_answer"] is False and "Kim Yong Hyun" in result["answer"]
    assert len(result["passages"]) == 3
    top = result["passages"][0]
    assert top["source"] == "003_739443eadc7a4b5c.txt" and top["paragraph"] == 1 and "co-chaired" in top["text"]
