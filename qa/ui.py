"""What the chat shows: answers as safe HTML, whole releases with the cited passage marked, feedback records.

Release text is data. Every character of it goes through :func:`escape`, which
turns HTML *and* Markdown punctuation into entities, so a release holding
``<script>``, ``<img onerror=...>`` or ``**markdown**`` is shown as written and
never rendered or run.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .answer import Answer, Passage
from .session import QA

__all__ = ["escape", "render_answer", "render_release", "answer_record", "rated_reply", "FeedbackLog"]

# One pass: HTML specials and Markdown/LaTeX punctuation all become numeric entities.
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$=:"}


def escape(text: str) -> str:
    """Release text -> inert HTML: nothing in it can open a tag, a link, emphasis or maths; newlines become <br>."""
    return text.translate(_ENTITIES).replace("\n", "<br>")


def _marked(text: str, start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return escape(text)
    return f"{escape(text[:start])}<mark class='qa-mark'>{escape(text[start:end])}</mark>{escape(text[end:])}"


def _cite(p: Passage) -> str:
    part = f", part {p.part}" if p.part else ""
    return (f"<span class='qa-rank'>[{p.rank}]</span> <strong>{escape(p.title)}</strong> · {escape(p.date or 'undated')}"
            f" · <code>{escape(p.source)}</code> · paragraph {p.paragraph}{part} · score {p.score:.3f}")


def _release_paragraphs(session: QA, source: str) -> list[str]:
    """What was indexed, never the file as it is now (it may have changed, or become a link to anywhere)."""
    return session.release_paragraphs(source)


def render_release(session: QA, passage: Passage, paragraphs: list[str] | None = None) -> str:
    """The whole release, paragraph by paragraph, with the cited passage marked (and the answer inside it)."""
    if paragraphs is None:
        paragraphs = _release_paragraphs(session, passage.source)
    out = []
    for i, para in enumerate(paragraphs, start=1):
        cited = passage.text in para or para in passage.text
        if cited and passage.answer_start is not None and passage.text in para:
            offset = para.index(passage.text)
            body = _marked(para, offset + passage.answer_start, offset + (passage.answer_end or 0))
        else:
            body = escape(para)
        cls = "qa-para qa-cited" if cited else "qa-para"
        out.append(f"<p class='{cls}'><span class='qa-pnum'>{i}</span> {body}</p>")
    return "".join(out)


def render_answer(answer: Answer, session: QA | None = None) -> str:
    """One chat reply: the answering sentence, then the cited passages (each can open its whole release)."""
    if answer.no_answer and not answer.passages:  # e.g. a filter that nothing matches
        head = f"<div class='qa-noanswer'>{escape(answer.message)}</div>"
    elif answer.no_answer:
        head = ("<div class='qa-noanswer'><strong>Not in the releases.</strong> "
                f"{escape(answer.message.replace('The releases', 'The indexed releases'))}</div>")
    else:
        head = f"<div class='qa-lead'>{escape(answer.answer or '')}</div>"
    label = "" if not answer.passages else "Closest passages" if answer.no_answer else "Sources"
    parts = [f"<div class='qa-answer'>{head}<div class='qa-sources'>{label}</div>"]
    releases: dict[str, list[str]] = {}  # passages often share a release: read and clean each file once
    for p in answer.passages:
        release = ""
        if session is not None:
            if p.source not in releases:
                releases[p.source] = _release_paragraphs(session, p.source)
            release = (f"<details class='qa-open'><summary>Open the whole release</summary>"
                       f"<div class='qa-release'>{render_release(session, p, releases[p.source])}</div></details>")
        parts.append(f"<div class='qa-passage'><div class='qa-cite'>{_cite(p)}</div>"
                     f"<div class='qa-text'>{_marked(p.text, p.answer_start, p.answer_end)}</div>{release}</div>")
    if answer.followup:
        parts.append(f"<div class='qa-note'>Follow-up: searched for “{escape(answer.query)}”</div>")
    parts.append("</div>")
    return "".join(parts)


VOTES = {True: "up", "Like": "up", False: "down", "Dislike": "down"}


def rated_reply(records: Sequence[dict[str, Any]], index: Any, liked: Any) -> tuple[dict[str, Any], str] | None:
    """The reply a like event points at and its vote, or None for anything a real click cannot send."""
    index = index[0] if isinstance(index, (list, tuple)) and index else index
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    vote = VOTES.get(liked) if isinstance(liked, (bool, str)) else None
    reply_number = index // 2  # messages alternate user, assistant
    if vote is None or not records or reply_number >= len(records) or not records[reply_number]:
        return None
    return records[reply_number], vote


def answer_record(answer: Answer, history: Sequence[str] = ()) -> dict[str, Any]:
    """Plain data for the API and the feedback log."""
    record = answer.to_dict()
    record["history"] = list(history)
    return record


class FeedbackLog:
    """Thumbs up/down as JSONL, one line per vote, in the gold-QA format's spirit (question, history, passages)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.path = Path(folder or "data") / "feedback.jsonl"
        self._lock = threading.Lock()

    def record(self, record: dict[str, Any], vote: str) -> dict[str, Any]:
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', got {vote!r}")
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "vote": vote,
            "question": record.get("question"),
            "history": record.get("history", []),
            "answer": record.get("answer"),
            "no_answer": record.get("no_answer"),
            "passages": [{k: p[k] for k in ("rank", "score", "source", "paragraph", "doc_id", "title", "date", "text")}
                         for p in record.get("passages", [])],
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry
