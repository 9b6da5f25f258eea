"""What the Library tab shows: the upload report, the list of releases, one release opened, the removed releases.

Release text and file names go through :func:`qa.web.render.escape` like everything the chat shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .render import escape, render_release

__all__ = ["render_library", "render_library_release", "render_removed", "render_uploads"]


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


def render_library(items: Sequence[Any], selected: str = "", query: str = "") -> str:
    """The Library list: one card per release (title, date, source, file), each with an Open button.

    Cards wrap on a phone instead of squeezing columns; the open release is marked (``aria-current``).
    """
    if not items:
        if query.strip():
            return f"<div class='qa-lib-empty' role='status'>No release matches “{escape(query.strip())}”.</div>"
        return "<div class='qa-lib-empty' role='status'>The library is empty: add releases above.</div>"
    rows = []
    for i, r in enumerate(items):
        current = r.source == selected
        copies = f" (+{len(r.copies)} cop{'y' if len(r.copies) == 1 else 'ies'})" if r.copies else ""
        where = r.organisation or r.section or "no source named"
        mark = " aria-current='true'" if current else ""
        rows.append(
            f"<li class='qa-lib-row{' qa-current' if current else ''}'{mark}>"
            f"<button type='button' class='qa-open qa-row-{i}'>{escape(r.title)}</button>"
            f"<div class='qa-lib-meta'>{escape(r.date or 'undated')} · {escape(where)} · {r.passages} passage"
            f"{'s' if r.passages != 1 else ''} · <span class='qa-file'>{escape(r.source)}{escape(copies)}</span></div></li>"
        )
    count = f"{len(items)} release{'s' if len(items) != 1 else ''}"
    return f"<div class='qa-lib-count'>{count}</div><ul class='qa-lib'>{''.join(rows)}</ul>"


def render_library_release(info: Any, paragraphs: Sequence[str]) -> str:
    copies = f" · also in {escape(', '.join(info.copies))}" if info.copies else ""
    return (
        f"<div class='qa-panel qa-lib-open'><div class='qa-viewer-head'><strong>{escape(info.title)}</strong> · "
        f"{escape(info.date or 'undated')} · {escape(info.organisation or info.section or 'no source named')} · "
        f"{info.passages} passage{'s' if info.passages != 1 else ''} · <span class='qa-file'>{escape(info.source)}</span>"
        f"{copies}</div>"
        f"<div class='qa-viewer qa-viewer-tall' tabindex='0' role='region' aria-label='Release text'>"
        f"{render_release(paragraphs)}</div></div>"
    )


def render_removed(entries: Sequence[Any]) -> str:
    """The releases removed from the library, newest first, each restorable (no server path is named)."""
    if not entries:
        return "<div class='qa-lib-empty'>Nothing has been removed.</div>"
    rows = [
        f"<li class='qa-lib-row'><button type='button' class='qa-restore qa-row-{i}'>Restore</button> "
        f"<span class='qa-removed-title'>{escape(e.title)}</span>"
        f"<div class='qa-lib-meta'>removed {escape(e.removed_at[:16].replace('T', ' '))} UTC · "
        f"<span class='qa-file'>{escape(', '.join(e.files))}</span></div></li>"
        for i, e in enumerate(entries)
    ]
    return f"<ul class='qa-lib qa-removed'>{''.join(rows)}</ul>"
