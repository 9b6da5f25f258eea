"""release-qa chat: Gradio wiring only -- answers come from `qa.QA.ask`, rendering from `qa.ui`, the library from `qa.library`.

    python app.py [--host 127.0.0.1] [--port 7860] [--corpus seeds] [--index embeddings]

Environment: QA_HOST, QA_PORT, QA_CORPUS, QA_INDEX, QA_DATA (feedback folder),
QA_AUTH ("user:password", required when binding to anything but loopback).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import typing
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

import gradio as gr

from qa import QA, QAError, Settings, library
from qa.config import BACKENDS
from qa.corpus import SUPPORTED_SUFFIXES
from qa.errors import chat_api_message, chat_message
from qa.query.validate import MAX_QUESTION_CHARS
from qa.ui import (
    CSS,
    EMPTY_PANEL,
    HEAD,
    LIBRARY_HEADERS,
    FeedbackLog,
    Filters,
    Reply,
    answer_record,
    check_question,
    escape,
    example_questions,
    library_rows,
    new_reply_id,
    render_library_release,
    render_panel,
    render_reply,
    render_uploads,
    reply_id_of,
)
from qa.upload import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES

PRIVATE = {"api_visibility": "private"}
VOTES = {"up": "Like", "down": "Dislike"}


class AskResult(TypedDict):
    """What `/ask` returns: the fields of `python -m qa ask --json`."""

    id: Any
    question: str
    answer: str | None
    no_answer: bool
    passages: list[dict[str, Any]]
    message: str
    query: str
    followup: bool
    confidence: float
    coverage: float | None
    coverage_words: list[list[Any]]
    uncovered: list[str]
    timings: dict[str, float]
    history: list[str]


def _text(content: Any) -> str:
    """A chat message's text, whether Gradio hands it over as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text(part) for part in content).strip()
    return ""


def _vote(liked: Any) -> str:
    """Gradio's like payload -> "up", "down" or "none" (the user clicked their vote again to take it back)."""
    if liked is True or liked == "Like":
        return "up"
    if liked is False or liked == "Dislike":
        return "down"
    return "none"


def _stats(session: QA) -> str:
    items = library.releases(session)
    undated = sum(1 for r in items if not r.date)
    return (
        f"<div id='app-head'><h1>release-qa</h1><p>Ask the press releases: every answer cites release, date and "
        f"paragraph. {len(items)} releases, {sum(r.passages for r in items)} passages indexed"
        f"{f' ({undated} undated)' if undated else ''}.</p></div>"
    )


def _source_choices(session: QA) -> list[tuple[str, str]]:
    return [("Any source", "")] + [(f"{name} ({n})", name) for name, n in library.source_counts(session)]


def _examples(session: QA) -> list[dict[str, str]]:
    return [{"text": q} for q in example_questions(library.releases(session))]


def _ask_api(session: QA) -> Callable[..., AskResult]:
    def ask_api(
        question: str, k: int = 5, history: list[str] | None = None, since: str = "", until: str = "", source: str = ""
    ) -> AskResult:
        """Answer a question; returns the answer and its passages as data (same fields as `qa ask --json`)."""
        try:  # every value checked by the library's validators, the same as the CLI and the Python API
            answer = session.ask(question, k, history, since=since, until=until, source=source)
        except QAError as exc:  # the caller's mistake, not the server's: no traceback in the log
            raise gr.Error(chat_api_message(exc), print_exception=False) from None
        return answer_record(answer, history or [])  # type: ignore[return-value]

    ask_api.__annotations__ = typing.get_type_hints(ask_api)  # real types, not strings, so /ask documents its fields
    return ask_api


def _error(exc: QAError | str) -> str:
    return f"<div class='qa-error'>{escape(chat_message(exc))}</div>"


def _encodable(text: Any) -> str:
    """Text that can be sent back to the browser: invalid Unicode (a lone surrogate) replaced, non-text dropped."""
    return text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else ""


