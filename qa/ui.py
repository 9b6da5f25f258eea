"""What the chat shows: short replies with citation chips, a sources panel, a release viewer, the library, feedback.

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
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answering.types import Answer, Passage

__all__ = [
    "CSS",
    "EMPTY_PANEL",
    "HEAD",
    "FeedbackLog",
    "Filters",
    "Reply",
    "answer_record",
    "check_question",
    "citation_text",
    "escape",
    "example_questions",
    "library_rows",
    "new_reply_id",
    "render_library_release",
    "render_panel",
    "render_release",
    "render_reply",
    "render_uploads",
    "reply_id_of",
]

# One pass: HTML specials and Markdown/LaTeX punctuation all become numeric entities.
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$=:"}


def escape(text: str) -> str:
    """Release text -> inert HTML: nothing in it can open a tag, a link, emphasis or maths; newlines become <br>."""
    return str(text).translate(_ENTITIES).replace("\n", "<br>")


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

    @property
    def answer_passage(self) -> Passage | None:
        """The passage holding the answering sentence (None for a not-found reply)."""
        if self.answer.no_answer:
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
    return ""


def _date(p: Passage) -> str:
    return p.date or "undated"


def citation_text(answer: Answer) -> str:
    """The answer with its citation, as plain text to paste: "…" — Title, date, paragraph N (file)."""
    if answer.no_answer or not answer.answer:
        return ""
    p = next((p for p in answer.passages if p.answer_start is not None), answer.passages[0] if answer.passages else None)
    if p is None:
        return f"“{answer.answer}”"
    return f"“{answer.answer.strip()}” — {p.title}, {_date(p)}, paragraph {p.paragraph} ({p.source})"


def _chip(reply: Reply, p: Passage) -> str:
    return (
        f"<button type='button' class='qa-chip qa-r-{reply.id} qa-n-{p.rank}' title='{escape(p.title)}'"
        f" aria-label='Source {p.rank}: {escape(p.title)}'>{p.rank}</button>"
    )


def _filter_chip(filters: Filters) -> str:
    if not filters.active:
        return ""
    return f"<div class='qa-filter-chip'><span class='qa-filter-icon'>Filtered</span> {escape(filters.describe())}</div>"


def _copy_button(reply: Reply) -> str:
    text = citation_text(reply.answer)
    if not text:
        return ""
    return (
        f"<button type='button' class='qa-copy qa-r-{reply.id}'>Copy with citation</button>"
        f"<span class='qa-copytext'>{escape(text)}</span>"
    )


_VOTE_NOTE = {
    "up": "Thanks: your 👍 is saved for this answer.",
    "down": "Thanks: your 👎 is saved for this answer.",
    "none": "Your vote on this answer is withdrawn.",
}


def render_reply(reply: Reply, feedback: str | None = None) -> str:
    """One chat message: the answer sentence with numbered citation chips (details live in the sources panel)."""
    answer = reply.answer
    rid = reply.id
    parts = [f"<div class='qa-reply qa-r-{rid}'>", _filter_chip(reply.filters)]
    if answer.no_answer and not answer.passages:  # e.g. a filter that nothing matches
        parts.append(f"<div class='qa-noanswer'>{escape(answer.message)}</div>")
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
                f"paragraph {held.paragraph} ({escape(held.source)})</div>"
            )
        others = " ".join(_chip(reply, p) for p in answer.passages if p is not held)
        tools = _copy_button(reply)
        parts.append(f"<div class='qa-sources-line'>{'Other sources: ' + others if others else ''}{tools}</div>")
    if answer.followup:
        parts.append(f"<div class='qa-note'>Follow-up: searched for “{escape(answer.query)}”</div>")
    if feedback:
        parts.append(f"<div class='qa-fb' role='status'>{escape(_VOTE_NOTE.get(feedback, ''))}</div>")
    parts.append("</div>")
    return "".join(parts)


def _marked(text: str, start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return escape(text)
    return f"{escape(text[:start])}<mark class='qa-mark'>{escape(text[start:end])}</mark>{escape(text[end:])}"


def render_release(paragraphs: Sequence[str], passage: Passage | None = None, mark: bool = True) -> str:
    """A whole release, numbered paragraphs, the cited one highlighted (and its answering sentence marked)."""
    cited = -1
    if passage is not None:
        hits = [i for i, para in enumerate(paragraphs) if passage.text in para or para in passage.text]
        near = passage.paragraph - 1
        cited = near if near in hits else (hits[0] if hits else (near if 0 <= near < len(paragraphs) else -1))
    out = []
    for i, para in enumerate(paragraphs):
        body = escape(para)
        if i == cited and passage is not None and mark and passage.answer_start is not None and passage.text in para:
            offset = para.index(passage.text)
            body = _marked(para, offset + passage.answer_start, offset + (passage.answer_end or 0))
        cls = "qa-para qa-cited" if i == cited else "qa-para"
        out.append(f"<div class='{cls}'><span class='qa-pnum'>¶{i + 1}</span><span class='qa-ptext'>{body}</span></div>")
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
    head = [
        f"<div class='qa-panel qa-r-{rid}'><div class='qa-panel-top'><span class='qa-panel-title'>Sources</span>"
        f"{_copy_button(reply)}</div>",
        f"<div class='qa-panel-q'>for “{escape(answer.question)}”</div>",
        _filter_chip(reply.filters),
    ]
    if answer.no_answer and answer.passages:
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
        text = _marked(p.text, p.answer_start, p.answer_end) if p is held else escape(p.text)
        cards.append(
            f"<li class='qa-card{' qa-selected' if selected else ''}'>"
            f"<button type='button' class='qa-show qa-r-{rid} qa-n-{p.rank}' aria-pressed='{str(selected).lower()}'>"
            f"<span class='qa-num'>{p.rank}</span><span class='qa-card-title'>{escape(p.title)}</span></button>"
            f"<div class='qa-card-meta'>{where} · paragraph {p.paragraph}{f', part {p.part}' if p.part else ''} · "
            f"<span class='qa-file'>{escape(p.source)}</span>"
            f"{' · also in ' + escape(', '.join(p.also_in)) if p.also_in else ''}</div>"
            f"<div class='qa-card-text'>{text}</div></li>"
        )
    cards.append("</ol></div>")
    chosen = chosen or answer.passages[0]
    # The release comes first: it shows the cited paragraph in context; the cards below switch between passages.
    viewer = (
        f"<div class='qa-viewer-head'>Release [{chosen.rank}]: <strong>{escape(chosen.title)}</strong> · "
        f"{escape(_date(chosen))} · paragraph {chosen.paragraph} highlighted</div>"
        f"<div class='qa-viewer' tabindex='0' aria-label='Whole release'>"
        f"{render_release(paragraphs(chosen.source), chosen, mark=chosen is held)}</div>"
    )
    return "".join(head) + viewer + "".join(cards)


# ------------------------------------------------------------------ library and uploads


def render_uploads(results: Iterable[Any]) -> str:
    """One line per uploaded file: added, already indexed, or rejected with the reason."""
    rows = []
    for r in results:
        name = f"<strong>{escape(r.name)}</strong>"
        if r.status == "added":
            saved = f" (saved as {escape(r.source)})" if r.source and r.source != r.name else ""
            rows.append(
                f"<li class='qa-up qa-up-added'>✓ {name} added{saved}: “{escape(r.title)}”, {r.passages} passage"
                f"{'s' if r.passages != 1 else ''}. Ask away.</li>"
            )
        elif r.status == "already indexed":
            what = f"“{escape(r.title)}” ({escape(r.source)})" if r.title else escape(r.source)
            why = f" ({escape(r.reason)})" if r.reason else ""
            rows.append(f"<li class='qa-up qa-up-known'>= {name} is already indexed as {what}{why}: nothing added.</li>")
        else:
            rows.append(f"<li class='qa-up qa-up-rejected'>✗ {name} rejected: {escape(r.reason)}</li>")
    return f"<ul class='qa-uploads'>{''.join(rows)}</ul>"


def library_rows(items: Iterable[Any]) -> list[list[Any]]:
    """Rows of the Library table."""
    return [
        [
            r.title,
            r.date or "undated",
            r.organisation or r.section or "",
            r.passages,
            r.language or "",
            r.source + (f" (+{len(r.copies)} cop{'y' if len(r.copies) == 1 else 'ies'})" if r.copies else ""),
        ]
        for r in items
    ]


LIBRARY_HEADERS = ["Title", "Date", "Source", "Passages", "Language", "File"]


def render_library_release(info: Any, paragraphs: Sequence[str]) -> str:
    copies = f" · also in {escape(', '.join(info.copies))}" if info.copies else ""
    return (
        f"<div class='qa-panel'><div class='qa-viewer-head'><strong>{escape(info.title)}</strong> · "
        f"{escape(info.date or 'undated')} · {escape(info.organisation or info.section or 'no source named')} · "
        f"{info.passages} passages · <span class='qa-file'>{escape(info.source)}</span>{copies}</div>"
        f"<div class='qa-viewer qa-viewer-tall'>{render_release(paragraphs)}</div></div>"
    )


def example_questions(items: Sequence[Any], n: int = 4) -> list[str]:
    """Example questions built from the newest indexed releases' titles, so they fit whatever corpus is loaded."""
    out = []
    for r in items[:n]:
        title = r.title if len(r.title) <= 80 else r.title[:77].rsplit(" ", 1)[0] + "…"
        out.append(f"What does the release “{title}” say?")
    return out


