"""The built-in requirement kinds: IFEval's 25 verifiable instructions, and a few everyday ones.

Each constructor returns an ordinary :class:`~gencomp.Requirement` whose ``validation_fn`` is a
:class:`CodeCheck`: an exact check of the output's text whose :class:`~gencomp.ValidationResult`
carries the reason ("41 words; at most 20 allowed") and ``check_path="code:<kind>"``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
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

CheckFn = Callable[[str, Context | None], tuple[bool, str]]

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

    Calling it with a context checks the context's last output; :meth:`check_text` checks a string.
    """

    def __init__(self, kind: str, params: Mapping[str, Any], check: CheckFn) -> None:
        self.kind = kind
        self.params = dict(params)
        self._check = check

    @property
    def check_path(self) -> str:
        """``"code:<kind>"``: the path that decides this check, shown with its verdict."""
        return f"code:{self.kind}"

    def _result(self, ok: bool, reason: str) -> ValidationResult:
        from gencomp.verdicts import CheckVerdict

        return ValidationResult(ok, reason=reason, verdict=CheckVerdict(ok, path=self.check_path))

    def __call__(self, ctx: Context) -> ValidationResult:
        last = ctx.last_output()
        if last is None or last.value is None:
            return self._result(False, "there is no output to check")
        return self._result(*self._check(last.value, ctx))

    def check_text(self, text: str) -> ValidationResult:
        """Check ``text`` as if it were the output under test (no context: see :func:`repeat_prompt`)."""
        return self._result(*self._check(text, None))

    def check_prefix(self, text: str, final: Callable[[str], bool]) -> ValidationResult | None:
        """A failing verdict when ``final(text)`` says the prefix ``text`` already fails for good, else ``None``."""
        if not final(text):
            return None
        return self._result(*self._check(text, None))

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


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)


# -- keywords -----------------------------------------------------------------------------------


def include_keywords(keywords: Sequence[str] | str, *, description: str | None = None) -> Requirement:
    """Every keyword appears in the response (as a whole word or phrase, any case). IFEval ``keywords:existence``."""
    kws = _word_list("keywords", keywords)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        missing = [k for k in kws if not _word_pattern(k).search(text)]
        if missing:
            return False, f"missing {_quoted(missing)}"
        return True, f"contains {_quoted(kws)}"

    return _requirement(
        "include_keywords",
        {"keywords": kws},
        description or f"Include the {'word' if len(kws) == 1 else 'words'} {_quoted(kws)}.",
        check,
    )


