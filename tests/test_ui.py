"""The chat without a browser: rendering (release text inert, replies carry their id, plain copy text), example
questions, the guard in front of the server, the feedback rate limit, "still loading", removal and restore."""

from __future__ import annotations

import time
from html import unescape

from qa.answering.types import Answer, Passage
from qa.web.feedback import FeedbackLog
from qa.web.render import Filters, Reply, citation_text, escape, render_panel, render_reply, reply_id_of

TEXT = "First sentence. The answer <b>is</b> here. Last one."


def _reply(no_answer: bool = False, filters: Filters | None = None) -> Reply:
    p = Passage(1, 0.9, TEXT, "Title & Co", "2024-01-02", "a.txt", 3, "abc", answer_start=16, answer_end=42)
    q = Passage(2, 0.5, "Other passage.", "Other", None, "b.txt", 1, "def")
    answer = Answer(
        "q?",
        None if no_answer else TEXT[16:42],
        no_answer,
        [p, q],
        message="The releases don't cover this question. The closest passages are listed below." if no_answer else "",
    )
    return Reply("0123456789ab", answer, [], filters or Filters())


def test_escape_leaves_no_markup_markdown_or_maths():
    out = escape("<script>x()</script> **b** [l](javascript:y) $x$ `c` &amp;\nnext")
    for raw in ("<", ">", "*", "[", "]", "(", ")", "$", "`", "&amp;"):
        assert raw not in out.replace("<br>", "").replace("&#", "")
    assert out.endswith("<br>next")


def test_reply_is_short_with_chips_and_carries_its_id():
    html = render_reply(_reply())
    assert reply_id_of(html) == "0123456789ab"
    assert "The answer &#60;b&#62;is&#60;/b&#62; here." in html and "qa-lead" in html
    assert html.count("class='qa-chip") == 2 and "qa-n-2" in html
    assert "Title &#38; Co</cite>, 2024&#45;01&#45;02, paragraph 3 (a.txt)" in html
    assert "First sentence" not in html  # passages live in the sources panel


def test_panel_marks_the_sentence_and_opens_the_release_at_the_cited_paragraph():
    html = render_panel(_reply(), None, lambda source: ["Intro.", "Second.", TEXT, "After."])
    assert "<mark class='qa-mark'>The answer &#60;b&#62;is&#60;/b&#62; here.</mark>" in html
    assert html.count("qa-para qa-cited") == 1 and "¶3</span><span class='qa-ptext'>First" in html
    other = render_panel(_reply(), 2, lambda source: ["Other passage."])
    assert "qa-selected" in other and "paragraph 1 highlighted" in other


def test_a_passage_joining_paragraphs_marks_its_sentence_in_the_card_and_the_release():
    """A short paragraph is indexed with its neighbour: the card shows (and the release marks) the answering one."""
    first, second = "All eleven libraries open until 9 pm.", "The extension adds 40 staff. It costs 1.2 million euros."
    text = f"{first}\n\n{second}"
    held = Passage(1, 0.9, text, "Libraries", "2025-02-14", "l.html", 2, "abc", answer_start=len(first) + 2)
    held.answer_end = held.answer_start + len("The extension adds 40 staff.")  # type: ignore[operator]
    other = Passage(2, 0.5, text, "Libraries", "2025-02-14", "l.html", 1, "abc")
    answer = Answer("How many staff?", "The extension adds 40 staff.", False, [held, other])
    html = render_panel(Reply("0123456789ab", answer, [], Filters()), None, lambda source: [first, second])
    cards = html.split("<li class='qa-card")[1:]
    assert "<div class='qa-card-text'>… <mark class='qa-mark'>The extension adds 40 staff.</mark>" in cards[0]
    assert "<div class='qa-card-text'>All eleven libraries open until 9 pm. …</div>" in unescape(cards[1])  # its own paragraph
    viewer = html[html.index("qa-viewer'") : html.index("qa-cards-head")]
    assert "qa-cited'><span class='qa-pnum'>¶2</span><span class='qa-ptext'><mark class='qa-mark'>The extension" in viewer


