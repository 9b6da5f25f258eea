"""The answer-sentence ranker: follow-ups, language, answer kinds, candidates over whole releases, levels, the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa import linear as re
from qa.language import unreadable_language
from qa.query.followup import antecedent_topic, is_followup, resolve_followup
from qa.ranking.dataset import Item, SetSpec, _without_answer, norm, withheld_twin
from qa.ranking.features import FEATURES
from qa.ranking.focus import focus_stems, missing_columns, near_columns
from qa.ranking.kinds import answer_kind, question_kind, things
from qa.ranking.levels import MAX_DOWNGRADED, MAX_REFUSED, choose_levels
from qa.ranking.views import QuestionView
from qa.store.lexical import bm25_tokenize, content_stems


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
    assert unreadable_language("Qui a présidé la réunion des ministres de la défense?") == "French"
    assert unreadable_language("Wer hat das Treffen der Verteidigungsminister geleitet?") == "German"
    assert unreadable_language("Who co-chaired the defence ministers' meeting in Seoul?") is None


def test_answer_kinds_from_the_questions_shape():
    assert question_kind("the council opened how many depots last year") == "number"
    assert question_kind("When did the new tariff take effect?") == "date"
    assert question_kind("How much does a season ticket cost?") == "money"
    assert question_kind("Who will lead the review board?") == "person"
    assert answer_kind("date", "It entered into force on 12 September 2020.")
    assert not answer_kind("date", "It entered into force after ratification.")
    assert answer_kind("money", "A $200 application fee is payable.")


def test_question_words_are_no_topic_of_the_question():
    # "what" and "how" name no topic: in a folder of a few releases that never use them they would be the rarest
    # words of the question, and every release would seem to lack the question's rarest word
    assert content_stems("What offences was the former minister charged with?") == ["offenc", "former", "minist", "charg"]
    assert content_stems("How many votes were cast against the bill?") == ["mani", "vote", "were", "cast", "against", "bill"]


def test_a_count_a_dated_day_and_a_titled_name_are_sure_things_of_their_kind():
    # a count is surely a number; digits of a date, a year, an ordinal, a label or a name are weakly one
    assert answer_kind("number", "The fair drew over 300 visitors.") == 1.0
    assert answer_kind("number", "The panel made eleven proposals.") == 1.0
    assert answer_kind("number", "The panel on 11 March 2025 published its report.") == 0.5
    assert answer_kind("number", "Under the Clean Air Act 2020, Section 3 of the H5N1 rules applies.") == 0.5
    assert answer_kind("number", "It hosted the first fair.") == 0.5
    assert answer_kind("number", "Nobody objected.") == 0.0
    assert [t[a:b] for t in ["Up to $100,000, or 70% of the cost."] for a, b in things("number", t)] == ["100,000", "70"]
    # a day with its month is surely a date; a year in a law's name only weakly
    assert answer_kind("date", "The permits lapse on 30 June 2021.") == 1.0
    assert answer_kind("date", "The Clean Air Act 2020 set the limits.") == 0.5
    # a name after a title is surely a person; two capitalised words only weakly
    assert answer_kind("person", "The board is chaired by Professor Ada Lim.") == 1.0
    assert answer_kind("person", "The talks were chaired by Ada Lim, the Minister of Trade.") == 1.0  # apposition
    assert answer_kind("person", "They signed the Open Skies Agreement.") == 0.5


def _view(i: int, top: float, right: bool, answerable: bool = True, name: str = "a") -> QuestionView:
    return QuestionView(
        name, str(i), "answerable" if answerable else "unanswerable", answerable, i % 5, top, right, right, right, 1.0, right
    )


def test_levels_flag_unanswerable_within_the_limits_on_answerable():
    rng = np.random.default_rng(0)
    answerable = [_view(i, float(rng.uniform(0.4, 1.0)), bool(rng.uniform() < 0.8)) for i in range(200)]
    unanswerable = [_view(1000 + i, float(rng.uniform(0.0, 0.6)), False, answerable=False) for i in range(40)]
    _, cy, answer_at, closest_at = choose_levels(answerable + unanswerable)
    assert np.all(np.diff(cy) >= 0)  # calibration (what the reply shows) is monotone
    p = np.array([q.top for q in answerable])  # the thresholds are on the model's own output, finer than calibration
    assert (p < closest_at).mean() <= MAX_REFUSED
    assert ((p >= closest_at) & (p < answer_at)).mean() <= MAX_DOWNGRADED
    flagged = (np.array([q.top for q in unanswerable]) < answer_at).mean()
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


def test_question_relative_columns_compare_each_candidate_with_its_questions_others():
    from qa.ranking.features import BASE, derive

    base = np.zeros((5, len(BASE)), dtype=np.float32)
    base[:, BASE.index("s_dense")] = [0.2, 0.5, 0.4, 0.9, 0.1]
    base[:, BASE.index("s_cover")] = [0.7, np.nan, 0.3, np.nan, 0.8]
    out = derive(base, np.ones(5, dtype=np.int64), np.array([0, 0, 0, 1, 1]))
    gap, rank, z = (out[:, FEATURES.index(f"s_dense_q{how}")] for how in ("gap", "rank", "z"))
    np.testing.assert_allclose(gap, [-0.3, 0.0, -0.1, 0.0, -0.8], atol=1e-6)
    np.testing.assert_array_equal(rank, [2, 0, 1, 0, 1])  # 0 = the question's best, per question
    assert z[1] > z[2] > z[0] and abs(z[:3].mean()) < 1e-5
    cover_rank = out[:, FEATURES.index("s_cover_qrank")]
    np.testing.assert_array_equal(cover_rank, [0, 2, 1, 1, 0])  # a missing score ranks last
    assert np.isnan(out[1, FEATURES.index("s_cover_qgap")])


def test_question_features_see_the_margin_and_the_missing_answer_kind():
    from qa.ranking.confidence import QUESTION_FEATURES, question_features
    from qa.ranking.kinds import KINDS

    features = np.zeros((3, len(FEATURES)), dtype=np.float32)
    features[:, FEATURES.index("kind_asked")] = KINDS.index("date")
    features[:, FEATURES.index("p_cover")] = [0.5, 0.9, 0.2]
    features[:, FEATURES.index("release_rank")] = [1, 1, 2]
    row = dict(zip(QUESTION_FEATURES, question_features(np.array([2.0, 0.5, 1.5]), features), strict=True))
    assert row["top"] == 2.0 and row["margin"] == pytest.approx(0.5)
    assert row["r_cover"] == pytest.approx(0.9, abs=1e-6)  # the best passage of the best sentence's release
    assert row["kind_missing"] == 1.0  # a date is asked for and the best sentence holds none
    features[0, FEATURES.index("kind_found")] = 1
    assert dict(zip(QUESTION_FEATURES, question_features(np.array([2.0, 0.5, 1.5]), features), strict=True))["kind_missing"] == 0

    features[:, FEATURES.index("focus_near")] = np.nan  # a question without a focus ("When ...?")
    row = dict(zip(QUESTION_FEATURES, question_features(np.array([2.0, 0.5, 1.5]), features), strict=True))
    assert np.isnan(row["focus_near_release"])
    features[:, FEATURES.index("focus_near")] = [0.0, 0.0, 1.0]
    row = dict(zip(QUESTION_FEATURES, question_features(np.array([2.0, 0.5, 1.5]), features), strict=True))
    assert row["focus_near_release"] == 0.0  # only another release holds the focus next to a date
    features[1, FEATURES.index("focus_near")] = 1.0
    row = dict(zip(QUESTION_FEATURES, question_features(np.array([2.0, 0.5, 1.5]), features), strict=True))
    assert row["focus_near_release"] == 1.0  # a sentence of the best sentence's release does


def test_the_listwise_ranker_puts_each_questions_right_sentence_first():
    from qa.ranking.model import predict
    from qa.ranking.train import _fit, make_model

    rng = np.random.default_rng(0)
    questions = np.repeat(np.arange(120), 8)
    x = rng.normal(size=(len(questions), len(FEATURES))).astype(np.float32)
    right = np.zeros(len(questions), dtype=bool)
    right[np.arange(120) * 8 + rng.integers(0, 8, 120)] = True
    x[right, FEATURES.index("s_dense")] += 3.0  # one column tells the right sentence, among noise in every other
    train = questions < 80
    model = make_model("lambdarank")
    _fit(model, x[train], right[train], np.ones(int(train.sum())), questions[train])
    scores = predict(model, x[~train]).reshape(40, 8)
    assert (right[~train].reshape(40, 8)[np.arange(40), scores.argmax(axis=1)]).mean() > 0.8  # chance: 1 in 8


def test_the_saved_model_answers_on_onnxruntime_as_trained_without_lightgbm_or_scikit_learn(tmp_path):
    import subprocess
    import sys

    from qa.ranking.confidence import QUESTION_FEATURES, confidence_model
    from qa.ranking.model import SentenceRanker, load_ranker, predict, save_ranker
    from qa.ranking.train import _fit, make_model

    rng = np.random.default_rng(1)
    questions = np.repeat(np.arange(60), 6)
    x = rng.normal(size=(len(questions), len(FEATURES))).astype(np.float32)
    x[::7, 5] = np.nan
    right = rng.uniform(size=len(questions)) < 0.2
    ranker_model = make_model("lambdarank")
    _fit(ranker_model, x, right, np.ones(len(x)), questions)
    q = rng.normal(size=(60, len(QUESTION_FEATURES)))
    confidence = confidence_model().fit(q, rng.uniform(size=60) < 0.5)
    knots = np.array([0.0, 1.0])
    ranker = SentenceRanker(list(FEATURES), ranker_model, knots, knots, 0.5, 0.2, confidence=confidence)
    expected = predict(ranker_model, x), predict(confidence, q)
    path = tmp_path / "ranker.pkl"
    version = save_ranker(ranker, path)

    loaded = load_ranker(path)
    assert loaded.version == version
    assert np.allclose(loaded.score(x), expected[0], atol=1e-4)
    assert np.allclose(predict(loaded.confidence, q), expected[1], atol=1e-4)
    probe = (
        "import pickle, sys; from qa.ranking.model import load_ranker; from pathlib import Path; "
        f"r = load_ranker(Path({str(path)!r})); import numpy as np; r.score(np.zeros((2, {len(FEATURES)}), np.float32)); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightgbm', 'sklearn', 'joblib'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_focus_of_a_question_is_the_thing_it_asks_about():
    assert focus_stems("How many prosecutions had been brought under the Act?") == ["prosecut"]
    assert focus_stems("Which conference did the minister attend?") == ["confer"]
    assert focus_stems("What maximum annual intake did the committee recommend?") == ["maximum", "annual", "intak"]
    assert focus_stems("how much does it cost to appeal") == []  # an auxiliary ends the focus before it starts
    assert focus_stems("Who signed the treaty?") == []


def test_focus_near_a_number_and_the_rarest_missing_word():
    texts = [
        "The Ministry tabled the Bill in Parliament today.",
        "There have been more than 1,700 prosecutions since the Act began.",
        "Prosecutions rose, the Ministry said, and 3 new courts opened in the years that followed the change.",
    ]
    stems = [set(t) for t in bm25_tokenize(texts)]
    cols = near_columns(texts, stems, ["prosecut"], lambda text: [m.span() for m in re.finditer(r"\d+", text)])
    assert cols["focus_in"].tolist() == [0.0, 1.0, 1.0]
    assert cols["focus_near"].tolist() == [0.0, 1.0, 0.0]  # "3" is too far from "Prosecutions" to be its count

    wanted = ["trade", "deal", "canada"]
    idf = {"trade": 1.0, "deal": 2.0, "canada": 4.0}
    have = [{"trade", "deal", "canada"}, {"trade", "deal"}, {"trade"}]
    missing = missing_columns(wanted, idf, have, have, have)
    assert missing["r_miss"].tolist() == [0.0, 1.0, 1.0]  # the rarest word is missing from the last two
    assert missing["s_miss"].tolist() == [0.0, 1.0, 1.0]


def test_a_withheld_twin_asks_answerable_questions_without_the_releases_that_answer_them():
    items = [
        Item("q1", "When did the port open?", ["opened on 3 May"], "s:a"),
        Item("q2", "Is there a ferry?", [], "s:b", kind="unanswerable"),
        Item("q3", "and when did it close?", ["closed on 9 May"], "s:a", history=["When did the port open?"], kind="followup"),
    ]
    twin = withheld_twin(SetSpec("s", Path("corpus"), items))
    assert twin.withheld and twin.name == "s-withheld" and twin.index_name == "s"
    assert [it.id for it in twin.items] == ["q1"] and not twin.items[0].answerable  # asked, but it cannot be answered
    sources = ["a.md", "a.md", "b.md", "c.md"]
    texts = {"a.md": norm("The port opened on 3 May."), "b.md": norm("Ferries stop."), "c.md": norm("It OPENED on 3 May!")}
    assert _without_answer(twin.items[0], sources, texts).tolist() == [False, False, True, False]


def test_a_release_from_the_year_and_month_the_question_names():
    from qa.ranking.dates import date_columns

    dated = {"a.md": "2019-04-01", "b.md": "2017-09-30", "c.md": None}
    sources = ["a.md", "a.md", "b.md", "c.md"]

    def columns(question: str) -> tuple[list[float], list[float]]:
        cols = date_columns(question, sources, dated)
        return cols["year_gap"].tolist(), cols["month_match"].tolist()

    gap, month = columns("How many prosecutions were there when the Bill was tabled in April 2019?")
    assert gap[:3] == [0.0, 0.0, 2.0] and np.isnan(gap[3])  # an undated release: not known
    assert month[:3] == [1.0, 1.0, 0.0]
    gap, month = columns("what did the sept. 2017 report recommend")
    assert gap[:3] == [2.0, 2.0, 0.0] and month[:3] == [0.0, 0.0, 1.0]
    gap, month = columns("the 2018 report said what, and what did its 2019 update add?")
    assert gap[:3] == [0.0, 0.0, 1.0] and np.isnan(month).all()  # the nearest year named; no month named
    gap, month = columns("What may the committee recommend?")
    assert np.isnan(gap).all() and np.isnan(month).all()  # no year named ("may" is no month without one)


def test_evaluation_finds_each_training_questions_group_so_its_fold_model_never_saw_it(tmp_path):
    import json

    from qa.eval_data import load_gold, load_squad
    from qa.ranking.dataset import gold_items, group_of, squad_items
    from qa.ranking.model import FoldRankers, SentenceRanker, fold_of_group

    gold = tmp_path / "qa.jsonl"
    rows = [
        {"id": "d1", "question": "When?", "gold": ["May"], "file": "2019/a.md"},
        {"id": "p1", "fact": "f07", "question": "Who?", "gold": ["Kim"]},
        {"id": "u1", "question": "Is there a ferry?", "gold": []},
    ]
    gold.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert [it.group for it in gold_items(gold, "archive")] == [group_of("archive", q) for q in load_gold(gold)]
    squad = tmp_path / "squad.json"
    paragraph = {"context": "The port opened in May.", "qas": [{"id": "s1", "question": "When?", "answers": [{"text": "May"}]}]}
    squad.write_text(json.dumps({"data": [{"title": "A", "paragraphs": [paragraph]}] * 3}), encoding="utf-8")
    _, queries = load_squad(squad, cache=tmp_path / "cache")
    assert [it.group for it in squad_items(squad)] == [group_of("squad", q) for q in queries] == ["squad:0", "squad:1", "squad:2"]

    rankers = [SentenceRanker([], None, np.zeros(1), np.zeros(1), 0.5, 0.1, version=str(f)) for f in range(5)]
    folds = FoldRankers(rankers)
    groups = [f"archive:{year}/{n}.md" for year in range(2000, 2010) for n in range(5)]
    assert {fold_of_group(g, 5) for g in groups} == set(range(5))  # the hash spreads groups over every fold
    assert all(folds.for_group(g).version == str(fold_of_group(g, 5)) for g in groups)


def test_the_shipped_model_has_a_manifest_of_what_it_holds():
    import json

    from qa.ranking.model import DEFAULT_MODEL, load_ranker

    manifest = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    ranker = load_ranker()
    assert manifest["version"] == ranker.version and manifest["bytes"] == DEFAULT_MODEL.stat().st_size
    assert manifest["features"] == ranker.features and manifest["bytes"] < 5_000_000
    assert {"paraphrase", "senate", "archive", "squad"} <= set(manifest["sets"])
    assert all("sentence_right" in figures for name, figures in manifest["held_out"].items() if "withheld" not in name)


def test_a_sentence_that_introduces_a_list_answers_with_it_and_another_language_is_never_the_answer(tmp_path_factory, encoder):
    from qa import QA

    corpus = tmp_path_factory.mktemp("lists")
    (corpus / "charged.html").write_text(  # the list items are paragraphs of their own, as in the releases
        "<html><head><title>Former minister charged with corruption</title></head><body><article>"
        "<h1>Former minister charged with corruption</h1>"
        "<p>In accordance with the usual procedure, the Bureau recorded statements from the former minister in "
        "January 2024 and informed him that he would be charged in the State Courts on the eighteenth of that month, "
        "after an investigation that lasted more than six months. Today, he was charged with the following offences: </p>"
        "<p>a) two charges of corruption under section 6 of the Prevention of Corruption Act, each punishable by a "
        "fine of up to $100,000 or imprisonment of up to five years, or both;</p>"
        "<p>b) one charge of obstructing the course of justice, an offence punishable under the Penal Code.</p>"
        "<p>c) thirty charges of obtaining valuable things as a public servant from a person with business dealings.</p>"
        "<p>The Bureau adopts a strict zero-tolerance approach towards corruption in every agency.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    (corpus / "treffen.md").write_text(
        "# Außenministerin beim Treffen der Außenminister in Luxemburg\n\n"
        "Besprochen wurden die aktuellen Entwicklungen in der Europapolitik, dabei insbesondere der Schutz der "
        "Rechtsstaatlichkeit, die Migrationspolitik und das zukünftige EU-Budget der Europäischen Union.\n",
        encoding="utf-8",
    )
    qa = QA(corpus, tmp_path_factory.mktemp("lists-index"), encoder=encoder)
    answer = qa.ask("What offences was the former minister charged with?", k=2)
    assert answer.level == "answer", answer
    assert answer.answer.startswith("Today, he was charged with the following offences:")
    assert "two charges of corruption" in answer.answer  # the list the sentence introduces is part of the answer
    first = answer.passages[0]
    marked = first.text[first.answer_start : first.answer_end]
    assert marked.startswith("Today, he was charged") and "two charges of corruption" in marked
    assert "b) one charge of obstructing" in answer.answer  # the second item too: 22 + 14 words fit in 60
    assert "thirty charges" not in marked and "thirty charges" not in answer.answer  # whole sentences up to 60 words

    german = qa.ask("What did the ministers discuss about the future EU budget and migration policy?", k=2)
    assert german.passages[0].source == "treffen.md" and german.level != "answer" and german.answer is None


def test_figures_can_be_averaged_over_other_fold_partitions_and_seeds_while_the_shipped_folds_stay():
    from qa.ranking.model import fold_of_group
    from qa.ranking.train import _folds, make_model, partition_salt

    groups = np.array([f"archive:{year}/{n}.md" for year in range(2000, 2010) for n in range(5)])
    shipped = _folds(groups, salt=partition_salt(0))
    assert shipped.tolist() == [fold_of_group(g, 5) for g in groups]  # partition 0 is the one `qa eval --held-out` uses
    other = _folds(groups, salt=partition_salt(1))
    assert set(other.tolist()) == set(range(5)) and (other != shipped).mean() > 0.5  # another draw of the same groups
    assert make_model("lambdarank", 3).get_params()["random_state"] == 3
