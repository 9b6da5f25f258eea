"""release-qa chat: the Gradio page (an Ask tab and a Library tab) and the typed ``/ask`` API.

    python -m qa chat [--host 127.0.0.1] [--port 7860] [--corpus seeds] [--index embeddings]

The page is served at once; the index loads (or builds) behind it
(:class:`~qa.web.state.Loader`), with its progress on the page. Answers come
from :meth:`qa.QA.ask`, rendering from :mod:`qa.web.render`, the library from
:mod:`qa.library`. Settings: QA_HOST, QA_PORT, QA_CORPUS, QA_INDEX, QA_DATA,
QA_AUTH ("user:password", required off loopback), QA_ALLOWED_HOSTS.
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from .. import QA, QAError, Settings, library
from ..config import BACKENDS
from ..corpus import SUPPORTED_SUFFIXES
from ..errors import chat_api_message, cli_message
from ..upload import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES
from .feedback import FeedbackLog
from .guard import Guard, allowed_hosts, expire_idle_sessions
from .handlers import EMPTY_SAVED, ChatHandlers
from .library_tab import LibraryHandlers, stats_html
from .render import CSS, EMPTY_PANEL, HEAD, AskResult, answer_record, check_question, escape, without_paths
from .state import CountingEncoder, Loader

__all__ = ["build_demo", "launch_options", "main"]

QUIET = {"api_visibility": "private", "show_progress": "hidden"}
SESSION_CAP = 200  # sessions whose state the server keeps (the conversation itself lives in the browser)


def source_choices(session: QA, loader: Loader) -> list[tuple[str, str]]:
    counts = library.source_counts(session) if loader.ready else []
    return [("Any source", "")] + [(f"{name} ({n})", name) for name, n in counts]


def examples_value(loader: Loader) -> list[dict[str, str]]:
    return [{"text": e.question} for e in loader.examples]


def _ask_api(session: QA, loader: Loader) -> Callable[..., AskResult]:
    def ask(question: str, k: int = 5, history: list[str] = [], since: str = "", until: str = "", source: str = "") -> AskResult:  # noqa: B006
        """Answer a question; returns the answer and its passages as data (same fields as `qa ask --json`)."""
        if not loader.ready:
            raise gr.Error(f"still loading the releases ({loader.status()}): ask again in a moment", print_exception=False)
        problem = check_question(question) if isinstance(question, str) else ""
        if problem:
            raise gr.Error(problem, print_exception=False)
        try:  # every value checked by the library's validators, the same as the CLI and the Python API
            answer = session.ask(question, k, history, since=since, until=until, source=source)
        except QAError as exc:  # the caller's mistake, not the server's: no traceback in the log
            raise gr.Error(without_paths(chat_api_message(exc)), print_exception=False) from None
        return answer_record(answer, (history or [])[-10:])

    ask.__annotations__ = typing.get_type_hints(ask)  # real types, not strings, so /ask documents its fields
    return ask


def ask_tab(c: dict[str, Any]) -> None:
    """The Ask tab's layout: chat, question box, filters on the left; the sources panel on the right."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340, elem_id="chat-col"):
            c["chatbot"] = gr.Chatbot(
                show_label=False,
                height="58vh",
                min_height=300,
                elem_id="chat",
                latex_delimiters=[],
                sanitize_html=True,
                feedback_options=("Like", "Dislike"),
                buttons=[],
                autoscroll=False,  # the page script scrolls the new reply's top into view instead
                placeholder="Ask about the releases, or pick an example.",
            )
            c["active"] = gr.HTML(elem_id="filter-chip")
            with gr.Row(elem_id="ask-row"):
                c["box"] = gr.Textbox(
                    placeholder="Ask a question…",
                    show_label=False,
                    scale=8,
                    elem_id="question",
                    autofocus=True,
                    lines=1,
                    max_lines=4,  # a pasted page scrolls inside the box: the chat and the refusal below stay on screen
                )
                c["send"] = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
            c["ask_error"] = gr.HTML(elem_id="ask-error")
            with gr.Accordion("Filters", open=False, elem_id="filters") as c["filters_box"]:
                with gr.Row():
                    c["since"] = gr.Textbox(
                        label="Since", placeholder="YYYY-MM-DD", elem_id="since", max_length=10, min_width=120
                    )
                    c["until"] = gr.Textbox(
                        label="Until", placeholder="YYYY-MM-DD", elem_id="until", max_length=10, min_width=120
                    )
                c["source"] = gr.Dropdown(
                    [("Any source", "")],
                    value="",
                    label="Source",
                    allow_custom_value=True,
                    info="Organisation or section, or part of a file name",
                    elem_id="source",
                )
                gr.Markdown("Undated releases are left out when a date is set; the reply says how many.", elem_id="undated-note")
            with gr.Row(elem_id="chat-tools"):
                c["k"] = gr.Slider(1, 10, value=5, step=1, label="Passages", elem_id="k", min_width=200)
                c["clear_filters"] = gr.Button("Clear filters", visible=False, elem_id="clear-filters", min_width=120)
                c["clear"] = gr.Button("New conversation", elem_id="new-chat", min_width=140)
        with gr.Column(scale=4, min_width=320, elem_id="side"):
            c["panel"] = gr.HTML(EMPTY_PANEL, elem_id="sources")


