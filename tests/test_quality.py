"""Issue 12's signals on real data: the release-level score, the abstention floor, and `qa eval all` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, run_cli

from qa.answering.abstain import AbstainPolicy
from qa.config import FusionConfig

MOFA, MND = "000_caf02737a2f89f36.txt", "003_739443eadc7a4b5c.txt"
EVAL_ALL = ROOT / "tests" / "fixtures" / "eval_all"


def test_release_score_credits_every_passage_with_its_release(seed_qa):
    index = seed_qa.retriever.index
    question = "What did the UNCMS ministerial say about Germany?"
    release = seed_qa.retriever.index.release_scores(question)
    own = index.bm25_scores(question)
    rows = {s: [i for i, c in enumerate(index.chunks) if c.source == s] for s in (MND, MOFA)}
    assert len(set(release[rows[MND]].round(6))) == 1  # one score per release, shared by its passages
    assert release[rows[MND]].min() > release[rows[MOFA]].max()  # the release that is about the question scores higher
    weakest = min(rows[MND], key=lambda r: own[r])  # the passage that repeats least of the question ...
    assert own[weakest] < own[rows[MND]].max() / 2 and release[weakest] == release[rows[MND]].max()  # ... gets full credit
    assert not index.release_scores("the of and").any()  # stop words only: no signal


def test_release_score_enters_fusion_with_its_weight(seed_qa):
    from qa.query.retriever import Retriever

    index, encoder = seed_qa.retriever.index, seed_qa.encoder
    question = "Which country did the defense ministers welcome as a new member state?"
    with_release = Retriever(index, encoder, FusionConfig()).search(question, k=len(index))
    without = Retriever(index, encoder, FusionConfig(release=0.0)).search(question, k=len(index))
    assert index.chunks[with_release.hits[0].row].source == MND and "Germany" in index.chunks[with_release.hits[0].row].text

    def total(f: FusionConfig) -> float:  # fused scores are divided by the weights' total
        return f.paragraph + f.sentence + f.bm25 + f.release

    score = {h.row: h.score * total(FusionConfig(release=0.0)) for h in without.hits}
    gained = {h.row: h.score * total(FusionConfig()) - score[h.row] for h in with_release.hits}
    mnd = [r for r in gained if index.chunks[r].source == MND]
    mofa = [r for r in gained if index.chunks[r].source == MOFA]
    assert min(gained[r] for r in mnd) > max(gained[r] for r in mofa)  # the matching release's passages all gain more
    assert max(gained.values()) == pytest.approx(FusionConfig().release, abs=1e-6)


OFF_TOPIC = [
    "How long should I bake a sourdough loaf?",
    "Who won the 1998 world chess championship?",
    "What is the best way to learn the guitar?",
]
REWORDED = [  # written for this test, answerable from the seeds in other words than theirs
    ("Which nation was welcomed into the UN Command as its newest member?", "Germany"),
    ("Did the two sides meet face to face for the disarmament talks?", "virtual format"),
    ("What did the Korean deputy minister underline about the peninsula?", "denuclearization"),
]


@pytest.mark.quality
@pytest.mark.parametrize("question", OFF_TOPIC)
def test_default_policy_abstains_on_off_topic_questions(seed_qa, question):
    answer = seed_qa.ask(question)
    assert answer.no_answer and answer.evidence < AbstainPolicy().floor  # the best dense match, below the floor
    assert len(answer.passages) == 5  # the closest passages are still listed


@pytest.mark.quality
@pytest.mark.parametrize("question,needle", REWORDED)
def test_default_policy_answers_reworded_questions(seed_qa, question, needle):
    answer = seed_qa.ask(question)
    assert not answer.no_answer, (answer.confidence, answer.uncovered)
    assert any(needle in p.text for p in answer.passages[:3])


def _eval_all(tmp_path, *options: str):
    """`eval all` over the small copies of every set in tests/fixtures/eval_all, its own cache, results in tmp_path/out."""
    return run_cli(
        "eval",
        "all",
        str(EVAL_ALL),
        "--seeds",
        str(ROOT / "seeds"),
        "--senate-corpus",
        str(EVAL_ALL / "senate"),
        "--regression",
        str(EVAL_ALL / "regression.jsonl"),
        *options,
        "--out",
        str(tmp_path / "out"),
        timeout=900,
        env={"QA_CACHE": str(tmp_path / "cache")},
    )


@pytest.mark.slow
@pytest.mark.quality
def test_eval_all_runs_every_set_with_peers(tmp_path):
    out = _eval_all(tmp_path, "--k", "5")
    assert out.returncode == 0, out.stderr[-2000:]
    summary = out.stdout[out.stdout.index("\n**seed paraphrase**\n") :]  # the closing summary: one table per set
    sets = [line.strip("*") for line in summary.splitlines() if line.startswith("**")]
    assert sets == ["seed paraphrase", "Senate dev", "SQuAD part A", "regression: regression.jsonl"]  # independent sets first
    paraphrase = summary[: summary.index("**Senate dev**")]
    header = next(line for line in paraphrase.splitlines() if line.startswith("| method |"))
    assert [c.strip() for c in header.split("|")[2:-1]] == [
        "answer sentence right",  # the primary figure: what the user sees
        "right release first",
        "passage hit@1",
        "passage MRR@10",
        "p50 ms",
    ]
    methods = [line.split("|")[1].strip() for line in paraphrase.splitlines() if line.startswith("| ") and "---" not in line]
    assert methods[1:] == [
        "bm25 (bm25s)",
        "dense (same model + FAISS flat)",
        "rrf hybrid (bm25s + dense)",
        "txtai hybrid (same model)",
        "bm25, 150-word windows",
        "dense, 150-word windows",
        "rrf, 150-word windows",
        "txtai hybrid, 150-word windows",
        "release-qa (hybrid + follow-ups)",
    ]
    assert "_release-qa in-sample: its answer-sentence model was trained on this set" in paraphrase
    verdict = next(line for line in paraphrase.splitlines() if line.startswith("release-qa:"))
    for part in ("unanswerable 1: flagged", "answerable 5: refused", "follow-ups right", "hit@1 casual", "all phrasings right"):
        assert part in verdict, verdict
    results = json.loads((tmp_path / "out" / "senate-dev" / "results.json").read_text())
    ours = results["methods"]["release-qa (hybrid + follow-ups)"]
    assert ours["answerable"] == 3 and ours["unanswerable"] == 1 and 0 <= ours["sentence_right"] <= 1
    squad = json.loads((tmp_path / "out" / "squad-part-a" / "results.json").read_text())
    assert squad["queries"] == 6 and set(squad["methods"]) >= {"txtai hybrid (same model)", "bm25 (bm25s)"}
    assert np.isclose(
        squad["methods"]["release-qa (hybrid + follow-ups)"]["sentence_right"], squad["primary"]
    )  # primary: the sentence


@pytest.mark.slow
def test_eval_all_says_what_is_missing(tmp_path):
    out = run_cli("eval", "all", str(tmp_path), "--out", str(tmp_path / "out"))
    assert out.returncode == 1 and "no evaluation files in" in out.stderr
    (tmp_path / "senate_dev_qa.jsonl").write_text("")
    (tmp_path / "senate_dev_files.txt").write_text("Nobody/01Jan2005Nobody1.txt\n")
    out = run_cli("eval", "all", str(tmp_path), "--senate-corpus", str(tmp_path), "--out", str(tmp_path / "out"))
    assert out.returncode == 1 and "1 of the 1 files listed" in out.stderr and "pass the folder" in out.stderr


@pytest.mark.slow
@pytest.mark.quality
def test_eval_all_held_out_answers_each_training_question_with_its_fold_model(tmp_path):
    from dataclasses import replace

    from qa.ranking.model import load_ranker, save_fold_rankers

    shipped = load_ranker()
    refusing = replace(shipped, answer_at=2.0, closest_at=2.0)  # a probability never reaches 2: every answer is "none"
    folds = tmp_path / "folds.pkl"
    save_fold_rankers([refusing] * 5, folds)
    out = _eval_all(tmp_path, "--held-out", str(folds), "--no-peers", "--no-txtai")
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("seed-paraphrase", "senate-dev", "squad-part-a"):  # the sets the ranker is trained on: fold models
        results = json.loads((tmp_path / "out" / name / "results.json").read_text())
        assert results["note"].startswith("release-qa held out")
        assert results["methods"]["release-qa (hybrid + follow-ups)"]["answerable_none"] == 1.0
    regression = json.loads((tmp_path / "out" / "regression-regression-jsonl" / "results.json").read_text())
    assert regression["note"] == ""  # not a training set: the shipped model, which never saw it
    assert regression["methods"]["release-qa (hybrid + follow-ups)"]["answerable_none"] < 1.0
    bad = run_cli("eval", "all", str(tmp_path), "--held-out", str(EVAL_ALL / "regression.jsonl"), "--out", str(tmp_path / "o"))
    assert bad.returncode == 1 and "holds no fold models" in bad.stderr
