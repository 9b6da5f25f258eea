"""What the chat shows: short replies with citation chips, a sources panel, a release viewer (the Library tab's
lists are in :mod:`qa.web.render_library`).

Release text is data. Every character of it goes through :func:`escape`, which
turns HTML *and* Markdown punctuation into entities, so a release holding
``<script>``, ``<img onerror=...>`` or ``**markdown**`` is shown as written and
never rendered or run.

The chat sanitizes its HTML and drops ``data-`` attributes, so a reply carries
its id in class names (``qa-r-<id>``, ``qa-n-<passage>``): the page script
(:data:`HEAD`) reads them to open a passage in the sources panel, and the
feedback handler reads the id from the liked message itself, never from its
position in the conversation.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..answering.types import Answer, AnswerRecord, Passage
from ..query.validate import MAX_QUESTION_CHARS

__all__ = [
    "CSS",
    "EMPTY_PANEL",
    "HEAD",
    "AskResult",
    "Filters",
    "Reply",
    "answer_record",
    "check_question",
    "citation_text",
    "escape",
    "level_of",
    "new_reply_id",
    "paragraph_labels",
    "passage_citation",
    "render_panel",
    "render_question",
    "render_release",
    "render_reply",
    "reply_id_of",
    "shorten",
    "without_paths",
]

# One pass: HTML specials and Markdown/LaTeX punctuation all become numeric entities.
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$=:"}


def escape(text: str) -> str:
    """Release text -> inert HTML: nothing in it can open a tag, a link, emphasis or maths; newlines become <br>."""
    return str(text).translate(_ENTITIES).replace("\n", "<br>")


# A server path (two or more parts, POSIX or Windows) inside a message; a date (2024/09) or "and/or" is none.
_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?(?:[/\\][^\s/\\:;,\"'‘’“”()<>]+){2,}[/\\]?")


def without_paths(text: str) -> str:
    """A message for the page: a server path becomes its last part (the page never shows the server's folders)."""

    def name(m: re.Match[str]) -> str:
        last = re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1]
        quoted = m.start() > 0 and text[m.start() - 1] in "'‘“\""
        return last if quoted else f"“{last}”"

    return _PATH.sub(name, text)


# ------------------------------------------------------------------ replies


@dataclass
class Filters:
    """The filters a reply was answered under, and how many undated releases a date range left out."""

    since: str = ""
    until: str = ""
    source: str = ""
    undated_hidden: int = 0

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.source)

    def describe(self) -> str:
        parts = [
            f"since {self.since}" if self.since else "",
            f"until {self.until}" if self.until else "",
            f"source “{self.source}”" if self.source else "",
        ]
        text = " · ".join(p for p in parts if p)
        if self.undated_hidden and (self.since or self.until):
            n = self.undated_hidden
            text += f" · {n} undated release{'s' if n != 1 else ''} left out by the dates"
        return text


@dataclass
class Reply:
    """One answered question, kept by id so feedback and the sources panel find it whatever the chat shows."""

    id: str
    answer: Answer
    history: list[str] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)
    vote: str | None = None  # "up", "down" or None
    labels: dict[int, str] = field(default_factory=dict)  # passage rank -> the paragraph's number as the release gives it

    def label(self, p: Passage) -> str:
        return self.labels.get(p.rank, str(p.paragraph))

    @property
    def answer_passage(self) -> Passage | None:
        """The passage holding the answering sentence (None for a not-found reply)."""
        if self.answer.no_answer or level_of(self.answer) != "answer":
            return None
        return next((p for p in self.answer.passages if p.answer_start is not None), None)

    def default_pick(self) -> int:
        p = self.answer_passage
        return p.rank if p else (self.answer.passages[0].rank if self.answer.passages else 0)


def new_reply_id() -> str:
    return uuid.uuid4().hex[:12]


_REPLY_ID = re.compile(r"qa-r-([0-9a-f]{12})")