def test_not_found_reply_marks_nothing_and_offers_no_copy():
    reply = _reply(no_answer=True)
    html = render_reply(reply) + render_panel(reply, None, lambda source: [TEXT])
    assert "Not in the releases" in html and "<mark" not in html and "qa-copy" not in html and "score" not in html
    assert citation_text(reply.answer) == ""


def test_copy_text_is_plain_with_title_date_paragraph_and_file():
    assert citation_text(_reply().answer) == "“The answer <b>is</b> here.” — Title & Co, 2024-01-02, paragraph 3 (a.txt)"


def test_active_filters_show_in_reply_and_panel_with_undated_count():
    reply = _reply(filters=Filters(until="2024-12-31", undated_hidden=2))
    for html in (render_reply(reply), render_panel(reply, None, lambda s: [TEXT])):
        html = unescape(html)
        assert "qa-filter-chip" in html and "until 2024-12-31" in html and "2 undated releases left out" in html
    assert "qa-filter-chip" not in render_reply(_reply())


def test_empty_filter_reads_as_a_filter_message_not_an_abstention():
    reply = Reply(
        "0123456789ab", Answer("q", None, True, [], message="No releases match the filter (source x): widen it or remove it.")
    )
    html = render_reply(reply)
    assert "No releases match the filter" in html and "Not in the releases" not in html


def test_a_date_filter_that_cannot_be_used_is_named_in_the_pages_words():
    from qa.web.handlers import ChatHandlers

    words = {v: unescape(ChatHandlers.check_dates(*v)) for v in (("last year", ""), ("2024-13-01", ""), ("2025", "2024-06"))}
    assert "“Since” must be a date like 2024-09-10" in words[("last year", "")]
    assert "month 13" in words[("2024-13-01", "")]
    assert "“Since” 2025-01-01 is after “Until” 2024-06-30" in words[("2025", "2024-06")]
    assert not [w for w in words.values() if "--" in w or "Error" in w or "{" in w], words
    assert ChatHandlers.check_dates("2024", "2024-12-31") == ChatHandlers.check_dates("", "") == ""


def test_a_follow_up_says_how_it_was_read():
    reply = _reply()
    reply.answer.followup, reply.answer.query = True, "q? 2nd meeting Seoul"
    assert "Follow-up: searched for “q? 2nd meeting Seoul”" in unescape(render_reply(reply))
    reply.answer.query = " Q? "  # searched as asked, inside the earlier answer's release: not "searched for" itself
    html = unescape(render_reply(reply))
    assert "searched as asked, inside the release the earlier answer came from" in html and "searched for" not in html


def test_feedback_log_keeps_the_last_vote_per_reply(tmp_path):
    log = FeedbackLog(tmp_path)
    record = {"question": "q", "passages": []}
    log.record(record, "up", "r1")
    log.record(record, "down", "r2")
    log.record(record, "none", "r1")  # un-voted
    assert log.votes() == {"r2": "down"}


# ------------------------------------------------------------------ numbering, questions as typed, closest


def test_paragraphs_are_numbered_as_the_release_numbers_them():
    from qa.web.render import paragraph_labels

    paras = ["1. First.", "2. Second.", "o A point under two.", "3. Third.", "o One.", "o Two."]
    assert paragraph_labels(paras) == ["1", "2", "2.1", "3", "3.1", "3.2"]
    assert paragraph_labels(["Lead.", "Body.", "o point"]) == ["1", "2", "3"]  # no numbering: in order
    html = render_panel(_reply(), None, lambda source: ["1. Intro.", "o point", "2. Second.", TEXT])
    assert "¶2</span>" in html and "¶1.1</span>" in html


def test_the_users_question_is_text_and_a_long_one_is_refused_in_words():
    from qa.web.render import check_question, render_question

    html = render_question("**bold** <img src=x onerror=alert(1)>")
    assert "<img" not in html and "**" not in html and "&#42;&#42;bold&#42;&#42;" in html
    problem = check_question("Who co-chaired the meeting? " * 100)
    assert "2,799 characters long" in problem and "limit is 1,000" in problem


