"""release-qa chat: Gradio wiring only -- every answer comes from `qa.QA.ask`.

    python app.py [--host 127.0.0.1] [--port 7860] [--corpus seeds] [--index embeddings]

Environment: QA_HOST, QA_PORT, QA_CORPUS, QA_INDEX, QA_DATA (feedback folder),
QA_AUTH ("user:password", required when binding to anything but loopback).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from qa import QA, QAError, Settings
from qa.answer import MAX_QUESTION_CHARS
from qa.build import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES
from qa.config import BACKENDS
from qa.corpus import SUPPORTED_SUFFIXES
from qa.ui import FeedbackLog, answer_record, escape, rated_reply, render_answer

EXAMPLES = [
    "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?",
    "Which country became the 18th UNC Member State?",
    "When was the ROK-UN Joint Conference on Disarmament and Non-proliferation Issues first held?",
    "What did Deputy Minister Ham stress about the Korean Peninsula?",
]

CSS = """
.gradio-container {max-width: 980px !important; margin: 0 auto !important;}
.qa-answer {font-size: 15px; line-height: 1.5;}
.qa-lead {font-size: 1.05em; font-weight: 600; padding: 8px 12px; border-left: 4px solid #2563eb; background: #eff6ff; border-radius: 4px;}
.qa-noanswer {padding: 8px 12px; border-left: 4px solid #d97706; background: #fffbeb; border-radius: 4px;}
.qa-sources {margin: 10px 0 4px; font-size: .8em; text-transform: uppercase; letter-spacing: .06em; color: #6b7280;}
.qa-passage {border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 10px; margin: 6px 0; background: #fff;}
.qa-cite {font-size: .85em; color: #374151; margin-bottom: 4px; overflow-wrap: anywhere;}
.qa-text {color: #111827; overflow-wrap: anywhere;}
mark.qa-mark {background: #fde68a; padding: 0 2px; border-radius: 2px;}
.qa-open summary {cursor: pointer; font-size: .85em; color: #2563eb; margin-top: 4px;}
.qa-release {max-height: 420px; overflow-y: auto; border-top: 1px solid #e5e7eb; margin-top: 6px; padding-top: 6px; font-size: .92em;}
.qa-para.qa-cited {background: #f0fdf4; border-left: 3px solid #16a34a; padding-left: 6px;}
.qa-pnum {color: #9ca3af; font-size: .8em; margin-right: 4px;}
.qa-note, .qa-status {font-size: .85em; color: #6b7280;}
.qa-error {padding: 8px 12px; border-left: 4px solid #dc2626; background: #fef2f2; border-radius: 4px;}
"""


def _text(content: Any) -> str:
    """A chat message's text, whether Gradio hands it over as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text(part) for part in content).strip()
    return ""


def build_demo(session: QA, feedback: FeedbackLog | None = None) -> gr.Blocks:
    feedback = feedback or FeedbackLog(SETTINGS.data)

    def respond(message: str, chat: list[dict[str, Any]], k: int, records: list[dict[str, Any]],
                since: str = "", until: str = "", source: str = ""):
        """Chat handler: appends the question and the rendered answer; keeps the answer as data for feedback."""
        chat = list(chat or [])
        records = list(records or [])
        history = [_text(m.get("content")) for m in chat if m.get("role") == "user"]
        chat.append({"role": "user", "content": message or ""})
        try:
            answer = session.ask(message, int(k), history, since=since, until=until, source=source)
            records.append(answer_record(answer, history))
            reply = render_answer(answer, session)
        except QAError as exc:
            records.append({})
            reply = f"<div class='qa-error'>{escape(str(exc))}</div>"
        chat.append({"role": "assistant", "content": reply})
        return "", chat, records

    def ask_api(question: str, k: int = 5, history: list[str] | None = None, since: str = "", until: str = "",
                source: str = "") -> dict[str, Any]:
        """Answer a question; returns the answer and its passages as data (same fields as `qa ask --json`)."""
        try:  # every value checked by the library's validators, the same as the CLI and the Python API
            answer = session.ask(question, k, history, since=since, until=until, source=source)
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None  # the caller's mistake, not the server's
        return answer_record(answer, history or [])

    def on_like(data: gr.LikeData, records: list[dict[str, Any]]) -> str:
        picked = rated_reply(records, data.index, data.liked)  # a forged event (index -1, vote "x") rates nothing
        if picked is None:
            return "Nothing to rate there."
        record, vote = picked
        feedback.record(record, vote)
        return f"Thanks: feedback ({vote}) saved to {feedback.path}."

    def on_upload(files: list[Any] | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
        if not files:
            return "Choose one or more release files."
        paths = [getattr(f, "name", f) for f in files]
        names = [getattr(f, "orig_name", None) or os.path.basename(str(p)) for f, p in zip(files, paths)]
        progress(0, desc="Indexing new releases")
        try:
            report = session.add_releases(paths, names)
        except QAError as exc:
            return f"<div class='qa-error'>{escape(str(exc))}</div>"
        return f"<div class='qa-status'>Added {escape(', '.join(report.files_new) or 'nothing new')}: {escape(report.summary())}. Ask away.</div>"

    def on_example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value)

    with gr.Blocks(title="release-qa") as demo:
        gr.Markdown("## release-qa\nAsk the press releases. Each answer marks the sentence that answers and cites release, date and paragraph.")
        chatbot = gr.Chatbot(
            label="Conversation", height=560, elem_id="chat", latex_delimiters=[], sanitize_html=True,
            feedback_options=("Like", "Dislike"), buttons=["copy"],
            placeholder="Ask about the releases, or pick an example below.",
            examples=[{"text": q} for q in EXAMPLES],
        )
        records = gr.State([])
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question about the releases…", show_label=False, scale=8,
                             max_length=MAX_QUESTION_CHARS, elem_id="question", autofocus=True)
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        with gr.Row():
            k = gr.Slider(1, 10, value=5, step=1, label="Passages to show", elem_id="k")
            clear = gr.Button("New conversation", scale=0)
        with gr.Accordion("Filters", open=False):
            with gr.Row():
                since = gr.Textbox(label="Since", placeholder="2024-01-01", elem_id="since", max_length=10)
                until = gr.Textbox(label="Until", placeholder="2024-12-31", elem_id="until", max_length=10)
                source = gr.Textbox(label="Source", placeholder="organisation, section or file", elem_id="source", max_length=100)
        status = gr.Markdown(elem_id="status")
        with gr.Accordion("Add releases", open=False):
            gr.Markdown(f"Upload {', '.join(SUPPORTED_SUFFIXES)} files (up to {MAX_UPLOAD_FILES} at a time, "
                        f"{MAX_UPLOAD_BYTES // 1_000_000} MB each). They are indexed at once; a bad file is rejected and nothing is lost.")
            upload = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Release files", elem_id="upload")
            upload_status = gr.HTML(elem_id="upload-status")

        inputs = [box, chatbot, k, records, since, until, source]
        outputs = [box, chatbot, records]
        box.submit(respond, inputs, outputs, api_name="chat")
        send.click(respond, inputs, outputs, api_visibility="private")
        chatbot.example_select(on_example, None, box).then(respond, inputs, outputs, api_visibility="private")
        chatbot.like(on_like, [records], status)
        clear.click(lambda: ([], [], ""), None, [chatbot, records, status], api_visibility="private")
        upload.upload(on_upload, upload, upload_status, api_visibility="private")
        gr.api(ask_api, api_name="ask")
    return demo


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="release-qa chat")
    p.add_argument("--host", default=os.environ.get("QA_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("QA_PORT", 7860)))
    p.add_argument("--corpus", type=Path, default=SETTINGS.corpus)
    p.add_argument("--index", type=Path, default=SETTINGS.index)
    p.add_argument("--model", default=SETTINGS.model)
    p.add_argument("--backend", default=SETTINGS.backend, choices=BACKENDS)
    return p.parse_args(argv)


try:
    SETTINGS = Settings.from_env()
except QAError as exc:
    sys.exit(f"error: {exc}")
session = QA.from_settings(SETTINGS)
demo = build_demo(session)

if __name__ == "__main__":
    args = _args()
    chosen = replace(SETTINGS, corpus=args.corpus, index=args.index, model=args.model, backend=args.backend)
    if chosen != SETTINGS:
        session = QA.from_settings(chosen)
        demo = build_demo(session)
    auth = SETTINGS.auth  # QA_AUTH, checked by Settings.from_env: user and password both non-empty
    if auth is None and args.host not in {"127.0.0.1", "localhost", "::1"}:
        sys.exit(f"error: binding to {args.host} exposes the chat beyond this machine: set QA_AUTH=user:password to require a login")
    print(f"loading the index over {session.corpus} (built first if missing or stale)…", file=sys.stderr)
    try:
        session.ensure_index()
    except QAError as exc:
        sys.exit(f"error: {exc}")
    demo.queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port, auth=auth, css=CSS,
                                                   footer_links=["api"], max_file_size=MAX_UPLOAD_BYTES, show_error=True)