def reply_id_of(content: Any) -> str | None:
    """The reply id a chat message carries (its content may be a string or Gradio's list of parts)."""
    match = _REPLY_ID.search(content if isinstance(content, str) else json.dumps(content))
    return match.group(1) if match else None


def check_question(question: str | None) -> str:
    """'' if the question can be asked; otherwise what to do instead, in the chat's words."""
    text = (question or "").strip()
    if not text:
        return "Type a question first, e.g. “Who co-chaired the meeting?”"
    if not re.search(r"\w\w", text):
        return f"“{text}” is too short to search for: ask a question in words, e.g. “Who co-chaired the meeting?”"
    if len(text) > MAX_QUESTION_CHARS:
        return (
            f"Your question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Shorten it to the part you want answered (it is still in the box)."
        )
    return ""


def render_question(question: str) -> str:
    """The user's own message, shown exactly as typed: never read as Markdown or HTML."""
    return f"<div class='qa-q'>{escape(question)}</div>"


def shorten(text: str, limit: int = 160) -> str:
    """A long text cut at a word for a heading, with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _date(p: Passage) -> str:
    return p.date or "undated"


_NUMBERED = re.compile(r"\(?(\d{1,3})[.)]\s")


def paragraph_labels(paragraphs: Sequence[str]) -> list[str]:
    """Each paragraph's number as the release numbers it: a release that numbers its paragraphs ("1.", "2.") keeps
    its numbers, and the points under one ("o …", "- …") are "3.1", "3.2"; otherwise 1, 2, 3 in order."""
    found = [_NUMBERED.match(p) for p in paragraphs]
    if sum(1 for m in found if m) < 2:
        return [str(i + 1) for i in range(len(paragraphs))]
    labels, current, point = [], "", 0
    for i, m in enumerate(found):
        if m:
            current, point = m.group(1), 0
            labels.append(current)
        elif current:
            point += 1
            labels.append(f"{current}.{point}")
        else:
            labels.append(str(i + 1))
    return labels


def citation_text(answer: Answer, label: str | None = None) -> str:
    """The answer with its citation, as plain text to paste: "…" — Title, date, paragraph N (file)."""
    if answer.no_answer or not answer.answer:
        return ""
    p = next((p for p in answer.passages if p.answer_start is not None), answer.passages[0] if answer.passages else None)
    if p is None:
        return f"“{answer.answer}”"
    return f"“{answer.answer.strip()}” — {p.title}, {_date(p)}, paragraph {label or p.paragraph} ({p.source})"


def _chip(reply: Reply, p: Passage) -> str:
    return (
        f"<button type='button' class='qa-chip qa-r-{reply.id} qa-n-{p.rank}' title='Source {p.rank}: {escape(p.title)}'>"
        f"<span class='qa-sr'>Source </span>{p.rank}<span class='qa-sr'>: {escape(p.title)}</span></button>"
    )


def _filter_chip(filters: Filters) -> str:
    if not filters.active:
        return ""
    return f"<div class='qa-filter-chip'><span class='qa-filter-icon'>Filtered</span> {escape(filters.describe())}</div>"


def passage_citation(p: Passage, label: str | None = None) -> str:
    """A passage as plain text to paste, with its citation."""
    quoted = p.text if len(p.text) <= 600 else p.text[:599].rsplit(" ", 1)[0] + "…"
    return f"“{quoted.strip()}” — {p.title}, {_date(p)}, paragraph {label or p.paragraph} ({p.source})"


def _copy_button(reply: Reply, shown: Passage | None = None) -> str:
    """Copy the answer with its citation; in the panel, showing another passage, copy that passage instead."""
    held = reply.answer_passage
    if held is None:  # nothing answers: nothing to quote as the answer
        return ""
    if shown is not None and shown is not held:
        text = passage_citation(shown, reply.label(shown))
    else:
        text = citation_text(reply.answer, reply.label(held) if held else None)
    if not text:
        return ""
    return (
        f"<button type='button' class='qa-copy qa-r-{reply.id}'>Copy with citation</button>"
        f"<span class='qa-copytext'>{escape(text)}</span>"
    )


_VOTE_NOTE = {
    "up": "Thanks: your vote (helpful) is saved for this answer.",
    "down": "Thanks: your vote (not helpful) is saved for this answer.",
    "none": "Your vote on this answer is withdrawn.",
}


def level_of(answer: Answer) -> str:
    """ "answer", "closest" (a passage that may not answer the question) or "none"."""
    level = getattr(answer, "level", None)
    if level in ("answer", "closest", "none"):
        return str(level)
    return "none" if answer.no_answer else "answer"


def render_reply(reply: Reply, feedback: str | None = None) -> str:
    """One chat message: the answer sentence with numbered citation chips (details live in the sources panel)."""
    answer = reply.answer
    rid = reply.id
    parts = [f"<div class='qa-reply qa-r-{rid}'>", _filter_chip(reply.filters)]
    level = level_of(answer)
    if answer.no_answer and not answer.passages:  # e.g. a filter that nothing matches
        parts.append(f"<div class='qa-noanswer'>{escape(answer.message)}</div>")
    elif level == "closest":
        first = answer.passages[0] if answer.passages else None
        parts.append(
            "<div class='qa-noanswer qa-closest'><strong>This may not answer your question.</strong> "
            "The closest passage is open under Sources; no sentence in it is marked as the answer.</div>"
        )
        if first is not None:
            parts.append(
                f"<div class='qa-meta'>Closest: <cite>{escape(first.title)}</cite>, {escape(_date(first))}, "
                f"paragraph {reply.label(first)}</div>"
            )
        chips = " ".join(_chip(reply, p) for p in answer.passages)
        parts.append(f"<div class='qa-sources-line'>Passages: {chips}</div>")
    elif answer.no_answer:
        message = answer.message.replace("The releases", "The indexed releases").replace(
            " The closest passages are listed below.", ""
        )
        parts.append(f"<div class='qa-noanswer'><strong>Not in the releases.</strong> {escape(message)}</div>")
        chips = " ".join(_chip(reply, p) for p in answer.passages)
        parts.append(f"<div class='qa-sources-line'>Closest passages: {chips}</div>")
    else:
        held = reply.answer_passage
        lead_chip = _chip(reply, held) if held else ""
        parts.append(f"<div class='qa-lead'>{escape(answer.answer or '')} {lead_chip}</div>")
        if held:
            parts.append(
                f"<div class='qa-meta'>— <cite>{escape(held.title)}</cite>, {escape(_date(held))}, "
                f"paragraph {reply.label(held)} ({escape(held.source)})</div>"
            )
        others = " ".join(_chip(reply, p) for p in answer.passages if p is not held)
        tools = _copy_button(reply)
        parts.append(f"<div class='qa-sources-line'>{'Other sources: ' + others if others else ''}{tools}</div>")
    if answer.followup:
        parts.append(f"<div class='qa-note'>{escape(_followup_note(answer))}</div>")
    if feedback:
        parts.append(f"<div class='qa-fb' role='status'>{escape(_VOTE_NOTE.get(feedback, ''))}</div>")
    parts.append("</div>")
    return "".join(parts)


def _followup_note(answer: Answer) -> str:
    """How a follow-up was read: with words of the earlier question added, or as asked inside the earlier release."""
    if not answer.query or " ".join(answer.query.split()).casefold() == " ".join(answer.question.split()).casefold():
        return "Follow-up: searched as asked, inside the release the earlier answer came from"
    return f"Follow-up: searched for “{answer.query}”"


def _marked(text: str, start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return escape(text)
    return f"{escape(text[:start])}<mark class='qa-mark'>{escape(text[start:end])}</mark>{escape(text[end:])}"


def _answer_sentence(passage: Passage) -> str:
    """The answering sentence's text, trimmed (empty when the passage marks none)."""
    if passage.answer_start is None or passage.answer_end is None:
        return ""
    return passage.text[passage.answer_start : passage.answer_end].strip()