def test_a_closest_passage_reads_as_may_not_answer_and_marks_nothing():
    reply = _reply()
    reply.answer.level = "closest"  # type: ignore[attr-defined]
    html = render_reply(reply) + render_panel(reply, None, lambda source: [TEXT])
    assert "may not answer" in html and "<mark" not in html and "qa-lead" not in html


def test_a_removed_release_says_so_instead_of_an_empty_viewer():
    html = render_panel(_reply(), None, lambda source: [])
    assert "no longer in the library" in html and "qa-viewer'" not in html


def test_panel_copy_follows_the_passage_shown():
    html = unescape(render_panel(_reply(), 2, lambda source: ["Other passage."]))
    assert "“Other passage.” — Other, undated, paragraph 1 (b.txt)" in html


# ------------------------------------------------------------------ example questions


def test_questions_come_from_a_sentences_grammar():
    from qa.web.examples import candidate_questions

    assert candidate_questions("The meeting was co-chaired by Kim Yong Hyun and Bill Blair.") == ["Who co-chaired the meeting?"]
    assert candidate_questions("The terminal cost 85 million euros and was built in 26 months.") == [
        "How much did the terminal cost?"
    ]
    assert candidate_questions("The consultation was held on January 14 in a virtual format.") == [
        "When was the consultation held?"
    ]
    assert candidate_questions("It was a good day for everyone involved in the project.") == []


def test_each_example_is_answered_with_the_sentence_it_came_from(seed_qa):
    from qa.library import releases
    from qa.web.examples import pick_examples

    def answer(question):
        got = seed_qa.ask(question, 5)
        return None if got.no_answer else got.answer

    sources = [r.source for r in releases(seed_qa)]
    examples = pick_examples(sources, seed_qa.release_paragraphs, answer)
    assert examples and all("What does the release" not in e.question for e in examples)
    for e in examples:
        got = seed_qa.ask(e.question, 5)
        assert not got.no_answer and " ".join(got.answer.split()) in " ".join(e.sentence.split()), (e, got.answer)


# ------------------------------------------------------------------ guard, feedback limit


def _guarded(user=None):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from qa.web.guard import Guard, allowed_hosts

    async def login(request):
        form = await request.form()
        ok = form.get("username") == "editor" and form.get("password") == "s3cret"
        return PlainTextResponse("ok" if ok else "no", status_code=200 if ok else 400)

    async def echo(request):
        return PlainTextResponse(str(len(await request.body())))

    app = Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/echo", echo, methods=["POST", "GET"])])
    return TestClient(Guard(app, hosts=allowed_hosts("127.0.0.1", ["chat.example.org"]), user=user), base_url="http://127.0.0.1")


def test_guard_refuses_foreign_hosts_and_origins_and_large_bodies():
    client = _guarded()
    assert client.get("/echo").status_code == 200
    assert client.get("/echo", headers={"host": "chat.example.org:7860"}).status_code == 200  # a listed name
    assert client.get("/echo", headers={"host": "10.0.0.5:7860"}).status_code == 200  # an address: no rebinding
    assert client.get("/echo", headers={"host": "attacker.example"}).status_code == 421
    assert client.post("/echo", headers={"origin": "http://attacker.example"}).status_code == 403
    assert client.post("/echo", headers={"origin": "http://203.0.113.5"}).status_code == 403  # a page served from an address
    assert client.post("/echo", headers={"host": "10.0.0.5:7860", "origin": "http://10.0.0.5:7860"}).status_code == 200
    assert client.post("/echo", headers={"host": "10.0.0.5:7860", "origin": "http://10.0.0.6:7860"}).status_code == 403
    assert client.post("/echo", headers={"origin": "http://chat.example.org"}).status_code == 200
    assert client.post("/echo", content=b"x" * 2_000_000).status_code == 413


def test_logins_are_compared_exactly_and_throttled_per_client():
    from qa.web.guard import MAX_FAILED_LOGINS

    client = _guarded(user="editor")
    assert client.post("/login", data={"username": "editor ", "password": "s3cret"}).status_code == 400  # trailing space
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert client.post("/login", data={"username": "editor", "password": "wrong"}).status_code == 400
    refused = client.post("/login", data={"username": "editor", "password": "s3cret"})
    assert refused.status_code == 429 and "wait" in refused.json()["detail"]  # even the right password waits


