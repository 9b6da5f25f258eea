"""Chat rendering: release text stays inert, replies carry their id, the copy text is plain (no browser needed)."""

from __future__ import annotations

from html import unescape

from qa.answering.types import Answer, Passage
from qa.ui import FeedbackLog, Filters, Reply, citation_text, escape, render_panel, render_reply, reply_id_of

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


def test_feedback_log_keeps_the_last_vote_per_reply(tmp_path):
    log = FeedbackLog(tmp_path)
    record = {"question": "q", "passages": []}
    log.record(record, "up", "r1")
    log.record(record, "down", "r2")
    log.record(record, "none", "r1")  # un-voted
    assert log.votes() == {"r2": "down"}
