"""Errors carry their remedy as data; the command line, the chat and the Python API each word it their own way."""

from __future__ import annotations

import pickle

import pytest

from qa.config import Settings
from qa.errors import (
    API_REMEDIES,
    CHAT_REMEDIES,
    CLI_REMEDIES,
    ConfigError,
    CorpusError,
    QAError,
    QueryError,
    Remedy,
    StoreError,
    chat_api_message,
    chat_message,
    cli_message,
)


def test_every_remedy_is_worded_by_every_front_end():
    for table in (API_REMEDIES, CLI_REMEDIES, CHAT_REMEDIES):
        assert set(table) == set(Remedy)


def test_chat_words_never_name_a_command_or_a_flag():
    for remedy, words in CHAT_REMEDIES.items():
        assert "`" not in words and "--" not in words and "release-qa" not in words and "QA_" not in words, remedy


def test_one_error_three_wordings():
    exc = StoreError("index in /srv/idx is corrupt (bm25 scores)", remedy=Remedy.REBUILD_INDEX)
    assert exc.message == "index in /srv/idx is corrupt (bm25 scores)" and exc.remedy is Remedy.REBUILD_INDEX
    assert str(exc).endswith(": rebuild it with qa.build_index(corpus, index, rebuild=True)")
    assert cli_message(exc).endswith(": rebuild with `release-qa index --rebuild`")
    assert chat_message(exc) == "Index in /srv/idx is corrupt (bm25 scores): ask the administrator to rebuild the index"


def test_options_are_named_in_each_front_ends_words():
    exc = QueryError("{since} 2025-01-01 is after {until} 2024-12-31: swap them", fields=("since", "until"))
    assert str(exc) == "since 2025-01-01 is after until 2024-12-31: swap them"
    assert cli_message(exc) == "--since 2025-01-01 is after --until 2024-12-31: swap them"
    assert chat_message(exc) == "“Since” 2025-01-01 is after “Until” 2024-12-31: swap them"


def test_remedy_details_fill_the_words_and_survive_pickling():
    exc = StoreError(
        "the index holds vectors of another backend", remedy=Remedy.MATCH_BACKEND, backend="onnx-int8", index="/srv/idx"
    )
    assert "the index in /srv/idx with `release-qa index --backend onnx-int8`" in cli_message(exc)
    assert "/srv/idx" in str(exc) and "/srv/idx" not in chat_message(exc)  # the chat names no server path
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is StoreError and cli_message(again) == cli_message(exc)
    assert again.context == {"backend": "onnx-int8", "index": "/srv/idx"}
    missing = QAError("optional part missing", remedy=Remedy.INSTALL_EXTRA)  # a detail not given reads as its name
    assert cli_message(missing) == "optional part missing: pip install 'release-qa[EXTRA]'"


def test_a_file_name_is_never_capitalised_in_the_chat():
    exc = CorpusError("x.txt is not UTF-8 text (bad byte at offset 3)", remedy=Remedy.SAVE_AS_UTF8)
    assert (
        chat_message(exc) == "x.txt is not UTF-8 text (bad byte at offset 3): save it as UTF-8 (Unicode) text and upload it again"
    )
    assert "iconv" in cli_message(exc)


@pytest.mark.parametrize(
    "environ,setting",
    [
        ({"QA_BACKEND": "gpu"}, "QA_BACKEND"),
        ({"QA_ONNX_VERIFY_TEXTS": "many"}, "QA_ONNX_VERIFY_TEXTS"),
        ({"QA_AUTH": "editor"}, "QA_AUTH"),
        ({"QA_ABSTAIN": "0.3"}, "QA_ABSTAIN"),
    ],
)
def test_configuration_errors_have_their_own_class(environ, setting):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    assert caught.value.remedy is Remedy.FIX_SETTING and setting in cli_message(caught.value)
    assert "administrator" in chat_message(caught.value)


def test_library_errors_reach_each_front_end_in_its_words(tmp_path):
    from qa.corpus import read_release
    from qa.query.validate import validate_query

    with pytest.raises(QueryError) as caught:
        validate_query("Who?", 5, None, "2025-01-01", "2024-12-31")
    assert cli_message(caught.value) == "--since 2025-01-01 is after --until 2024-12-31: swap them"
    assert chat_message(caught.value) == "“Since” 2025-01-01 is after “Until” 2024-12-31: swap them"
    with pytest.raises(QueryError) as caught:
        validate_query("Who?", 0)
    assert cli_message(caught.value).startswith("--k must be") and chat_message(caught.value).startswith("“Passages” must be")

    (tmp_path / "x.txt").write_bytes("Caf\xe9 opening".encode("latin-1"))
    with pytest.raises(CorpusError) as caught:
        read_release(tmp_path / "x.txt", tmp_path)
    assert caught.value.remedy is Remedy.SAVE_AS_UTF8
    assert "`iconv -f latin1 -t utf-8 x.txt`" in cli_message(caught.value)
    chat = chat_message(caught.value)
    assert chat.startswith("x.txt is not UTF-8 text") and "iconv" not in chat and "`" not in chat


def test_no_library_message_names_a_command_line(tmp_path):
    """Library code words no CLI flag or command: the remedy is data, the front ends word it."""
    import re

    from conftest import ROOT

    front_ends = {"cli.py", "cli_eval.py", "errors.py"}
    found = []
    for path in sorted((ROOT / "qa").rglob("*.py")):
        if path.name in front_ends or "web" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if code.strip().startswith('"""'):  # a docstring may say which command calls the function
                continue
            if re.search(r"""["'][^"']*(`python -m qa|`release-qa|pass --[a-z]|\(--[a-z]+ )""", code):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, found


def test_the_chat_api_names_its_parameters():
    exc = QueryError("{k} must be from 1 to 50, got 0", fields=("k",))
    assert chat_api_message(exc) == "k must be from 1 to 50, got 0"
    assert chat_api_message(StoreError("index is corrupt", remedy=Remedy.REBUILD_INDEX)).endswith(
        "ask the administrator to rebuild the index"
    )


def test_the_folder_for_removed_releases_is_named_on_the_command_line_not_in_the_chat(tmp_path):
    from qa.trash import corpus_lock, trash_folder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(CorpusError) as inside:
        trash_folder(corpus, tmp_path / "index", corpus / "removed")
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(CorpusError) as unusable, corpus_lock(tmp_path / "taken" / "trash", wait=1):
        pass
    for caught in (inside, unusable):
        assert str(tmp_path) in cli_message(caught.value) and str(tmp_path) not in chat_message(caught.value)
        assert chat_message(caught.value).startswith("The folder for removed releases")