def test_feedback_is_rate_limited_per_client(tmp_path):
    import pytest

    from qa.web.feedback import RateLimited

    log = FeedbackLog(tmp_path, per_minute=3)
    for _ in range(3):
        log.record({"question": "q", "passages": []}, "up", "r1", client="a")
    with pytest.raises(RateLimited):
        log.record({"question": "q", "passages": []}, "up", "r1", client="a")
    log.record({"question": "q", "passages": []}, "up", "r1", client="b")  # another client is not held up
    assert len(log.path.read_text().splitlines()) == 4


# ------------------------------------------------------------------ loading, removal


def test_a_question_before_the_index_is_ready_gets_still_loading(seed_qa, tmp_path):
    from qa.web.handlers import ChatHandlers
    from qa.web.state import Loader

    names = ["box", "chatbot", "records", "saved", "ask_error", "panel"]
    handlers = ChatHandlers(seed_qa, Loader(seed_qa), FeedbackLog(tmp_path), {n: n for n in names})
    out = handlers.respond("Who co-chaired the meeting?", [], 5, {}, None)
    assert "Still loading" in out["ask_error"] and out["box"] == "Who co-chaired the meeting?" and "chatbot" not in out


def test_a_release_folder_that_is_missing_is_named_without_its_path_and_no_question_waits(tmp_path, encoder):
    from qa import QA
    from qa.web.handlers import ChatHandlers
    from qa.web.state import Loader

    missing = tmp_path / "gone" / "releases"
    loader = Loader(QA(missing, tmp_path / "index", encoder=encoder)).start()
    deadline = time.time() + 60
    while loader.phase != "failed" and time.time() < deadline:
        time.sleep(0.1)
    assert loader.phase == "failed" and "“releases”" in loader.status() and str(tmp_path) not in loader.status()
    names = ["box", "chatbot", "records", "saved", "ask_error", "panel"]
    handlers = ChatHandlers(loader.session, loader, FeedbackLog(tmp_path), {n: n for n in names})
    error = handlers.respond("Who co-chaired the meeting?", [], 5, {}, None)["ask_error"]
    assert "could not be loaded" in error and "Still loading" not in error and "gone" not in error, error


def test_paths_in_a_message_become_their_last_part():
    from qa.web.render import without_paths

    assert without_paths("Corpus folder /srv/qa/corpus does not exist") == "Corpus folder “corpus” does not exist"
    assert without_paths("cannot read '/srv/qa/x.txt'") == "cannot read 'x.txt'"
    assert without_paths(r"C:\data\releases is missing") == "“releases” is missing"
    assert without_paths("dates 2024/09 and/or 10/12 stay as written") == "dates 2024/09 and/or 10/12 stay as written"


def test_loader_builds_behind_and_skips_a_file_it_cannot_read(small_corpus, tmp_path, encoder):
    from qa import QA
    from qa.web.state import CountingEncoder, Loader

    (small_corpus / "broken.txt").write_bytes("Caf\xe9".encode("latin-1") * 40)
    counting = CountingEncoder(encoder)
    session = QA(small_corpus, tmp_path / "index", encoder=counting)
    loader = Loader(session, counting).start()
    assert loader.wait(300), loader.status()
    assert loader.phase == "ready" and any("broken.txt" in s for s in loader.skipped), loader.skipped
    total = loader.progress.total_texts  # the build's own count of chunks and sentences, not a log line's
    assert total > len(session.ensure_index().chunks) and loader.progress.embedded == total
    assert f"{total} of {total} texts embedded" in loader.progress.describe(counting)
    assert session.ask("Who co-chaired the meeting?").passages


