"""Whether a candidate's release dates from when the question says: "in April 2019", "the 2025 report".

People ask about releases by when they came out. The question's years, and a month named with a year, are read
here; the release's date is its own (metadata). Also the year and month patterns the answer kinds use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .. import linear as re

__all__ = ["MONTH", "YEAR", "date_columns"]

YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b")
_MONTH_NAMES = (
    r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|"
    r"Nov(?:ember)?|Dec(?:ember)?"
)
MONTH = re.compile(rf"\b(?:{_MONTH_NAMES})\b")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAMES})\.?\s+(?:\d{{1,2}},?\s+)?(1[89]\d\d|20\d\d)\b", re.IGNORECASE)


def date_columns(question: str, sources: Sequence[str], dated: Mapping[str, str | None]) -> dict[str, np.ndarray]:
    """Per candidate (its release in ``sources``, each release's ISO date in ``dated``): the years between the
    release's date and the nearest year the question names, and whether the month named with a year is the
    release's month. Missing (NaN) when the question names no year or the release has no date."""
    years = [int(y) for y in YEAR.findall(question)]
    months = {(int(m.group(2)), _MONTHS.index(m.group(1)[:3].lower()) + 1) for m in _MONTH_YEAR.finditer(question)}
    gap, month = {}, {}
    for source, date in dated.items():
        if not years or not date or not re.match(r"\d{4}-\d\d", date):
            gap[source], month[source] = math.nan, math.nan
            continue
        year, mon = int(date[:4]), int(date[5:7])
        gap[source] = float(min(abs(year - y) for y in years))
        month[source] = float((year, mon) in months) if months else math.nan
    return {
        "year_gap": np.array([gap[s] for s in sources], dtype=np.float32),
        "month_match": np.array([month[s] for s in sources], dtype=np.float32),
    }