class ChatHandlers:
    """The Ask tab's event handlers: each asks the library and hands the result to a `qa.ui` renderer."""

    def __init__(self, session: QA, feedback: FeedbackLog) -> None:
        self.session, self.feedback = session, feedback

    def paragraphs(self, source: str) -> list[str]:
        return self.session.release_paragraphs(source)

    @staticmethod
    def chat_update(chat: list[dict[str, Any]], records: dict[str, Reply]) -> Any:
        """The conversation with each reply's thumbs state, found by reply id."""
        votes = [
            VOTES.get(records[rid].vote or "") if (rid := reply_id_of(m.get("content"))) in records else None
            for m in chat
            if m.get("role") == "assistant"
        ]
        return gr.Chatbot(value=chat, feedback_value=votes)

    def filters_of(self, since: str, until: str, source: str) -> Filters:
        filters = Filters((since or "").strip(), (until or "").strip(), (source or "").strip())
        if filters.since or filters.until:
            filters.undated_hidden = len(library.undated_releases(self.session))
        return filters

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        k: int,
        records: dict[str, Reply],
        since: str = "",
        until: str = "",
        source: str = "",
    ):
        """Ask, append the short reply, show its sources; a question that cannot be asked stays in the box."""
        chat, records = list(chat or []), dict(records or {})
        shown = _encodable(message)  # what goes back into the box must survive JSON: a lone surrogate becomes "?"
        problem = check_question(message)
        if problem:
            return shown, gr.skip(), records, f"<div class='qa-error'>{escape(problem)}</div>", gr.skip()
        history = [_text(m.get("content")) for m in chat if m.get("role") == "user"]
        filters = self.filters_of(since, until, source)
        try:
            answer = self.session.ask(message, int(k), history, since=filters.since, until=filters.until, source=filters.source)
        except QAError as exc:
            return shown, gr.skip(), records, _error(exc), gr.skip()
        reply = Reply(new_reply_id(), answer, history, filters)
        records[reply.id] = reply
        chat += [{"role": "user", "content": message}, {"role": "assistant", "content": render_reply(reply)}]
        return "", self.chat_update(chat, records), records, "", render_panel(reply, None, self.paragraphs)

    def on_pick(self, value: str, records: dict[str, Reply]) -> str:
        rid, _, rest = (value or "").partition(":")
        n = rest.partition(":")[0]
        reply = (records or {}).get(rid)
        return render_panel(reply, int(n) if n.isdigit() else None, self.paragraphs) if reply else gr.skip()

    def on_like(self, data: gr.LikeData, chat: list[dict[str, Any]], records: dict[str, Reply]):
        rid = reply_id_of(data.value)
        reply = (records or {}).get(rid or "")
        if reply is None:
            return gr.skip(), records
        vote = _vote(data.liked)
        record = answer_record(reply.answer, reply.history)
        record["filters"] = {"since": reply.filters.since, "until": reply.filters.until, "source": reply.filters.source}
        self.feedback.record(record, vote, reply.id)
        reply.vote = None if vote == "none" else vote
        chat = [
            dict(m, content=render_reply(reply, vote))
            if m.get("role") == "assistant" and reply_id_of(m.get("content")) == rid
            else m
            for m in chat
        ]
        return self.chat_update(chat, records), records

    @staticmethod
    def reset():
        return [], {}, EMPTY_PANEL, ""

    def on_filters(self, since: str, until: str, source: str):
        filters = self.filters_of(since, until, source)
        n = sum(bool(x) for x in (filters.since, filters.until, filters.source))
        chip = (
            (
                f"<div class='qa-filter-chip' id='active-filters'><span class='qa-filter-icon'>Filters on</span> "
                f"{escape(filters.describe())}</div>"
            )
            if filters.active
            else ""
        )
        return chip, gr.Accordion(label=f"Filters · {n} active" if n else "Filters"), gr.Button(visible=filters.active)

    @staticmethod
    def on_example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value)


