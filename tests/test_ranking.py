"""The answer-sentence ranker: follow-ups, language, answer kinds, candidates over whole releases, levels, the model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.language import unreadable_language
from qa.query.followup import antecedent_topic, is_followup, resolve_followup
from qa.ranking.features import FEATURES, answer_kind, question_kind
from qa.ranking.train import MAX_DOWNGRADED, MAX_REFUSED, QuestionView, choose_levels


def test_self_contained_questions_carry_no_earlier_words():
    history = ["When was the ROK-UN Joint Conference first held?", "what did they say about russia"]
    assert resolve_followup("How many UNC member states are there?", history) == ("How many UNC member states are there?", False)
    assert resolve_followup("What is the capital of France?", history)[1] is False


def test_a_followup_carries_only_its_antecedents_topic():
    query, used = resolve_followup(
        "what did they say about russia", ["What was the budget?", "When was the Joint Conference first held?"]
    )
    assert used and "Joint Conference" in query and "budget" not in query
    # a chain of follow-ups reaches back to the question it leans on, and no further
    topic = antecedent_topic(["What was the budget?", "Who chaired the Joint Conference?", "And when was it first held?"])
    assert "Joint" in topic and "budget" not in topic


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Who co-chaired it?", True),
        ("and how much does it cost to lodge an appeal", True),
        ("when did the convention enter into force?", True),
        ("How many UNC member states are there?", False),
        ("What is Action 38?", False),
    ],
)
def test_followup_detection(question, expected):
    assert is_followup(question) is expected


def test_questions_in_another_language_are_named_and_english_is_not():
    assert unreadable_language("유엔사 회원국은 몇 개국입니까?") == "Korean"
    assert unreadable_language("¿Quién presidió la reunión de ministros de defensa?") == "Spanish"
    assert unreadable_language("who will run it?") is None
    assert unreadable_language("º") is None  # a sign, not a language
    assert unreadable_language("ban plastic bags supermarkets") is None


def test_answer_kinds_from_the_questions_shape():
    assert question_kind("the council opened how many depots last year") == "number"
    assert question_kind("When did the new tariff take effect?") == "date"
    assert question_kind("How much does a season ticket cost?") == "money"
    assert question_kind("Who will lead the review board?") == "person"
    assert answer_kind("date", "It entered into force on 12 September 2020.")
    assert not answer_kind("date", "It entered into force after ratification.")
    assert answer_kind("money", "A $200 application fee is payable.")


def _view(i: int, top: float, right: bool, answerable: bool = True, name: str = "a") -> QuestionView:
    return QuestionView(
        name, str(i), "answerable" if answerable else "unanswerable", answerable, i % 5, top, right, right, right, 1.0, right
    )


def test_levels_flag_unanswerable_within_the_limits_on_answerable():
    rng = np.random.default_rng(0)
    answerable = [_view(i, float(rng.uniform(0.4, 1.0)), bool(rng.uniform() < 0.8)) for i in range(200)]
    unanswerable = [_view(1000 + i, float(rng.uniform(0.0, 0.6)), False, answerable=False) for i in range(40)]
    cx, cy, answer_at, closest_at = choose_levels(answerable + unanswerable)
    p = np.interp([q.top for q in answerable], cx, cy)
    assert np.all(np.diff(cy) >= 0)  # calibration is monotone
    assert (p < closest_at).mean() <= MAX_REFUSED
    assert ((p >= closest_at) & (p < answer_at)).mean() <= MAX_DOWNGRADED
    flagged = (np.interp([q.top for q in unanswerable], cx, cy) < answer_at).mean()
    assert flagged > 0.3  # these unanswerable questions score lower: some must be flagged


def test_candidates_are_every_sentence_of_the_top_releases(seed_qa):
    from qa.ranking.candidates import release_map
    from qa.ranking.pipeline import gather

    retriever = seed_qa.retriever
    d = gather(retriever, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    index = retriever.index
    sources = list(dict.fromkeys(c.source for c in d.candidates))
    assert sources[0] == index.chunks[d.result.hits[0].row].source
    counts = release_map(index).sentence_count
    assert all(sum(c.source == s for c in d.candidates) == counts[s] for s in sources)
    assert d.features.shape == (len(d.candidates), len(FEATURES))
    dense = d.features[:, FEATURES.index("s_dense")]
    assert np.isfinite(dense).all() and dense.max() <= 1.0001
    late = d.features[:, FEATURES.index("maxsim")]
    assert 0 < np.isfinite(late).sum() <= 3  # late interaction only for the few best candidates
