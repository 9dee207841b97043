"""Verifiable requirement kinds, checked exactly by code, and recognised from plain text.

Each constructor returns an ordinary :class:`~gencomp.Requirement` with a ``validation_fn``, so it
runs through ``Session.instruct`` / ``Session.validate`` like any other requirement::

    from gencomp import checks

    session.instruct("Describe a river.", requirements=[checks.max_words(20), checks.no_comma()])

Its verdict's ``reason`` says why ("41 words; at most 20 allowed") and its ``check_path`` is
``"code:<kind>"``. A plain string requirement that states kinds unambiguously ("Answer in fewer
than 20 words.") becomes their check (:func:`recognise`); any other string stays with the model.
The kinds cover IFEval's 25 verifiable instructions (:data:`IFEVAL_IDS`) with IFEval's parameters
(:func:`from_ifeval` builds them with IFEval's semantics) and everyday kinds beyond them; plugins
add kinds with the ``gencomp_register_checks`` hook.

How text is read (sentences, words, paragraphs...) and how requirement texts are read is written
down in ``TEXT-RULES.md`` next to this file. Every check is linear in the length of the text and
gives a verdict on any text; where code cannot decide (a language identified below
:data:`LANGUAGE_FLOOR`), the verdict is a :class:`~gencomp.CheckFallback` and the model decides.
IFEval's reference implementation (also in lm-eval) is not reused: it downloads NLTK's punkt
tokenizer at import time, which fails offline. Response language is identified offline by
py3langid, an optional extra (``pip install 'gencomp[language]'``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from gencomp.checks._ifeval import from_ifeval
from gencomp.checks._kinds import (
    BUILTIN,
    DEFAULT_CONSTRAINED_OPTIONS,
    IFEVAL_IDS,
    KEYWORD_MATCHES,
    RELATIONS,
    CodeCheck,
    KeywordMatch,
    Relation,
    all_capitals,
    all_lowercase,
    all_of,
    capital_word_frequency,
    code_check,
    constrained_response,
    contains_email,
    contains_number,
    contains_phone_number,
    contains_url,
    end_phrase,
    ends_with_question,
    forbidden_words,
    include_keywords,
    json_format,
    keyword_frequency,
    letter_frequency,
    max_sentences,
    max_words,
    min_sentences,
    min_words,
    multiple_sections,
    no_comma,
    nth_paragraph_first_word,
    number_bullet_lists,
    number_highlighted_sections,
    number_paragraphs,
    number_placeholders,
    number_sentences,
    number_words,
    phone_numbers,
    postscript,
    quotation,
    repeat_prompt,
    request_to_repeat,
    response_language,
    starts_with,
    title,
    two_responses,
    word_range,
)
from gencomp.checks._language import FLOOR as LANGUAGE_FLOOR
from gencomp.checks._language import LANGUAGES, LanguageIdUnavailableError
from gencomp.checks._text import (
    bullets,
    count_sentences,
    count_words,
    paragraphs,
    placeholders,
    sentences,
    word_count_range,
    words,
)
from gencomp.components import Requirement

BUILTIN_KINDS = frozenset(BUILTIN)
"""The names of the built-in kinds."""

__all__ = [
    "BUILTIN_KINDS",
    "DEFAULT_CONSTRAINED_OPTIONS",
    "IFEVAL_IDS",
    "KEYWORD_MATCHES",
    "LANGUAGES",
    "LANGUAGE_FLOOR",
    "RELATIONS",
    "CodeCheck",
    "KeywordMatch",
    "LanguageIdUnavailableError",
    "Relation",
    "all_capitals",
    "all_lowercase",
    "all_of",
    "bullets",
    "capital_word_frequency",
    "code_check",
    "constrained_response",
    "contains_email",
    "contains_number",
    "contains_phone_number",
    "contains_url",
    "count_sentences",
    "count_words",
    "end_phrase",
    "ends_with_question",
    "forbidden_words",
    "from_ifeval",
    "include_keywords",
    "is_verifiable",
    "json_format",
    "keyword_frequency",
    "kinds",
    "letter_frequency",
    "make",
    "max_sentences",
    "max_words",
    "min_sentences",
    "min_words",
    "multiple_sections",
    "no_comma",
    "nth_paragraph_first_word",
    "number_bullet_lists",
    "number_highlighted_sections",
    "number_paragraphs",
    "number_placeholders",
    "number_sentences",
    "number_words",
    "paragraphs",
    "phone_numbers",
    "placeholders",
    "postscript",
    "quotation",
    "recognise",
    "recognised_kind",
    "repeat_prompt",
    "request_to_repeat",
    "requirement_from_text",
    "response_language",
    "sentences",
    "starts_with",
    "title",
    "two_responses",
    "word_count_range",
    "word_range",
    "words",
]


def kinds() -> dict[str, Callable[..., Requirement]]:
    """Every requirement kind by name, built-in and registered by plugins: its constructor."""
    from gencomp import plugins

    out = dict(BUILTIN)
    out.update({name: spec.factory for name, spec in plugins.registry().checks.items()})
    return out


def make(kind: str, /, **params: object) -> Requirement:
    """The requirement of ``kind`` with ``params`` (for example ``make("number_words", num_words=20)``)."""
    table = kinds()
    if kind not in table:
        raise ValueError(f"unknown requirement kind {kind!r}; known kinds: {', '.join(sorted(table))}")
    return table[kind](**params)


_RANGED = {"number_sentences": ("num_sentences", "relation")}


def _candidates(text: str) -> list[Requirement]:
    from gencomp import plugins
    from gencomp.checks import _recognise

    found: list[Requirement] = []
    for kind, params in _recognise.matches(text):
        try:
            if kind.endswith(":range"):  # "5 to 10 sentences": at least the one, at most the other
                base = kind.removesuffix(":range")
                key, rel = _RANGED[base]
                low = BUILTIN[base](**{key: params["low"], rel: "at least"})
                high = BUILTIN[base](**{key: params["high"], rel: "at most"})
                found.append(all_of([low, high], description=text))
                continue
            found.append(BUILTIN[kind](**params, description=text))
        except LanguageIdUnavailableError:
            warnings.warn(
                f"{text!r} is a {kind} requirement, which needs py3langid to be checked by code; it is left to "
                f"the model. Install it with: pip install 'gencomp[language]'",
                stacklevel=4,
            )
        except ValueError:
            continue
    for spec in plugins.registry().checks.values():
        if spec.recognise is None:
            continue
        req = spec.recognise(text)
        if req is not None:
            found.append(req)
    return found


def recognise(text: str) -> Requirement | None:
    """The code-checked requirement that ``text`` states, or ``None`` when it is not recognised with certainty.

    A text is recognised when its whole wording matches exactly one phrasing of one kind (built-in,
    or through a plugin's ``recognise``), or when it joins clauses ("Answer in French and do not use
    any commas.") that are each recognised so: then it is an :func:`all_of` of them. Two different
    readings, a permission, a condition, a part of the response, or vague wording leave it to the
    model. The requirement keeps ``text`` as its description. The rules are in
    ``gencomp/checks/TEXT-RULES.md``.
    """
    from gencomp.checks import _recognise

    if not isinstance(text, str):
        raise TypeError(f"recognise() takes the text of a requirement, got {type(text).__name__}")
    found = _candidates(text)
    if len(found) == 1:
        return found[0]
    if found or _recognise.refused(_recognise.normalise(text)):
        return None
    for reading in _recognise.clauses(text):
        parts = []
        for clause in reading:
            candidates = _candidates(clause)
            if len(candidates) != 1 or code_check(candidates[0]) is None:
                break
            parts.append(candidates[0])
        else:
            read = [c for c in map(code_check, parts) if c is not None]  # each part has one: checked above
            first = read[0]
            if first.kind in BUILTIN and all((c.kind, c.params) == (first.kind, first.params) for c in read):
                return BUILTIN[first.kind](**first.params, description=text)  # one requirement said twice
            return all_of(parts, description=text)
    return None


def recognised_kind(text: str) -> str | None:
    """The kind ``text`` is recognised as (``"number_words"``...), or ``None``.

    For routing: a requirement whose text has a kind is checked exactly by code, so a model-based
    checker need not take it.
    """
    req = recognise(text)
    check = code_check(req) if req is not None else None
    if check is not None:
        return check.kind
    return getattr(req.validation_fn, "kind", None) if req is not None else None


def is_verifiable(text: str) -> bool:
    """Whether ``text`` is recognised as a verifiable kind, checked by code (see :func:`recognise`)."""
    return recognise(text) is not None


def requirement_from_text(text: str) -> Requirement:
    """The requirement a plain string stands for: the recognised code check, else a model-checked ``Requirement``."""
    return recognise(text) or Requirement(text)
