"""Chat rendering: release text stays inert, the answer is marked, empty filters read as such (no browser needed)."""

from __future__ import annotations

from qa.answer import Answer, Passage
from qa.ui import escape, render_answer


def test_escape_leaves_no_markup_markdown_or_maths():
    out = escape('<script>x()</script> **b** [l](javascript:y) $x$ `c` &amp;\nnext')
    for raw in ("<", ">", "*", "[", "]", "(", ")", "$", "`", "&amp;"):
        assert raw not in out.replace("<br>", "").replace("&#", "")
    assert out.endswith("<br>next")


def test_answer_sentence_is_marked_inside_its_passage():
    text = "First sentence. The answer <b>is</b> here. Last one."
    p = Passage(1, 0.9, text, "Title & Co", "2024-01-02", "a.txt", 3, "abc", answer_start=16, answer_end=42)
    html = render_answer(Answer("q", text[16:42], False, [p]))
    assert "<mark class='qa-mark'>The answer &#60;b&#62;is&#60;/b&#62; here.</mark>" in html
    assert "paragraph 3" in html and "Title &#38; Co" in html and "qa-lead" in html


def test_empty_filter_reads_as_a_filter_message_not_an_abstention():
    html = render_answer(Answer("q", None, True, [], message="No releases match the filter (source x): widen it or remove it."))
    assert "No releases match the filter" in html and "Not in the releases" not in html
