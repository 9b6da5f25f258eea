"""The chat's `/ask` API under hostile input (issue 16), through gradio_client against the real app.

Every bad value gets the library's message, in the API's words (no CLI flags), and no traceback reaches the
server log.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
from conftest import SEEDS, running_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # the real app in a subprocess

QUESTION = "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from gradio_client import Client

    root = tmp_path_factory.mktemp("api")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "003_739443eadc7a4b5c.txt", corpus)
    with running_app(root, corpus, root / "data") as url:
        yield {"client": Client(url, verbose=False), "log": root / "app.log", "url": url, "data": root / "data"}


def _error(api, *args) -> str:
    if any(
        "\ud800" <= ch <= "\udfff"
        for a in args
        for ch in (a if isinstance(a, str) else "".join(map(str, a)) if isinstance(a, list) else "")
    ):
        return _raw_error(api, *args)
    with pytest.raises(Exception) as info:
        api["client"].predict(*args, api_name="/ask")
    return str(info.value)


def _raw_call(api, *args, endpoint: str = "ask", **body: object) -> tuple[str, object]:
    """Values as a hostile client sends them (lone surrogates as JSON escapes, which gradio_client cannot encode):
    ("complete", the result) or ("error", the message)."""
    data = list(args) + ["", "", ""][: 6 - len(args)] if endpoint == "ask" else list(args)
    request = urllib.request.Request(
        api["url"] + f"gradio_api/call/{endpoint}",
        data=json.dumps({"data": data, **body}).encode(),
        headers={"Content-Type": "application/json"},
    )
    event = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(api["url"] + f"gradio_api/call/{endpoint}/{event}", timeout=120).read().decode()
    kind = stream.split("\n", 1)[0].removeprefix("event: ").strip()
    data = json.loads(stream.split("data: ", 1)[1].split("\n", 1)[0])
    return kind, data["error"] if kind == "error" else data


def _raw_error(api, *args) -> str:
    kind, message = _raw_call(api, *args)
    assert kind == "error", message
    return str(message)


@pytest.mark.parametrize(
    "args, message",
    [
        ((QUESTION, "abc", []), "k must be a whole number from 1 to 50"),
        ((QUESTION, 5.9, []), "k must be a whole number from 1 to 50"),
        ((QUESTION, 500, []), "k must be from 1 to 50"),
        ((QUESTION, 5, 7), "history must be a list of earlier questions"),
        ((QUESTION, 5, [3]), "history item 1 must be text"),
        ((QUESTION, 5, [], "", "", 5), "source must be text"),
        ((QUESTION, 5, [], "2024-13"), "since 2024-13 has month 13"),
        ((QUESTION, 5, [], "2024-00"), "months run from 01 to 12"),
        (("Who co-chaired \ud800?", 5, []), "the question contains a character that is not valid Unicode"),
        ((QUESTION, 5, ["earlier \udcff"]), "history item 1 contains a character that is not valid Unicode"),
        ((None, 5, []), "the question is empty"),
        ((12, 5, []), "the question must be text"),
    ],
)
def test_bad_values_get_the_library_message(api, args, message):
    text = _error(api, *args)
    assert message.lower() in text.lower() and "--" not in text  # the API's words, not the CLI's flags


def test_whole_floats_are_whole_numbers_and_the_server_logs_no_traceback(api):
    result = api["client"].predict(QUESTION, 2.0, [], api_name="/ask")
    assert len(result["passages"]) == 2 and "Kim Yong Hyun" in result["answer"]
    assert "Traceback" not in api["log"].read_text()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(categories=["Cs", "Ll", "Nd"]), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=JSON, k=JSON, history=JSON, source=JSON)
def test_any_json_value_is_answered_or_explained(api, question, k, history, source):
    kind, result = _raw_call(api, question, k, history, "", "", source)
    if kind == "error":
        assert any(word in str(result).lower() for word in ("question", "k must", "history", "source", "unicode")), result
    else:
        assert kind == "complete" and isinstance(result[0], dict) and "passages" in result[0]
    assert "Traceback" not in api["log"].read_text()


def _queue(api, session: str, elem_id: str, event: str, data: list, event_data: dict | None = None) -> dict:
    """An event posted to the queue by hand, as a hostile client can: any data, any event payload, any session."""
    config = api["client"].config
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    fn = next(d["id"] for d in config["dependencies"] if [component, event] in [list(t) for t in d["targets"]])
    body = {"data": data, "event_data": event_data, "fn_index": fn, "trigger_id": component, "session_hash": session}
    request = urllib.request.Request(
        api["url"] + "gradio_api/queue/join", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=30).read()
    with urllib.request.urlopen(api["url"] + f"gradio_api/queue/data?session_hash={session}", timeout=120) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:") and '"process_completed"' in line:
                message = json.loads(line[5:])
                assert message["success"], message
                return message["output"]
    raise AssertionError("no reply to the event")


def test_forged_like_events_log_only_real_votes(api):
    """Like events posted by hand (index -1, invented votes, made-up replies) never write their own words to the log."""
    out = _queue(api, "forger", "question", "submit", [QUESTION, [], 5, None, None, "", "", ""])  # box, chat, k, states, filters
    chat = out["data"][1]["value"] if isinstance(out["data"][1], dict) and "value" in out["data"][1] else out["data"][1]
    reply = next(m["content"] for m in chat if m["role"] == "assistant")
    for index, value, liked in ((-1, "no reply here", True), (-1, reply, "<img src=x onerror=alert(1)>"), ([-1, 0], reply, 7)):
        _queue(api, "forger", "chat", "like", [chat, None, None], {"index": index, "value": value, "liked": liked})
    _queue(api, "forger", "chat", "like", [chat, None, None], {"index": 1, "value": reply, "liked": True})
    votes = [json.loads(line)["vote"] for line in (api["data"] / "feedback.jsonl").read_text().splitlines()]
    assert set(votes) <= {"up", "down", "none"} and votes[-1] == "up" and len(votes) == 3