def keyword_frequency(
    keyword: str, frequency: int, relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """``keyword`` appears ``relation`` ``frequency`` times (whole words, any case). IFEval ``keywords:frequency``."""
    kw, n, rel = _word("keyword", keyword), _count("frequency", frequency), _relation(relation)
    pattern = _word_pattern(kw)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = len(pattern.findall(text))
        return _COMPARE[rel](found, n), f'"{kw}" appears {_text.plural(found, "time")}; {_bound(rel, n, "time")}'

    return _requirement(
        "keyword_frequency",
        {"keyword": kw, "frequency": n, "relation": rel},
        description or f'Use the word "{kw}" {_rel_text(rel, n, "time")}.',
        check,
    )


def forbidden_words(forbidden_words: Sequence[str] | str, *, description: str | None = None) -> Requirement:
    """None of the words appears (whole words, any case). IFEval ``keywords:forbidden_words``."""
    words = _word_list("forbidden_words", forbidden_words)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        used = [w for w in words if _word_pattern(w).search(text)]
        if used:
            return False, f"uses {_quoted(used)}"
        return True, f"does not use {_quoted(words)}"

    return _requirement(
        "forbidden_words",
        {"forbidden_words": words},
        description or f"Do not use the {'word' if len(words) == 1 else 'words'} {_quoted(words)}.",
        check,
        lambda prefix: any(_word_pattern(w).search(_complete_words(prefix)) for w in words),
    )


def letter_frequency(
    letter: str, let_frequency: int, let_relation: Relation = "at least", *, description: str | None = None
) -> Requirement:
    """The letter appears ``let_relation`` ``let_frequency`` times (any case). IFEval ``keywords:letter_frequency``."""
    if not isinstance(letter, str) or len(letter.strip()) != 1 or not letter.strip().isalpha():
        raise ValueError(f"letter must be a single letter, got {letter!r}")
    lt, n, rel = letter.strip().lower(), _count("let_frequency", let_frequency), _relation(let_relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = text.lower().count(lt)
        return _COMPARE[rel](
            found, n
        ), f'the letter "{lt}" appears {_text.plural(found, "time")}; {_bound(rel, n, "time")}'

    return _requirement(
        "letter_frequency",
        {"letter": lt, "let_frequency": n, "let_relation": rel},
        description or f'Use the letter "{lt}" {_rel_text(rel, n, "time")}.',
        check,
    )


# -- language -----------------------------------------------------------------------------------


def response_language(language: str, *, description: str | None = None) -> Requirement:
    """The whole response is in ``language`` (an ISO 639-1 code or English name). IFEval ``language:response_language``.

    Identified offline with py3langid (``pip install 'gencomp[language]'``); without it this raises
    :class:`~gencomp.checks.LanguageIdUnavailableError`.
    """
    code = _language.code_of(language)
    _language.require()

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        detected, prob = _language.detect(text)
        ok = _language.is_language(code, detected)
        return ok, f"written in {_language.name(detected)} (p={prob:.2f}); {_language.name(code)} required"

    return _requirement(
        "response_language",
        {"language": code},
        description or f"Write the entire response in {_language.name(code)}, and no other language.",
        check,
    )


# -- length -------------------------------------------------------------------------------------


def number_words(num_words: int, relation: Relation = "less than", *, description: str | None = None) -> Requirement:
    """The response has ``relation`` ``num_words`` words (``\\w+`` runs). IFEval ``length_constraints:number_words``."""
    n, rel = _count("num_words", num_words), _relation(relation)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        return _count_check(_text.count_words(text), rel, n, "word")

    cap = {"less than": n - 1, "at most": n, "exactly": n}.get(rel)  # more words than this can never pass
    return _requirement(
        "number_words",
        {"num_words": n, "relation": rel},
        description or f"Answer with {_rel_text(rel, n, 'word')}.",
        check,
        None if cap is None else (lambda prefix: _text.count_words(prefix) > cap),
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

    IFEval's separator is the markdown divider ``***`` and its relation ``"exactly"``;
    ``separator="\\n\\n"`` counts paragraphs separated by blank lines. An empty paragraph between
    two dividers fails, as in IFEval.
    """
    n, rel = _count("num_paragraphs", num_paragraphs, 1), _relation(relation)
    if not isinstance(separator, str) or (not separator.strip("\n ") and separator != "\n\n"):
        raise ValueError(f"separator must be '***', '\\n\\n' or another non-blank divider, got {separator!r}")

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        if separator != "\n\n":
            parts = re.split(r"\s?" + re.escape(separator) + r"\s?", text)
            inner_empty = any(not p.strip() for p in parts[1:-1])
            if inner_empty:
                return False, f"an empty paragraph between two {separator} dividers; {_bound(rel, n, 'paragraph')}"
        return _count_check(len(_text.paragraphs(text, separator)), rel, n, "paragraph")

    return _requirement(
        "number_paragraphs",
        {"num_paragraphs": n, "separator": separator, "relation": rel},
        description or f"Write {_rel_text(rel, n, 'paragraph')}, separated by {_separator_name(separator)}.",
        check,
    )


def _first_word(paragraph: str) -> str:
    word = paragraph.split()[0].lstrip("'\"*_#(\u201c\u2018")
    return re.split("[.,?!'\":;)*_\u201d\u2019]", word)[0].lower()


def nth_paragraph_first_word(
    num_paragraphs: int | None, nth_paragraph: int, first_word: str, *, description: str | None = None
) -> Requirement:
    """Paragraph ``nth_paragraph`` (from 1; paragraphs split at blank lines) starts with ``first_word``.

    With ``num_paragraphs`` there must also be exactly that many paragraphs (IFEval
    ``length_constraints:nth_paragraph_first_word``); ``None`` leaves the count free.
    """
    n = None if num_paragraphs is None else _count("num_paragraphs", num_paragraphs, 1)
    nth = _count("nth_paragraph", nth_paragraph, 1)
    if n is not None and nth > n:
        raise ValueError(f"nth_paragraph ({nth}) cannot be past num_paragraphs ({n})")
    word = _word("first_word", first_word).lower()

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


def number_placeholders(num_placeholders: int, *, description: str | None = None) -> Requirement:
    """At least ``num_placeholders`` placeholders in square brackets, like ``[address]``.

    IFEval ``detectable_content:number_placeholders``.
    """
    n = _count("num_placeholders", num_placeholders)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        return _count_check(len(re.findall(r"\[.*?\]", text)), "at least", n, "placeholder")

    return _requirement(
        "number_placeholders",
        {"num_placeholders": n},
        description or f"Include at least {_text.plural(n, 'placeholder')} in square brackets, such as [address].",
        check,
    )


def postscript(postscript_marker: str = "P.S.", *, description: str | None = None) -> Requirement:
    """A line starts with the postscript marker (``P.S.`` or ``P.P.S``). IFEval ``detectable_content:postscript``."""
    marker = _word("postscript_marker", postscript_marker)
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        if re.search(pattern, text.lower(), flags=re.MULTILINE):
            return True, f"has a postscript starting with {marker}"
        return False, f"no postscript starting with {marker}"

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
    """``relation`` ``num_bullets`` markdown bullet points (``*``, ``-``, ``+`` or ``•`` lines).

    IFEval ``detectable_format:number_bullet_lists``.

    IFEval's relation is ``"exactly"``.
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


def number_highlighted_sections(num_highlights: int, *, description: str | None = None) -> Requirement:
    """At least ``num_highlights`` sections highlighted with markdown, like ``*this*``.

    IFEval ``detectable_format:number_highlighted_sections``.
    """
    n = _count("num_highlights", num_highlights)

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
        double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h[2:-2].strip()]
        return _count_check(len(single) + len(double), "at least", n, "highlighted section")

    return _requirement(
        "number_highlighted_sections",
        {"num_highlights": n},
        description or f"Highlight at least {_text.plural(n, 'section')} with markdown, i.e. *highlighted section*.",
        check,
    )


def multiple_sections(
    num_sections: int, section_spliter: str = "Section", *, description: str | None = None
) -> Requirement:
    """At least ``num_sections`` sections, each starting with ``Section N`` (``section_spliter N``).

    IFEval ``detectable_format:multiple_sections``.
    """
    n = _count("num_sections", num_sections, 1)
    splitter = _word("section_spliter", section_spliter)
    pattern = re.compile(r"\s?" + re.escape(splitter) + r"\s?\d+\s?")

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        found = len(pattern.split(text)) - 1
        return found >= n, f'{_text.plural(found, "section")} marked "{splitter} N"; at least {n} required'

    return _requirement(
        "multiple_sections",
        {"num_sections": n, "section_spliter": splitter},
        description
        or f"The response must have {_text.plural(n, 'section')}; mark the beginning of each with {splitter} X.",
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


def repeat_prompt(prompt_to_repeat: str | None = None, *, description: str | None = None) -> Requirement:
    """The response starts by repeating the request word for word (any case). IFEval ``combination:repeat_prompt``.

    With ``prompt_to_repeat=None`` the request is the description of the instruction (or the user
    message) that produced the output under test.
    """
    given = None if prompt_to_repeat is None else _word("prompt_to_repeat", prompt_to_repeat)

    def check(text: str, ctx: Context | None) -> tuple[bool, str]:
        request = given if given is not None else _last_request(ctx)
        if request is None:
            return False, "the request to repeat is unknown: pass prompt_to_repeat, or check an output in its context"
        if text.strip().lower().startswith(request.strip().lower()):
            return True, "starts by repeating the request word for word"
        return False, f'does not start with the request "{request.strip()}"'

    return _requirement(
        "repeat_prompt",
        {"prompt_to_repeat": given},
        description
        or "First repeat the request word for word without change, then give your answer "
        "(do not say anything before repeating the request).",
        check,
    )


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
        if pattern.search(text):
            return True, f'starts with "{phrase}"'
        head = " ".join(text.split()[: max(3, len(phrase.split()))])
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

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        wrong = sorted({c for c in text if c.isalpha() and (c.islower() if upper else c.isupper())})
        if not any(c.isalpha() for c in text):
            return False, "has no letters"
        if wrong:
            shown = "".join(wrong[:10]) + ("..." if len(wrong) > 10 else "")
            return False, f"has {'lowercase' if upper else 'capital'} letters ({shown}); only {case} letters allowed"
        if english:
            detected, prob = _language.detect(text.lower())
            if detected != "en":
                return (
                    False,
                    f"all {case} letters, but written in {_language.name(detected)} (p={prob:.2f}); English required",
                )
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


def contains_url(*, description: str | None = None) -> Requirement:
    """The response contains a URL (``http://``, ``https://`` or ``www.``)."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        m = _URL.search(text)
        return (True, f"contains the URL {m.group(0)}") if m else (False, "no URL (http://, https:// or www.)")

    return _requirement("contains_url", {}, description or "Include a URL.", check)


def contains_number(*, description: str | None = None) -> Requirement:
    """The response contains a number: a digit, or a number word from "two" up ("one" is too often a pronoun)."""

    def check(text: str, _: Context | None) -> tuple[bool, str]:
        m = _NUMBER.search(text)
        return (True, f'contains the number "{m.group(0)}"') if m else (False, "no number, in digits or in words")

    return _requirement("contains_number", {}, description or "Include a number.", check)


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
}
"""Every built-in kind by name: its constructor (keyword arguments are the kind's parameters)."""
