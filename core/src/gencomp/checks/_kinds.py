"""The built-in requirement kinds: IFEval's 25 verifiable instructions, and a few everyday ones.

Each constructor returns an ordinary :class:`~gencomp.Requirement` whose ``validation_fn`` is a
:class:`CodeCheck`: an exact check of the output's text whose :class:`~gencomp.ValidationResult`
carries the reason ("41 words; at most 20 allowed") and ``check_path="code:<kind>"``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from gencomp.base import CBlock, Context, ModelOutputThunk, plain_text
from gencomp.checks import _language, _text
from gencomp.components import Instruction, Message, Requirement, ValidationResult

Relation = Literal["less than", "at most", "exactly", "at least", "more than"]
RELATIONS: tuple[str, ...] = ("less than", "at most", "exactly", "at least", "more than")
"""Comparisons a count accepts; IFEval's own are ``"less than"`` and ``"at least"``."""

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "less than": lambda c, n: c < n,
    "at most": lambda c, n: c <= n,
    "exactly": lambda c, n: c == n,
    "at least": lambda c, n: c >= n,
    "more than": lambda c, n: c > n,
}
_RELATION_WORDS = {"less than": "fewer than", "more than": "more than"}

CheckFn = Callable[[str, Context | None], tuple[bool | None, str]]
"""A kind's check of a text: ``(True, why)``, ``(False, why)``, or ``(None, why)`` when code cannot decide."""

IFEVAL_IDS: dict[str, str] = {
    "include_keywords": "keywords:existence",
    "keyword_frequency": "keywords:frequency",
    "forbidden_words": "keywords:forbidden_words",
    "letter_frequency": "keywords:letter_frequency",
    "response_language": "language:response_language",
    "number_sentences": "length_constraints:number_sentences",
    "number_paragraphs": "length_constraints:number_paragraphs",
    "number_words": "length_constraints:number_words",
    "nth_paragraph_first_word": "length_constraints:nth_paragraph_first_word",
    "number_placeholders": "detectable_content:number_placeholders",
    "postscript": "detectable_content:postscript",
    "number_bullet_lists": "detectable_format:number_bullet_lists",
    "constrained_response": "detectable_format:constrained_response",
    "number_highlighted_sections": "detectable_format:number_highlighted_sections",
    "multiple_sections": "detectable_format:multiple_sections",
    "json_format": "detectable_format:json_format",
    "title": "detectable_format:title",
    "two_responses": "combination:two_responses",
    "repeat_prompt": "combination:repeat_prompt",
    "end_phrase": "startend:end_checker",
    "capital_word_frequency": "change_case:capital_word_frequency",
    "all_capitals": "change_case:english_capital",
    "all_lowercase": "change_case:english_lowercase",
    "no_comma": "punctuation:no_comma",
    "quotation": "startend:quotation",
}
"""Each built-in kind that implements one of IFEval's 25 instructions, with IFEval's id for it."""

DEFAULT_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


class CodeCheck:
    """An exact check of one requirement kind with its parameters; a ``validation_fn``.

    ``kind`` names the kind and ``params`` holds its parameters, as its constructor takes them
    (``checks.make(kind, **params)`` rebuilds it). Calling it with a context checks the context's
    last output; :meth:`check_text` checks a string. The verdict is exact, or, where code cannot
    decide (a language identified below :data:`~gencomp.checks.LANGUAGE_FLOOR`, a word count of Thai
    text that could fall on either side of the bound), a failed ``ValidationResult`` whose
    ``verdict`` is a :class:`~gencomp.CheckFallback` with the reason: ``check_requirements`` then
    leaves the requirement to the model. It never raises on any text: a check that cannot run
    fails, saying why.
    """

    def __init__(self, kind: str, params: Mapping[str, Any], check: CheckFn) -> None:
        self.kind = kind
        self.params = dict(params)
        self._check = check

    @property
    def check_path(self) -> str:
        """``"code:<kind>"``: the path that decides this check, shown with its verdict."""
        return f"code:{self.kind}"

    def _run(self, text: str, ctx: Context | None) -> ValidationResult:
        from gencomp.verdicts import CheckFallback, CheckVerdict

        if not isinstance(text, str):
            return self._result_of(False, f"the output is not text ({type(text).__name__})")
        try:
            ok, reason = self._check(text, ctx)
        except Exception as exc:  # a check must fail, never raise, on any text
            ok, reason = False, f"the check could not run on this text ({type(exc).__name__}: {exc})"
        if ok is None:
            why = f"{self.check_path} could not decide: {reason}"
            return ValidationResult(False, reason=f"undecided: {reason}", verdict=CheckFallback(why, self.check_path))
        return ValidationResult(ok, reason=reason, verdict=CheckVerdict(ok, path=self.check_path))

    def _result_of(self, ok: bool, reason: str) -> ValidationResult:
        from gencomp.verdicts import CheckVerdict

        return ValidationResult(ok, reason=reason, verdict=CheckVerdict(ok, path=self.check_path))

    def __call__(self, ctx: Context) -> ValidationResult:
        last = ctx.last_output()
        if last is None or last.value is None:
            return self._result_of(False, "there is no output to check")
        return self._run(last.value, ctx)

    def check_text(self, text: str) -> ValidationResult:
        """Check ``text`` as if it were the output under test (no context: see :func:`repeat_prompt`)."""
        return self._run(text, None)

    def check_prefix(self, text: str, final: Callable[[str], bool]) -> ValidationResult | None:
        """A failing verdict when ``final(text)`` says the prefix ``text`` already fails for good, else ``None``."""
        try:
            done = final(text)
        except Exception:
            return None
        if not done:
            return None
        from gencomp.verdicts import CheckVerdict

        result = self._run(text, None)
        return result if not result.result and isinstance(result.verdict, CheckVerdict) else None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"CodeCheck({self.kind}: {args})"


def code_check(requirement: Requirement) -> CodeCheck | None:
    """The :class:`CodeCheck` behind ``requirement``, or ``None`` when it is not a code-checked kind."""
    fn = requirement.validation_fn
    return fn if isinstance(fn, CodeCheck) else None


