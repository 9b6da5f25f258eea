"""The chat's event handlers: each asks the library and hands the result to a :mod:`qa.web.render` renderer.

Handlers return ``{component: value}`` dicts, so what each one changes is
named, not counted. The conversation is kept twice: in the session
(``records``, fast) and in the browser (``saved``, so it survives a reload);
a reply the session has forgotten is rebuilt from the browser's copy.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import gradio as gr

from .. import QA, Answer, Passage, QAError
from ..errors import chat_message
from ..query.validate import parse_day
from .feedback import FeedbackLog, RateLimited
from .render import (
    EMPTY_PANEL,
    Filters,
    Reply,
    answer_record,
    check_question,
    escape,
    new_reply_id,
    paragraph_labels,
    render_panel,
    render_question,
    render_reply,
    reply_id_of,
    without_paths,
)
from .state import Loader

__all__ = ["MAX_SAVED_REPLIES", "ChatHandlers", "answer_from_dict", "error_html", "vote_of"]

VOTES = {"up": "Like", "down": "Dislike"}
MAX_SAVED_REPLIES = 30  # replies kept in the browser (and in the session)
EMPTY_SAVED: dict[str, Any] = {"chat": [], "answers": {}}


def error_html(exc: QAError | str) -> str:
    return f"<div class='qa-error' role='alert'>{escape(without_paths(chat_message(exc)))}</div>"


def vote_of(liked: Any) -> str:
    """Gradio's like payload -> "up", "down" or "none" (the user clicked their vote again to take it back)."""
    if liked is True or liked == "Like":
        return "up"
    if liked is False or liked == "Dislike":
        return "down"
    return "none"


def _encodable(text: Any) -> str:
    """Text that can be sent back to the browser: invalid Unicode (a lone surrogate) replaced, non-text dropped."""
    return text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else ""


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """An answer rebuilt from its ``to_dict()`` form (the browser's saved copy); unknown keys are ignored."""
    names = {f.name for f in fields(Answer)}
    p_names = {f.name for f in fields(Passage)}
    values = {k: v for k, v in data.items() if k in names and k != "passages"}
    values["coverage_words"] = [tuple(x) for x in values.get("coverage_words") or []]
    passages = [Passage(**{k: v for k, v in p.items() if k in p_names}) for p in data.get("passages") or []]
    return Answer(passages=passages, **values)


