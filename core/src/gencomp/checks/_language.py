"""Offline language identification for the response-language checks (``py3langid``, an optional extra)."""

from __future__ import annotations

import functools
from typing import Any

from gencomp.errors import GencompError

LANGUAGES: dict[str, str] = {
    # IFEval's 30 languages first, then other common ones py3langid knows.
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "ar": "Arabic",
    "hi": "Hindi",
    "fr": "French",
    "ru": "Russian",
    "de": "German",
    "ja": "Japanese",
    "it": "Italian",
    "bn": "Bengali",
    "uk": "Ukrainian",
    "th": "Thai",
    "ur": "Urdu",
    "ta": "Tamil",
    "te": "Telugu",
    "bg": "Bulgarian",
    "ko": "Korean",
    "pl": "Polish",
    "he": "Hebrew",
    "fa": "Persian",
    "vi": "Vietnamese",
    "ne": "Nepali",
    "sw": "Swahili",
    "kn": "Kannada",
    "mr": "Marathi",
    "gu": "Gujarati",
    "pa": "Punjabi",
    "ml": "Malayalam",
    "fi": "Finnish",
    "zh": "Chinese",
    "nl": "Dutch",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "tr": "Turkish",
    "el": "Greek",
    "cs": "Czech",
    "ro": "Romanian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "ca": "Catalan",
}
"""ISO 639-1 codes the language checks accept, with their English names."""

_SAME_LANGUAGE = {"zh": {"zh", "wuu", "yue", "cmn"}, "no": {"no", "nb", "nn"}, "fa": {"fa", "pes"}}

INSTALL_HINT = "install the optional dependency with: pip install 'gencomp[language]' (it adds py3langid)"


class LanguageIdUnavailableError(GencompError, ImportError):
    """The response-language checks need ``py3langid``, which is not installed."""


def available() -> bool:
    """Whether the offline language identifier can be imported."""
    try:
        _identifier()
    except LanguageIdUnavailableError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise LanguageIdUnavailableError(
            f"checking the language of a response needs py3langid; {INSTALL_HINT}"
        ) from exc
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def require() -> None:
    """Raise :class:`LanguageIdUnavailableError` (saying how to install it) unless py3langid is importable."""
    _identifier()


def detect(text: str) -> tuple[str, float]:
    """The most likely language of ``text`` (an ISO 639-1 code where one exists) and its probability."""
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


def is_language(code: str, detected: str) -> bool:
    """Whether a detected code counts as the language ``code`` (``wuu`` and ``yue`` count as Chinese)."""
    return detected == code or detected in _SAME_LANGUAGE.get(code, ())


def name(code: str) -> str:
    """The English name of a language code (the code itself when unknown)."""
    return LANGUAGES.get(code, code)


def code_of(language: str) -> str:
    """The ISO 639-1 code for a language code or English name; a clear error for an unknown one."""
    key = language.strip()
    if key.lower() in LANGUAGES:
        return key.lower()
    for code, lang in LANGUAGES.items():
        if lang.lower() == key.lower():
            return code
    raise ValueError(
        f"unknown language {language!r}; use an ISO 639-1 code or name from gencomp.checks.LANGUAGES "
        f"(for example 'fr' or 'French')"
    )