def test_removal_is_listed_and_restored_by_title_without_paths(small_corpus, tmp_path, encoder):
    from qa import QA, library
    from qa.web.render_library import render_removed

    session = QA(small_corpus, tmp_path / "index")
    session.encoder = encoder
    session.ensure_index()
    entry = library.remove_release(session, "003_739443eadc7a4b5c.txt")
    assert not (small_corpus / "003_739443eadc7a4b5c.txt").exists()
    listed = library.removed_releases(session)
    assert [e.title for e in listed] == ["ROK-UNCMS Defense Ministerial Meeting Statement Released"]
    html = render_removed(listed)
    assert "qa-restore qa-row-0" in html and str(tmp_path) not in html and "ROK&#45;UNCMS" in html  # no server path
    library.undo_removal(session, entry.id)
    assert (small_corpus / "003_739443eadc7a4b5c.txt").exists() and library.removed_releases(session) == []
    assert "Kim Yong Hyun" in session.ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?").answer


def test_a_reply_survives_the_browsers_copy_as_json(seed_qa, tmp_path):
    import orjson

    from qa.web.handlers import ChatHandlers
    from qa.web.state import Loader

    names = ["box", "chatbot", "records", "saved", "ask_error", "panel"]
    loader = Loader(seed_qa)
    loader._ready.set()  # the session's index is already loaded
    handlers = ChatHandlers(seed_qa, loader, FeedbackLog(tmp_path), {n: n for n in names})
    out = handlers.respond("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?", [], 5, {}, None)
    saved = orjson.loads(orjson.dumps(out["saved"]))  # what the browser stores must be JSON, keys and all
    restored = handlers.restore(saved)
    (reply,) = restored["records"].values()
    assert "Kim Yong Hyun" in reply.answer.answer and reply.labels == next(iter(out["records"].values())).labels
    assert "Kim Yong Hyun" in restored["panel"]


def test_a_partial_restore_names_the_files_kept_aside():
    from qa.trash import RemovalRecord
    from qa.web.library_tab import restored_note

    whole = RemovalRecord("r1", "Ferry Terminal Opens", "2024-05-02T00:00:00Z", ["ferry.txt"], state="restored")
    assert restored_note(whole) == "Restored “Ferry Terminal Opens”: it answers again."
    part = RemovalRecord("r1", "Ferry Terminal Opens", "2024-05-02T00:00:00Z", ["ferry.txt", "ferry.pdf"], kept=["ferry.pdf"])
    note = restored_note(part)
    assert "ferry.pdf" in note and "answers again" not in note and "in part" in note


def test_a_bad_setting_at_start_up_is_worded_for_the_terminal(monkeypatch, capsys):
    from qa.web.app import main

    monkeypatch.setenv("QA_PORT", "seventy")
    assert main([]) == 1
    assert capsys.readouterr().err.strip().endswith("correct QA_PORT, or unset it to use the default")


def test_skipped_files_are_worded_for_the_chat():
    from qa.errors import CorpusError, Remedy
    from qa.web.state import skipped_reasons

    bad = CorpusError("bad.txt is not UTF-8 text (byte 0xe9 at offset 3)", remedy=Remedy.SAVE_AS_UTF8, file="bad.txt")
    (reason,) = skipped_reasons({"bad.txt": bad})
    assert reason == "bad.txt is not UTF-8 text (byte 0xe9 at offset 3): save it as UTF-8 (Unicode) text and upload it again"


def test_an_answer_that_reads_on_into_its_list_is_marked_in_each_paragraph_of_the_release():
    lead = "The Bureau recorded statements from him in January. Today, he was charged with the following offences:"
    item, after = "a) two charges of corruption under section 6.", "The Bureau adopts a zero-tolerance approach."
    text = f"{lead}\n\n{item}"
    start = lead.index("Today")
    held = Passage(1, 0.9, text, "Charged", "2024-01-18", "c.html", 1, "abc", answer_start=start, answer_end=len(text))
    answer = Answer("What offences?", text[start:], False, [held])
    html = render_panel(Reply("0123456789ab", answer, [], Filters()), None, lambda source: [lead, item, after])
    viewer = html[html.index("qa-viewer'") : html.index("qa-cards-head")]
    assert viewer.count("qa-para qa-cited") == 2  # the sentence's paragraph and the list item it introduces
    assert "<mark class='qa-mark'>Today, he was charged with the following offences&#58;</mark>" in viewer
    assert "<mark class='qa-mark'>a&#41; two charges of corruption under section 6.</mark>" in viewer
    assert "zero&#45;tolerance" in viewer and viewer.count("<mark") == 2
