"""The trained answer-sentence ranker as shipped: its two models in ONNX, their calibration and the levels' thresholds.

The file (``qa/models/sentence_ranker.pkl``) is rebuilt by ``python -m qa train`` from the shared sets
(docs/training.md). The thresholds between the three levels -- an answer, the closest passage, not in the
releases -- were chosen on held-out folds, on the question-level model's own output; that output's isotonic
calibration (also from held-out folds) is the probability a reply shows. The LightGBM ranker and the
scikit-learn question-level model are trained with those libraries (the ``train`` extra) and saved as ONNX graphs
(onnxmltools, skl2onnx): answering runs them on onnxruntime, which the encoder already loads, so a question never
imports LightGBM or scikit-learn.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import threading
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import QAError
from .features import FEATURES

__all__ = [
    "DEFAULT_MODEL",
    "LEVELS",
    "FoldRankers",
    "SentenceRanker",
    "fold_of_group",
    "load_fold_rankers",
    "load_ranker",
    "predict",
    "save_fold_rankers",
    "save_ranker",
]

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "sentence_ranker.pkl"
AGREEMENT = 1e-4  # the ONNX graph's scores must equal the trained model's within this
LEVELS = ("answer", "closest", "none")


@dataclass
class SentenceRanker:
    """Scores candidates; says how sure it is that the best one answers, and at what level to reply."""

    features: list[str]  # the columns of :data:`FEATURES` the model reads, in its order
    model: Any  # a fitted LightGBM ranker (predict) or scikit-learn classifier (predict_proba); OnnxModel once saved
    calibration_x: np.ndarray  # isotonic calibration of the best candidate's score, as knots
    calibration_y: np.ndarray
    answer_at: float  # the question-level model's output (uncalibrated) from which the sentence is given as the answer
    closest_at: float  # from which the closest passage is shown; below it, "not in the releases"
    summary: dict[str, Any] = field(default_factory=dict)  # training data, folds, held-out figures
    version: str = ""
    confidence: Any = None  # question-level model (.confidence): is the question answered by its best candidate?

    def columns(self) -> np.ndarray:
        return np.array([FEATURES.index(name) for name in self.features], dtype=np.int64)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Each candidate's (uncalibrated) probability of answering."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        return predict(self.model, features[:, self.columns()])

    def calibrated(self, score: float) -> float:
        """The probability, measured on held-out folds, that a question's best candidate with this score answers it."""
        return float(np.interp(score, self.calibration_x, self.calibration_y))

    def sureness(self, scores: np.ndarray, features: np.ndarray) -> float:
        """How sure the model is that the best candidate answers: the question-level model's output when the file
        has one, else the best score. Uncalibrated, so it orders questions finely (calibration has plateaus)."""
        if len(scores) == 0:
            return -math.inf
        if self.confidence is None:
            return float(scores.max())
        from .confidence import question_features

        row = question_features(scores, features)[None, :]
        return float(predict(self.confidence, row)[0])

    def level(self, sureness: float) -> str:
        """The reply's level from :meth:`sureness`: the thresholds were chosen on the same uncalibrated scale."""
        if sureness >= self.answer_at:
            return "answer"
        return "closest" if sureness >= self.closest_at else "none"


