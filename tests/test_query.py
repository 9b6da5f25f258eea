"""End to end over seeds/: the right paragraph first, the answering sentence marked, honest abstention."""

from __future__ import annotations

import pytest

from qa import Answer, Passage, QueryError

MOFA, MND = "000_caf02737a2f89f36.txt", "003_739443eadc7a4b5c.txt"

CASES = [  # question, source, paragraph, substring of that paragraph
    ("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?", MND, 1, "co-chaired by Kim Yong Hyun"),
    ("Which country became the 18th UNC Member State?", MND, 2, "admission of Germany"),
    ("Which Security Council resolution established the United Nations Command?", MND, 3, "Resolution 84"),
    ("What did the ministers urge Russia and the DPRK to do?", MND, 7, "immediately cease"),
    ("What did the ministers agree about joint drills?", MND, 9, "combined exercises and training"),
    ("To whom did the defense ministers pay tribute?", MND, 10, "noble sacrifices"),
    ("Who represented the UN at the disarmament consultation with Korea?", MOFA, 1, "Nakamitsu Izumi"),
    ("What did Deputy Minister Ham stress about the Korean Peninsula?", MOFA, 3, "complete denuclearization"),
    ("Which UN resolution did the ROK lead the drafting of?", MOFA, 5, "Resolution on Youth"),
    ("When was the ROK-UN Joint Conference on Disarmament and Non-proliferation Issues first held?", MOFA, 8, "in 2001"),
    ("What anniversary does the ROK-UN Joint Conference mark this year?", MOFA, 7, "20th anniversary"),
    ("Which treaty between Russia and North Korea was mentioned?", MND, 7, "Comprehensive Strategic Partnership"),
]


@pytest.mark.parametrize("question,source,paragraph,needle", CASES)
def test_right_paragraph_first(seed_qa, question, source, paragraph, needle):
    answer = seed_qa.ask(question)
    top = answer.passages[0]
    assert (top.source, top.paragraph) == (source, paragraph), [(p.source, p.paragraph) for p in answer.passages]
    assert needle in top.text
    assert not answer.no_answer


def test_answer_is_typed_and_cited(seed_qa):
    answer = seed_qa.ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?", k=3)
    assert isinstance(answer, Answer) and len(answer.passages) == 3
    top = answer.passages[0]
    assert isinstance(top, Passage)
    assert top.title == "ROK-UNCMS Defense Ministerial Meeting Statement Released"
    assert top.date == "2024-09-10" and top.doc_id and top.rank == 1
    assert [p.rank for p in answer.passages] == [1, 2, 3]
    assert answer.passages[0].score >= answer.passages[1].score >= answer.passages[2].score
    assert "co-chaired by Kim Yong Hyun" in answer.answer
    marked = next(p for p in answer.passages if p.answer_start is not None)
    assert marked.text[marked.answer_start:marked.answer_end] == answer.answer
    assert set(answer.timings) >= {"encode_ms", "dense_ms", "bm25_ms", "fusion_ms", "answer_ms"}
    assert top.dense_rank is not None and top.bm25_rank is not None


def test_unanswerable_question_abstains_but_lists_closest(seed_qa):
    answer = seed_qa.ask("What is the recipe for kimchi?")
    assert answer.no_answer and answer.answer is None
    assert "don't cover" in answer.message
    assert len(answer.passages) == 5


def test_followup_resolves_against_history(seed_qa):
    first = "What anniversary does the ROK-UN Joint Conference mark this year?"
    answer = seed_qa.ask("When was it first held?", history=[first])
    assert answer.followup
    assert "first held in the form of international workshop in 2001" in answer.passages[0].text
    alone = seed_qa.ask("Who co-chaired it?", history=["Where was the ROK-UNCMS Defense Ministerial Meeting held?"])
    assert "co-chaired by Kim Yong Hyun" in alone.passages[0].text


def test_new_topic_is_not_dragged_back(seed_qa):
    answer = seed_qa.ask("Which UN resolution did Korea lead the drafting of in 2019?",
                         history=["Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"])
    assert not answer.followup and answer.query == answer.question
    assert "Resolution on Youth" in answer.passages[0].text


@pytest.mark.parametrize("question,k,match", [
    ("", 5, "empty"), ("   \n", 5, "empty"), ("x" * 10_000, 5, "10000 characters"), ("ok?", 0, "k must be from 1"),
    ("ok?", "many", "whole number"), ("ok?", -3, "k must be from 1"), (None, 5, "empty"),
])
def test_bad_input_to_the_function(seed_qa, question, k, match):
    with pytest.raises(QueryError, match=match):
        seed_qa.ask(question, k)


def test_module_level_ask_builds_index_on_first_use(seed_corpus, tmp_path):
    from qa import ask

    index = tmp_path / "fresh-index"
    answer = ask("Which country became the 18th UNC Member State?", corpus=seed_corpus, index=index, k=2)
    assert (index / "manifest.json").exists()
    assert "Germany" in answer.passages[0].text