def _card_text(passage: Passage, mark: bool, own: str) -> str:
    """A passage card's preview: the paragraph holding the marked sentence (or the card's own paragraph, ``own``),
    so a passage that joins paragraphs does not show a neighbour's text in the few lines a card has; "…" stands
    for the rest of the passage on either side."""
    text, start = passage.text, 0
    marked = mark and passage.answer_start is not None and passage.answer_end is not None
    if marked:
        start = text.rfind("\n\n", 0, passage.answer_start) + 2 if "\n\n" in text[: passage.answer_start] else 0
    elif own and own in text:
        start = text.index(own)
    end = text.find("\n\n", max(start, passage.answer_end or 0) if marked else start)
    end = len(text) if end < 0 else end
    lead, tail = ("… " if start else ""), (" …" if end < len(text) else "")
    if marked:
        return lead + _marked(text[start:end], (passage.answer_start or 0) - start, (passage.answer_end or 0) - start) + tail
    return lead + escape(text[start:end]) + tail


def render_release(paragraphs: Sequence[str], passage: Passage | None = None, mark: bool = True) -> str:
    """A whole release, numbered paragraphs, the cited one highlighted (and its answering sentence marked)."""
    cited = -1
    if passage is not None:
        hits = [i for i, para in enumerate(paragraphs) if passage.text in para or para in passage.text]
        near = passage.paragraph - 1
        cited = near if near in hits else (hits[0] if hits else (near if 0 <= near < len(paragraphs) else -1))
    out = []
    labels = paragraph_labels(paragraphs)
    sentence = _answer_sentence(passage) if passage is not None and mark else ""
    # an answer that reads on into the list it introduces spans paragraphs: each part is marked where it stands
    parts = [part.strip() for part in sentence.split("\n\n") if part.strip()] if "\n\n" in sentence else []
    for i, para in enumerate(paragraphs):
        body = escape(para)
        part = parts[i - cited] if parts and 0 <= i - cited < len(parts) and parts[i - cited] in para else ""
        if i == cited and passage is not None and sentence and passage.text in para:
            offset = para.index(passage.text)
            body = _marked(para, offset + (passage.answer_start or 0), offset + (passage.answer_end or 0))
        elif i == cited and sentence and sentence in para:  # a passage of several paragraphs: find the sentence itself
            offset = para.index(sentence)
            body = _marked(para, offset, offset + len(sentence))
        elif part:
            offset = para.index(part)
            body = _marked(para, offset, offset + len(part))
        cls = "qa-para qa-cited" if i == cited or part else "qa-para"
        out.append(f"<div class='{cls}'><span class='qa-pnum'>¶{labels[i]}</span><span class='qa-ptext'>{body}</span></div>")
    return "".join(out)