@dataclass
class OnnxModel:
    """A trained model as an ONNX graph, scored by onnxruntime: ``output`` names the scores, ``column`` the positive
    class of a probability matrix (None for a ranker's one score per row)."""

    graph: bytes
    output: str
    column: int | None = None
    _session: Any = field(default=None, repr=False, compare=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1  # a few hundred rows: threads cost more
            self._session = ort.InferenceSession(self.graph, options, providers=["CPUExecutionProvider"])
        (out,) = self._session.run([self.output], {"x": np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(out[:, self.column] if self.column is not None else out.reshape(-1), dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {"graph": self.graph, "output": self.output, "column": self.column, "_session": None}


def to_onnx(estimator: Any, columns: int) -> OnnxModel:
    """The trained model as an ONNX graph that scores as it does (checked on random rows with missing values)."""
    if isinstance(estimator, OnnxModel):
        return estimator
    if type(estimator).__name__ == "LGBMRanker":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        graph = convert_lightgbm(estimator.booster_, initial_types=[("x", FloatTensorType([None, columns]))], target_opset=15)
        model = OnnxModel(graph.SerializeToString(), graph.graph.output[0].name)
    else:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType as SklFloat

        graph = convert_sklearn(
            estimator, initial_types=[("x", SklFloat([None, columns]))], options={"zipmap": False}, target_opset=15
        )
        model = OnnxModel(graph.SerializeToString(), graph.graph.output[1].name, column=1)
    rows = np.random.default_rng(0).normal(size=(256, columns)).astype(np.float32)
    rows[::5, ::3] = np.nan
    gap = float(np.max(np.abs(model.predict(rows) - predict(estimator, rows))))
    if not gap <= AGREEMENT:
        raise QAError(f"the ONNX form of the {type(estimator).__name__} scores {gap:.1e} away from it: not saved")
    return model


def predict(estimator: Any, x: np.ndarray) -> np.ndarray:
    """Each row's score: a classifier's probability, or a ranker's relevance score."""
    if isinstance(estimator, OnnxModel):
        return estimator.predict(x)
    if not hasattr(estimator, "predict_proba"):  # LightGBM: one thread is set in the model itself
        return np.asarray(estimator.predict(x), dtype=np.float32)
    if not type(estimator).__name__.startswith("HistGradientBoosting"):  # no OpenMP: no costly thread-pool switch
        return np.asarray(estimator.predict_proba(x)[:, 1], dtype=np.float32)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):  # a few hundred rows: threads cost more than they save
        return np.asarray(estimator.predict_proba(x)[:, 1], dtype=np.float32)


def _as_onnx(ranker: SentenceRanker) -> SentenceRanker:
    """The ranker with its models as ONNX graphs and its version set (a hash of what it holds)."""
    from .confidence import QUESTION_FEATURES

    confidence = None if ranker.confidence is None else to_onnx(ranker.confidence, len(QUESTION_FEATURES))
    saved = replace(ranker, model=to_onnx(ranker.model, len(ranker.features)), confidence=confidence, version="")
    return replace(saved, version=hashlib.sha256(pickle.dumps(saved, protocol=5)).hexdigest()[:12])


def save_ranker(ranker: SentenceRanker, path: Path = DEFAULT_MODEL) -> str:
    """Write the model file, its models as ONNX graphs; returns its version."""
    saved = _as_onnx(ranker)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(saved, protocol=5))
    return saved.version


def fold_of_group(group: str, folds: int, salt: str = "") -> int:
    """The fold a question group (a release, a SQuAD article, a paraphrase fact) falls in: a fixed hash of its name.
    Another ``salt`` draws another partition (for figures averaged over several); the shipped folds use none."""
    return zlib.crc32((salt + group).encode()) % folds


@dataclass
class FoldRankers:
    """Training's fold models: fold f's model was trained, calibrated and thresholded without any group of fold f,
    so a question of the training sets answered by its group's model is answered held out."""

    rankers: list[SentenceRanker]

    def for_group(self, group: str) -> SentenceRanker:
        return self.rankers[fold_of_group(group, len(self.rankers))]


def save_fold_rankers(rankers: list[SentenceRanker], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(FoldRankers([_as_onnx(r) for r in rankers]), protocol=5))


def load_fold_rankers(path: Path) -> FoldRankers:
    """Fold models written by ``qa train --folds-out``."""
    try:
        found = pickle.loads(Path(path).read_bytes())  # written by save_fold_rankers on this machine
    except (OSError, pickle.UnpicklingError, AttributeError, ModuleNotFoundError, EOFError):
        found = None
    if not isinstance(found, FoldRankers) or any(name not in FEATURES for r in found.rankers for name in r.features):
        raise QAError(f"{path} holds no fold models for this version: write them by training, as docs/training.md describes")
    return found


_LOADED: dict[Path, SentenceRanker] = {}
_LOCK = threading.Lock()


def load_ranker(path: Path = DEFAULT_MODEL) -> SentenceRanker:
    """The shipped model (loaded once per process)."""
    with _LOCK:
        found = _LOADED.get(path)
        if found is None:
            if not path.is_file():
                raise QAError(
                    f"the answer-sentence model {path.name} is missing: reinstall the package, or rebuild the model "
                    "from the shared question sets as docs/training.md describes"
                )
            try:
                found = pickle.loads(path.read_bytes())  # the package's own file, written by save_ranker
            except (pickle.UnpicklingError, AttributeError, ModuleNotFoundError, EOFError):
                found = None
            if not isinstance(found, SentenceRanker) or any(name not in FEATURES for name in found.features):
                raise QAError(
                    f"{path.name} is not a sentence-ranker model for this version: rebuild it as docs/training.md describes"
                )
            _LOADED[path] = found
        return found
