"""Whether a question is in a language the English model reads; if not, which language to name in a plain note."""

from __future__ import annotations

import unicodedata

__all__ = ["unreadable_language"]

_NAMES = {
    "ko": "Korean",
    "ja": "Japanese",
    "zh-cn": "Chinese",
    "zh-tw": "Chinese",
    "ru": "Russian",
    "ar": "Arabic",
    "he": "Hebrew",
    "el": "Greek",
    "th": "Thai",
    "hi": "Hindi",
    "uk": "Ukrainian",
    "bg": "Bulgarian",
    "fa": "Persian",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "id": "Indonesian",
    "vi": "Vietnamese",
    "tr": "Turkish",
    "pl": "Polish",
    "sv": "Swedish",
}
MIN_WORDS = 5  # langdetect is unreliable on fewer Latin-script words ("who will run it?")
MIN_PROBABILITY = 0.99  # and a language we can name: keyword queries ("condemn dprk nuclear missile programs") fool it


def _non_latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:  # a lone sign ("º", "µ") is no language
        return 0.0
    return sum(1 for c in letters if not unicodedata.name(c, "LATIN").startswith("LATIN")) / len(letters)


def _plainly_english(question: str) -> bool:
    """Two English function words or more, one of them longer than two letters ("who", "the", "was"): English, and
    the detector (slow to load) is not needed."""
    from .store.lexical import function_words

    english = function_words()
    found = {w for w in question.lower().replace("?", " ").split() if w in english}
    return len(found) >= 2 and any(len(w) > 2 for w in found)


def unreadable_language(question: str) -> str | None:
    """The language's name when the question is plainly not English (another script, or a confidently detected
    language on enough words); None when it is English or too short to tell."""
    non_latin = _non_latin_share(question) > 0.5
    if not non_latin and (len(question.split()) < MIN_WORDS or _plainly_english(question)):
        return None
    try:
        from langdetect import DetectorFactory, detect_langs
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError:
        return "another language" if non_latin else None
    DetectorFactory.seed = 0
    try:
        best = detect_langs(question)[0]
    except (LangDetectException, IndexError):
        return "another language" if non_latin else None
    if best.lang == "en":
        return None
    if non_latin:
        return _NAMES.get(best.lang, "another language")
    return _NAMES.get(best.lang) if best.prob >= MIN_PROBABILITY else None