def _requirement(
    kind: str,
    params: Mapping[str, Any],
    description: str,
    check: CheckFn,
    fails_for_good: Callable[[str], bool] | None = None,
) -> Requirement:
    """A requirement checked by ``check``; ``fails_for_good(prefix)`` says when no continuation can pass.

    With ``fails_for_good`` the requirement gets a ``prefix_fn``: a streamed answer that already
    fails for good stops there (``ValidationResult.stopped_at_token``).
    """
    code = CodeCheck(kind, params, check)
    prefix = None if fails_for_good is None else functools.partial(code.check_prefix, final=fails_for_good)
    return Requirement(description, validation_fn=code, prefix_fn=prefix)


def _complete_words(text: str) -> str:
    """``text`` without a word it may still be in the middle of (a trailing run of word characters)."""
    return re.sub(r"\w+$", "", text)


# -- argument checking --------------------------------------------------------------------------


def _count(name: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _relation(value: str) -> str:
    if value not in _COMPARE:
        raise ValueError(f"relation must be one of {', '.join(map(repr, RELATIONS))}, got {value!r}")
    return value


def _word(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def _word_list(name: str, values: Sequence[str] | str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = [_word(name, v) for v in values]
    if not out:
        raise ValueError(f"{name} must name at least one word")
    return out


def _bound(relation: str, n: int, unit: str) -> str:
    allowed = "allowed" if relation in ("less than", "at most") else "required"
    return f"{_RELATION_WORDS.get(relation, relation)} {n} {allowed}"


def _count_check(count: int, relation: str, n: int, unit: str) -> tuple[bool, str]:
    return _COMPARE[relation](count, n), f"{_text.plural(count, unit)}; {_bound(relation, n, unit)}"


def _rel_text(relation: str, n: int, unit: str) -> str:
    return f"{_RELATION_WORDS.get(relation, relation)} {_text.plural(n, unit)}"


def _quoted(items: Sequence[str]) -> str:
    q = [f'"{w}"' for w in items]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


KeywordMatch = Literal["word", "substring"]
KEYWORD_MATCHES: tuple[str, ...] = ("word", "substring")
"""How keywords are found: ``"word"`` (the default) or ``"substring"`` (IFEval's own semantics)."""


def _match(value: str) -> str:
    if value not in KEYWORD_MATCHES:
        raise ValueError(
            f"match must be 'word' (whole words, the default) or 'substring' (IFEval's matching), got {value!r}"
        )
    return value


def _keyword_pattern(keyword: str, match: str = "word") -> re.Pattern[str]:
    """``keyword`` in any case; with ``"word"``, not inside a longer word; white space in it matches any white space."""
    body = r"\s+".join(re.escape(part) for part in keyword.split())
    if match == "substring":
        return re.compile(body, re.IGNORECASE)
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)


# -- keywords -----------------------------------------------------------------------------------


def include_keywords(
    keywords: Sequence[str] | str, *, match: KeywordMatch = "word", description: str | None = None
) -> Requirement:
    """Every keyword appears in the response, in any case. IFEval ``keywords:existence``.

    ``match="word"`` (the default) finds a keyword as a whole word or phrase: "war" is not found in
    "wars" or "award", "salt and pepper" is found across a line break. ``match="substring"`` is
    IFEval's matching, anywhere inside words ("war" is found in "award"): use it to reproduce IFEval.
    """
    kws, how = _word_list("keywords", keywords), _match(match)
    patterns = [_keyword_pattern(k, how) for k in kws]

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        missing = [k for k, p in zip(kws, patterns, strict=True) if not p.search(text)]
        if missing:
            return False, f"missing {_quoted(missing)}"
        return True, f"contains {_quoted(kws)}"

    return _requirement(
        "include_keywords",
        {"keywords": kws, "match": how},
        description or f"Include the {'word' if len(kws) == 1 else 'words'} {_quoted(kws)}.",
        check,
    )


def keyword_frequency(
    keyword: str,
    frequency: int,
    relation: Relation = "at least",
    *,
    match: KeywordMatch = "word",
    description: str | None = None,
) -> Requirement:
    """``keyword`` appears ``relation`` ``frequency`` times, in any case. IFEval ``keywords:frequency``.

    ``match`` as in :func:`include_keywords` (``"substring"`` counts IFEval's way, inside words too).
    """
    kw, n, rel, how = _word("keyword", keyword), _count("frequency", frequency), _relation(relation), _match(match)
    pattern = _keyword_pattern(kw, how)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = len(pattern.findall(text))
        return _COMPARE[rel](found, n), f'"{kw}" appears {_text.plural(found, "time")}; {_bound(rel, n, "time")}'

    return _requirement(
        "keyword_frequency",
        {"keyword": kw, "frequency": n, "relation": rel, "match": how},
        description or f'Use the word "{kw}" {_rel_text(rel, n, "time")}.',
        check,
    )


def forbidden_words(
    forbidden_words: Sequence[str] | str, *, match: KeywordMatch = "word", description: str | None = None
) -> Requirement:
    """None of the words appears, in any case. IFEval ``keywords:forbidden_words``.

    ``match="word"`` (the default, and IFEval's own matching here) forbids whole words and phrases
    ("war" does not forbid "award"); ``match="substring"`` forbids them inside words too.
    """
    words, how = _word_list("forbidden_words", forbidden_words), _match(match)
    patterns = [_keyword_pattern(w, how) for w in words]

    def used(text: str) -> list[str]:
        return [w for w, p in zip(words, patterns, strict=True) if p.search(text)]

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = used(text)
        if found:
            return False, f"uses {_quoted(found)}"
        return True, f"does not use {_quoted(words)}"

    return _requirement(
        "forbidden_words",
        {"forbidden_words": words, "match": how},
        description or f"Do not use the {'word' if len(words) == 1 else 'words'} {_quoted(words)}.",
        check,
        lambda prefix: bool(used(prefix if how == "substring" else _complete_words(prefix))),
    )


def letter_frequency(
    letter: str, let_frequency: int, let_relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """The character ``letter`` appears ``let_relation`` ``let_frequency`` times, in any case.

    IFEval ``keywords:letter_frequency``. Any single character that is not white space counts: a
    letter ("e"), a digit, ``#`` (hashtags), ``!``...
    """
    if not isinstance(letter, str) or len(letter.strip()) != 1:
        raise ValueError(f"letter must be a single character such as 'e' or '#', got {letter!r}")
    lt, n, rel = letter.strip().lower(), _count("let_frequency", let_frequency), _relation(let_relation)
    unit = "letter" if lt.isalpha() else "character"

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = text.lower().count(lt)
        why = f'the {unit} "{lt}" appears {_text.plural(found, "time")}; {_bound(rel, n, "time")}'
        return _COMPARE[rel](found, n), why

    return _requirement(
        "letter_frequency",
        {"letter": lt, "let_frequency": n, "let_relation": rel},
        description or f'Use the {unit} "{lt}" {_rel_text(rel, n, "time")}.',
        check,
    )


# -- language -----------------------------------------------------------------------------------


def response_language(language: str, *, description: str | None = None) -> Requirement:
    """The whole response is in ``language`` (an ISO 639-1 code or English name). IFEval ``language:response_language``.

    Identified offline with py3langid (``pip install 'gencomp[language]'``); without it this raises
    :class:`~gencomp.checks.LanguageIdUnavailableError`. An identification below
    :data:`~gencomp.checks.LANGUAGE_FLOOR` decides nothing: the verdict is undecided and the
    requirement goes to the model, with the probabilities as the reason ("No." is no language).
    """
    code = _language.code_of(language)
    _language.require()

    def check(text: str, _: Context | None) -> tuple[bool | None, str]:
        return _language.judge(text, code)

    return _requirement(
        "response_language",
        {"language": code},
        description or f"Write the entire response in {_language.name(code)}, and no other language.",
        check,
    )


# -- length -------------------------------------------------------------------------------------


def _count_range_check(low: int, high: int, relation: str, n: int, unit: str) -> tuple[bool | None, str]:
    """``_count_check`` for a count known only to lie in ``[low, high]``: undecided when the bound falls inside."""
    if low == high:
        return _count_check(low, relation, n, unit)
    ok_low, ok_high = _COMPARE[relation](low, n), _COMPARE[relation](high, n)
    counted = f"between {low} and {high} {unit}s (Thai, Lao, Khmer or Myanmar text is not split into words by code)"
    if ok_low == ok_high and (relation != "exactly" or not low <= n <= high):
        return ok_low, f"{counted}; {_bound(relation, n, unit)}"
    return None, f"{counted}; {_bound(relation, n, unit)}"


def number_words(num_words: int, relation: Relation = "less than", *, description: str | None = None) -> Requirement:
    """The response has ``relation`` ``num_words`` words. IFEval ``length_constraints:number_words``.

    Words as :func:`gencomp.checks.words` counts them: IFEval's ``\\w+`` runs (so "don't" is two
    words), each Chinese or Japanese character one word; Thai, Lao, Khmer and Myanmar text gives a
    range of counts, and a bound inside that range leaves the verdict undecided (to the model).
    """
    n, rel = _count("num_words", num_words), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool | None, str]:
        return _count_range_check(*_text.word_count_range(text), rel, n, "word")

    cap = {"less than": n - 1, "at most": n, "exactly": n}.get(rel)  # more words than this can never pass
    return _requirement(
        "number_words",
        {"num_words": n, "relation": rel},
        description or f"Answer with {_rel_text(rel, n, 'word')}.",
        check,
        None if cap is None else (lambda prefix: _text.word_count_range(prefix)[0] > cap),
    )


def word_range(min_words: int, max_words: int, *, description: str | None = None) -> Requirement:
    """The response has between ``min_words`` and ``max_words`` words, both included ("between 50 and 100 words").

    Words as in :func:`number_words`.
    """
    lo, hi = _count("min_words", min_words), _count("max_words", max_words)
    if lo > hi:
        raise ValueError(f"min_words ({lo}) must not be more than max_words ({hi})")

    def check(text: str, _: Context | None) -> tuple[bool | None, str]:
        low, high = _text.word_count_range(text)
        if low == high:
            return lo <= low <= hi, f"{_text.plural(low, 'word')}; between {lo} and {hi} required"
        if lo <= low and high <= hi:
            return True, f"between {low} and {high} words; between {lo} and {hi} required"
        if high < lo or low > hi:
            return False, f"between {low} and {high} words; between {lo} and {hi} required"
        return None, (
            f"between {low} and {high} words (Thai, Lao, Khmer or Myanmar text is not split into words by code); "
            f"between {lo} and {hi} required"
        )

    return _requirement(
        "word_range",
        {"min_words": lo, "max_words": hi},
        description or f"Answer with between {lo} and {hi} words.",
        check,
        lambda prefix: _text.word_count_range(prefix)[0] > hi,
    )


def max_words(n: int, *, description: str | None = None) -> Requirement:
    """At most ``n`` words: :func:`number_words` with ``relation="at most"``."""
    return number_words(n, "at most", description=description)


def min_words(n: int, *, description: str | None = None) -> Requirement:
    """At least ``n`` words: :func:`number_words` with ``relation="at least"``."""
    return number_words(n, "at least", description=description)


def number_sentences(
    num_sentences: int, relation: Relation = "less than", *, description: str | None = None
) -> Requirement:
    """The response has ``relation`` ``num_sentences`` sentences. IFEval ``length_constraints:number_sentences``.

    Sentences are split by rule (see ``gencomp.checks.sentences``), not by NLTK's punkt, which
    needs a data download.
    """
    n, rel = _count("num_sentences", num_sentences), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        return _count_check(_text.count_sentences(text), rel, n, "sentence")

    return _requirement(
        "number_sentences",
        {"num_sentences": n, "relation": rel},
        description or f"Answer with {_rel_text(rel, n, 'sentence')}.",
        check,
    )


def max_sentences(n: int, *, description: str | None = None) -> Requirement:
    """At most ``n`` sentences: :func:`number_sentences` with ``relation="at most"``."""
    return number_sentences(n, "at most", description=description)


def min_sentences(n: int, *, description: str | None = None) -> Requirement:
    """At least ``n`` sentences: :func:`number_sentences` with ``relation="at least"``."""
    return number_sentences(n, "at least", description=description)


def _separator_name(separator: str) -> str:
    return "blank lines" if separator == "\n\n" else f"the markdown divider {separator}"


def number_paragraphs(
    num_paragraphs: int,
    separator: str = "***",
    relation: Relation = "exactly",
    *,
    description: str | None = None,
) -> Requirement:
    """``relation`` ``num_paragraphs`` paragraphs, separated by ``separator``.

    IFEval ``length_constraints:number_paragraphs``.

    IFEval's separator is the markdown divider ``***`` and its relation ``"exactly"``; a divider
    is ``***`` standing between white space (``***bold***`` is none), and an empty paragraph
    between two dividers fails, as in IFEval. ``separator="\\n\\n"`` counts paragraphs
    separated by blank lines or divider lines (see :func:`gencomp.checks.paragraphs`).
    """
    n, rel = _count("num_paragraphs", num_paragraphs, 1), _relation(relation)
    if not isinstance(separator, str) or (not separator.strip("\n ") and separator != "\n\n"):
        raise ValueError(f"separator must be '***', '\\n\\n' or another non-blank divider, got {separator!r}")

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        if separator != "\n\n":
            parts = _text.split_on(text, separator)
            if any(not p.strip() for p in parts[1:-1]):
                return False, f"an empty paragraph between two {separator} dividers; {_bound(rel, n, 'paragraph')}"
        return _count_check(len(_text.paragraphs(text, separator)), rel, n, "paragraph")

    return _requirement(
        "number_paragraphs",
        {"num_paragraphs": n, "separator": separator, "relation": rel},
        description or f"Write {_rel_text(rel, n, 'paragraph')}, separated by {_separator_name(separator)}.",
        check,
    )


_FIRST_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


def _first_word(paragraph: str) -> str:
    """The paragraph's first word, without markdown or punctuation around it ("**Summary**:" gives "summary")."""
    m = _FIRST_WORD.search(paragraph, 0, 400)
    return m.group(0).lower().replace("\u2019", "'") if m else ""


def nth_paragraph_first_word(
    num_paragraphs: int | None, nth_paragraph: int, first_word: str, *, description: str | None = None
) -> Requirement:
    """Paragraph ``nth_paragraph`` (from 1; paragraphs split at blank lines) starts with the word ``first_word``.

    The first word is read without markdown and punctuation around it ("**Summary**:" starts with
    "summary"; IFEval keeps the colon and says it does not).

    With ``num_paragraphs`` there must also be exactly that many paragraphs (IFEval
    ``length_constraints:nth_paragraph_first_word``); ``None`` leaves the count free.
    """
    n = None if num_paragraphs is None else _count("num_paragraphs", num_paragraphs, 1)
    nth = _count("nth_paragraph", nth_paragraph, 1)
    if n is not None and nth > n:
        raise ValueError(f"nth_paragraph ({nth}) cannot be past num_paragraphs ({n})")
    word = _word("first_word", first_word).lower().replace("\u2019", "'")

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        paras = _text.paragraphs(text, "\n\n")
        problems = []
        if n is not None and len(paras) != n:
            problems.append(f"{_text.plural(len(paras), 'paragraph')}; exactly {n} required")
        if nth > len(paras):
            problems.append(f"there is no paragraph {nth}")
        else:
            got = _first_word(paras[nth - 1])
            if got != word:
                problems.append(f'paragraph {nth} starts with "{got}", not "{word}"')
        if problems:
            return False, "; ".join(problems)
        return True, f'paragraph {nth} starts with "{word}"' + (f"; {n} paragraphs" if n is not None else "")

    count = f"Write exactly {_text.plural(n, 'paragraph')} separated by blank lines. " if n is not None else ""
    return _requirement(
        "nth_paragraph_first_word",
        {"num_paragraphs": n, "nth_paragraph": nth, "first_word": word},
        description or f'{count}Paragraph {nth} must start with the word "{word}".',
        check,
    )


# -- content ------------------------------------------------------------------------------------


def number_placeholders(
    num_placeholders: int, relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """``relation`` ``num_placeholders`` placeholders in square brackets, like ``[address]``.

    IFEval ``detectable_content:number_placeholders`` (IFEval's relation is ``"at least"``). See
    :func:`gencomp.checks.placeholders` for what counts.
    """
    n, rel = _count("num_placeholders", num_placeholders), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        return _count_check(len(_text.placeholders(text)), rel, n, "placeholder")

    return _requirement(
        "number_placeholders",
        {"num_placeholders": n, "relation": rel},
        description or f"Include {_rel_text(rel, n, 'placeholder')} in square brackets, such as [address].",
        check,
    )


def postscript(postscript_marker: str = "P.S.", *, description: str | None = None) -> Requirement:
    """A line starts with the postscript marker (``P.S.`` or ``P.P.S``; any case, markdown around it allowed).

    IFEval ``detectable_content:postscript``.
    """
    marker = _word("postscript_marker", postscript_marker)
    lead = r"^[ \t>*_#]*"
    if marker == "P.P.S":
        pattern = re.compile(lead + r"p\.\s?p\.\s?s", re.IGNORECASE | re.MULTILINE)
    elif marker == "P.S.":
        pattern = re.compile(lead + r"p\.\s?s\.", re.IGNORECASE | re.MULTILINE)
    else:
        pattern = re.compile(lead + re.escape(marker), re.IGNORECASE | re.MULTILINE)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        if pattern.search(text):
            return True, f"has a postscript starting with {marker}"
        return False, f"no postscript starting with {marker} (at the start of a line)"

    return _requirement(
        "postscript",
        {"postscript_marker": marker},
        description or f"At the end of the response, add a postscript starting with {marker}",
        check,
    )


# -- format -------------------------------------------------------------------------------------


def number_bullet_lists(
    num_bullets: int, relation: Relation = "exactly", *, description: str | None = None
) -> Requirement:
    """``relation`` ``num_bullets`` markdown bullet points: lines starting with ``*``, ``-``, ``+`` and a space.

    IFEval ``detectable_format:number_bullet_lists`` (IFEval's relation is ``"exactly"``). Divider
    lines and emphasis at the start of a line are no bullets; numbered items are not counted.
    """
    n, rel = _count("num_bullets", num_bullets), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        return _count_check(len(_text.bullets(text)), rel, n, "bullet point")

    return _requirement(
        "number_bullet_lists",
        {"num_bullets": n, "relation": rel},
        description or f"Use {_rel_text(rel, n, 'markdown bullet point')}, such as:\n* This is point 1.",
        check,
    )


def constrained_response(
    options: Sequence[str] = DEFAULT_CONSTRAINED_OPTIONS, *, description: str | None = None
) -> Requirement:
    """The response contains one of ``options`` (IFEval's are "My answer is yes/no/maybe.").

    IFEval ``detectable_format:constrained_response``.
    """
    opts = _word_list("options", options)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = [o for o in opts if o in text.strip()]
        if found:
            return True, f'contains "{found[0]}"'
        return False, f"contains none of {_quoted(opts)}"

    return _requirement(
        "constrained_response",
        {"options": opts},
        description or f"Answer with one of the following options: {_quoted(opts).replace(' and ', ' or ')}.",
        check,
    )


def number_highlighted_sections(
    num_highlights: int, relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """``relation`` ``num_highlights`` sections highlighted with markdown, like ``*this*`` or ``**this**``.

    IFEval ``detectable_format:number_highlighted_sections`` (IFEval's relation is ``"at least"``).
    """
    n, rel = _count("num_highlights", num_highlights), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
        double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h[2:-2].strip()]
        return _count_check(len(single) + len(double), rel, n, "highlighted section")

    return _requirement(
        "number_highlighted_sections",
        {"num_highlights": n, "relation": rel},
        description or f"Highlight {_rel_text(rel, n, 'section')} with markdown, i.e. *highlighted section*.",
        check,
    )


def multiple_sections(
    num_sections: int,
    section_spliter: str = "Section",
    relation: Relation = "at least",
    *,
    description: str | None = None,
) -> Requirement:
    """``relation`` ``num_sections`` sections, each starting with ``Section N`` (``section_spliter N``).

    IFEval ``detectable_format:multiple_sections`` (IFEval's relation is ``"at least"``).
    """
    n, rel = _count("num_sections", num_sections, 1), _relation(relation)
    splitter = _word("section_spliter", section_spliter)
    pattern = re.compile(r"\s?" + re.escape(splitter) + r"\s?\d+\s?")

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = len(pattern.findall(text))
        why = f'{_text.plural(found, "section")} marked "{splitter} N"; {_bound(rel, n, "section")}'
        return _COMPARE[rel](found, n), why

    return _requirement(
        "multiple_sections",
        {"num_sections": n, "section_spliter": splitter, "relation": rel},
        description
        or f"The response must have {_rel_text(rel, n, 'section')}; mark the beginning of each with {splitter} X.",
        check,
    )


def json_format(*, description: str | None = None) -> Requirement:
    """The whole response is JSON (markdown code fences allowed). IFEval ``detectable_format:json_format``."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        value = text.strip()
        for prefix in ("```json", "```Json", "```JSON", "```"):
            value = value.removeprefix(prefix)
        value = value.removesuffix("```").strip()
        try:
            json.loads(value)
        except ValueError as exc:
            return False, f"not valid JSON: {exc}"
        except RecursionError:
            return False, "nested too deeply to be read as JSON"
        return True, "valid JSON"

    return _requirement(
        "json_format",
        {},
        description or "Wrap the entire output in JSON format (markdown ticks such as ``` are allowed).",
        check,
    )


def title(*, description: str | None = None) -> Requirement:
    """A title wrapped in double angular brackets, like ``<<poem of joy>>``. IFEval ``detectable_format:title``."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        titles = [t for t in re.findall(r"<<[^\n]+>>", text) if t.lstrip("<").rstrip(">").strip()]
        if titles:
            return True, f"has the title {titles[0]}"
        return False, "no title wrapped in double angular brackets, such as <<poem of joy>>"

    return _requirement(
        "title",
        {},
        description or "Include a title wrapped in double angular brackets, such as <<poem of joy>>.",
        check,
    )


def two_responses(*, description: str | None = None) -> Requirement:
    """Two different responses separated by six asterisks ``******``. IFEval ``combination:two_responses``."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        parts = text.split("******")
        if any(not p.strip() for p in parts[1:-1]):
            return False, "an empty response between two ****** separators"
        valid = [p.strip() for p in parts if p.strip()]
        if len(valid) != 2:
            return False, f"{_text.plural(len(valid), 'response')} separated by ******; exactly 2 required"
        if valid[0] == valid[1]:
            return False, "the two responses are the same"
        return True, "two different responses separated by ******"

    return _requirement(
        "two_responses",
        {},
        description or "Give two different responses, separated by 6 asterisk symbols: ******.",
        check,
    )


def _last_request(ctx: Context | None) -> str | None:
    if ctx is None:
        return None
    history = ctx.full_history()
    for item in reversed(history[:-1] if history and isinstance(history[-1], ModelOutputThunk) else history):
        if isinstance(item, Instruction):
            return plain_text(item.description)
        if isinstance(item, Message) and item.role == "user":
            return item.content
        if isinstance(item, CBlock) and not isinstance(item, ModelOutputThunk):
            return str(item)
    return None


_ASKS_TO_REPEAT = re.compile(
    r"\b(?:repeat|repleat)(?:ing)?\s+(?:[\w']+[\s,]+){0,3}?"
    r"(?:it|request|prompt|question|query|text|sentence|line|word\s+(?:for|by)\s+word|verbatim)\b",
    re.IGNORECASE,
)


def request_to_repeat(request: str, description: str | None = None) -> str:
    """What a ``repeat_prompt`` requirement without ``prompt_to_repeat`` asks to repeat of ``request``.

    IFEval's rule, "the request you need to repeat does not include this sentence": ``request``
    without ``description`` (the requirement's own text) and without every line that asks for the
    repetition ("First repeat the request above...", "Repeat it as it is."); when every line does,
    without the sentences that do. When nothing is left, the whole request.
    """
    text = request
    if description and description.strip() and description.strip() in text:
        text = text.replace(description.strip(), " ")
    kept = "\n".join(line for line in text.split("\n") if not _ASKS_TO_REPEAT.search(line)).strip()
    if not kept:
        sentences = re.split(r"(?<=[.!?])\s+", text.strip())
        kept = " ".join(s for s in sentences if not _ASKS_TO_REPEAT.search(s)).strip()
    return kept or request.strip()


def repeat_prompt(prompt_to_repeat: str | None = None, *, description: str | None = None) -> Requirement:
    """The response starts by repeating the request word for word (any case). IFEval ``combination:repeat_prompt``.

    With ``prompt_to_repeat=None`` the request is the description of the instruction (or the user
    message) that produced the output under test, without what asks for the repetition
    (:func:`request_to_repeat`).
    """
    given = None if prompt_to_repeat is None else _word("prompt_to_repeat", prompt_to_repeat)
    desc = (
        description
        or "First repeat the request word for word without change, then give your answer "
        "(do not say anything before repeating the request)."
    )

    def check(text: str, ctx: Context | None) -> tuple[bool, str]:
        request = given if given is not None else _last_request(ctx)
        if request is None:
            return False, "the request to repeat is unknown: pass prompt_to_repeat, or check an output in its context"
        if given is None:
            request = request_to_repeat(request, desc)
        if text.strip().lower().startswith(request.strip().lower()):
            return True, "starts by repeating the request word for word"
        return False, f'does not start with the request "{request.strip()}"'

    return _requirement("repeat_prompt", {"prompt_to_repeat": given}, desc, check)


def end_phrase(end_phrase: str, *, description: str | None = None) -> Requirement:
    """The response ends with ``end_phrase`` (any case; surrounding quotes ignored). IFEval ``startend:end_checker``.

    ``end_phrase("?")`` checks that it ends with a question.
    """
    phrase = _word("end_phrase", end_phrase)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        value = text.strip().strip('"').strip()
        if value.lower().endswith(phrase.lower()):
            return True, f'ends with "{phrase}"'
        tail = value[-max(len(phrase), 20) :]
        return False, f'ends with "{tail}", not "{phrase}"'

    desc = (
        "End the response with a question."
        if phrase == "?"
        else f'Finish the response with this exact phrase: "{phrase}". No other words should follow it.'
    )
    return _requirement("end_phrase", {"end_phrase": phrase}, description or desc, check)


def starts_with(start_phrase: str, *, description: str | None = None) -> Requirement:
    """The response starts with ``start_phrase`` (a word or phrase, any case; leading quotes and markdown ignored).

    IFEval's ``multi-turn:constrained_start``, which IFEval's registry leaves out.
    """
    phrase = _word("start_phrase", start_phrase)
    pattern = re.compile(
        "^[\\s\"'\u201c\u2018*_#]*" + re.escape(phrase) + (r"(?!\w)" if phrase[-1].isalnum() else ""), re.IGNORECASE
    )

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        if pattern.match(text[: 200 + len(phrase)]):  # leading quotes and markdown: a bounded head
            return True, f'starts with "{phrase}"'
        head = " ".join(text[: 40 + 4 * len(phrase)].split()[: max(3, len(phrase.split()))])
        return False, f'starts with "{head}", not "{phrase}"'

    return _requirement(
        "starts_with", {"start_phrase": phrase}, description or f'Start the response with "{phrase}".', check
    )


# -- case ---------------------------------------------------------------------------------------


def capital_word_frequency(
    capital_frequency: int, capital_relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """Words in all capital letters appear ``capital_relation`` ``capital_frequency`` times.

    IFEval ``change_case:capital_word_frequency``.

    A word is a run of letters, digits, hyphens and apostrophes; one counts when it has a letter
    and every letter is a capital ("NASA", "U-TURN"; "I" counts too, as in IFEval).
    """
    n, rel = _count("capital_frequency", capital_frequency), _relation(capital_relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = sum(1 for w in re.findall("[\\w'\u2019-]+", text) if w.isupper())
        return _COMPARE[rel](found, n), f"{_text.plural(found, 'word')} in capitals; {_bound(rel, n, 'word')}"

    return _requirement(
        "capital_word_frequency",
        {"capital_frequency": n, "capital_relation": rel},
        description or f"Use words in all capital letters {_rel_text(rel, n, 'time')}.",
        check,
    )


def _case_check(kind: str, upper: bool, english: bool, description: str | None) -> Requirement:
    if english:
        _language.require()
    case = "capital" if upper else "lowercase"

    def check(text: str, _: Context | None) -> tuple[bool | None, str]:
        wrong = sorted({c for c in text if c.isalpha() and (c.islower() if upper else c.isupper())})
        if not any(c.isalpha() for c in text):
            return False, "has no letters"
        if wrong:
            shown = "".join(wrong[:10]) + ("..." if len(wrong) > 10 else "")
            return False, f"has {'lowercase' if upper else 'capital'} letters ({shown}); only {case} letters allowed"
        if english:
            ok, why = _language.judge(text.lower(), "en")
            if ok is None:
                return None, f"all {case} letters, but {why}"
            if not ok:
                return False, f"all {case} letters, but {why}"
        return True, f"all letters are {case}" + (" and it is in English" if english else "")

    where = "in English, and " if english else ""
    return _requirement(
        kind,
        {"english": english},
        description or f"Write the entire response {where}in {case} letters only.",
        check,
        lambda prefix: any(c.isalpha() and (c.islower() if upper else c.isupper()) for c in prefix),
    )


def all_capitals(*, english: bool = True, description: str | None = None) -> Requirement:
    """Every letter is a capital (and, with ``english``, the response is in English).

    IFEval ``change_case:english_capital``.
    """
    return _case_check("all_capitals", True, english, description)


def all_lowercase(*, english: bool = True, description: str | None = None) -> Requirement:
    """No capital letter (and, with ``english``, the response is in English).

    IFEval ``change_case:english_lowercase``.
    """
    return _case_check("all_lowercase", False, english, description)


# -- punctuation and wrapping -------------------------------------------------------------------


def no_comma(*, description: str | None = None) -> Requirement:
    """No comma anywhere. IFEval ``punctuation:no_comma``."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        n = text.count(",")
        return (n == 0), ("no commas" if n == 0 else f"{_text.plural(n, 'comma')}; none allowed")

    return _requirement("no_comma", {}, description or "Do not use any commas.", check, lambda prefix: "," in prefix)


def quotation(*, description: str | None = None) -> Requirement:
    """The whole response is wrapped in double quotation marks. IFEval ``startend:quotation``."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        value = text.strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            return True, "wrapped in double quotation marks"
        where = [s for s, ok in (("start", value[:1] == '"'), ("end", value[-1:] == '"')) if not ok]
        return False, f"no double quotation mark at the {' and the '.join(where) or 'start and end'}"

    return _requirement("quotation", {}, description or "Wrap the entire response in double quotation marks.", check)


# -- everyday kinds beyond IFEval ---------------------------------------------------------------

_URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>\"')\]]*", re.IGNORECASE)
_NUMBER_WORDS = (
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    "thousand|million|billion|trillion|dozen"
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\b(?:" + _NUMBER_WORDS + r")\b", re.IGNORECASE)


_SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?", re.IGNORECASE)


def _given(kind: str, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError(
            f"{kind}: value must be the {kind.removeprefix('contains_').replace('_', ' ')} to find, or None"
        )
    return value.strip() if value is not None else None


def contains_url(value: str | None = None, *, description: str | None = None) -> Requirement:
    """The response contains a URL (``http://``, ``https://`` or ``www.``); with ``value``, that one.

    ``value`` is found in any case, with or without its ``http(s)://`` and ``www.``, and with or
    without a final ``/`` ("https://greenleafcafe.com" is found as "greenleafcafe.com/"); a longer
    address ("greenleafcafe.com/menu") is another URL and does not count.
    """
    given = _given("contains_url", value)
    if given is None:

        def check(text: str, _: Context | None) -> tuple[bool, str]:
            m = _URL.search(text)
            return (True, f"contains the URL {m.group(0)}") if m else (False, "no URL (http://, https:// or www.)")

        return _requirement("contains_url", {}, description or "Include a URL.", check)

    core = _SCHEME.sub("", given).rstrip("/")
    found = re.compile(
        r"(?<![\w@./-])(?:https?://)?(?:www\.)?" + re.escape(core) + r"/?(?![\w/#?=&%-]|[.,:;]\w)", re.IGNORECASE
    )

    def check_given(text: str, _: Context | None) -> tuple[bool, str]:
        if found.search(text):
            return True, f"contains the URL {given}"
        return False, f"the URL {given} is missing"

    return _requirement("contains_url", {"value": given}, description or f"Include the URL {given}.", check_given)


def contains_number(*, description: str | None = None) -> Requirement:
    """The response contains a number: a digit, or a number word from "two" up ("one" is too often a pronoun)."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        m = _NUMBER.search(text)
        return (True, f'contains the number "{m.group(0)}"') if m else (False, "no number, in digits or in words")

    return _requirement("contains_number", {}, description or "Include a number.", check)


_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])")


def _emails(text: str) -> Iterator[str]:
    """E-mail addresses: found from each "@", looking at most 64 characters back and 255 ahead (linear)."""
    pos = text.find("@")
    while pos >= 0:
        local = _EMAIL_LOCAL.search(text, max(0, pos - 64), pos)
        domain = _EMAIL_DOMAIN.match(text, pos + 1, min(len(text), pos + 256))
        if local and domain:
            name = local.group(0).lstrip(".")
            if name and not name.endswith(".") and ".." not in name:
                yield f"{name}@{domain.group(0)}"
        pos = text.find("@", pos + 1)


def contains_email(value: str | None = None, *, description: str | None = None) -> Requirement:
    """The response contains an e-mail address (``name@example.com``); a placeholder such as ``[email]`` is none.

    With ``value``, that address, in any case.
    """
    given = _given("contains_email", value)
    if given is None:

        def check(text: str, _: Context | None) -> tuple[bool, str]:
            found = next(_emails(text), None)
            return (True, f"contains the e-mail address {found}") if found else (False, "no e-mail address")

        return _requirement("contains_email", {}, description or "Include an e-mail address.", check)

    def check_given(text: str, _: Context | None) -> tuple[bool, str]:
        if any(e.lower() == given.lower() for e in _emails(text)):
            return True, f"contains the e-mail address {given}"
        return False, f"the e-mail address {given} is missing"

    return _requirement(
        "contains_email", {"value": given}, description or f"Include the e-mail address {given}.", check_given
    )


_PHONE = re.compile(r"(?<![\w+.,/:-])(?:\+|\(\+?)?\d[\d ().-]{5,22}\d(?![\w.,/:-]\d|\w)")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .]\d{3})+")
_DOTTED = re.compile(r"\d{1,3}(?:\.\d{1,3}){2,}")


def phone_numbers(text: str) -> list[str]:
    """The phone numbers in ``text``.

    A phone number has 7 to 15 digits (the international maximum), written with optional ``+``
    and country code, area code in brackets, and groups separated by a space, ``-`` or ``.``:
    ``+1 (555) 123-4567``, ``555-123-4567``, ``020 7946 0958``, ``+44 20 7946 0958``. A date
    (``2024-01-15``), a number grouped in thousands (``10 000 000``), a dotted version or address
    (``192.168.1.10``), a plain run of digits without ``+`` (``5551234567``) and, without ``+``,
    groups of one digit after the first (an ISBN, ``978-3-16-148410-0``) are not.
    """
    found = []
    for m in _PHONE.finditer(text):
        cand = m.group(0)
        digits = sum(ch.isdigit() for ch in cand)
        if not 7 <= digits <= 15 or cand.count("(") != cand.count(")") or "  " in cand:
            continue
        international = cand.startswith(("+", "(+"))
        groups = re.findall(r"\d+", cand)
        if not international and (
            cand.isdigit()
            or _DATE.fullmatch(cand)
            or _THOUSANDS.fullmatch(cand)
            or _DOTTED.fullmatch(cand)
            or any(len(g) < 2 for g in groups[1:])
        ):
            continue
        found.append(cand)
    return found


_DIGIT_RUN = re.compile(r"\+?\(?\d[\d ().-]*\d\)?")


def contains_phone_number(value: str | None = None, *, description: str | None = None) -> Requirement:
    """The response contains a phone number (see :func:`phone_numbers` for what counts); with ``value``, that one.

    ``value`` is found by its digits, however they are grouped ("555-0142" as "555 0142"); written
    with a ``+`` and a country code in front ("+1 555-0142") it counts too.
    """
    given = _given("contains_phone_number", value)
    if given is None:

        def check(text: str, _: Context | None) -> tuple[bool, str]:
            found = phone_numbers(text)
            return (True, f"contains the phone number {found[0]}") if found else (False, "no phone number")

        return _requirement("contains_phone_number", {}, description or "Include a phone number.", check)

    digits = "".join(ch for ch in given if ch.isdigit())
    if not 3 <= len(digits) <= 15:
        raise ValueError(f"contains_phone_number: {given!r} is not a phone number (3 to 15 digits)")

    def check_given(text: str, _: Context | None) -> tuple[bool, str]:
        for m in _DIGIT_RUN.finditer(text):
            run = "".join(ch for ch in m.group(0) if ch.isdigit())
            if run == digits or (m.group(0).startswith(("+", "(+")) and run.endswith(digits)):
                return True, f"contains the phone number {given}"
        return False, f"the phone number {given} is missing"

    return _requirement(
        "contains_phone_number", {"value": given}, description or f"Include the phone number {given}.", check_given
    )


_QUESTION_MARKS = "?\uff1f\u061f\u2e2e"
_TRAILING = "\"'\u201d\u2019)]}\u00bb*_`~ \t\r\n"


def ends_with_question(*, description: str | None = None) -> Requirement:
    """The response ends with a question: its last character, after closing quotes, brackets and markdown, is ``?``.

    ``?``, the full-width question mark (U+FF1F) and the Arabic one (U+061F) count.
    """

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        core = text.rstrip(_TRAILING)
        if core and core[-1] in _QUESTION_MARKS:
            return True, "ends with a question"
        return False, f'ends with "{core[-30:]}", not a question' if core else "is empty"

    return _requirement("ends_with_question", {}, description or "End the response with a question.", check)


def all_of(parts: Sequence[Requirement | CodeCheck], *, description: str | None = None) -> Requirement:
    """Every part holds: one requirement that states several kinds ("Answer in French and use no commas").

    ``parts`` are code-checked requirements (or their :class:`CodeCheck`); ``params["parts"]`` holds
    their checks, each with its own ``kind`` and ``params``. The verdict fails when a part fails
    (the reason lists the failing parts), is undecided when no part fails and one is undecided, and
    passes when all pass. A part that is itself an ``all_of`` gives its parts.
    """
    checks: list[CodeCheck] = []
    prefix_fns = []
    for part in parts:
        part_check = part if isinstance(part, CodeCheck) else code_check(part)
        if part_check is None:
            raise ValueError(f"all_of takes code-checked requirements (gencomp.checks kinds), got {part!r}")
        checks.extend(part_check.params["parts"] if part_check.kind == "all_of" else [part_check])
        if isinstance(part, Requirement) and part.prefix_fn is not None:
            prefix_fns.append(part.prefix_fn)
    if len(checks) < 2:
        raise ValueError("all_of needs at least two parts")

    def check(text: str, ctx: Context | None) -> tuple[bool | None, str]:
        results = [(c, *c._check(text, ctx)) for c in checks]
        failed = [f"{c.kind}: {why}" for c, ok, why in results if ok is False]
        if failed:
            return False, "; ".join(failed)
        undecided = [f"{c.kind}: {why}" for c, ok, why in results if ok is None]
        if undecided:
            return None, "; ".join(undecided)
        return True, "; ".join(f"{c.kind}: {why}" for c, _, why in results)

    code = CodeCheck("all_of", {"parts": checks}, check)

    def prefix(text: str) -> ValidationResult | None:
        return next((r for r in (fn(text) for fn in prefix_fns) if r is not None), None)

    desc = description or " ".join(c.kind for c in checks)
    return Requirement(desc, validation_fn=code, prefix_fn=prefix if prefix_fns else None)


BUILTIN: dict[str, Callable[..., Requirement]] = {
    "include_keywords": include_keywords,
    "keyword_frequency": keyword_frequency,
    "forbidden_words": forbidden_words,
    "letter_frequency": letter_frequency,
    "response_language": response_language,
    "number_sentences": number_sentences,
    "number_paragraphs": number_paragraphs,
    "number_words": number_words,
    "nth_paragraph_first_word": nth_paragraph_first_word,
    "number_placeholders": number_placeholders,
    "postscript": postscript,
    "number_bullet_lists": number_bullet_lists,
    "constrained_response": constrained_response,
    "number_highlighted_sections": number_highlighted_sections,
    "multiple_sections": multiple_sections,
    "json_format": json_format,
    "title": title,
    "two_responses": two_responses,
    "repeat_prompt": repeat_prompt,
    "end_phrase": end_phrase,
    "capital_word_frequency": capital_word_frequency,
    "all_capitals": all_capitals,
    "all_lowercase": all_lowercase,
    "no_comma": no_comma,
    "quotation": quotation,
    "starts_with": starts_with,
    "contains_url": contains_url,
    "contains_number": contains_number,
    "contains_email": contains_email,
    "contains_phone_number": contains_phone_number,
    "ends_with_question": ends_with_question,
    "word_range": word_range,
    "all_of": all_of,
}
"""Every built-in kind by name: its constructor (keyword arguments are the kind's parameters)."""