class LibraryHandlers:
    """The Library tab's event handlers: listing, search, opening, removal, uploads."""

    def __init__(self, session: QA) -> None:
        self.session = session

    def items(self, query: str = "") -> list[library.ReleaseInfo]:
        return library.search_releases(library.releases(self.session), query)

    def view(self, query: str = ""):
        items = self.items(query)
        return gr.Dataframe(value=library_rows(items), headers=LIBRARY_HEADERS), [r.source for r in items]

    def refreshed(self, query: str = ""):
        """Everything that lists the library: header, table, source filter choices, example questions."""
        table, sources = self.view(query)
        return (
            _stats(self.session),
            table,
            sources,
            gr.Dropdown(choices=_source_choices(self.session)),
            gr.Chatbot(examples=_examples(self.session)),
        )

    def on_open(self, evt: gr.SelectData, sources: list[str]):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or row >= len(sources):
            return gr.skip(), gr.skip(), gr.skip()
        info = next(r for r in library.releases(self.session) if r.source == sources[row])
        paragraphs = self.session.release_paragraphs(info.source)
        return render_library_release(info, paragraphs), info.source, gr.Button(interactive=True, value="Remove this release")

    def on_remove(self, selected: str, query: str):
        if not selected:
            return (
                _error("Open a release first (click its row), then remove it."),
                "",
                "",
                gr.Button(interactive=False, value="Remove release"),
                *[gr.skip()] * 5,
            )
        try:
            info = library.remove_release(self.session, selected)
        except QAError as exc:
            return (_error(exc), gr.skip(), gr.skip(), gr.skip(), *[gr.skip()] * 5)
        note = (
            f"<div class='qa-status'>Removed “{escape(info.title)}” ({escape(', '.join(info.files))}) from the index. "
            f"The file{'s were' if len(info.files) > 1 else ' was'} moved to {escape(str(self.session.folder / 'removed'))}; "
            "move it back to the releases folder to restore it.</div>"
        )
        return (note, "", "", gr.Button(interactive=False, value="Remove release"), *self.refreshed(query))

    def on_upload(self, files: list[Any] | None, query: str, progress: gr.Progress = gr.Progress()):
        if not files:
            return "", None, *[gr.skip()] * 5
        paths = [getattr(f, "name", f) for f in files]
        names = [getattr(f, "orig_name", None) or os.path.basename(str(p)) for f, p in zip(files, paths)]
        progress(0, desc="Reading and indexing")
        try:
            results = self.session.add_releases(paths, names)
        except QAError as exc:
            return _error(exc), None, *[gr.skip()] * 5
        return render_uploads(results), None, *self.refreshed(query)


def _ask_tab(session: QA) -> dict[str, Any]:
    """The Ask tab's layout: chat, question box, filters on the left; the sources panel on the right."""
    c: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=360, elem_id="chat-col"):
            c["chatbot"] = gr.Chatbot(
                show_label=False,
                height="58vh",
                min_height=300,
                elem_id="chat",
                latex_delimiters=[],
                sanitize_html=True,
                feedback_options=("Like", "Dislike"),
                buttons=[],
                placeholder="Ask about the releases, or pick an example below.",
                examples=_examples(session),
            )
            c["active"] = gr.HTML(elem_id="filter-chip")
            with gr.Row():
                c["box"] = gr.Textbox(
                    placeholder="Ask a question about the releases…",
                    show_label=False,
                    scale=8,
                    max_length=MAX_QUESTION_CHARS,
                    elem_id="question",
                    autofocus=True,
                    lines=1,
                )
                c["send"] = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
            c["ask_error"] = gr.HTML(elem_id="ask-error")
            with gr.Accordion("Filters", open=False, elem_id="filters") as c["filters_box"]:
                with gr.Row():
                    c["since"] = gr.Textbox(
                        label="Since", placeholder="2024-01-01", elem_id="since", max_length=10, min_width=120
                    )
                    c["until"] = gr.Textbox(
                        label="Until", placeholder="2024-12-31", elem_id="until", max_length=10, min_width=120
                    )
                c["source"] = gr.Dropdown(
                    _source_choices(session),
                    value="",
                    label="Source",
                    allow_custom_value=True,
                    info="Organisation or section (releases), or type part of a file name",
                    elem_id="source",
                )
                gr.Markdown("Undated releases are left out when a date is set; the reply says how many.")
            with gr.Row():
                c["k"] = gr.Slider(1, 10, value=5, step=1, label="Passages", elem_id="k", min_width=160)
                c["clear_filters"] = gr.Button("Clear filters", visible=False, elem_id="clear-filters", min_width=100)
                c["clear"] = gr.Button("New conversation", elem_id="new-chat", min_width=120)
        with gr.Column(scale=4, min_width=320, elem_id="side"):
            c["panel"] = gr.HTML(EMPTY_PANEL, elem_id="sources")
    return c