def _reply_from_saved(rid: str, entry: dict[str, Any]) -> Reply | None:
    try:
        filters = Filters(**{k: v for k, v in (entry.get("filters") or {}).items() if k in ("since", "until", "source")})
        labels = {int(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        answer = answer_from_dict(entry["answer"])
        return Reply(rid, answer, list(entry.get("history") or []), filters, entry.get("vote"), labels)
    except (KeyError, TypeError, ValueError):
        return None


def _saved_entry(reply: Reply) -> dict[str, Any]:
    f = reply.filters
    return {
        "answer": reply.answer.to_dict(),
        "history": reply.history,
        "filters": {"since": f.since, "until": f.until, "source": f.source},
        "vote": reply.vote,
        "labels": {str(k): v for k, v in reply.labels.items()},  # JSON keys are text
    }


def _trim(chat: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    chat = chat[-2 * MAX_SAVED_REPLIES :]
    kept = {reply_id_of(m.get("content")) for m in chat if m.get("role") == "assistant"}
    return {"chat": chat, "answers": {k: v for k, v in answers.items() if k in kept}}


class ChatHandlers:
    """The Ask tab. ``c`` maps names to components (see :func:`qa.web.app.ask_tab`)."""

    def __init__(self, session: QA, loader: Loader, feedback: FeedbackLog, c: dict[str, Any]) -> None:
        self.session, self.loader, self.feedback, self.c = session, loader, feedback, c

    def chat_update(self, chat: list[dict[str, Any]], records: dict[str, Reply]) -> Any:
        """The conversation with each reply's thumbs state, found by reply id."""
        votes = [
            VOTES.get(records[rid].vote or "") if (rid := reply_id_of(m.get("content"))) in records else None
            for m in chat
            if m.get("role") == "assistant"
        ]
        return gr.Chatbot(value=chat, feedback_value=votes)  # type: ignore[arg-type]  # plain message dicts

    def filters_of(self, since: str, until: str, source: str) -> Filters:
        from ..library import undated_releases

        filters = Filters((since or "").strip(), (until or "").strip(), (source or "").strip())
        if (filters.since or filters.until) and self.loader.ready:
            filters.undated_hidden = len(undated_releases(self.session))
        return filters

    def respond(self, message, chat, k, records, saved, since="", until="", source=""):
        """Ask, append the question and the short reply, show its sources; a question that cannot be asked stays."""
        c = self.c
        chat, records, saved = list(chat or []), dict(records or {}), dict(saved or EMPTY_SAVED)
        shown = _encodable(message)
        problem = check_question(message)
        if not problem and self.loader.phase == "failed":
            problem = f"{self.loader.status()}. No question can be answered until then; your question stays here."
        elif not problem and not self.loader.ready:
            problem = f"Still loading the releases ({self.loader.status()}): ask again in a moment, your question stays here."
        if problem:
            return {c["box"]: shown, c["ask_error"]: f"<div class='qa-error' role='alert'>{escape(problem)}</div>"}
        history = [r.answer.question for r in records.values()][-10:]
        filters = self.filters_of(since, until, source)
        try:
            answer = self.session.ask(
                message.strip(), int(k), history, since=filters.since, until=filters.until, source=filters.source
            )
        except QAError as exc:
            return {c["box"]: shown, c["ask_error"]: error_html(exc)}
        reply = Reply(new_reply_id(), answer, history, filters, labels=self.labels(answer))
        records[reply.id] = reply
        chat += [
            {"role": "user", "content": render_question(answer.question)},
            {"role": "assistant", "content": render_reply(reply)},
        ]
        answers = {**saved.get("answers", {}), reply.id: _saved_entry(reply)}
        saved = _trim(chat, answers)
        records = {k: v for k, v in records.items() if k in saved["answers"]}
        return {
            c["box"]: "",
            c["chatbot"]: self.chat_update(saved["chat"], records),
            c["records"]: records,
            c["saved"]: saved,
            c["ask_error"]: "",
            c["panel"]: render_panel(reply, None, self.paragraphs),
        }

    def labels(self, answer: Answer) -> dict[int, str]:
        """Each passage's paragraph number as its release numbers it."""
        out: dict[int, str] = {}
        for p in answer.passages:
            labels = paragraph_labels(self.paragraphs(p.source))
            if 0 < p.paragraph <= len(labels):
                out[p.rank] = labels[p.paragraph - 1]
        return out

    def paragraphs(self, source: str) -> list[str]:
        return self.session.release_paragraphs(source) if self.loader.ready else []

    def _find(self, rid: str, records: dict[str, Reply], saved: dict[str, Any]) -> Reply | None:
        reply = (records or {}).get(rid)
        if reply is None and isinstance(saved, dict):
            entry = (saved.get("answers") or {}).get(rid)
            reply = _reply_from_saved(rid, entry) if isinstance(entry, dict) else None
        return reply

    def on_pick(self, value: str, records: dict[str, Reply], saved: dict[str, Any]) -> Any:
        rid, _, rest = (value or "").partition(":")
        n = rest.partition(":")[0]
        reply = self._find(rid, records, saved)
        return render_panel(reply, int(n) if n.isdigit() else None, self.paragraphs) if reply else gr.skip()

    def on_like(self, data: gr.LikeData, chat, records, saved, request: gr.Request):  # type: ignore[no-untyped-def]
        c = self.c
        rid = reply_id_of(data.value) or ""
        reply = self._find(rid, records, saved)
        if reply is None:
            return {c["ask_error"]: gr.skip()}  # a forged or stale reply id: nothing to record
        vote = vote_of(data.liked)
        filters = {"since": reply.filters.since, "until": reply.filters.until, "source": reply.filters.source}
        record = {**answer_record(reply.answer, reply.history), "filters": filters}
        client = getattr(getattr(request, "client", None), "host", "") or ""
        try:
            self.feedback.record(record, vote, reply.id, client=client)
        except RateLimited as exc:
            return {c["ask_error"]: error_html(str(exc))}
        reply.vote = None if vote == "none" else vote
        records = {**(records or {}), rid: reply}
        chat = [
            dict(m, content=render_reply(reply, vote))
            if m.get("role") == "assistant" and reply_id_of(m.get("content")) == rid
            else m
            for m in chat
        ]
        answers = dict((saved or EMPTY_SAVED).get("answers") or {})
        answers[rid] = _saved_entry(reply)
        return {c["chatbot"]: self.chat_update(chat, records), c["records"]: records, c["saved"]: _trim(chat, answers)}

    def reset(self) -> dict[Any, Any]:
        c = self.c
        return {c["chatbot"]: [], c["records"]: {}, c["saved"]: dict(EMPTY_SAVED), c["panel"]: EMPTY_PANEL, c["ask_error"]: ""}

    def restore(self, saved: dict[str, Any]) -> dict[Any, Any]:
        """On page load: the conversation the browser kept, with the last reply's sources."""
        c = self.c
        saved = saved if isinstance(saved, dict) else dict(EMPTY_SAVED)
        chat = [m for m in saved.get("chat") or [] if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
        records: dict[str, Reply] = {}
        for rid, entry in (saved.get("answers") or {}).items():
            reply = _reply_from_saved(rid, entry) if isinstance(entry, dict) else None
            if reply is not None:
                records[rid] = reply
        chat = [m for m in chat if m["role"] == "user" or reply_id_of(m.get("content")) in records]
        last = next(reversed(records.values()), None) if records else None
        return {
            c["chatbot"]: self.chat_update(chat, records),
            c["records"]: records,
            c["panel"]: render_panel(last, None, self.paragraphs) if last else EMPTY_PANEL,
        }

    def on_filters(self, since: str, until: str, source: str) -> dict[Any, Any]:
        c = self.c
        filters = self.filters_of(since, until, source)
        n = sum(bool(x) for x in (filters.since, filters.until, filters.source))
        chip = (
            f"<div class='qa-filter-chip' id='active-filters'><span class='qa-filter-icon'>Filters on</span> "
            f"{escape(filters.describe())}</div>"
            if filters.active
            else ""
        )
        return {
            c["active"]: chip,
            c["filters_box"]: gr.Accordion(label=f"Filters · {n} active" if n else "Filters"),
            c["clear_filters"]: gr.Button(visible=filters.active),
            # an error about the old values no longer applies; one about these stays (shown when a date box is left)
            c["ask_error"]: gr.skip() if self.check_dates(since, until) else "",
        }

    @staticmethod
    def check_dates(since: str, until: str) -> str:
        """A date filter that cannot be used is named when its box is left, not only at the next question."""
        try:
            first, last = parse_day(since, "since"), parse_day(until, "until", end=True)
        except QAError as exc:
            return error_html(exc)
        if first and last and first > last:
            return error_html(f"“Since” {first} is after “Until” {last}: swap them.")
        return ""

    @staticmethod
    def on_example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value)
