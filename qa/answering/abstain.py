"""When to say "not in the releases": the abstention policy and its calibrated values.

Its values are calibrated on held-out questions (``python -m qa eval calibrate``), never on the questions we report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["AbstainPolicy"]


@dataclass(frozen=True)
class AbstainPolicy:
    """When to say "not in the releases".

    Below ``floor`` the evidence (the best dense match of the top passages) is
    too weak to answer. Between ``floor`` and ``check_below`` the question's
    words are matched in context against the best passage and the answer
    stands only if they are covered (weighted share >= ``coverage``, no word
    below ``word``). The defaults come from 2-fold calibration on the Senate
    dev set (400 releases) plus the seed paraphrase set (`qa eval calibrate`):
    a floor alone catches the off-topic questions at both corpus sizes; the
    coverage band refused reworded answerable questions ("in person" where the
    release says "virtual") and caught no Senate near-miss, so it is closed
    (``check_below == floor``) and stays available through QA_ABSTAIN.

    Below the floor a question is still answered when the passage holds every
    word it asks about, as written: "What is Action 38?" is too short for its
    meaning to match any passage, but the passage that names Action 38 holds it.
    """

    floor: float = 0.30
    check_below: float = 0.30
    coverage: float = 0.38
    word: float = 0.24

    @classmethod
    def parse(cls, raw: str) -> AbstainPolicy:
        """ "floor,check_below,coverage,word" (the form of QA_ABSTAIN and of `qa eval calibrate`'s output)."""
        try:
            values = [float(x) for x in raw.split(",")]
            if len(values) != 4:
                raise ValueError(raw)
            return cls(*values)
        except ValueError:
            raise ConfigError(
                f"QA_ABSTAIN={raw!r} is not four numbers 'floor,check_below,coverage,word' (the calibrated default is {cls()})",
                setting="QA_ABSTAIN",
            ) from None

    def checks(self, confidence: float) -> bool:
        """Whether coverage is needed: below the floor (every word held keeps the answer) or in the band."""
        return confidence < self.check_below

    def abstains(self, confidence: float, coverage: float | None, words: Sequence[tuple[str, float]]) -> bool:
        if confidence < self.floor:
            return not (words and all(share >= 1.0 for _, share in words))  # unless the passage holds every word
        if confidence >= self.check_below or coverage is None:
            return False
        return coverage < self.coverage or any(share < self.word for _, share in words)