EMPTY_PANEL = (
    "<div class='qa-panel qa-panel-empty'><div class='qa-panel-title'>Sources</div>"
    "<p>Ask a question: the passages behind the answer appear here, with the answering sentence marked "
    "and the whole release open at the cited paragraph.</p></div>"
)


def render_panel(reply: Reply | None, pick: int | None, paragraphs: Callable[[str], list[str]]) -> str:
    """The sources panel for one reply: the picked passage's release scrolled to its paragraph, then all passages."""
    if reply is None:
        return EMPTY_PANEL
    answer = reply.answer
    rid = reply.id
    pick = pick or reply.default_pick()
    held = reply.answer_passage
    shown = next((p for p in answer.passages if p.rank == pick), answer.passages[0] if answer.passages else None)
    head = [
        f"<div class='qa-panel qa-r-{rid}'><div class='qa-panel-top'><span class='qa-panel-title'>Sources</span>"
        f"{_copy_button(reply, shown)}</div>",
        f"<div class='qa-panel-q'>for “{escape(shorten(answer.question))}”</div>",
        _filter_chip(reply.filters),
    ]
    if level_of(answer) == "closest":
        head.append("<div class='qa-panel-note'>This may not answer the question: the closest passages, nothing marked.</div>")
    elif answer.no_answer and answer.passages:
        head.append("<div class='qa-panel-note'>Not in the releases: these are only the closest passages.</div>")
    if not answer.passages:
        head.append(f"<div class='qa-panel-note'>{escape(answer.message)}</div></div>")
        return "".join(head)
    cards = [f"<div class='qa-cards-head'>{len(answer.passages)} passages</div><ol class='qa-cards'>"]
    chosen: Passage | None = None
    for p in answer.passages:
        selected = p.rank == pick
        chosen = p if selected else chosen
        where = " · ".join(escape(x) for x in (_date(p), p.organisation or p.section or "") if x)
        release = paragraphs(p.source)
        own = release[p.paragraph - 1] if 0 < p.paragraph <= len(release) else ""
        text = _card_text(p, p is held and level_of(answer) == "answer", own)
        cards.append(
            f"<li class='qa-card{' qa-selected' if selected else ''}'>"
            f"<button type='button' class='qa-show qa-r-{rid} qa-n-{p.rank}' aria-pressed='{str(selected).lower()}'>"
            f"<span class='qa-num'>{p.rank}</span><span class='qa-card-title'>{escape(p.title)}</span></button>"
            f"<div class='qa-card-meta'>{where} · paragraph {reply.label(p)}{f', part {p.part}' if p.part else ''} · "
            f"<span class='qa-file'>{escape(p.source)}</span>"
            f"{' · also in ' + escape(', '.join(p.also_in)) if p.also_in else ''}</div>"
            f"<div class='qa-card-text'>{text}</div></li>"
        )
    cards.append("</ol></div>")
    chosen = chosen or answer.passages[0]
    # The release comes first: it shows the cited paragraph in context; the cards below switch between passages.
    body = paragraphs(chosen.source)
    if not body:  # the release was removed since this reply: say so instead of an empty box
        viewer = (
            f"<div class='qa-viewer-head'>Release [{chosen.rank}]: <strong>{escape(chosen.title)}</strong> · "
            f"{escape(_date(chosen))}</div><div class='qa-panel-note qa-gone'>This release is no longer in the library "
            "(it was removed); the passage below is what was cited. Restore it from the Library tab's "
            "“Removed releases”.</div>"
        )
    else:
        viewer = (
            f"<div class='qa-viewer-head'>Release [{chosen.rank}]: <strong>{escape(chosen.title)}</strong> · "
            f"{escape(_date(chosen))} · paragraph {reply.label(chosen)} highlighted</div>"
            f"<div class='qa-viewer' tabindex='0' role='region' aria-label='Whole release'>"
            f"{render_release(body, chosen, mark=chosen is held and level_of(answer) == 'answer')}</div>"
        )
    return "".join(head) + viewer + "".join(cards)


class AskResult(AnswerRecord):
    """What `/ask` returns and the feedback log keeps: the answer's JSON form and the conversation before it."""

    history: list[str]


def answer_record(answer: Answer, history: Sequence[str] = ()) -> AskResult:
    """Plain data for the API and the feedback log."""
    return AskResult(**answer.to_dict(), history=list(history))


# ------------------------------------------------------------------ styling and page script

_STATIC = Path(__file__).resolve().parent / "static"
CSS = (_STATIC / "chat.css").read_text(encoding="utf-8")  # theme-aware colours, every pair >= 4.5:1
HEAD = f"<script>\n{(_STATIC / 'chat.js').read_text(encoding='utf-8')}</script>"  # chips, copy, viewer scrolling
