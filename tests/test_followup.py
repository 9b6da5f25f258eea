"""Follow-up questions over real releases: where a question asked after others is answered (the real model, a real
index over three anti-corruption releases that share their vocabulary and two unrelated Senate releases)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.query.followup import ELLIPSIS, NONE, REFERENCE, followup_kind
from qa.ranking.pipeline import gather, scope

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
RELEASES = (
    "cpib_2012-06-06-former-scdf-chief-charged.md",
    "cpib_2013-09-18-14-arrested.md",
    "cpib_2024-01-18-iswaran-charged.md",
    "senate_Webb_01Nov2007Webb26.txt",
    "senate_Kohl_23Sep2005Kohl7.txt",
)
SCDF, ARRESTS, ISWARAN = RELEASES[:3]


@pytest.fixture(scope="module")
def session(tmp_path_factory, encoder):
    from qa import QA

    corpus = tmp_path_factory.mktemp("followup-releases")
    for name in RELEASES:
        shutil.copy(REAL / name, corpus / name)
    qa = QA(corpus, tmp_path_factory.mktemp("followup-index"), encoder=encoder)
    qa.ensure_index()
    return qa


def _first_release(session, question: str) -> str:
    hits = session.retriever.search(question, 30).hits
    return session.retriever.index.chunks.column("source")[hits[0].row]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("and under which act will he be charged?", ELLIPSIS),
        ("So who paid for it?", ELLIPSIS),
        ("What about the others?", ELLIPSIS),
        ("Who else?", ELLIPSIS),
        ("How many of them were released on bail?", REFERENCE),
        ("when was the minister charged", REFERENCE),
        ("When was S Iswaran charged in the State Courts?", NONE),
        ("How many charges does the former Commissioner of the Singapore Civil Defence Force face?", NONE),
    ],
)
def test_how_a_question_leans_on_earlier_ones(question, kind):
    assert followup_kind(question) == kind


def test_an_elliptic_followup_is_answered_inside_the_antecedents_release(session):
    question, earlier = "and under which act will he be charged?", "What was Peter Lim accused of?"
    assert _first_release(session, question) != SCDF  # on its own words another release comes first
    d = gather(session.retriever, question, [earlier])
    assert {c.source for c in d.candidates} == {SCDF}
    answer = session.ask(question, history=[earlier])
    assert answer.followup and answer.passages[0].source == SCDF
    assert "Prevention of Corruption Act" in answer.candidate and "Peter Lim" in answer.candidate


def test_a_followup_whose_own_words_find_the_antecedents_release_is_searched_as_asked(session):
    question = "How many of them will be released on bail?"
    earlier = "How many people were arrested in the match-fixing crackdown?"
    where = scope(session.retriever, question, [earlier])
    assert where.inside and where.result.query == question  # no earlier words pulled in: the release is settled
    assert where.result.followup  # still a follow-up: the earlier question chose the release
    answer = session.ask(question, history=[earlier])
    assert answer.passages[0].source == ARRESTS
    assert "nine persons will be released on police bail" in answer.candidate


def test_a_question_naming_its_own_topic_is_read_alone_after_an_unrelated_one(session):
    question, earlier = "when was iswaran charged", "How many people were arrested in the match-fixing crackdown?"
    assert followup_kind(question) == REFERENCE  # lower case: the words alone cannot tell
    where = scope(session.retriever, question, [earlier])
    assert where.lead is None and not where.inside
    answer = session.ask(question, history=[earlier])
    assert not answer.followup and answer.query == question
    assert answer.passages[0].source == ISWARAN and "18 January 2024" in answer.candidate
    alone = session.ask(question)
    assert alone.candidate == answer.candidate


def test_an_elliptic_question_whose_own_words_point_elsewhere_is_read_alone(session):
    question, earlier = "what about iswaran?", "How many people were arrested in the match-fixing crackdown?"
    assert followup_kind(question) == ELLIPSIS  # it cannot be read alone as words: its one name decides
    where = scope(session.retriever, question, [earlier])
    assert where.lead is None and not where.inside and where.result.query == question
    answer = session.ask(question, history=[earlier])
    assert not answer.followup and answer.passages[0].source == ISWARAN


def test_a_chain_of_followups_stays_in_the_release_it_started_from(session):
    history = ["How many charges of corruption does S Iswaran face?", "and when was he charged?"]
    where = scope(session.retriever, "and what is the maximum fine for it?", history)
    assert where.inside and session.retriever.index.chunks.column("source")[where.lead.row] == ISWARAN
    d = gather(session.retriever, "and what is the maximum fine for it?", history)
    assert {c.source for c in d.candidates} == {ISWARAN}