def _library_tab(handlers: LibraryHandlers) -> dict[str, Any]:
    """The Library tab's layout: the upload box, then the searchable table of releases and the release viewer."""
    c: dict[str, Any] = {}
    gr.Markdown(
        f"**Add releases**: {', '.join(SUPPORTED_SUFFIXES)} files, up to {MAX_UPLOAD_FILES} at a time, "
        f"{MAX_UPLOAD_BYTES // 1_000_000} MB each. Each file is checked on its own; files already in "
        "the library (by content, whatever their name) are not added twice."
    )
    c["upload"] = gr.File(
        file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Release files", elem_id="upload", height=120
    )
    c["upload_status"] = gr.HTML(elem_id="upload-status")
    gr.Markdown(
        "**Indexed releases** (copies of the same release listed once). Click a row to read the release; "
        "**Remove this release** then takes it out of the index."
    )
    c["search"] = gr.Textbox(label="Search the library", placeholder="title, date, source or file", elem_id="lib-search")
    items = handlers.items()
    c["table"] = gr.Dataframe(
        value=library_rows(items),
        headers=LIBRARY_HEADERS,
        interactive=False,
        wrap=True,
        elem_id="library",
        max_height=420,
        column_widths=["40%", "11%", "17%", "9%", "8%", "15%"],
    )
    c["sources"] = gr.State([r.source for r in items])
    c["selected"] = gr.State("")
    with gr.Row():
        c["remove"] = gr.Button("Remove release", variant="stop", interactive=False, elem_id="remove", scale=0, min_width=200)
    c["status"] = gr.HTML(elem_id="lib-status")
    c["view"] = gr.HTML(elem_id="lib-view")
    return c


def _wire_ask(h: ChatHandlers, c: dict[str, Any], records: gr.State, pick: gr.Textbox) -> None:
    ask_in = [c["box"], c["chatbot"], c["k"], records, c["since"], c["until"], c["source"]]
    ask_out = [c["box"], c["chatbot"], records, c["ask_error"], c["panel"]]
    cleared = [c["chatbot"], records, c["panel"], c["ask_error"]]
    c["box"].submit(h.respond, ask_in, ask_out, **PRIVATE)
    c["send"].click(h.respond, ask_in, ask_out, **PRIVATE)
    c["chatbot"].example_select(h.on_example, None, c["box"], **PRIVATE).then(h.respond, ask_in, ask_out, **PRIVATE)
    c["chatbot"].like(h.on_like, [c["chatbot"], records], [c["chatbot"], records], **PRIVATE)
    pick.change(h.on_pick, [pick, records], c["panel"], **PRIVATE)
    c["clear"].click(h.reset, None, cleared, **PRIVATE)
    c["chatbot"].clear(h.reset, None, cleared, **PRIVATE)
    filters = [c["since"], c["until"], c["source"]]
    for box in filters:
        box.change(h.on_filters, filters, [c["active"], c["filters_box"], c["clear_filters"]], **PRIVATE)
    c["clear_filters"].click(lambda: ("", "", ""), None, filters, **PRIVATE)


