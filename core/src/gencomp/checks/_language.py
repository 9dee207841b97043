"""Offline language identification for the response-language checks (``py3langid``, an optional extra)."""

from __future__ import annotations

import functools
import re
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


FLOOR = 0.9
"""The confidence below which a language identification decides nothing.

Measured on 8,220 snippets of 1 to 50 words cut from IFEval's GPT-4 responses
(``benchmarks/checks/language_floor.py``): every snippet identified at p >= 0.9 was identified
rightly (the 23 that disagreed with their label are German passages of an answer labelled
English), while below 0.7 short English snippets came out as Afrikaans, Pidgin or Sami.
"""

_NOT_LANGUAGE = re.compile(
    r"```.*?```|https?://\S+|www\.\S+|[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+|\[[^\]\n]{0,80}\]|[*#_`>|~]+",
    re.DOTALL,
)


def detect(text: str) -> tuple[str, float]:
    """The most likely language of ``text`` (an ISO 639-1 code where one exists) and its probability."""
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


def probabilities(text: str) -> dict[str, float]:
    """Every language's probability for ``text`` (py3langid's normalised scores)."""
    return {str(lang): float(p) for lang, p in _identifier().rank(text)}


def judge(text: str, code: str, floor: float = FLOOR) -> tuple[bool | None, str]:
    """Whether ``text`` is in language ``code``: a verdict when identified at ``floor`` or above, else ``None``.

    Code, URLs, e-mail addresses, placeholders and markdown symbols are left out first. The reason
    gives the probability it rests on.
    """
    cleaned = _NOT_LANGUAGE.sub(" ", text)
    if not any(ch.isalpha() for ch in cleaned):
        return None, f"no words to identify a language in; {name(code)} required"
    probs = probabilities(cleaned)
    p_code = sum(p for lang, p in probs.items() if is_language(code, lang))
    top, p_top = max(probs.items(), key=lambda item: item[1])
    if p_code >= floor:
        return True, f"written in {name(code)} (p={p_code:.2f})"
    if not is_language(code, top) and p_top >= floor:
        return False, f"written in {name(top)} (p={p_top:.2f}); {name(code)} required"
    return None, (
        f"the language is not clear: most likely {name(top)} (p={p_top:.2f}), {name(code)} p={p_code:.2f}, "
        f"below the confidence floor {floor:.2f}"
    )


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