def library_tab(c: dict[str, Any]) -> None:
    """The Library tab's layout: the upload box, then the searchable list, the release viewer, removal and restore."""
    gr.Markdown(
        f"**Add releases**: {', '.join(SUPPORTED_SUFFIXES)} files, up to {MAX_UPLOAD_FILES} at a time, "
        f"{MAX_UPLOAD_BYTES // 1_000_000} MB each. Each file is checked on its own; files already in "
        "the library (by content, whatever their name) are not added twice.",
        elem_id="upload-help",
    )
    c["upload"] = gr.File(
        file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Release files", elem_id="upload", height=120
    )
    c["upload_status"] = gr.HTML(elem_id="upload-status")
    gr.Markdown("**Indexed releases** (copies of the same release listed once). Open one to read it or remove it.")
    c["search"] = gr.Textbox(label="Search the library", placeholder="title, date, source or file", elem_id="lib-search")
    c["table"] = gr.HTML("<div class='qa-lib-empty' role='status'>Loading the releases…</div>", elem_id="library")
    c["lib_pick"] = gr.Textbox(visible="hidden", elem_id="lib-pick")
    c["sources"] = gr.State([])
    c["selected"] = gr.State("")
    c["last_removed"] = gr.State("")
    c["removed_ids"] = gr.State([])
    c["view"] = gr.HTML(elem_id="lib-view")
    with gr.Row(elem_id="remove-row"):
        c["remove"] = gr.Button("Remove release", variant="stop", interactive=False, elem_id="remove", scale=0, min_width=220)
    with gr.Row(visible=False, elem_id="confirm") as c["confirm"]:
        c["confirm_text"] = gr.HTML(elem_id="confirm-text", min_width=300)  # the row wraps on a phone
        c["confirm_yes"] = gr.Button("Yes, remove it", variant="stop", elem_id="confirm-remove", scale=0, min_width=160)
        c["confirm_no"] = gr.Button("Cancel", elem_id="cancel-remove", scale=0, min_width=100)
    with gr.Row(elem_id="status-row"):
        c["status"] = gr.HTML(elem_id="lib-status", min_width=300)
        c["undo"] = gr.Button("Undo", visible=False, elem_id="undo", scale=0, min_width=100)
    with gr.Accordion("Removed releases", open=False, elem_id="removed-box"):
        c["removed"] = gr.HTML(elem_id="removed")
        c["restore_pick"] = gr.Textbox(visible="hidden", elem_id="restore-pick")


def _wire_ask(h: ChatHandlers, c: dict[str, Any]) -> None:
    ask_in = [c["box"], c["chatbot"], c["k"], c["records"], c["saved"], c["since"], c["until"], c["source"]]
    ask_out = [c["box"], c["chatbot"], c["records"], c["saved"], c["ask_error"], c["panel"]]
    cleared = [c["chatbot"], c["records"], c["saved"], c["panel"], c["ask_error"]]
    c["box"].submit(h.respond, ask_in, ask_out, **QUIET)
    c["send"].click(h.respond, ask_in, ask_out, **QUIET)
    c["chatbot"].example_select(h.on_example, None, c["box"], **QUIET).then(h.respond, ask_in, ask_out, **QUIET)
    c["chatbot"].like(
        h.on_like, [c["chatbot"], c["records"], c["saved"]], [c["chatbot"], c["records"], c["saved"], c["ask_error"]], **QUIET
    )
    c["pick"].change(h.on_pick, [c["pick"], c["records"], c["saved"]], c["panel"], **QUIET)
    c["clear"].click(h.reset, None, cleared, **QUIET)
    c["chatbot"].clear(h.reset, None, cleared, **QUIET)
    filters = [c["since"], c["until"], c["source"]]
    for box in filters:
        box.change(h.on_filters, filters, [c["active"], c["filters_box"], c["clear_filters"], c["ask_error"]], **QUIET)
    c["clear_filters"].click(lambda: ("", "", ""), None, filters, **QUIET)
    for box in (c["since"], c["until"]):
        for leave in (box.blur, box.submit):
            leave(h.check_dates, [c["since"], c["until"]], c["ask_error"], **QUIET)