def answer_record(answer: Answer, history: Sequence[str] = ()) -> dict[str, Any]:
    """Plain data for the API and the feedback log."""
    record = answer.to_dict()
    record["history"] = list(history)
    return record


class FeedbackLog:
    """Votes as JSONL, one line per click, each tied to the reply's id.

    ``vote`` is "up", "down" or "none" (the user took the vote back); the last
    line for a reply id is its current vote (:meth:`votes`).
    """

    def __init__(self, folder: Path | str | None = None) -> None:
        self.path = Path(folder or "data") / "feedback.jsonl"
        self._lock = threading.Lock()

    def record(self, record: dict[str, Any], vote: str, reply_id: str | None = None) -> dict[str, Any]:
        if vote not in ("up", "down", "none"):  # a forged like event cannot write its own words into the log
            raise ValueError(f"vote must be 'up', 'down' or 'none', got {vote!r}")
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "reply_id": reply_id,
            "vote": vote,
            "question": record.get("question"),
            "history": record.get("history", []),
            "answer": record.get("answer"),
            "no_answer": record.get("no_answer"),
            "filters": record.get("filters", {}),
            "passages": [
                {k: p[k] for k in ("rank", "score", "source", "paragraph", "doc_id", "title", "date", "text")}
                for p in record.get("passages", [])
            ],
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def votes(self) -> dict[str, str]:
        """Current vote per reply id (withdrawn votes left out)."""
        current: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                if entry.get("reply_id"):
                    current[entry["reply_id"]] = entry["vote"]
        return {k: v for k, v in current.items() if v != "none"}


# ------------------------------------------------------------------ styling and page script

_STATIC = Path(__file__).resolve().parent / "static"
CSS = (_STATIC / "chat.css").read_text(encoding="utf-8")  # theme-aware colours, every pair >= 4.5:1
HEAD = f"<script>\n{(_STATIC / 'chat.js').read_text(encoding='utf-8')}</script>"  # chips, copy, viewer scrolling
