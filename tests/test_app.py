"""The chat in a real browser: Debian chromium driven by Playwright against the real app on a free port.

The answer's top in view after each reply (desktop and phone), WCAG AA contrast of every visible text computed
in the page in both themes, feedback tied to the reply id, uploads (each file on its own, also for size),
filters, the Library (selection, removal with confirmation, undo and restore), the conversation kept across a
reload, copy as plain text. Screenshots of each state land in test-artifacts/ (never in tracked files).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from browser_checks import SMALL_TARGETS_JS, low_contrast
from conftest import ROOT, SEEDS, running_app

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
SEED_TITLE = "ROK-UNCMS Defense Ministerial Meeting Statement Released"

NEW_RELEASE = """Harbour Authority Opens North Quay Ferry Terminal

Published 2 May 2024

The Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.

The terminal cost 85 million euros and was built in 26 months by a consortium of local firms.
"""
HOSTILE_RELEASE = (
    "Harbour Safety Notice About The Northern Basin\n\n"
    "The harbour master warned that <script>window.__xss = 1</script> swimmers must stay out of the northern basin "
    "during dredging works.\n\n"
    'Visitors should also note <img src=x onerror="window.__xss = 2"> that the ferry timetable changes on Monday, '
    "and **bold** or [links](javascript:alert(1)) stay plain text.\n"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    corpus, data = root / "corpus", root / "data"
    shutil.copytree(SEEDS, corpus)
    with running_app(root, corpus, data) as url:
        yield {"url": url, "corpus": corpus, "data": data, "root": root}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_page(browser, app, viewport=DESKTOP, scheme="light"):
    context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app["url"].rstrip("/"))
    page = context.new_page()
    page.goto(app["url"])
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function("(document.querySelector('#app-head')?.innerText || '').includes('passages indexed')", timeout=120_000)
    return page


@pytest.fixture
def page(browser, app):
    page = open_page(browser, app)
    yield page
    page.context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def ask(page, question: str):
    """Ask through the box; returns the new reply (waits for the sources panel to show it too)."""
    replies = "#chat .qa-reply"
    n = page.locator(replies).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('{replies}').length > {n}", timeout=90_000)
    reply = page.locator(replies).nth(n)
    rid = re.search(r"qa-r-(\w+)", reply.get_attribute("class")).group(1)
    page.wait_for_selector(f"#sources .qa-panel.qa-r-{rid}", timeout=30_000)
    page.wait_for_timeout(300)  # the chat's own autoscroll
    return reply


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.evaluate("window.innerHeight")
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 60) <= height


def upload(page, *paths: Path) -> str:
    """Upload through the Library tab; returns the new per-file report."""
    page.get_by_role("tab", name="Library").click()
    page.evaluate(
        "document.querySelectorAll('#upload-status .qa-uploads, #upload-status .qa-error').forEach(e => e.dataset.old = 1)"
    )
    page.set_input_files("#upload input[type=file]", [str(p) for p in paths])
    fresh = page.locator("#upload-status .qa-uploads:not([data-old]), #upload-status .qa-error:not([data-old])")
    fresh.wait_for(timeout=120_000)
    return fresh.inner_text()


def feedback_lines(app) -> list[dict]:
    path = app["data"] / "feedback.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def wait_feedback(app, n: int) -> list[dict]:
    deadline = time.time() + 20
    while time.time() < deadline:
        lines = feedback_lines(app)
        if len(lines) >= n:
            return lines
        time.sleep(0.2)
    pytest.fail(f"expected {n} feedback lines, got {feedback_lines(app)}")


# ------------------------------------------------------------------ answer, panel, viewer


def test_answer_with_chips_sources_panel_and_release_at_cited_paragraph(page):
    page.wait_for_selector("#chat .examples button, #chat button.example", timeout=30_000)
    assert "What does the release" not in page.locator("#chat").inner_text()  # examples are real questions
    shot(page, "0-empty-chat")
    reply = ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    assert "co-chaired by Kim Yong Hyun" in reply.locator(".qa-lead").inner_text()
    assert reply.locator(".qa-chip").count() == 5 and " ".join(
        reply.locator(".qa-lead .qa-chip").text_content().split()
    ).startswith("Source 1")
    assert "paragraph 1 (003_739443eadc7a4b5c.txt)" in reply.locator(".qa-meta").inner_text()
    assert reply.locator(".qa-passage, .qa-release").count() == 0  # passages live in the panel, not the chat
    panel = page.locator("#sources")
    assert panel.locator(".qa-card").count() == 5
    assert "co-chaired by Kim Yong Hyun" in panel.locator(".qa-card.qa-selected mark.qa-mark").inner_text()
    viewer = panel.locator(".qa-viewer")
    assert viewer.locator(".qa-para").count() == 11 and viewer.locator(".qa-cited").count() == 1
    assert "Bill Blair" in viewer.locator(".qa-cited").inner_text()
    assert viewer.locator(".qa-para").first.locator(".qa-pnum").inner_text() == "¶1"  # one number per paragraph
    # chip 5 opens passage 5 and the viewer scrolls to its paragraph
    reply.locator(".qa-chip.qa-n-5").click()
    page.wait_for_selector("#sources .qa-card.qa-selected button.qa-n-5", timeout=10_000)
    cited = page.locator("#sources .qa-viewer .qa-cited")
    para = cited.locator(".qa-pnum").inner_text().lstrip("¶")  # the release's own numbering: "4" or "4.1"
    assert f"paragraph {para} highlighted" in page.locator("#sources .qa-viewer-head").inner_text()
    page.wait_for_timeout(300)
    vbox, cbox = page.locator("#sources .qa-viewer").bounding_box(), cited.bounding_box()
    assert vbox["y"] - 1 <= cbox["y"] <= vbox["y"] + vbox["height"] - 10, (vbox, cbox)  # cited paragraph in the viewer's view
    assert page.locator("#sources .qa-card.qa-selected mark").count() == 0  # only the answering passage is marked
    shot(page, "1-answer")


def test_page_requests_nothing_outside_the_machine_and_uses_local_fonts(browser, app):
    """Offline use: no font (or anything else) is fetched from the internet, and text renders in a local font."""
    context = browser.new_context(viewport=DESKTOP)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(app["url"])
    page.wait_for_selector("#question textarea", timeout=60_000)
    ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    origin = app["url"].rstrip("/")
    outside = [u for u in requests if not (u.startswith(origin) or u.startswith(("data:", "blob:")))]
    assert requests and not outside, outside
    family = page.locator("#chat .qa-lead").evaluate("el => getComputedStyle(el).fontFamily")
    assert family.startswith("system-ui"), family
    assert page.evaluate("[...document.fonts].filter(f => f.status === 'error').map(f => f.family)") == []
    context.close()


def test_answer_stays_in_view_after_each_reply_desktop_and_phone(browser, app):
    questions = [
        "Which country became the 18th UNC Member State?",
        "What anniversary does the ROK-UN Joint Conference mark this year?",
        "When was it first held?",
        "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?",
    ]
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, app, viewport)
        width = page.locator("#chat").bounding_box()["width"]
        for q in questions:
            reply = ask(page, q)
            target = reply.locator(".qa-lead, .qa-noanswer").first
            assert in_view(page, target), f"answer out of view at {viewport} after {q!r}: {target.bounding_box()}"
            chat_box = page.locator("#chat").bounding_box()  # and not scrolled away inside the chat box either
            assert chat_box["y"] - 2 <= target.bounding_box()["y"] <= chat_box["y"] + chat_box["height"] - 40, (q, chat_box)
            asked = page.locator("#chat .message-row:has(.qa-q)").last.bounding_box()  # the question above it: whole
            assert asked["y"] >= chat_box["y"], f"question bubble cut at the top at {viewport} after {q!r}: {asked} {chat_box}"
            trash = page.locator("#chat .top-panel").bounding_box()  # and not under the chat's floating trash icon
            assert trash is None or asked["y"] >= trash["y"] + trash["height"] - 2, (q, asked, trash)
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 2
            assert abs(page.locator("#chat").bounding_box()["width"] - width) < 2, "the chat changed width on answering"
            if viewport is PHONE:  # the page's and the bubbles' margins leave the text most of a phone's width
                assert reply.bounding_box()["width"] >= 0.8 * viewport["width"], reply.bounding_box()
        assert "Follow-up" in page.locator("#chat .qa-reply").nth(2).inner_text()
        if viewport is PHONE:  # the sources panel sits below the chat on a phone; a chip brings it into view
            assert page.locator("#sources").bounding_box()["y"] > page.locator("#chat").bounding_box()["y"] + 200
            page.locator("#chat .qa-reply").last.locator(".qa-chip").last.click()
            page.wait_for_function(
                "(() => { const r = document.querySelector('#sources').getBoundingClientRect(); "
                "return r.top >= -2 && r.top < window.innerHeight / 2; })()",
                timeout=10_000,
            )
            page.click("#new-chat")  # below the chat on a phone: the emptied chat comes back into view
            page.wait_for_function("document.querySelectorAll('#chat .qa-reply').length === 0", timeout=10_000)
            page.wait_for_timeout(300)
            assert page.locator("#chat").bounding_box()["y"] >= -2, page.locator("#chat").bounding_box()
        page.context.close()


def test_not_found_reply_has_no_highlight_and_reads_differently(page):
    reply = ask(page, "What is the recipe for kimchi?")
    assert "Not in the releases" in reply.locator(".qa-noanswer").inner_text()
    assert reply.locator(".qa-lead, .qa-copy").count() == 0
    assert page.locator("#sources mark").count() == 0 and page.locator("#sources .qa-card").count() == 5
    assert "closest passages" in page.locator("#sources .qa-panel-note").inner_text()
    assert "score" not in page.locator("#sources").inner_text()


def test_blank_and_one_letter_questions_add_no_bubble(page):
    for text, expected in (("   ", "Type a question first"), ("x", "too short")):
        page.fill("#question textarea", text)
        page.press("#question textarea", "Enter")
        page.wait_for_function(
            "(t) => (document.querySelector('#ask-error')?.innerText || '').includes(t)", arg=expected, timeout=20_000
        )
        assert page.locator("#chat .message").count() == 0, "a question that cannot be asked must not add a bubble"
    page.locator("#k input[type=number]").fill("2")
    page.locator("#k input[type=number]").press("Enter")
    ask(page, "Which country became the 18th UNC Member State?")
    assert page.locator("#ask-error").inner_text().strip() == ""
    assert page.locator("#sources .qa-card").count() == 2


def test_examples_are_questions_answered_by_the_sentence_they_came_from(page, app):
    """Each example is a question drawn from a release sentence; asking it marks that very sentence."""
    examples = page.locator("#chat .examples button, #chat button.example")
    examples.first.wait_for(timeout=30_000)
    texts = [t.strip() for t in examples.all_inner_texts()]
    assert texts and all(t.endswith("?") and "What does the release" not in t for t in texts), texts
    corpus_text = " ".join(" ".join(f.read_text(encoding="utf-8").split()) for f in app["corpus"].glob("*.txt"))
    examples.first.click()
    reply = page.locator("#chat .qa-reply").first
    reply.wait_for(timeout=60_000)
    sentence = reply.locator(".qa-lead").evaluate(
        "el => [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('')"
    )
    sentence = " ".join(sentence.split())
    assert sentence and sentence in corpus_text, sentence


# ------------------------------------------------------------------ themes


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_visible_text_meets_wcag_aa_in_both_themes(browser, app, scheme):
    """Every text node on screen (and every placeholder), not a list of selectors, in each state a user reaches."""
    failures = []
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, app, viewport, scheme)
        assert page.evaluate("document.body.classList.contains('dark')") == (scheme == "dark")
        failures += [("empty", f) for f in low_contrast(page)]
        ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
        ask(page, "What is the recipe for kimchi?")
        page.get_by_text("Filters", exact=True).click()
        page.wait_for_timeout(300)
        failures += [("answered", f) for f in low_contrast(page)]
        shot(page, f"contrast-{scheme}-{viewport['width']}")
        page.get_by_role("tab", name="Library").click()
        page.locator("#library button.qa-open").first.click()
        page.wait_for_selector("#lib-view .qa-para", timeout=20_000)
        failures += [("library", f) for f in low_contrast(page)]
        small = page.evaluate(SMALL_TARGETS_JS, 24) if viewport is PHONE else []
        assert not [t for t in small if "qa-" in t["label"] or t["label"] in ("Like", "Dislike", "Clear")], small
        page.context.close()
    assert not failures, f"{scheme}: text below WCAG AA: {failures}"


def test_focus_ring_is_visible_on_the_slider_and_chips(page):
    reply = ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    for target in (page.locator("#k input[type=range]"), reply.locator(".qa-chip").first):
        target.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        style = target.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
        assert style.split()[0] != "none" and float(style.split()[1].rstrip("px")) >= 2, style


# ------------------------------------------------------------------ feedback


def test_feedback_lands_on_the_right_reply_after_clearing_and_unvoting(page, app):
    start = len(feedback_lines(app))
    ask(page, "What anniversary does the ROK-UN Joint Conference mark this year?")
    ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    page.locator("#chat button[aria-label='Clear']").first.click()  # the chat's own trash icon
    page.wait_for_function("document.querySelectorAll('#chat .qa-reply').length === 0", timeout=10_000)
    page.wait_for_function("(document.querySelector('#sources')?.innerText || '').includes('Ask a question')", timeout=10_000)
    reply = ask(page, "Which country became the 18th UNC Member State?")
    page.get_by_label("Like").last.click()
    lines = wait_feedback(app, start + 1)
    rid = re.search(r"qa-r-(\w+)", reply.get_attribute("class")).group(1)
    assert lines[-1]["question"] == "Which country became the 18th UNC Member State?"
    assert lines[-1]["vote"] == "up" and lines[-1]["reply_id"] == rid and lines[-1]["history"] == []
    assert "Germany" in lines[-1]["passages"][0]["text"]
    confirmation = page.locator(f"#chat .qa-reply.qa-r-{rid} .qa-fb")
    confirmation.wait_for(timeout=10_000)
    assert "saved" in confirmation.inner_text() and in_view(page, confirmation)
    assert page.locator("#chat button[aria-label='Liked']").count() == 1  # the thumb stays lit
    page.locator("#chat button[aria-label='Liked']").click()  # un-vote
    lines = wait_feedback(app, start + 2)
    assert lines[-1]["vote"] == "none" and lines[-1]["reply_id"] == rid
    page.wait_for_function(
        f"(document.querySelector('#chat .qa-r-{rid} .qa-fb')?.innerText || '').includes('withdrawn')", timeout=10_000
    )
    page.click("#new-chat")  # the other clear control, same effect
    page.wait_for_function("document.querySelectorAll('#chat .qa-reply').length === 0", timeout=10_000)
    page.wait_for_function("(document.querySelector('#sources')?.innerText || '').includes('Ask a question')", timeout=10_000)
    ask(page, "When was the ROK-UN Joint Conference on Disarmament and Non-proliferation Issues first held?")
    page.get_by_label("Dislike").last.click()
    lines = wait_feedback(app, start + 3)
    assert lines[-1]["vote"] == "down" and lines[-1]["question"].startswith("When was the ROK-UN Joint Conference")
    assert lines[-1]["history"] == []  # a new conversation carries no history
    from qa.web.feedback import FeedbackLog

    votes = FeedbackLog(app["data"]).votes()
    assert rid not in votes and lines[-1]["reply_id"] in votes


# ------------------------------------------------------------------ filters


def test_filters_show_when_active_and_apply(page, app):
    page.get_by_text("Filters", exact=True).click()
    page.locator("#source input").click()
    options = page.locator("[role=option]").all_inner_texts()
    assert any(re.fullmatch(r"National Defence \(1\)", o.strip()) for o in options), options
    page.keyboard.press("Escape")
    page.fill("#until input, #until textarea", "2024-12-31")
    page.locator("#until input, #until textarea").press("Tab")
    chip = page.locator("#active-filters")
    chip.wait_for(timeout=10_000)
    assert "until 2024-12-31" in chip.inner_text() and "1 undated release left out" in chip.inner_text()
    page.get_by_text("Filters · 1 active").click()  # closing the panel keeps the filter visible
    assert chip.is_visible()
    reply = ask(page, "What anniversary does the ROK-UN Joint Conference mark this year?")
    assert "until 2024-12-31" in reply.locator(".qa-filter-chip").inner_text()
    assert "until 2024-12-31" in page.locator("#sources .qa-filter-chip").inner_text()
    dates = [t.split(" · ")[0] for t in page.locator("#sources .qa-card-meta").all_inner_texts()]
    assert dates and all(d <= "2024-12-31" and d != "undated" for d in dates), dates
    page.get_by_text("Filters · 1 active").click()
    since = page.locator("#since input, #since textarea")
    since.fill("last year")  # a date that cannot be used is named on leaving its box, before any question
    since.press("Tab")
    page.wait_for_function("(document.querySelector('#ask-error')?.innerText || '').includes('must be a date')", timeout=10_000)
    since.fill("2025-01-01")
    since.press("Tab")
    page.wait_for_function("(document.querySelector('#ask-error')?.innerText || '').includes('after')", timeout=10_000)
    page.fill("#question textarea", "Which country became the 18th UNC Member State?")
    page.press("#question textarea", "Enter")
    page.wait_for_function("(document.querySelector('#ask-error')?.innerText || '').includes('after')", timeout=20_000)
    error = page.locator("#ask-error").inner_text()
    assert "“Since”" in error and "--" not in error, error
    page.click("#clear-filters")
    page.wait_for_function("!document.querySelector('#active-filters')", timeout=10_000)
    page.wait_for_function("!(document.querySelector('#ask-error')?.innerText || '').trim()", timeout=10_000)  # not stale
    page.get_by_text("Filters", exact=True).click()  # open: the reply's top must still come into view
    page.wait_for_timeout(300)
    reply = ask(page, "Which country became the 18th UNC Member State?")
    assert reply.locator(".qa-filter-chip").count() == 0
    assert in_view(page, reply.locator(".qa-lead")), reply.locator(".qa-lead").bounding_box()
    shot(page, "7-filters")


# ------------------------------------------------------------------ copy, API


def test_copy_gives_answer_with_citation_as_plain_text(page):
    reply = ask(page, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    reply.locator(".qa-copy").click()
    page.wait_for_function("window.__qaCopied !== undefined", timeout=5_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.evaluate("window.__qaCopied")
    assert re.fullmatch(
        r"“The meeting was co-chaired by Kim Yong Hyun[^<>”]*” — "
        + re.escape(SEED_TITLE)
        + r", 2024-09-10, paragraph 1 \(003_739443eadc7a4b5c\.txt\)",
        copied,
    ), copied


def test_public_api_is_ask_only_and_returns_data(app):
    from gradio_client import Client

    client = Client(app["url"], verbose=False)
    info = client.view_api(return_format="dict", print_info=False)
    assert list(info["named_endpoints"]) == ["/ask"], info["named_endpoints"].keys()
    assert not info["unnamed_endpoints"]
    returns = info["named_endpoints"]["/ask"]["returns"][0]
    assert returns["python_type"]["type"] != "Any", returns
    result = client.predict("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?", 3, [], api_name="/ask")
    assert result["no_answer"] is False and "Kim Yong Hyun" in result["answer"]
    assert len(result["passages"]) == 3
    top = result["passages"][0]
    assert top["source"] == "003_739443eadc7a4b5c.txt" and top["paragraph"] == 1 and "co-chaired" in top["text"]
    for args, expected in ((("x", 3, []), "too short"), (("Who co-chaired?", 0, []), "k must be from 1 to 50")):
        with pytest.raises(Exception, match=expected):  # the chat's words, the API's parameter names
            client.predict(*args, api_name="/ask")
    with pytest.raises(Exception, match="history has 60 earlier questions"):
        client.predict("Who co-chaired?", 3, ["Earlier question?"] * 60, api_name="/ask")


# ------------------------------------------------------------------ uploads and the library (change the corpus: last)


def test_upload_sequences_each_file_on_its_own(page, app, tmp_path):
    bad = tmp_path / "broken.txt"
    bad.write_bytes("Caf\xe9 au lait".encode("latin-1") * 30)
    status = upload(page, bad)
    assert "broken.txt rejected" in status and "not UTF-8" in status and "iconv" not in status, status
    assert not (app["corpus"] / "broken.txt").exists()
    good = tmp_path / "ferry terminal.txt"
    good.write_text(NEW_RELEASE, encoding="utf-8")
    status = upload(page, good)  # the rejected file is not sent again
    assert "broken.txt" not in status and "ferry terminal.txt added (saved as ferry_terminal.txt)" in status, status
    assert "Harbour Authority Opens North Quay Ferry Terminal" in status
    shot(page, "4-upload")
    again = tmp_path / "copy of the ferry release.txt"
    again.write_bytes(good.read_bytes())
    status = upload(page, again)  # same content under another name
    assert "already indexed" in status and "ferry_terminal.txt" in status, status
    hostile = tmp_path / "safety.txt"
    hostile.write_text(HOSTILE_RELEASE, encoding="utf-8")
    status = upload(page, bad, hostile, good)  # one upload, three outcomes
    assert (
        "broken.txt rejected" in status and "safety.txt added" in status and "ferry terminal.txt is already indexed as" in status
    )
    names = sorted(p.name for p in app["corpus"].iterdir())
    assert not any(re.search(r"-\d+\.txt$", n) for n in names), names  # no numbered copies
    assert names.count("ferry_terminal.txt") == 1 and "copy_of_the_ferry_release.txt" not in names
    page.get_by_role("tab", name="Ask").click()
    reply = ask(page, "How many passengers a day can the new ferry terminal handle?")
    assert "4,000 passengers a day" in reply.locator(".qa-lead").inner_text()
    assert "ferry_terminal.txt" in reply.locator(".qa-meta").inner_text()


def test_release_markup_is_shown_as_text_never_run(page):
    reply = ask(page, "Where must swimmers stay out during the dredging works?")
    page.locator("#sources button.qa-n-1").click()
    page.wait_for_timeout(500)
    text = page.locator("#sources .qa-card").first.inner_text()
    assert "<script>window.__xss = 1</script>" in text
    viewer = page.locator("#sources .qa-viewer").inner_text()
    assert '<img src=x onerror="window.__xss = 2">' in viewer and "**bold**" in viewer
    assert reply.locator(".qa-chip").count() >= 1
    assert page.evaluate("window.__xss") is None
    assert (
        page.locator("#chat img[src='x'], #chat script, #sources img[src='x'], #sources script, a[href^='javascript']").count()
        == 0
    )
    shot(page, "5-markup-as-text")


def test_library_search_drops_a_hidden_selection_and_removal_confirms_and_undoes(page, app):
    page.get_by_role("tab", name="Library").click()
    page.wait_for_function("document.querySelector('#library').innerText.includes('Ferry Terminal')", timeout=30_000)
    text = page.locator("#library").inner_text()
    for expected in (
        SEED_TITLE,
        "2024-09-10",
        "National Defence",
        "Harbour Authority Opens North Quay Ferry Terminal",
        "undated",
    ):
        assert expected in text, expected
    page.locator("#library button.qa-open", has_text="Ferry Terminal").click()
    page.wait_for_selector("#lib-view .qa-para", timeout=10_000)
    assert "4,000 passengers" in page.locator("#lib-view").inner_text()
    head = page.locator("#lib-view .qa-viewer-head").bounding_box()
    assert 0 <= head["y"] < page.viewport_size["height"] - 40, head  # the opened release is on screen
    assert page.locator("#library li.qa-current").count() == 1 and "Ferry" in page.locator("#library li.qa-current").inner_text()
    assert "Harbour Authority Opens North Quay" in page.locator("#remove").inner_text()  # Remove names what it removes
    page.fill("#lib-search textarea, #lib-search input", "ROK-UNCMS")  # the open release is no longer listed
    page.wait_for_function("!document.querySelector('#library').innerText.includes('Ferry')", timeout=10_000)
    page.wait_for_function("document.querySelector('#remove button, button#remove').disabled", timeout=10_000)
    assert page.locator("#lib-view .qa-para").count() == 0
    page.fill("#lib-search textarea, #lib-search input", "zzqq-nothing")
    page.wait_for_selector("#library .qa-lib-empty:has-text('No release matches')", timeout=10_000)
    page.fill("#lib-search textarea, #lib-search input", "")
    page.locator("#library button.qa-open", has_text="Ferry Terminal").click()
    page.wait_for_selector("#lib-view .qa-para", timeout=10_000)
    page.click("#remove")
    confirm = page.locator("#confirm-text")
    confirm.wait_for(timeout=10_000)
    assert "Ferry Terminal" in confirm.inner_text() and (app["corpus"] / "ferry_terminal.txt").exists()
    page.click("#cancel-remove")
    page.wait_for_function("!document.querySelector('#confirm-text') || !document.querySelector('#confirm-text').offsetParent")
    assert (app["corpus"] / "ferry_terminal.txt").exists()
    page.click("#remove")
    page.click("#confirm-remove")
    page.wait_for_function("(document.querySelector('#lib-status')?.innerText || '').includes('Removed')", timeout=120_000)
    status = page.locator("#lib-status").inner_text()
    assert str(app["root"]) not in status and "/" not in status, status  # no server path
    assert not (app["corpus"] / "ferry_terminal.txt").exists()
    assert "Ferry Terminal" not in page.locator("#library").inner_text()
    shot(page, "8-library-removed")
    page.click("#undo")
    page.wait_for_function("(document.querySelector('#lib-status')?.innerText || '').includes('Restored')", timeout=120_000)
    assert (app["corpus"] / "ferry_terminal.txt").exists()
    page.wait_for_function("document.querySelector('#library').innerText.includes('Ferry Terminal')", timeout=10_000)
    # removed again, then restored from the "Removed releases" list
    page.locator("#library button.qa-open", has_text="Ferry Terminal").click()
    page.click("#remove")
    page.click("#confirm-remove")
    page.wait_for_function("(document.querySelector('#lib-status')?.innerText || '').includes('Removed')", timeout=120_000)
    page.get_by_text("Removed releases", exact=True).click()
    page.locator("#removed button.qa-restore").first.click()
    page.wait_for_function("(document.querySelector('#lib-status')?.innerText || '').includes('Restored')", timeout=120_000)
    page.get_by_role("tab", name="Ask").click()
    reply = ask(page, "How many passengers a day can the new ferry terminal handle?")
    assert "4,000 passengers a day" in reply.locator(".qa-lead").inner_text()


def test_conversation_survives_a_reload_and_new_conversation_clears_it(page):
    ask(page, "Which country became the 18th UNC Member State?")
    page.reload()
    page.wait_for_selector("#chat .qa-reply", timeout=30_000)
    assert "Germany" in page.locator("#chat .qa-reply").last.inner_text()
    assert "Germany" in page.locator("#sources").inner_text()
    page.click("#new-chat")
    page.wait_for_function("document.querySelectorAll('#chat .qa-reply').length === 0", timeout=10_000)
    page.reload()
    page.wait_for_selector("#question textarea", timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.locator("#chat .qa-reply").count() == 0


def test_question_is_shown_as_typed_and_a_long_one_is_refused_in_words(page):
    reply = ask(page, "**Who** co-chaired the <img src=x> 2nd ROK-UNCMS Defense Ministerial Meeting?")
    labels = page.locator("#chat [aria-label]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert not [x for x in labels if "class=" in x or "&#" in x or "<div" in x], labels  # text, not markup
    question = page.locator("#chat .qa-q").last
    assert "**Who**" in question.inner_text() and "<img src=x>" in question.inner_text()
    assert page.locator("#chat img[src='x'], #chat .qa-q strong").count() == 0 and reply.count() == 1
    long = "Who co-chaired the meeting? " * 100
    page.set_viewport_size(PHONE)  # a pasted page must not push the refusal below the fold
    page.fill("#question textarea", long)
    page.press("#question textarea", "Enter")
    page.wait_for_function("(document.querySelector('#ask-error')?.innerText || '').includes('limit')", timeout=20_000)
    assert page.locator("#question textarea").input_value() == long  # nothing is cut silently
    page.wait_for_timeout(300)
    assert in_view(page, page.locator("#ask-error .qa-error")), page.locator("#ask-error").bounding_box()
    assert page.locator("#question textarea").bounding_box()["height"] < 200  # the box scrolls, it does not grow


def test_an_oversized_file_is_rejected_alone(page, app, tmp_path):
    big = tmp_path / "huge.txt"
    big.write_text("Huge Release Title\n\n" + "word " * 1_300_000, encoding="utf-8")  # about 6.5 MB
    good = tmp_path / "library hours.txt"
    good.write_text(
        "City Libraries Extend Opening Hours\n\nCity Council\n\nThe city libraries will open until 9 pm.\n", encoding="utf-8"
    )
    page.get_by_role("tab", name="Library").click()
    page.evaluate(
        "window.__qaSeen = []; new MutationObserver(() => window.__qaSeen.push("
        "document.querySelector('#upload-status')?.innerText || '')).observe(document.body, {subtree: true, childList: true})"
    )
    status = upload(page, big, good)
    seen = page.evaluate("window.__qaSeen")
    assert any("files read" in t for t in seen), seen[-5:]  # progress, in words, while it works
    assert "huge.txt rejected" in status and "MB" in status and "library hours.txt added" in status, status
    assert not (app["corpus"] / "huge.txt").exists()


def test_foreign_host_header_is_refused(app):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(app["url"], headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 421


def test_a_page_answers_within_3_seconds_of_starting(tmp_path):
    """`python app.py` answers on its port at once (a starting page that opens the chat by itself), index or not."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from conftest import free_port

    shutil.copytree(SEEDS, tmp_path / "corpus")
    port = free_port()
    env = {**os.environ, "QA_CORPUS": str(tmp_path / "corpus"), "QA_INDEX": str(tmp_path / "index"), "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        body = ""
        while time.time() - t0 < 3 and not body:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read().decode()
            except urllib.error.HTTPError as exc:  # 503 with the starting page
                body = exc.read().decode()
            except OSError:
                time.sleep(0.05)
        assert "release-qa" in body, f"nothing on the port after {time.time() - t0:.1f} s"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