def _wire_library(h: LibraryHandlers, c: dict[str, Any], listing: list[Any]) -> None:
    """``listing``: every component that shows the library (header, list, source filter, examples, removed list)."""
    view = [c["table"], c["sources"], c["selected"], c["view"], c["remove"], c["confirm"]]
    c["search"].change(h.listing, [c["search"], c["selected"]], view, **QUIET)
    c["lib_pick"].change(h.on_open, [c["lib_pick"], c["sources"], c["search"]], [*view, c["status"]], **QUIET)
    c["remove"].click(h.ask_confirm, c["selected"], [c["confirm_text"], c["confirm"], c["status"]], **QUIET)
    c["confirm_no"].click(h.cancel, None, c["confirm"], **QUIET)
    changed = [c["status"], c["undo"], c["last_removed"], c["confirm"], *view, *listing]
    c["confirm_yes"].click(h.do_remove, [c["selected"], c["search"]], changed, **QUIET)
    c["undo"].click(h.do_restore, [c["last_removed"], c["search"]], changed, **QUIET)
    c["restore_pick"].change(h.on_restore_pick, [c["restore_pick"], c["removed_ids"], c["search"]], changed, **QUIET)
    c["upload"].upload(
        h.on_upload, [c["upload"], c["search"], c["selected"]], [c["upload_status"], c["upload"], *view, *listing], **QUIET
    )


def build_demo(session: QA, loader: Loader, feedback: FeedbackLog | None = None, data: Path | None = None) -> gr.Blocks:
    """The chat: an Ask tab (conversation + sources panel) and a Library tab, plus the typed `/ask` API."""
    c: dict[str, Any] = {}
    with gr.Blocks(title="release-qa") as demo:
        c["head"] = gr.HTML(stats_html(session, loader))
        c["load_status"] = gr.HTML(elem_id="load-status")
        c["timer"] = gr.Timer(1.0, active=True)
        c["records"] = gr.State({}, time_to_live=3600)
        c["saved"] = gr.BrowserState(dict(EMPTY_SAVED), storage_key="release-qa-conversation")
        c["pick"] = gr.Textbox(visible="hidden", elem_id="pick")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask-tab"):
                ask_tab(c)
            with gr.Tab("Library", id="library-tab"):
                library_tab(c)
        chat = ChatHandlers(session, loader, feedback or FeedbackLog(data), c)
        shelf = LibraryHandlers(session, loader, c)
        _wire_ask(chat, c)
        listing = [c["head"], c["source"], c["chatbot"], c["removed"], c["removed_ids"]]
        _wire_library(shelf, c, listing)

        def poll(query: str, selected: str) -> dict[Any, Any]:
            if not loader.ready:
                failed = loader.phase == "failed"
                text = escape(loader.status())
                html = (
                    f"<div class='qa-error' role='alert'>{text}</div>"
                    if failed
                    else f"<div class='qa-loading' role='status'>{text}…</div>"
                )
                return {c["load_status"]: html, c["timer"]: gr.Timer(active=not failed)}
            notes = "".join(f"<li>{escape(s)}</li>" for s in loader.skipped)
            skipped = f"<div class='qa-panel-note'>Some files could not be indexed:<ul>{notes}</ul></div>" if notes else ""
            return {c["load_status"]: skipped, c["timer"]: gr.Timer(active=False), **shelf.refreshed(query, selected)}

        everything = [
            c["load_status"],
            c["timer"],
            c["table"],
            c["sources"],
            c["selected"],
            c["view"],
            c["remove"],
            c["confirm"],
            *listing,
        ]
        c["timer"].tick(poll, [c["search"], c["selected"]], everything, **QUIET)
        demo.load(chat.restore, c["saved"], [c["chatbot"], c["records"], c["panel"]], **QUIET).then(
            poll, [c["search"], c["selected"]], everything, **QUIET
        )
        gr.api(_ask_api(session, loader), api_name="ask")
    return demo


