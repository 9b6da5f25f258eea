"""The Library tab's handlers: the list and its search, opening a release, removal with confirmation and undo, uploads.

Opening a release selects it; the Remove button names the selected release,
and a search that hides it clears the selection, so Remove can only ever act on
the release on screen. Removal asks first, can be undone at once ("Undo"), and
stays restorable from "Removed releases".
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .. import QA, QAError, library
from ..trash import RemovalRecord
from .handlers import error_html
from .render import escape, shorten
from .render_library import render_library, render_library_release, render_removed, render_uploads
from .state import Loader, Progress

__all__ = ["LibraryHandlers", "restored_note", "stats_html"]


def restored_note(entry: RemovalRecord) -> str:
    """What a restore did: every file back, or which files stayed among the removed ones because their name was taken."""
    if not entry.kept:
        return f"Restored “{entry.title}”: it answers again."
    return (
        f"Restored “{entry.title}” only in part: {', '.join(entry.kept)} now holds another file, so the removed copy "
        "stays in the list of removed releases."
    )


def stats_html(session: QA, loader: Loader) -> str:
    intro = "Ask the press releases: every answer cites release, date and paragraph."
    if not loader.ready:
        return f"<div id='app-head'><h1>release-qa</h1><p>{intro}</p></div>"
    items = library.releases(session)
    undated = sum(1 for r in items if not r.date)
    return (
        f"<div id='app-head'><h1>release-qa</h1><p>{intro} {len(items)} releases, "
        f"{sum(r.passages for r in items)} passages indexed{f' ({undated} undated)' if undated else ''}.</p></div>"
    )


def _no_selection() -> dict[str, Any]:
    return {"value": "Remove release", "interactive": False}


class LibraryHandlers:
    """The Library tab. ``c`` maps names to components (see :func:`qa.web.app.library_tab`)."""

    def __init__(self, session: QA, loader: Loader, c: dict[str, Any]) -> None:
        self.session, self.loader, self.c = session, loader, c

    def items(self, query: str = "") -> list[library.ReleaseInfo]:
        if not self.loader.ready:
            return []
        return library.search_releases(library.releases(self.session), query)

    def listing(self, query: str, selected: str) -> dict[Any, Any]:
        """The list for ``query``; a selection the search hides is dropped (with its viewer and confirmation)."""
        c = self.c
        items = self.items(query)
        out: dict[Any, Any] = {c["sources"]: [r.source for r in items]}
        if self.loader.ready:
            out[c["table"]] = render_library(items, selected, query)
        if selected and selected not in {r.source for r in items}:
            out.update(
                {c["selected"]: "", c["view"]: "", c["remove"]: gr.Button(**_no_selection()), c["confirm"]: gr.Row(visible=False)}
            )
        return out

    def removed_listing(self) -> dict[Any, Any]:
        entries = library.removed_releases(self.session)
        return {self.c["removed"]: render_removed(entries), self.c["removed_ids"]: [e.id for e in entries]}

    def on_open(self, value: str, sources: list[str], query: str) -> dict[Any, Any]:
        c = self.c
        head = (value or "").partition(":")[0]
        row = int(head) if head.isdigit() else -1
        if not 0 <= row < len(sources or []):
            return {c["status"]: gr.skip()}
        source = sources[row]
        info = next((r for r in library.releases(self.session) if r.source == source), None)
        if info is None:
            return {c["status"]: error_html("That release is no longer in the library."), **self.listing(query, "")}
        return {
            c["view"]: render_library_release(info, self.session.release_paragraphs(info.source)),
            c["selected"]: info.source,
            c["remove"]: gr.Button(value=f"Remove “{shorten(info.title, 48)}”", interactive=True),
            c["confirm"]: gr.Row(visible=False),
            c["table"]: render_library(self.items(query), info.source, query),
        }

    def ask_confirm(self, selected: str) -> dict[Any, Any]:
        c = self.c
        info = next((r for r in library.releases(self.session) if r.source == selected), None) if selected else None
        if info is None:
            return {c["status"]: error_html("Open a release first (its title in the list), then remove it.")}
        files = ", ".join(info.files)
        return {
            c["confirm_text"]: f"<div class='qa-confirm' role='alert'>Remove “{escape(info.title)}” ({escape(files)}) from the "
            "library? Its answers stop at once; you can restore it afterwards.</div>",
            c["confirm"]: gr.Row(visible=True),
        }

    def cancel(self) -> dict[Any, Any]:
        return {self.c["confirm"]: gr.Row(visible=False)}

    def do_remove(self, selected: str, query: str) -> dict[Any, Any]:
        c = self.c
        hidden = {c["confirm"]: gr.Row(visible=False)}
        try:
            entry = library.remove_release(self.session, selected)
        except QAError as exc:
            return {**hidden, c["status"]: error_html(exc)}
        self.loader.refresh_examples()
        return {
            **hidden,
            c["status"]: f"<div class='qa-status' role='status'>Removed “{escape(entry.title)}”. "
            "Undo it now, or restore it later from “Removed releases” below.</div>",
            c["undo"]: gr.Button(visible=True),
            c["last_removed"]: entry.id,
            c["view"]: "",
            c["selected"]: "",
            c["remove"]: gr.Button(**_no_selection()),
            **self.refreshed(query, ""),
        }

    def do_restore(self, removal_id: str, query: str) -> dict[Any, Any]:
        c = self.c
        try:
            entry = library.undo_removal(self.session, removal_id)
        except QAError as exc:
            return {c["status"]: error_html(exc)}
        self.loader.refresh_examples()
        return {
            c["status"]: f"<div class='qa-status' role='status'>{escape(restored_note(entry))}</div>",
            c["undo"]: gr.Button(visible=False),
            c["last_removed"]: "",
            **self.refreshed(query, ""),
        }

    def on_restore_pick(self, value: str, ids: list[str], query: str) -> dict[Any, Any]:
        head = (value or "").partition(":")[0]
        row = int(head) if head.isdigit() else -1
        return self.do_restore(ids[row], query) if 0 <= row < len(ids or []) else {self.c["status"]: gr.skip()}

    def refreshed(self, query: str, selected: str) -> dict[Any, Any]:
        """Everything that lists the library: header, list, source filter, examples, the removed list."""
        from .app import examples_value, source_choices

        c = self.c
        return {
            c["head"]: stats_html(self.session, self.loader),
            **self.listing(query, selected),
            c["source"]: gr.Dropdown(choices=source_choices(self.session, self.loader)),
            c["chatbot"]: gr.Chatbot(examples=examples_value(self.loader)),  # type: ignore[arg-type]
            **self.removed_listing(),
        }

    def on_upload(self, files: list[Any] | None, query: str, selected: str) -> Iterator[dict[Any, Any]]:
        """Read and index the files in a worker, showing files read and texts embedded as they happen."""
        c = self.c
        if not files:
            yield {c["upload_status"]: ""}
            return
        if not self.loader.ready:
            yield {
                c["upload_status"]: error_html(f"Still loading the releases ({self.loader.status()}): upload again in a moment.")
            }
            return
        paths = [getattr(f, "name", f) for f in files]
        names = [getattr(f, "orig_name", None) or os.path.basename(str(p)) for f, p in zip(files, paths, strict=True)]
        progress = Progress(stage="Reading", total_files=len(paths))
        done: dict[str, Any] = {}

        def work() -> None:
            progress.thread = threading.get_ident()
            encoder = self.loader.encoder
            if encoder is not None:
                encoder.reset(progress.thread)

            def read(n: int, total: int) -> None:
                progress.files = n
                progress.stage = "Embedding texts" if n == total else "Reading"

            try:
                done["results"] = self.session.add_releases(paths, names, progress=read)
            except QAError as exc:
                done["error"] = exc
            except Exception:
                traceback.print_exc(file=sys.stderr)
                done["error"] = QAError("the upload failed because of an error on the server; nothing was added")

        worker = threading.Thread(target=work, name="upload", daemon=True)
        worker.start()
        while worker.is_alive():
            yield {
                c[
                    "upload_status"
                ]: f"<div class='qa-progress' role='status'>{escape(progress.describe(self.loader.encoder))}…</div>"
            }
            worker.join(0.5)
        if "error" in done:
            yield {c["upload_status"]: error_html(done["error"]), c["upload"]: None}
            return
        if any(r.status == "added" for r in done["results"]):
            self.loader.refresh_examples()
        yield {c["upload_status"]: render_uploads(done["results"]), c["upload"]: None, **self.refreshed(query, selected)}