def _wire_library(h: LibraryHandlers, c: dict[str, Any], listing: list[Any]) -> None:
    """``listing``: every component that shows the library (header, table, sources, source filter, examples)."""
    c["search"].change(h.view, c["search"], [c["table"], c["sources"]], **PRIVATE)
    c["table"].select(h.on_open, c["sources"], [c["view"], c["selected"], c["remove"]], **PRIVATE)
    c["remove"].click(
        h.on_remove, [c["selected"], c["search"]], [c["status"], c["view"], c["selected"], c["remove"], *listing], **PRIVATE
    )
    c["upload"].upload(h.on_upload, [c["upload"], c["search"]], [c["upload_status"], c["upload"], *listing], **PRIVATE)


def build_demo(session: QA, feedback: FeedbackLog | None = None, data: Path | None = None) -> gr.Blocks:
    """The chat: an Ask tab (conversation + sources panel) and a Library tab, plus the typed `/ask` API."""
    chat, lib = ChatHandlers(session, feedback or FeedbackLog(data)), LibraryHandlers(session)
    with gr.Blocks(title="release-qa") as demo:
        head = gr.HTML(_stats(session))
        records = gr.State({})
        pick = gr.Textbox(visible="hidden", elem_id="pick")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask-tab"):
                ask = _ask_tab(session)
            with gr.Tab("Library", id="library-tab"):
                shelf = _library_tab(lib)
        _wire_ask(chat, ask, records, pick)
        listing = [head, shelf["table"], shelf["sources"], ask["source"], ask["chatbot"]]
        _wire_library(lib, shelf, listing)
        demo.load(lib.refreshed, shelf["search"], listing, **PRIVATE)
        gr.api(_ask_api(session), api_name="ask")
    return demo


# Fonts the machine already has: the default theme fetches its font from the internet, which fails offline and
# left bold text in a fallback with odd glyphs. These stacks need no request at all.
FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Noto Sans", "DejaVu Sans", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "DejaVu Sans Mono", "monospace"]


def launch_options() -> dict[str, Any]:
    """Arguments for ``demo.launch`` that belong to the page itself (theme, styling, script, upload limit)."""
    theme = gr.themes.Default(font=FONTS, font_mono=MONO_FONTS)
    return {"theme": theme, "css": CSS, "head": HEAD, "footer_links": ["api"], "max_file_size": MAX_UPLOAD_BYTES}


def _args(settings: Settings, argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="release-qa chat")
    p.add_argument("--host", default=os.environ.get("QA_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("QA_PORT", 7860)))
    p.add_argument("--corpus", type=Path, default=settings.corpus)
    p.add_argument("--index", type=Path, default=settings.index)
    p.add_argument("--model", default=settings.model)
    p.add_argument(
        "--backend",
        default=settings.backend,
        choices=BACKENDS,
        help=f"encoder (default {settings.backend}, from QA_BACKEND or the library's default); "
        "an index embedded with another backend is re-embedded at start",
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    try:
        settings = Settings.from_env()
    except QAError as exc:
        sys.exit(f"error: {exc}")
    args = _args(settings)
    settings = replace(settings, corpus=args.corpus, index=args.index, model=args.model, backend=args.backend)
    session = QA.from_settings(settings)
    auth = settings.auth  # QA_AUTH, checked by Settings.from_env: user and password both non-empty
    if auth is None and args.host not in {"127.0.0.1", "localhost", "::1"}:
        sys.exit(
            f"error: binding to {args.host} exposes the chat beyond this machine: set QA_AUTH=user:password to require a login"
        )
    print(f"loading the index over {session.corpus} (built first if missing or stale)…", file=sys.stderr)
    try:
        session.ensure_index()
    except QAError as exc:
        sys.exit(f"error: {exc}")
    # The encoder session and BM25 load while the page is built and served, not on the first question.
    threading.Thread(target=session.warm_up, name="warm-up", daemon=True).start()
    demo = build_demo(session, data=settings.data)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, auth=auth, show_error=True, **launch_options()
    )