# Fonts the machine already has: no request leaves the machine for a font.
FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Noto Sans", "DejaVu Sans", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "DejaVu Sans Mono", "monospace"]


# Gradio's defaults put hints, the Ask button and the selected tab at 1.9-3.6:1; these pairs are >= 4.5:1.
THEME_COLOURS = {
    "body_text_color_subdued": "#4b5563",
    "body_text_color_subdued_dark": "#d1d5db",
    "block_info_text_color": "#4b5563",
    "block_info_text_color_dark": "#d1d5db",
    "block_label_text_color": "#374151",
    "block_label_text_color_dark": "#e5e7eb",
    "input_placeholder_color": "#6b7280",
    "input_placeholder_color_dark": "#9ca3af",
    "button_primary_background_fill": "#c2410c",
    "button_primary_background_fill_dark": "#c2410c",
    "button_primary_background_fill_hover": "#9a3412",
    "button_primary_background_fill_hover_dark": "#9a3412",
    "button_primary_text_color": "#ffffff",
    "button_primary_text_color_dark": "#ffffff",
    "button_cancel_background_fill": "#b91c1c",
    "button_cancel_background_fill_dark": "#b91c1c",
    "button_cancel_text_color": "#ffffff",
    "button_cancel_text_color_dark": "#ffffff",
}


def launch_options(host: str = "127.0.0.1", listed: Sequence[str] = (), user: str | None = None) -> dict[str, Any]:
    """Arguments for ``demo.launch``: theme, styling, script, the guard in front of the server, session limits."""
    theme = gr.themes.Default(font=FONTS, font_mono=MONO_FONTS).set(**THEME_COLOURS)
    guard = Middleware(Guard, hosts=allowed_hosts(host, listed), user=user)
    return {
        "theme": theme,
        "css": CSS,
        "head": HEAD,
        "footer_links": ["api"],
        # A file over the per-file limit is refused by name in the upload report, the rest of its batch is read;
        # only files far over it are stopped by the browser.
        "max_file_size": 20 * MAX_UPLOAD_BYTES,
        "state_session_capacity": SESSION_CAP,
        "app_kwargs": {"middleware": [guard]},
    }


def _args(settings: Settings, argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="qa chat", description="release-qa chat in the browser")
    p.add_argument("--host", default=settings.host)
    p.add_argument("--port", type=int, default=settings.port)
    p.add_argument("--corpus", type=Path, default=settings.corpus)
    p.add_argument("--index", type=Path, default=settings.index)
    p.add_argument("--model", default=settings.model)
    p.add_argument("--backend", default=settings.backend, choices=BACKENDS, help=f"encoder (default {settings.backend})")
    return p.parse_args(argv)


def main(
    argv: Sequence[str] | None = None, settings: Settings | None = None, before_launch: Callable[[], None] | None = None
) -> int:
    """Serve the chat; the index loads behind the page. ``before_launch`` frees the port (app.py's starting page)."""
    try:
        settings = settings or Settings.from_env()
    except QAError as exc:
        print(f"error: {cli_message(exc)}", file=sys.stderr)
        return 1
    args = _args(settings, argv)
    settings = replace(settings, corpus=args.corpus, index=args.index, model=args.model, backend=args.backend)
    auth = settings.auth
    if auth is None and args.host not in {"127.0.0.1", "localhost", "::1"}:
        print(
            f"error: binding to {args.host} exposes the chat beyond this machine: set QA_AUTH=user:password to require a login",
            file=sys.stderr,
        )
        return 1
    session = QA.from_settings(settings)  # parse limits, trash and abstention from the settings too
    encoder = CountingEncoder(session.encoder)  # counts what a build embeds: the page's progress
    session.encoder = encoder
    loader = Loader(session, encoder).start()
    print(f"serving at http://{args.host}:{args.port}/ while the index over {session.corpus} loads…", file=sys.stderr)
    demo = build_demo(session, loader, data=settings.data)
    expire_idle_sessions(demo)
    if before_launch is not None:
        before_launch()
    demo.queue(default_concurrency_limit=4).launch(
        server_name=args.host,
        server_port=args.port,
        auth=auth,
        show_error=False,  # gr.Error messages (in the chat's words) show anyway; raw exception text never
        **launch_options(args.host, settings.allowed_hosts, auth[0] if auth else None),
    )
    return 0
