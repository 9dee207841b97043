"""Recognise a plain-text requirement that states built-in kinds unambiguously.

Precision first: a text is recognised only when the *whole* text (after trimming white space, a
final ``.``/``!``/``?``, a polite lead-in such as "Please", "Make sure" or "I want", a polite tail such as ",
please" or "pls", a closing reason (", it's for a sign", "so people can reach us"), a request put as a question ("Can you end it with a question?" is "End it with a question"),
and an example after "such as:") matches one phrasing of one kind, with every parameter
read from it; or when it is a conjunction ("... and ...", "...; ...", two sentences) whose every
clause is recognised on its own (see :func:`clauses`). The rules, in ``TEXT-RULES.md`` next to this
file:

- the subject must be the whole response ("your answer", "the response", "your message", "the entire output",
  "everything you write", "the whole thing"); a part of it ("the explanation", "the title", "each paragraph", "your
  essay") is never checked on the whole response: such texts stay with the model;
- permission ("can", "may", "feel free", "optionally", "is allowed") is never read as obligation;
  "may not" stays with the model; "cannot"/"can't" are prohibitions;
- conditions and exceptions ("if", "unless", "when", "except", "excluding") leave a text to the model;
- a count keeps its relation: "exactly" stays exactly, "up to"/"no more than" is at most, a bare
  count is exact, except in "limit/keep ... to N", where it is an upper bound;
- only units that are a kind's own count (words, sentences, paragraphs, bullet points,
  placeholders, highlighted sections, sections, times) are counted: "3 animals", "20 characters"
  stay with the model;
- a keyword list keeps quoted phrases whole ("salt and pepper"), and "X or Y" is never read as
  "X and Y" for keywords that must appear.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gencomp.checks import _kinds, _language

_UNITS = {
    "zero": 0, "one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SMALL = "|".join(sorted((k for k in _UNITS if k not in ("a", "an", "single")), key=len, reverse=True))
_WORDNUM = r"[a-z]+(?:-[a-z]+)?"
NUM = rf"(?:\d{{1,5}}|{_WORDNUM}(?:\s+(?:hundred|thousand)(?:\s+and)?(?:\s+{_WORDNUM})?)?)"
"""A count in digits or words ("20", "twenty", "twenty-five", "a hundred", "two hundred and fifty");
the words are checked by :func:`parse_number`, which raises ``ValueError`` for anything else."""


def parse_number(text: str) -> int:
    """The value of a count matched by :data:`NUM`."""
    t = text.strip().lower()
    if t.isdigit():
        return int(t)
    total, current = 0, 0
    tokens = re.split(r"[\s-]+", t)
    for i, w in enumerate(tokens):
        if w == "and":
            continue
        if w in ("a", "an", "single") and (i + 1 == len(tokens) or tokens[i + 1] not in ("hundred", "thousand")):
            raise ValueError(f"not a count: {text!r}")
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            raise ValueError(f"not a number: {text!r}")
    return total + current


# -- shared phrasing ----------------------------------------------------------------------------

WHOLE = r"(?:answer|response|reply|output|message)"
"""The nouns that name the whole response. Any other ("the summary", "your essay") may name a part."""
_INCLUDING = r"(?:\s*\(\s*including\s+[^()]{1,60}\))?"
SUBJ = (
    rf"(?:(?:(?:the|your)\s+(?:entire\s+|whole\s+|full\s+|final\s+|complete\s+|overall\s+)?|(?:entire|whole)\s+)"
    rf"(?:[a-z]+-[a-z]+\s+)?{WHOLE}{_INCLUDING}"
    r"|everything(?:\s+(?:that\s+)?you\s+(?:write|say|output|produce))?|all\s+of\s+your\s+(?:text|writing|output)"
    r"|(?:the\s+)?(?:whole|entire)\s+thing|it)"
)
MODAL = r"(?:must|should|shall|has\s+to|have\s+to|needs\s+to|need\s+to|is\s+to|will|ought\s+to|is\s+required\s+to|are\s+required\s+to|is\s+expected\s+to)"
"""Obligation. "can" and "may" are permission and are not here."""
NEG = r"(?:must\s+not|mustn't|should\s+not|shouldn't|shall\s+not|cannot|can't|can\s+not|is\s+not\s+to|will\s+not|won't|does\s+not|doesn't|do\s+not|don't|never|must\s+never|should\s+never)"
"""Prohibition."""
BE = rf"(?:{MODAL}\s+(?:be\s+)?|is\s+|are\s+|be\s+)"
OBJ = rf"(?:{SUBJ}|(?:your|the)\s+(?:answers|responses|replies|outputs))"
IN_OBJ = rf"(?:\s+(?:in|throughout|within|for)\s+{OBJ})"
TELL = r"(?:answer|respond|reply|write|compose|give\s+(?:your|an|the)\s+answer|provide\s+(?:your|an|the)\s+answer)"
Q = r"[\"'“”‘’`]"

# Count phrases: (relation, regex with a named group n), tried in order.
_LESS = r"(?:fewer|less|shorter)\s+than|under|below|beneath"
_AT_MOST = (
    r"at\s+most|no\s+more\s+than|not\s+more\s+than|no\s+longer\s+than|not\s+longer\s+than|up\s+to|"
    r"a\s+maximum\s+of|maximum\s+of|maximum|max\.?|not\s+exceeding|within|no\s+greater\s+than|not\s+over"
)
_AT_LEAST = (
    r"at\s+least|no\s+fewer\s+than|no\s+less\s+than|not\s+fewer\s+than|not\s+less\s+than|"
    r"a\s+minimum\s+of|minimum\s+of|minimum|min\.?|no\s+shorter\s+than"
)
_MORE = r"more\s+than|over|longer\s+than|above|in\s+excess\s+of|upwards\s+of"
_EXACT = r"exactly|precisely|just"
_REL_WORDS = [
    ("less than", _LESS),
    ("at most", _AT_MOST),
    ("at least", _AT_LEAST),
    ("more than", _MORE),
    ("exactly", _EXACT),
]
BARE = "bare"
"""The relation of a count stated without one ("3 sentences"): exact, or an upper bound in a limit frame."""


def _count_core(unit: str, *, bare: bool, relations: tuple[str, ...] | None = None) -> str:
    """One regex for every phrasing of "<relation> N <unit>"; :func:`_read_count` reads it back."""
    forms: list[tuple[str, str]] = [(rel, rf"(?:{words})\s+{{n}}\s+{unit}") for rel, words in _REL_WORDS]
    forms += [
        ("at most", rf"{{n}}\s+{unit}\s+or\s+(?:fewer|less|under)"),
        ("at most", rf"{{n}}\s+or\s+(?:fewer|less)\s+{unit}"),
        ("at most", rf"{{n}}\s+{unit}\s+(?:at\s+most|at\s+the\s+most|max(?:imum)?\.?|tops)"),
        ("at least", rf"{{n}}\s+{unit}\s+or\s+more"),
        ("at least", rf"{{n}}\s+or\s+more\s+{unit}"),
        ("at least", rf"{{n}}\+\s*{unit}"),
        ("at least", rf"{{n}}\s+{unit}\s+(?:at\s+least|minimum|min\.?)"),
        ("exactly", rf"{{n}}\s+{unit}\s+exactly"),
        ("exactly", rf"{{n}}\s+{unit},?\s+no\s+more(?:,|\s+and|\s+or)?\s+no\s+(?:less|fewer)"),
        ("at most", rf"{{n}}\s+{unit},?\s+(?:and\s+)?no\s+more"),
        ("at least", rf"{{n}}\s+{unit},?\s+(?:and\s+)?no\s+(?:less|fewer)"),
    ]
    if bare:
        forms.append((BARE, rf"{{n}}\s+{unit}"))
    alts = [
        form.replace("{n}", rf"(?P<n_{i}_{rel.replace(' ', '_')}>{NUM})")
        for i, (rel, form) in enumerate(forms)
        if relations is None or rel in relations or rel == BARE
    ]
    return "(?:" + "|".join(alts) + ")"


def _read_count(m: re.Match[str]) -> tuple[int, str]:
    """The count and relation matched by a :func:`_count_core` regex (``BARE`` when none was stated)."""
    for name, value in m.groupdict().items():
        if name.startswith("n_") and value is not None:
            return parse_number(value), name.split("_", 2)[2].replace("_", " ")
    raise ValueError("no count matched")


_TAIL = rf"(?:\s+(?:long|in\s+length|in\s+total|total|only))?{IN_OBJ}?"
_LIMIT_FRAME = rf"(?:(?:limit|keep|restrict|cap)\s+(?:{OBJ}|yourself)\s+to|(?:fit|squeeze)\s+(?:{OBJ}|it\s+all|everything)\s+(?:in|into|within))\s+"
"""The frame in which a bare count ("Limit your answer to 5 bullet points", "Fit it into 50 words") is an upper bound."""
_HAVE = r"(?:be|is|are|has|have|contains?|uses?|consists?\s+of|includes?|runs?|stays?|remains?|comprises?|features?|hold|holds)"
_FRAMES: list[tuple[str, str]] = [
    (_LIMIT_FRAME, _TAIL),
    (
        rf"(?:{TELL}|keep\s+{OBJ}|use|be|make\s+{OBJ}(?:\s+(?:be|have|contain))?|write\s+{OBJ}|(?:give|send|write)\s+me|give|provide|have|include|"
        rf"respond\s+with|answer\s+with|reply\s+with)(?:\s+(?:in|with|using))?\s+",
        _TAIL,
    ),
    (rf"(?:write|do|say|explain|put|get|have|make|need|want)\s+(?:{OBJ}|this|that)\s+(?:in|with|using)\s+", _TAIL),
    (rf"i(?:'d|\s+would)\s+like\s+(?:{OBJ}|this)\s+to\s+(?:be|have|contain)\s+", _TAIL),
    (rf"{SUBJ}\s+(?:{MODAL}\s+)?{_HAVE}\s+", _TAIL),
    (rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:be\s+)?(?:written\s+)?(?:in|with)\s+(?:the\s+form\s+of\s+)?", _TAIL),
    (rf"{SUBJ}\s+(?:length\s+)?{BE}?", _TAIL),
    (r"(?:use|write)\s+", rf"\s+(?:in|for|throughout)\s+{OBJ}"),
    (rf"(?:organi[sz]e|structure|put|split|divide|break|format)\s+{OBJ}\s+(?:in|into|as)\s+", _TAIL),
    (r"there\s+(?:should|must|shall|needs\s+to|has\s+to)\s+be\s+", _TAIL),
    (r"(?:include|add|insert|put)\s+", rf"(?:\s+in\s+{OBJ})?"),
    (
        rf"(?:make\s+sure|ensure)\s+(?:that\s+)?(?:{OBJ}|you)\s+(?:has|have|contains?|uses?|includes?|is|are|use|write)\s+",
        _TAIL,
    ),
    ("", _TAIL),
]
"""(before, after) wording around a count ("fewer than 20 words") that adds no meaning of its own."""


@functools.cache
def _frame_res() -> list[re.Pattern[str]]:
    return [re.compile(rf"{before}(?P<rest>.+?){after}", re.IGNORECASE) for before, after in _FRAMES]


def _framed_rests(text: str) -> list[tuple[str, bool]]:
    """What is left of ``text`` inside each frame that fits it, and whether that frame is the limit frame."""
    rests: list[tuple[str, bool]] = []
    for i, frame in enumerate(_frame_res()):
        m = frame.fullmatch(text)
        if m and (m.group("rest"), i == 0) not in rests:
            rests.append((m.group("rest"), i == 0))
    return rests


Params = Callable[[re.Match[str]], dict[str, Any] | None]


@dataclass
class _Kind:
    """A kind's phrasings; compiled on first use, so that importing this module stays cheap."""

    name: str
    patterns: list[tuple[str, Params]] = field(default_factory=list)
    cores: list[tuple[str, Params]] = field(default_factory=list)

    def add(self, regexes: list[str], params: Params) -> None:
        """Phrasings matched against the whole text."""
        self.patterns += [(r, params) for r in regexes]

    def add_framed(self, core: str, params: Params) -> None:
        """A count phrase matched against what is left inside each of :data:`_FRAMES`."""
        self.cores.append((core, params))

    @functools.cached_property
    def compiled(self) -> tuple[list[tuple[re.Pattern[str], Params]], list[tuple[re.Pattern[str], Params]]]:
        """The whole-text phrasings and the framed cores, compiled."""
        return (
            [(re.compile(r, re.IGNORECASE), f) for r, f in self.patterns],
            [(re.compile(r, re.IGNORECASE), f) for r, f in self.cores],
        )


KINDS: list[_Kind] = []


def _kind(name: str) -> _Kind:
    k = _Kind(name)
    KINDS.append(k)
    return k


def _counted(
    kind: _Kind,
    unit: str,
    param: str,
    *,
    bare: bool,
    relations: tuple[str, ...] | None = None,
    rel_param: str = "relation",
    extra: dict[str, Any] | None = None,
) -> None:
    def params(m: re.Match[str]) -> dict[str, Any]:
        n, rel = _read_count(m)
        return {param: n, rel_param: rel, **(extra or {})}

    kind.add_framed(_count_core(unit, bare=bare, relations=relations), params)


def _n(rel: str) -> Params:
    """Params for a pattern with one count group ``n`` and a fixed relation (of a word-count kind)."""
    return lambda m: {"num_words": parse_number(m.group("n")), "relation": rel}


# -- number_words / word_range / number_sentences / number_paragraphs / number_bullet_lists --------

_WORDS = r"words?"
_words = _kind("number_words")
_counted(_words, _WORDS, "num_words", bare=False)
_words.add(
    [
        rf"(?:{NEG})\s+(?:exceed|go\s+(?:over|beyond|past))\s+(?P<n>{NUM})\s+words?{IN_OBJ}?",
        rf"{SUBJ}\s+{NEG}\s+(?:exceed|go\s+(?:over|beyond))\s+(?P<n>{NUM})\s+words?",
        rf"(?:{NEG})\s+(?:use|write)\s+more\s+than\s+(?P<n>{NUM})\s+words?{IN_OBJ}?",
        rf"limit\s+{OBJ}\s+to\s+(?P<n>{NUM})\s+words?",
        rf"(?:a\s+)?(?:maximum\s+)?(?:word\s+(?:limit|count)|length)\s*(?:of|:|is)\s*(?P<n>{NUM})(?:\s+words?)?(?:\s+max(?:imum)?)?",
        rf"(?P<n>{NUM})[- ]word\s+(?:limit|maximum|max)",
    ],
    _n("at most"),
)
_words.add(
    [
        rf"(?:{NEG})\s+(?:use|write)\s+(?:fewer|less)\s+than\s+(?P<n>{NUM})\s+words?{IN_OBJ}?",
        rf"(?P<n>{NUM})[- ]word\s+minimum",
    ],
    _n("at least"),
)

_range = _kind("word_range")
_RANGE_CORE = (
    rf"(?:(?:somewhere\s+|anywhere\s+)?(?:between|from)\s+(?P<lo>{NUM})\s+(?:and|to)\s+(?P<hi>{NUM})\s+words"
    rf"|(?P<lo2>\d{{1,5}})\s*(?:-|\u2013|to)\s*(?P<hi2>\d{{1,5}})\s+words"
    rf"|(?:in\s+)?the\s+(?P<lo3>\d{{1,5}})\s*(?:-|\u2013|to)\s*(?P<hi3>\d{{1,5}})[- ]word\s+range)"
)


def _range_params(m: re.Match[str]) -> dict[str, Any] | None:
    found = m.groupdict()
    lo = parse_number(next(found[g] for g in ("lo", "lo2", "lo3") if found.get(g)))
    hi = parse_number(next(found[g] for g in ("hi", "hi2", "hi3") if found.get(g)))
    return {"min_words": lo, "max_words": hi} if lo < hi else None


_range.add_framed(_RANGE_CORE, _range_params)
_range.add(
    [
        rf"(?:the\s+)?word\s+count\s+(?:{MODAL}\s+)?(?:be|is|land|lands|fall|falls|stay|stays|sit|sits)\s+"
        rf"between\s+(?P<lo>{NUM})\s+and\s+(?P<hi>{NUM})(?:\s+words)?"
    ],
    _range_params,
)

_SENT = r"(?:complete\s+|full\s+)?sentences?"
_sentences = _kind("number_sentences")
_counted(_sentences, _SENT, "num_sentences", bare=True)
_sentence_range = _kind("number_sentences:range")
_sentence_range.add_framed(
    rf"(?:(?:between|from)\s+(?P<lo>{NUM})\s+(?:and|to)\s+(?P<hi>{NUM})|(?P<lo2>{NUM})\s*(?:-|\u2013|to|or)\s*(?P<hi2>{NUM}))\s+{_SENT}",
    lambda m: _span(m),
)


def _span(m: re.Match[str]) -> dict[str, Any] | None:
    lo = parse_number(m.group("lo") or m.group("lo2"))
    hi = parse_number(m.group("hi") or m.group("hi2"))
    if lo >= hi or (" or " in m.group(0).lower() and hi != lo + 1):
        return None
    return {"low": lo, "high": hi}


_ONE = r"(?:a\s+single|one\s+single|just\s+one|only\s+one|one|a)"
_sentences.add(
    [
        rf"(?:{TELL}|keep\s+{OBJ}|(?:explain|do|say|put)\s+(?:it|this))\s+in\s+{_ONE}\s+sentence",
        rf"(?:keep|limit)\s+{OBJ}\s+to\s+(?:a\s+single|one\s+single|just\s+one|only\s+one|one|a)\s+sentence",
        rf"(?:fit|squeeze)\s+(?:{OBJ}|it\s+all|everything)\s+(?:in|into|within)\s+{_ONE}\s+sentence",
        rf"{SUBJ}\s+{BE}(?:{_ONE}|exactly\s+one)\s+sentence(?:\s+long)?",
        r"(?:a\s+single|one\s+single|just\s+one|only\s+one)\s+sentence",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:be|is|consists?\s+of|contains?)\s+(?:{_ONE}|exactly\s+one)\s+sentence",
    ],
    lambda m: {"num_sentences": 1, "relation": "exactly"},
)
_sentences.add(
    [
        rf"(?:{NEG})\s+(?:use|write)\s+more\s+than\s+(?P<n>{NUM})\s+{_SENT}{IN_OBJ}?",
        rf"limit\s+{OBJ}\s+to\s+(?P<n>{NUM})\s+{_SENT}",
    ],
    lambda m: {"num_sentences": parse_number(m.group("n")), "relation": "at most"},
)

_PARA = r"paragraphs?"
_DIVIDER = (
    r"(?:[.,;:]?\s*(?:the\s+)?paragraphs\s+(?:are|should\s+be|must\s+be)\s+separated\s+(?:with|by)\s+(?:the\s+)?(?:markdown\s+)?"
    rf"(?:divider|separator)s?:?\s*{Q}?\*\*\*{Q}?"
    rf"|[.,;:]?\s*separate\s+(?:the\s+|each\s+|your\s+)?paragraphs\s+(?:with|by|using)\s+(?:the\s+)?(?:markdown\s+)?(?:divider|separator)?:?\s*{Q}?\*\*\*{Q}?"
    r"|(?:,\s*|\s+)?(?:(?:and\s+)?(?:each\s+)?separated|split|divided)\s+(?:from\s+each\s+other\s+)?(?:by|with|using)\s+(?:the\s+)?"
    r"(?:markdown\s+)?(?:divider|separator|horizontal\s+rule|(?:3|three)\s+asterisks?(?:\s+symbols?)?)?\s*(?::\s*)?"
    rf"(?:{Q}?\(?\*\*\*\)?{Q}?)(?:\s+(?:divider|separator|markdown\s+divider))?)"
)
_BLANK_LINES = (
    r"(?:[.,;:]?\s*(?:(?:and\s+)?(?:each\s+)?(?:paragraphs?\s+(?:are|should\s+be|must\s+be)\s+)?(?:separated|split)\s+(?:from\s+each\s+other\s+)?"
    r"(?:by|with)\s+(?:(?:a|one|two)\s+)?(?:blank|empty|new)\s+lines?"
    r"|(?:each\s+)?paragraph\s+(?:should|must)\s+be\s+separated\s+(?:by|with)\s+(?:two\s+new\s+lines|(?:a\s+)?blank\s+lines?)))?"
)
_paragraphs = _kind("number_paragraphs")
_PCORE = _count_core(_PARA, bare=True)


def _para_params(sep: str) -> Callable[[re.Match[str]], dict[str, Any]]:
    def params(m: re.Match[str]) -> dict[str, Any]:
        n, rel = _read_count(m)
        return {"num_paragraphs": n, "separator": sep, "relation": rel}

    return params


_paragraphs.add_framed(_PCORE + _DIVIDER, _para_params("***"))
_paragraphs.add_framed(
    _count_core(r"sections?", bare=True) + _DIVIDER.replace("paragraphs", "(?:paragraphs|sections)"),
    _para_params("***"),
)
_paragraphs.add_framed(_PCORE + _BLANK_LINES, _para_params("\n\n"))

_BULLET = r"(?:markdown\s+)?(?:bullet(?:ed)?[\s-]*points?|bullets|bullet\s+items?|bulleted\s+items?)"
_BULLET_NOTE = (
    r"(?:\s+(?:in|using)\s+(?:the\s+)?markdown(?:\s+bullet\s+points?)?(?:\s+format)?"
    r"|[.,;]?\s*use\s+(?:the\s+)?markdown\s+bullet\s+points(?:\s+format)?)?"
)
_bullets = _kind("number_bullet_lists")
_bullets.add_framed(_count_core(_BULLET, bare=True) + _BULLET_NOTE, lambda m: _bullet_params(m))


def _bullet_params(m: re.Match[str]) -> dict[str, Any]:
    n, rel = _read_count(m)
    return {"num_bullets": n, "relation": rel}


_bullets.add(
    [
        rf"(?:{TELL}|format\s+{OBJ})\s+(?:as|in|with)\s+(?:a\s+)?(?:markdown\s+)?bullet(?:ed)?\s+list\s+(?:of|with)\s+(?:exactly\s+)?(?P<n>{NUM})\s+(?:items|points|bullets|bullet\s+points)",
        rf"(?:use|give|write|make|provide)\s+(?:a\s+)?(?:markdown\s+)?bullet(?:ed)?\s+list\s+(?:of|with)\s+(?:exactly\s+)?(?P<n>{NUM})\s+(?:items|points|bullets|bullet\s+points)",
    ],
    lambda m: {"num_bullets": parse_number(m.group("n")), "relation": "exactly"},
)
_bullets.add(  # "bullet list, 3 bullets", "a bulleted list with at most 4 points"
    [
        r"(?:(?:use|give\s+me|write|make|provide)\s+)?(?:a\s+)?(?:markdown\s+)?bullet(?:ed)?\s+list(?:,\s*|\s+(?:of|with)\s+)"
        + _count_core(r"(?:items|points|bullets|bullet\s+points)", bare=True)
    ],
    _bullet_params,
)

# -- counted occurrences ------------------------------------------------------------------------

_TIMES = (
    rf"(?:(?P<rel>{_LESS}|{_AT_MOST}|{_AT_LEAST}|{_MORE}|{_EXACT})\s+)?(?:(?P<n>{NUM})\s+times?|(?P<once>once|twice|thrice))"
    r"(?:\s+or\s+(?P<or>fewer|less|more))?"
)


def _times(m: re.Match[str]) -> tuple[int, str]:
    n = {"once": 1, "twice": 2, "thrice": 3}[m.group("once").lower()] if m.group("once") else parse_number(m.group("n"))
    if m.group("or"):
        if m.group("rel"):
            raise ValueError("two relations")
        return n, "at least" if m.group("or").lower() == "more" else "at most"
    rel_text = re.sub(r"\s+", " ", (m.group("rel") or "exactly").lower())
    for rel, words in _REL_WORDS:
        if re.fullmatch(words, rel_text):
            return n, rel
    return n, "exactly"


_APPEAR = r"(?:appears?|occurs?|shows?\s+up|be\s+used|be\s+mentioned|is\s+used|is\s+mentioned|be\s+included|is\s+included|be\s+present|is\s+present|turns?\s+up)"
_KW = rf"{Q}(?P<kw>[^\"“”‘’`]{{1,40}}?){Q}|(?P<kw2>[A-Za-z][\w-]{{0,30}})"


def _kw(m: re.Match[str]) -> str:
    return m.groupdict().get("kw") or m.groupdict().get("kw2") or ""


_kwfreq = _kind("keyword_frequency")
_kwfreq.add(
    [
        rf"(?:use|mention|include|repeat|say|write)\s+the\s+(?:key)?word\s+(?:{_KW})\s+(?:for\s+)?{_TIMES}{IN_OBJ}?",
        rf"(?:use|mention|include|repeat|say|write)\s+{Q}(?P<kw>[^\"“”‘’`]{{1,40}}?){Q}\s+(?:for\s+)?{_TIMES}{IN_OBJ}?",
        rf"(?:in\s+{OBJ},?\s+)?the\s+(?:key)?word\s+(?:{_KW})\s+(?:{MODAL}\s+)?{_APPEAR}\s+(?:for\s+)?{_TIMES}{IN_OBJ}?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:use|uses|mention|mentions|contain|contains|include|includes)\s+the\s+(?:key)?word\s+(?:{_KW})\s+(?:for\s+)?{_TIMES}",
    ],
    lambda m: dict(zip(("frequency", "relation"), _times(m), strict=True)) | {"keyword": _kw(m)},
)

_LETTER = rf"(?:{Q}(?P<l>[^\s\"“”‘’`]){Q}|(?P<l2>[^\s\"“”‘’`]))"


def _letter(m: re.Match[str]) -> str:
    return (m.groupdict().get("l") or m.groupdict().get("l2") or "").lower()


_letter_kind = _kind("letter_frequency")
_letter_kind.add(
    [
        rf"(?:in\s+{OBJ},?\s+)?the\s+(?:letter|character)\s+{_LETTER}\s+(?:{MODAL}\s+)?{_APPEAR}\s+{_TIMES}{IN_OBJ}?",
        rf"(?:use|include)\s+the\s+(?:letter|character)\s+{_LETTER}\s+{_TIMES}{IN_OBJ}?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:use|uses|contain|contains|include|includes)\s+the\s+(?:letter|character)\s+{_LETTER}\s+{_TIMES}",
    ],
    lambda m: dict(zip(("let_frequency", "let_relation"), _times(m), strict=True)) | {"letter": _letter(m)},
)
_letter_kind.add(
    [
        rf"(?:{NEG})\s+(?:use|include|contain|write|have)\s+(?:the\s+)?(?:letter|character)\s+{_LETTER}(?:\s+anywhere)?{IN_OBJ}?(?:\s+(?:anywhere|at\s+all))?",
        rf"{SUBJ}\s+{NEG}\s+(?:use|include|contain|have)\s+(?:the\s+)?(?:letter|character)\s+{_LETTER}(?:\s+anywhere|\s+at\s+all)?",
        rf"(?:the\s+)?(?:letter|character)\s+{_LETTER}\s+{NEG}\s+(?:appear|be\s+used|show\s+up){IN_OBJ}?(?:\s+at\s+all)?",
    ],
    lambda m: {"letter": _letter(m), "let_frequency": 1, "let_relation": "less than"},
)

_MARKS = {
    "!": r"exclamation\s+(?:marks?|points?)",
    "?": r"question\s+marks?",
    ";": r"semicolons?|semi-colons?",
    "&": r"ampersands?",
    "#": r"hash(?:tag)?\s+(?:signs?|symbols?)|pound\s+signs?",
}
"""Punctuation marks named by their names: "No exclamation marks." is ``letter_frequency("!", 1, "less than")``."""
_MARK = "(?P<mark>" + "|".join(_MARKS.values()) + ")"


def _mark(m: re.Match[str]) -> dict[str, Any]:
    named = m.group("mark").lower()
    letter = next(c for c, pattern in _MARKS.items() if re.fullmatch(pattern, named))
    return {"letter": letter, "let_frequency": 1, "let_relation": "less than"}


_letter_kind.add(
    [
        rf"(?:{NEG})\s+(?:use|include|add|put|write)\s+(?:any\s+|a\s+single\s+)?{_MARK}(?:\s+(?:at\s+all|anywhere))?{IN_OBJ}?(?:\s+at\s+all)?",
        rf"(?:avoid|no|without)\s+(?:using\s+)?(?:any\s+)?{_MARK}(?:\s+(?:at\s+all|allowed|are\s+allowed|whatsoever))?{IN_OBJ}?",
        rf"{SUBJ}\s+{NEG}\s+(?:contain|include|use|have)\s+(?:any\s+)?{_MARK}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contains?|has|have|uses?)\s+no\s+{_MARK}",
        rf"(?:{TELL}|write)\s+(?:{OBJ}\s+)?without\s+(?:using\s+)?(?:any\s+)?{_MARK}",
        rf"(?:zero|not\s+(?:a\s+single|one))\s+{_MARK}(?:\s+(?:at\s+all|anywhere|whatsoever))?{IN_OBJ}?",
        rf"there\s*(?:'s|\s+is|\s+are|\s+should\s+be|\s+must\s+be)\s+no\s+{_MARK}{IN_OBJ}?",
    ],
    _mark,
)


def _counted_mark(m: re.Match[str]) -> dict[str, Any]:
    n, rel = _read_count(m)
    if n == 0 and rel in ("exactly", "at most", BARE):  # "zero question marks" is "No question marks."
        n, rel = 1, "less than"
    named = re.search(_MARK, m.group(0), re.IGNORECASE)
    assert named is not None
    return {**_mark(named), "let_frequency": n, "let_relation": rel}


_letter_kind.add_framed(  # "no more than one exclamation mark"
    _count_core("(?:" + "|".join(_MARKS.values()) + ")", bare=True), _counted_mark
)

_CAPS_WORDS = (
    r"(?:words?\s+(?:written\s+)?(?:in|with)\s+all\s+(?:capital\s+letters|caps|capitals|uppercase(?:\s+letters)?)|"
    r"all[- ]caps\s+words?|all[- ]capitals?\s+words?|fully\s+capitali[sz]ed\s+words?|(?:entirely\s+)?uppercase\s+words?|words?\s+in\s+(?:all\s+)?uppercase)"
)
_capfreq = _kind("capital_word_frequency")
_capfreq.add(
    [
        rf"(?:in\s+{OBJ},?\s+)?(?:the\s+)?{_CAPS_WORDS}\s+(?:{MODAL}\s+)?(?:appear|occur|be\s+used)\s+(?:for\s+)?{_TIMES}{IN_OBJ}?",
        rf"(?:use|include|write)\s+{_CAPS_WORDS}\s+(?:for\s+)?{_TIMES}{IN_OBJ}?",
    ],
    lambda m: dict(zip(("capital_frequency", "capital_relation"), _times(m), strict=True)),
)
_counted(_capfreq, _CAPS_WORDS, "capital_frequency", bare=True, rel_param="capital_relation")

_place = _kind("number_placeholders")
_PLACE = (
    r"(?:(?:square[- ])?bracket(?:ed)?\s+)?placeholders?"
    r"(?:,?\s+(?:(?:which|that)\s+(?:should|must)\s+be\s+|that\s+are\s+)?(?:represented\s+by|in|inside|within|using|written\s+in|enclosed\s+in|wrapped\s+in|with|marked\s+by)\s+(?:square\s+)?brackets)?"
)
_counted(_place, _PLACE, "num_placeholders", bare=True)

_HIGHLIGHT = r"(?:text\s+)?(?:sections?|parts?|phrases?|passages?)"
_MD = r"(?:\s+(?:with|using|in)\s+(?:markdown(?:\s+(?:italics|asterisks|syntax|format))?|[\"'`]\*[\"'`]|asterisks))?"
_highlight = _kind("number_highlighted_sections")
_HCORE = _count_core(_HIGHLIGHT, bare=True)


def _highlight_params(m: re.Match[str]) -> dict[str, Any]:
    n, rel = _read_count(m)
    return {"num_highlights": n, "relation": rel}


_HCORE_MARKED = _count_core(r"(?:markdown[- ])?(?:highlighted|italic|italici[sz]ed)\s+" + _HIGHLIGHT, bare=True)
_highlight.add(
    [
        rf"(?:use\s+markdown\s+to\s+)?(?:highlight|italici[sz]e|emphasi[sz]e)\s+{_HCORE}(?:\s+(?:of|in)\s+{OBJ})?{_MD}",
        rf"(?:use|include|add|have)\s+{_HCORE_MARKED}{_MD}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:have|has|contains?|include|includes)\s+{_HCORE_MARKED}{_MD}",
    ],
    _highlight_params,
)

_sections = _kind("multiple_sections")
_SECTION_MARK = (
    rf"{Q}?(?P<s>[A-Za-z]+){Q}?\s+(?:x|n|\d|{Q}?x{Q}?){Q}?"
    rf"(?:,?\s+{Q}?(?P=s)\s+2{Q}?)?(?:,?\s+(?:and\s+so\s+on|etc\.?))?"
)
_sections.add(
    [
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:have|has|contain|contains)\s+(?P<n>{NUM})\s+sections?[.,;]?\s+mark\s+the\s+beginning\s+of\s+each\s+section\s+with\s+{_SECTION_MARK}(?:,?\s*such\s+as:?\s+.*)?",
        rf"(?:divide|split|organi[sz]e)\s+{OBJ}\s+into\s+(?P<n>{NUM})\s+sections?(?:,|\s+and)?\s+(?:each\s+)?(?:marked|labell?ed|starting|beginning)\s+(?:with\s+)?{_SECTION_MARK}",
    ],
    lambda m: _section_params(m),
)


def _section_params(m: re.Match[str]) -> dict[str, Any] | None:
    s = m.group("s")
    if s.lower() in ("x", "n", "the", "a", "each"):
        return None
    return {"num_sections": parse_number(m.group("n")), "section_spliter": s, "relation": "exactly"}


# -- keywords -----------------------------------------------------------------------------------

_QUOTES = {'"': '"', "“": "”", "‘": "’", "'": "'", "`": "`", "”": "”", "’": "’"}
_NOT_A_KEYWORD = {"a", "an", "the", "word", "words", "keyword", "keywords", "it", "them", "both", "any", "either"}
_LIST = r"(?P<kws>\[?[^.;!?]{1,300}?\]?)"
"""A list of keywords ("river, stone and 'sea'", "['forests', 'riddle']"), read by :func:`keyword_list`."""


def keyword_list(text: str) -> tuple[list[str], set[str]] | None:
    """The items of a keyword list and the joining words used (``and``, ``or``, ``nor``, ``,``).

    Quoted items are kept whole, "salt and pepper" included, and lose their quotes; an unquoted
    item must be one word (no article or filler word). ``None`` when the list cannot be read so.
    """
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    items: list[str] = []
    joins: set[str] = set()
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch == ",":
            joins.add(",")
            i += 1
            continue
        word = re.match(r"(and|or|nor|and/or)(?=\s)", s[i:], re.IGNORECASE)
        if word and items:
            joins.add(word.group(1).lower())
            i += len(word.group(0))
            continue
        if ch in _QUOTES:
            close = _QUOTES[ch]
            j = i + 1
            while j < n and not (s[j] == close and (close != "'" or j + 1 >= n or not s[j + 1].isalnum())):
                j += 1
            if j >= n or j == i + 1:
                return None
            items.append(s[i + 1 : j].strip())
            i = j + 1
        else:
            m = re.match(r"[^\W\d_][\w'-]*", s[i:])
            if not m or m.group(0).lower() in _NOT_A_KEYWORD:
                return None
            items.append(m.group(0))
            i += len(m.group(0))
        after = re.match(r"\s*(?:,|(?:and|or|nor|and/or)\s|$)", s[i:], re.IGNORECASE)
        if after is None:
            return None  # two items in a row ("'sorry' anywhere", "black cat"): a phrase, or no list at all
    if not items or any(not item for item in items):
        return None
    return items, joins


def _kw_list_params(name: str, *, disjunction_ok: bool) -> Params:
    def params(m: re.Match[str]) -> dict[str, Any] | None:
        read = keyword_list(m.group("kws"))
        if read is None:
            return None
        items, joins = read
        if not disjunction_ok and joins & {"or", "nor", "and/or"}:
            return None  # "include X or Y" is not "include X and Y"
        if "and/or" in joins:
            return None
        return {name: items}

    return params


_WORDS_NOUN = r"(?:(?:key)?words?|phrases?|terms?|keywords?)"
_QUOTED = rf"{Q}[^\"“”‘’`]{{1,60}}?{Q}"
"""A quoted word or phrase, quotes included: the user's own words."""
_ANYWHERE = r"(?:\s+(?:somewhere|anywhere|at\s+all))?"
_IN_IT = rf"(?:\s+in\s+(?:it|there|{OBJ}))"
"""Where a keyword goes when it is the whole response: "in it", "in there", "in the answer"."""
_include = _kind("include_keywords")
_SAY = r"(?:include|use|mention|say|reference)"
_include.add(
    [
        rf"(?:{_SAY}|contain|have)\s+(?:the\s+|these\s+|all\s+(?:of\s+)?the\s+|all\s+(?:of\s+)?these\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}{IN_OBJ}?{_ANYWHERE}{_IN_IT}?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:include|includes|contain|contains|use|uses|mention|mentions|have|has)\s+(?:the\s+|these\s+|all\s+(?:of\s+)?the\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}{_ANYWHERE}",
        rf"(?:the\s+)?{_WORDS_NOUN}\s+{_LIST}\s+(?:{MODAL}\s+)?(?:all\s+)?(?:{_APPEAR}|are\s+used|are\s+included|are\s+mentioned|are\s+present)(?:\s+somewhere)?{IN_OBJ}?(?:\s+somewhere)?(?:\s+at\s+least\s+once)?",
        rf"(?:the\s+)?{_WORDS_NOUN}\s+{_LIST}\s+(?:(?:{MODAL}\s+)?be|is|are){_ANYWHERE}{_IN_IT}{_ANYWHERE}",
        rf"{_SAY}\s+(?P<kws>{_QUOTED}){IN_OBJ}?{_ANYWHERE}{_IN_IT}?",
        rf"(?:work|weave|slip|fit|put)\s+(?:the\s+)?(?:key)?(?:word|phrase|term)\s+{_LIST}\s+(?:in|into)\s+(?:it|{OBJ})(?:\s+somewhere)?",
        rf"(?:work|weave|slip|fit)\s+in\s+(?:the\s+)?(?:key)?(?:word|phrase|term)\s+{_LIST}",
        rf"(?P<kws>{_QUOTED})\s+(?:{MODAL}\s+)?(?:be|is)\s+in\s+(?:there|it|{OBJ}){_ANYWHERE}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:include|includes|use|uses|mention|mentions|say|says)\s+(?P<kws>{_QUOTED}){_ANYWHERE}",
    ],
    _kw_list_params("keywords", disjunction_ok=False),
)

_LEAVE_OUT = r"avoid(?:\s+(?:using|saying|writing))?|leave\s+out|omit|skip"
_forbid = _kind("forbidden_words")
_forbid.add(
    [
        rf"(?:{NEG}|please\s+do\s+not)\s+(?:include|use|mention|say|write|contain)\s+(?:the\s+|these\s+|any\s+of\s+(?:the|these)\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}{IN_OBJ}?{_ANYWHERE}",
        rf"(?:{_LEAVE_OUT})\s+(?:the\s+|these\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}{IN_OBJ}?",
        rf"i\s+(?:don't|do\s+not)\s+want\s+(?:the\s+|these\s+|any\s+of\s+(?:the|these)\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}{_IN_IT}?{_ANYWHERE}",
        rf"{SUBJ}\s+{NEG}\s+(?:include|contain|use|mention)\s+(?:the\s+|any\s+of\s+the\s+)?{_WORDS_NOUN}\s*:?\s*{_LIST}",
        rf"(?:the\s+)?{_WORDS_NOUN}\s+{_LIST}\s+{NEG}\s+(?:appear|be\s+used|be\s+included|be\s+mentioned|show\s+up|be\s+(?:used\s+)?in\s+{OBJ}){IN_OBJ}?(?:\s+at\s+all)?",
        rf"(?:the\s+)?{_WORDS_NOUN}\s+{_LIST}\s+(?:is|are)\s+(?:forbidden|not\s+allowed|banned)",
        rf"keep\s+(?:the\s+)?{_WORDS_NOUN}\s+{_LIST}\s+out\s+of\s+(?:it|{OBJ})",
        rf"no\s+(?P<kws>{_QUOTED}){IN_OBJ}?{_ANYWHERE}",
        rf"(?:(?:{NEG})\s+(?:use|say|write|include)|{_LEAVE_OUT})\s+(?P<kws>{_QUOTED}){IN_OBJ}?{_ANYWHERE}",
        rf"(?:{NEG})\s+(?:use|say|write|include)\s+(?P<kws>{_QUOTED}(?:\s*,\s*|\s+(?:or|nor|and)\s+){_QUOTED}){IN_OBJ}?",
    ],
    _kw_list_params("forbidden_words", disjunction_ok=True),
)

# -- language and case --------------------------------------------------------------------------

_LANG_NAMES = "|".join(sorted(_language.LANGUAGES.values(), key=len, reverse=True))
_LANG = rf"(?P<lang>{_LANG_NAMES})"
_ONLY = r"(?:\s+only|\s+and\s+no\s+other\s+language(?:\s+is\s+allowed)?|,\s*no\s+other\s+language(?:\s+is)?\s+allowed|\s+\(no\s+other\s+language\))?"
_lang = _kind("response_language")
_lang.add(
    [
        rf"(?:{TELL}|speak|respond\s+only)\s+(?:{OBJ}\s+)?(?:only\s+|entirely\s+|exclusively\s+|solely\s+)?(?:in|using)\s+(?:only\s+)?(?:the\s+)?{_LANG}(?:\s+language)?{_ONLY}",
        rf"{SUBJ}\s+{BE}?(?:written\s+|entirely\s+|fully\s+|only\s+|completely\s+)*in\s+{_LANG}(?:\s+language)?{_ONLY}",
        rf"(?:{SUBJ}\s+)?(?:is\s+)?written\s+(?:entirely\s+|only\s+)?in\s+{_LANG}{_ONLY}",
        rf"{SUBJ}\s+{BE}?(?:entirely\s+)?in\s+the\s+{_LANG}\s+language{_ONLY}",
        rf"use\s+(?:only\s+)?(?:the\s+)?{_LANG}(?:\s+language)?(?:\s+only)?{IN_OBJ}?{_ONLY}",
        rf"(?:only\s+)?{_LANG}(?:\s+language)?\s+only",
        rf"{_LANG}\s+language\s+only",
        rf"(?:{OBJ}|everything)\s+(?:is|are)\s+(?:entirely\s+|all\s+|only\s+)?in\s+{_LANG}{_ONLY}{IN_OBJ}?",
        rf"make\s+{OBJ}\s+(?:be\s+)?(?:entirely\s+|only\s+|all\s+)?in\s+(?:only\s+)?(?:the\s+)?{_LANG}(?:\s+language)?{_ONLY}{IN_OBJ}?",
        rf"(?:{TELL}|speak)\s+(?:{OBJ}\s+)?(?:only\s+)?in\s+{_LANG}(?:\s+language)?,?\s+no\s+other\s+language\s+is\s+allowed{IN_OBJ}",
        rf"(?:{TELL}\s+)?(?:{OBJ}\s+)?using\s+only\s+(?:the\s+)?{_LANG}(?:\s+language)?{_ONLY}",
        rf"(?:all\s+|entirely\s+|only\s+)?in\s+{_LANG}(?:\s+language)?{_ONLY}",
        rf"(?:do|write|put|translate|have|make|get|need|want)\s+(?:{OBJ}|this|that)\s+(?:all\s+|entirely\s+|only\s+)?(?:in|into)\s+(?:the\s+)?{_LANG}(?:\s+language)?{_ONLY}",
    ],
    lambda m: {"language": _language.code_of(m.group("lang"))},
)

_IN_ENGLISH = r"(?P<en>(?:,\s*|\s+)?(?:and\s+)?in\s+english(?:,\s*and\s+|,\s*|\s+and\s+|\s+)?)?"


def _case_kind(name: str, case_words: str, *, opposite: str, opposite_bare: str) -> None:
    """Phrasings of one case kind; ``opposite`` names the other case before "letters", ``opposite_bare`` without it."""
    k = _kind(name)
    letters = rf"(?:{case_words})(?:\s+letters|\s+characters|\s+case)?"
    none_of = rf"(?:(?:{opposite})\s+letters|{opposite_bare})"
    tail = rf"(?:\s+only)?(?:[.,;]?\s*(?:and\s+)?no\s+{none_of}(?:\s+(?:are\s+|is\s+)?(?:allowed|used))?|\s*,?\s*throughout\s+{OBJ})?"
    k.add(
        [
            rf"{SUBJ}\s+{BE}?(?:written\s+)?(?:entirely\s+|completely\s+|fully\s+|all\s+)?{_IN_ENGLISH}(?:in\s+)?(?:all\s+|only\s+)?{letters}{tail}",
            rf"(?:{TELL}|type|reply|write\s+everything|write\s+it\s+all)(?:\s+{OBJ})?\s+(?:entirely\s+|only\s+|completely\s+)?{_IN_ENGLISH}(?:in|using|with)\s+(?:all\s+|only\s+)?{letters}{tail}",
            rf"(?:make|put|turn|keep)\s+{OBJ}\s+(?:all\s+|entirely\s+|completely\s+)?(?:in\s+)?(?:all\s+)?{letters}{tail}",
            rf"(?:use\s+)?only\s+{letters}(?:\s+(?:in|for|throughout)\s+{OBJ})?",
            rf"(?:use\s+)?(?:all\s+)?{letters}\s+only(?:\s+(?:in|for|throughout)\s+{OBJ})?{tail}",
            rf"(?:in\s+|use\s+)?all\s+{letters}",
            rf"(?:{NEG})\s+use\s+(?:any\s+)?(?:{opposite})\s+letters(?:\s+(?:in|for|throughout)\s+{OBJ})?",
            rf"no\s+{none_of}(?:\s+(?:are\s+|is\s+)?(?:allowed|used))?{IN_OBJ}?(?:\s+(?:anywhere|at\s+all))?",
            rf"{OBJ}\s+(?:is|are)\s+(?:entirely\s+|all\s+)?{_IN_ENGLISH}(?:in\s+)?(?:all\s+)?{letters}{tail}",
            rf"(?:{TELL}|write)\s+(?:{OBJ}\s+)?without\s+(?:using\s+)?(?:any\s+)?(?:{opposite})\s+letters",
            rf"{SUBJ}\s+{NEG}\s+(?:contain|include|use|have)\s+(?:any\s+)?(?:{opposite})\s+letters",
            rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contain|contains|use|uses|have|has)\s+only\s+{letters}",
            rf"{SUBJ}\s+{BE}?with\s+no\s+(?:{opposite})\s+letters",
            rf"(?:that\s+)?all\s+(?:of\s+)?the\s+letters(?:\s+in\s+{OBJ})?\s+(?:are|should\s+be|must\s+be)\s+(?:in\s+)?{letters}",
            rf"(?:make|put|write|keep)\s+(?:every|each)\s+(?:single\s+)?letter\s+(?:in\s+)?{letters}",
        ],
        lambda m: {"english": bool(m.groupdict().get("en"))},
    )


_case_kind(
    "all_capitals",
    r"capital|capitals|caps|uppercase|upper[- ]case|block\s+capitals?|capital\s+letters",
    opposite="lowercase|lower[- ]case|small",
    opposite_bare="lowercase|lower[- ]case",
)
_kind("all_lowercase").add(
    [rf"(?:{NEG})\s+capitali[sz]e\s+(?:anything|any\s+(?:letters?|words?))(?:\s+at\s+all)?{IN_OBJ}?"],
    lambda m: {"english": False},
)
_case_kind(
    "all_lowercase",
    r"lowercase|lower[- ]case|small\s+letters",
    opposite="capital|uppercase|upper[- ]case",
    opposite_bare="caps|capitals|uppercase|upper[- ]case",
)

# -- punctuation, wrapping, start and end -------------------------------------------------------

_comma = _kind("no_comma")
_comma.add(
    [
        rf"(?:{NEG})\s+(?:use|include|add|put)\s+(?:any\s+|a\s+single\s+)?commas?(?:\s+(?:at\s+all|anywhere))?{IN_OBJ}?(?:\s+at\s+all)?",
        rf"(?:in\s+(?:your\s+)?(?:entire\s+|whole\s+)?{WHOLE},?\s+)?refrain\s+from\s+(?:the\s+use\s+of|using)\s+(?:any\s+)?commas{IN_OBJ}?",
        rf"(?:avoid|no|zero|without|skip|leave\s+out|omit)\s+(?:using\s+)?(?:any\s+|all\s+)?commas"
        rf"(?:\s+(?:at\s+all|allowed|are\s+allowed|whatsoever|anywhere|entirely|completely))?{IN_OBJ}?",
        rf"{SUBJ}\s+{NEG}\s+(?:contain|include|use|have)\s+(?:any\s+)?commas",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contains?|has|have|uses?)\s+(?:no|zero)\s+commas",
        rf"(?:{TELL}|write|do)\s+(?:{OBJ}\s+)?(?:without|with\s+no|with\s+zero)\s+(?:using\s+)?(?:any\s+commas|a\s+single\s+comma|commas)",
        rf"(?:(?:make|keep)\s+{OBJ}\s+|(?:it|this)\s+|{SUBJ}\s+{BE})?comma[- ]free",  # "I need this comma-free"
        rf"commas\s+are\s+not\s+allowed{IN_OBJ}?",
        rf"there\s*(?:'s|\s+is|\s+are|\s+should\s+be|\s+must\s+be)\s+no\s+commas?{IN_OBJ}?",
        rf"not\s+(?:a\s+single|one)\s+comma{IN_OBJ}?",
        rf"(?:the\s+)?(?:use\s+of\s+)?commas?\s+(?:is|are)\s+(?:forbidden|not\s+permitted|prohibited|banned){IN_OBJ}?",
    ],
    lambda m: {},
)

_DQ = r"(?:double\s+quot(?:ation\s+marks|es|ation\s+signs|e\s+marks)|{q}{q}|\"\s*\")".format(q='"')
_quote = _kind("quotation")
_quote.add(
    [
        rf"(?:wrap|enclose|put|surround|place)\s+(?:{OBJ}|everything)\s+(?:with|in|inside|within|between)\s+{_DQ}",
        rf"{SUBJ}\s+{BE}?(?:wrapped|enclosed|surrounded)\s+(?:with|in|by|inside|within)\s+{_DQ}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:start\s+and\s+end|begin\s+and\s+end)\s+with\s+(?:a\s+)?double\s+quot(?:ation\s+mark|e)s?",
        rf"(?:put|place|add|use)\s+{_DQ}\s+around\s+(?:{OBJ}|everything)",
    ],
    lambda m: {},
)

_JSON_NOTE = r"(?:[.,;]?\s*(?:you\s+(?:can|may)\s+use\s+markdown\s+ticks(?:\s+such\s+as\s+```)?|and\s+nothing\s+else|with\s+nothing\s+else|nothing\s+else|no\s+(?:other|extra)\s+(?:text|words)|only))?"
_json = _kind("json_format")
_json.add(
    [
        rf"(?:{TELL}|format\s+{OBJ}|output|return|respond|(?:return|output|give|provide|send)\s+(?:me\s+)?{OBJ})\s+(?:only\s+|entirely\s+|strictly\s+)?(?:in|as|with|using)\s+(?:valid\s+|a\s+valid\s+|well-formed\s+|a\s+)?json(?:\s+format|\s+object|\s+only)?{_JSON_NOTE}",
        rf"(?:{SUBJ}|the\s+entire\s+output|entire\s+output)\s+{BE}?(?:wrapped\s+in\s+|formatted\s+(?:as|in)\s+|in\s+|valid\s+|a\s+valid\s+|written\s+in\s+)*(?:valid\s+|a\s+valid\s+)?json(?:\s+format|\s+object)?{_JSON_NOTE}",
        rf"(?:{SUBJ}\s+{BE}?)?(?:valid|well-formed|parseable)\s+json(?:\s+only)?{_JSON_NOTE}",
        r"json\s+(?:format\s+)?only",
        rf"(?:output|return|produce|emit)\s+(?:only\s+)?(?:valid\s+)?json(?:\s+only)?{_JSON_NOTE}",
        rf"wrap\s+(?:{OBJ}|the\s+entire\s+output|your\s+entire\s+output)\s+in\s+json(?:\s+format)?{_JSON_NOTE}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:just\s+|only\s+)?contains?\s+(?:only\s+)?(?:a\s+)?(?:valid\s+)?json(?:\s+block|\s+object)?(?:\s+only)?{_JSON_NOTE}",
        rf"use\s+(?:valid\s+)?json(?:\s+format)?(?:\s+(?:for|in)\s+{OBJ})?{_JSON_NOTE}",
        rf"(?:only\s+|just\s+)?(?:give\s+me|send\s+me|reply\s+with|respond\s+with)\s+(?:only\s+|just\s+)?(?:the\s+)?(?:valid\s+)?json(?:\s+only)?{_JSON_NOTE}",
    ],
    lambda m: {},
)

_title = _kind("title")
_ANGLE = r"(?:double\s+angular\s+brackets|double\s+angle\s+brackets|<<\s*>>|<<\s*double\s+angul?ar\s+brackets\s*>>)"
_TITLE_EG = r"(?:,?\s*(?:such\s+as|like|e\.g\.,?|i\.e\.,?)\s*<<[^>]+>>)?"
_title.add(
    [
        rf"(?:include|add|give|start\s+with|begin\s+with|have)\s+(?:{OBJ}\s+)?a\s+title,?\s+(?:(?:that|which)\s+is\s+)?(?:wrapped|enclosed|written|placed|put|contained)?\s*(?:in|inside|within|with|between)\s+{_ANGLE}{_TITLE_EG}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contain|contains|have|has|include|includes)\s+a\s+title,?\s*(?:(?:that|which)\s+is\s+)?(?:wrapped|enclosed|contained|written)?\s*(?:in|inside|within)\s+{_ANGLE}{_TITLE_EG}",
        rf"(?:put|wrap|write)\s+(?:the|a|your)\s+title\s+in\s+{_ANGLE}{_TITLE_EG}",
    ],
    lambda m: {},
)

_two = _kind("two_responses")
_SIX = r"(?:6|six)\s+asterisks?(?:\s+(?:symbol|mark|sign)s?)?(?::?\s*\(?\*{6}\)?)?"
_two.add(
    [
        rf"(?:give|provide|write)\s+(?:exactly\s+)?two\s+different\s+(?:responses|answers)[.,;]?\s*(?:responses\s+and\s+only\s+responses\s+should\s+be\s+)?separated\s+(?:them\s+)?(?:by|with)\s+{_SIX}",
        rf"(?:give|provide|write)\s+(?:exactly\s+)?two\s+different\s+(?:responses|answers)[.,;]?\s+(?:and\s+)?separate\s+(?:them|the\s+(?:responses|answers))\s+(?:by|with)\s+{_SIX}",
        r"(?:give|provide|write)\s+(?:exactly\s+)?two\s+different\s+(?:responses|answers)\s+separated\s+by\s+\*{6}",
    ],
    lambda m: {},
)

_repeat = _kind("repeat_prompt")
_REQUEST = r"(?:the\s+|this\s+|my\s+)?(?:exact\s+|entire\s+|whole\s+|full\s+|original\s+)*(?:request|prompt|question|query)(?:\s+(?:above|below|itself))?"
_UNCHANGED = (
    r"(?:,?\s*(?:word\s+(?:for|by)\s+word|verbatim|exactly(?:\s+as\s+it\s+is)?|as\s+it\s+is|"
    r"without\s+(?:any\s+)?changes?|without\s+changing\s+(?:a\s+single\s+(?:letter|word)|anything|it|any\s+word)))*"
)
_NOTHING_BEFORE = (
    rf"(?:[.;,]?\s*(?:and\s+)?(?:please\s+)?(?:do\s+not|don't)\s+(?:say|write|output|add|put)\s+(?:any\s+words?(?:\s+or\s+characters)?|"
    rf"anything|a\s+(?:single\s+)?word)\s+before\s+(?:repeating\s+(?:it|{_REQUEST})|(?:it|{_REQUEST})\s+is\s+repeated))?"
)
_repeat.add(
    [
        rf"(?:first\s+)?repeat\s+{_REQUEST}(?:\s+first)?{_UNCHANGED}(?:\s+first)?,?\s+(?:and\s+)?then\s+(?:give|provide|write)\s+your\s+(?:answer|response|reply){_NOTHING_BEFORE}",
        rf"(?:first\s+)?repeat\s+{_REQUEST}{_UNCHANGED}\s+before\s+(?:answering|your\s+answer|you\s+answer){_NOTHING_BEFORE}",
        rf"(?:start|begin)\s+(?:{OBJ}\s+)?(?:by|with)\s+repeating\s+{_REQUEST}{_UNCHANGED}(?:,?\s+(?:and\s+)?then\s+(?:answer(?:\s+it)?|give\s+your\s+answer))?{_NOTHING_BEFORE}",
    ],
    lambda m: {},
)
_repeat.add(
    [
        r"first\s+repeat\s+the\s+(?:request|question|prompt)\s+word\s+for\s+word(?:\s+without\s+change)?,?\s+then\s+(?:give|provide|write)\s+your\s+answer(?:\s+\(.*\))?",
        r"(?:start|begin)\s+(?:by|with)\s+repeating\s+the\s+(?:request|question|prompt)\s+(?:word\s+for\s+word|verbatim|exactly)(?:,?\s+(?:and\s+)?then\s+(?:answer(?:\s+it)?|give\s+your\s+answer))?",
        r"repeat\s+the\s+(?:request|question|prompt)\s+(?:word\s+for\s+word|verbatim)\s+(?:first|before\s+(?:answering|your\s+answer))(?:,?\s+then\s+answer(?:\s+it)?)?",
    ],
    lambda m: {},
)

_PHRASE = rf"{Q}(?P<p>[^\"“”]{{1,80}}?){Q}"
_NO_MORE = (
    r"(?:[.,;]?\s*(?:and\s+)?no\s+other\s+words\s+should\s+follow(?:\s+(?:this|that|the|it))?"
    r"(?:\s+(?:phrase|statement|sentence|question))?)?"
)
_end = _kind("end_phrase")
_end.add(
    [
        rf"(?:finish|end|conclude|close|wrap\s+up)\s+(?:{OBJ}\s+)?(?:with|on)\s+(?:exactly\s+)?(?:this\s+|the\s+)?(?:exact\s+)?(?:phrase|sentence|words?|question|statement)?(?:\s+of)?\s*:?\s*{_PHRASE}{_NO_MORE}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends|finish|finishes|conclude|concludes)\s+with\s+(?:exactly\s+)?(?:the\s+(?:exact\s+)?(?:phrase|sentence|words?|question|statement)(?:\s+of)?\s*:?\s*)?{_PHRASE}{_NO_MORE}",
        rf"(?:the\s+)?(?:very\s+)?last\s+(?:words?|sentence)\s+(?:of\s+{OBJ}\s+)?(?:{MODAL}\s+)?(?:be|is)\s+{_PHRASE}",
        rf"sign\s+(?:{OBJ}\s+)?off\s+with\s+(?:exactly\s+)?{_PHRASE}{_NO_MORE}",
    ],
    lambda m: {"end_phrase": m.group("p").strip()},
)
_end.add(
    [
        rf"(?:finish|end|conclude)\s+(?:{OBJ}\s+)?with\s+(?:exactly\s+)?(?:this|the)\s+(?:exact\s+)?(?:phrase|sentence|words?|question|statement)\s*:\s*(?P<p>[^\"“”:]{{1,80}}?[?!])",
        r"finish\s+your\s+response\s+with\s+this\s+exact\s+phrase\s+(?P<p>[^\"“”]{1,80}?)[.,]?\s+no\s+other\s+words\s+should\s+follow\s+this\s+phrase",
    ],
    lambda m: {"end_phrase": m.group("p").strip()},
)

_question = _kind("ends_with_question")
_question.add(
    [
        r"(?:it\s+)?ends\s+with\s+a\s+question(?:\s+mark)?",
        rf"(?:finish|end|conclude|close)\s+(?:{OBJ}\s+)?(?:with|on)\s+a\s+question(?:\s+mark)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends|finish|finishes|conclude|concludes)\s+with\s+a\s+question(?:\s+mark)?",
        rf"(?:finish|end)\s+(?:{OBJ}\s+)?with\s+{Q}\?{Q}",
        rf"(?:finish|end|conclude|close|wrap\s+(?:{OBJ}\s+)?up)\s+(?:{OBJ}\s+)?(?:by\s+asking|with|on)"
        r"(?:\s+(?:them|him|her|me|us|the\s+reader|the\s+readers|readers|people|everyone))?\s+a\s+question"
        r"(?:\s+(?:to|for)\s+(?:the\s+reader|the\s+readers|readers|them|people|everyone))?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends|finish|finishes|conclude|concludes|close|closes)\s+on\s+a\s+question",
        rf"make\s+the\s+(?:last|final)\s+sentence(?:\s+of\s+{OBJ})?\s+a\s+question",
        rf"(?:the\s+)?(?:last|final)\s+sentence(?:\s+of\s+{OBJ})?\s+(?:{MODAL}\s+)?(?:be|is)\s+a\s+question",
    ],
    lambda m: {},
)

_start = _kind("starts_with")
_start.add(
    [
        rf"(?:(?:start|begin|open)\s+(?:{OBJ}\s+)?|kick\s+(?:{OBJ}\s+)?off\s+)with\s+(?:the\s+(?:exact\s+)?(?:word|phrase|words)\s+)?{_PHRASE}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:start|starts|begin|begins)\s+with\s+(?:the\s+(?:exact\s+)?(?:word|phrase|words)\s+)?{_PHRASE}",
        rf"(?:start|begin)\s+(?:{OBJ}\s+)?with\s+the\s+word\s+(?P<p>[A-Za-z][\w'-]*)",
        rf"(?:(?:the\s+)?first\s+word\s+(?:of\s+{OBJ}\s+)?(?:{MODAL}\s+)?(?:be|is)|make\s+the\s+first\s+word(?:\s+of\s+{OBJ})?)\s+(?:{Q}(?P<p2>[^\"“”]{{1,40}}){Q}|(?P<p3>[A-Za-z][\w'-]*))",
    ],
    lambda m: {
        "start_phrase": (m.groupdict().get("p") or m.groupdict().get("p2") or m.groupdict().get("p3") or "").strip()
    },
)

_ORD = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "6th": 6, "7th": 7, "8th": 8,
}  # fmt: skip
_ORDW = "|".join(_ORD)
_FIRSTWORD = rf"(?:{Q}(?P<w>[A-Za-z][\w'-]*){Q}|(?P<w2>[A-Za-z][\w'-]*))"
_nth = _kind("nth_paragraph_first_word")
_NTH = rf"(?:paragraph\s+(?P<k>\d+|{_SMALL})|(?:the\s+)?(?P<o>{_ORDW}|last|final)\s+paragraph)"
_COUNT_PARAS = (
    rf"(?:there\s+should\s+be\s+(?:exactly\s+)?(?P<n>{NUM})\s+paragraphs|write\s+(?:exactly\s+)?(?P<n2>{NUM})\s+paragraphs|"
    rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:have|has|contain|contains)\s+(?:exactly\s+)?(?P<n3>{NUM})\s+paragraphs)"
    rf"(?:[.,]?\s*paragraphs\s+and\s+only\s+paragraphs\s+are\s+separated\s+(?:with\s+each\s+other\s+)?by\s+two\s+new\s+lines"
    rf"(?:\s+as\s+if\s+it\s+was\s+{Q}\\n\\n{Q}\s+in\s+python)?|{_BLANK_LINES}{IN_OBJ}?)[.,;]?\s*(?:and\s+)?"
)
_nth.add(
    [
        rf"(?:{_COUNT_PARAS})?{_NTH}\s+(?:{MODAL}\s+)?(?:start|starts|begin|begins)\s+with\s+(?:the\s+)?(?:word\s+)?{_FIRSTWORD}",
        rf"(?:{_COUNT_PARAS})?(?:start|begin)\s+{_NTH}\s+with\s+(?:the\s+)?(?:word\s+)?{_FIRSTWORD}",
        rf"(?:{_COUNT_PARAS})?the\s+first\s+word\s+of\s+{_NTH}\s+(?:{MODAL}\s+)?(?:be|is)\s+{_FIRSTWORD}",
    ],
    lambda m: _nth_params(m),
)


def _nth_params(m: re.Match[str]) -> dict[str, Any] | None:
    g = m.groupdict()
    count = g.get("n") or g.get("n2") or g.get("n3")
    n = parse_number(count) if count else None
    if g.get("o") and g["o"].lower() in ("last", "final"):
        if n is None:
            return None  # "the last paragraph" needs the count
        nth = n
    else:
        nth = _ORD[g["o"].lower()] if g.get("o") else parse_number(g["k"])
    if nth < 1 or (n is not None and nth > n):
        return None
    return {"num_paragraphs": n, "nth_paragraph": nth, "first_word": (g.get("w") or g.get("w2") or "").lower()}


_ps = _kind("postscript")
_PSM = r"(?P<m>p\.\s?p\.\s?s\.?|p\.\s?s\.?)"


def _ps_params(m: re.Match[str]) -> dict[str, Any]:
    marker = (m.groupdict().get("m") or "P.S.").upper().replace(" ", "")
    return {"postscript_marker": "P.P.S" if marker.startswith("P.P.S") else "P.S."}


_PS_WORD = r"(?:postscript|post\s*script|post-script)"
_AT_END = rf"(?:\s+at\s+the\s+(?:very\s+)?end(?:\s+of\s+{OBJ})?|\s+to\s+{OBJ})?"
_ps.add(
    [
        rf"(?:at\s+the\s+end\s+of\s+{OBJ},?\s+)?(?:please\s+)?(?:explicitly\s+)?(?:add|include|append|write|end\s+(?:{OBJ}\s+)?with)\s+a\s+{_PS_WORD}{_AT_END}\s+(?:that\s+)?(?:starting|beginning|starts|begins)\s+with\s+{Q}?{_PSM}{Q}?{_AT_END}",
        rf"(?:add|include|append)\s+a\s+{Q}?{_PSM}{Q}?(?:\s+note)?{_AT_END}",
        rf"(?:add|include|append)\s+a\s+{_PS_WORD}{_AT_END}",
        rf"(?:end|finish)\s+(?:{OBJ}\s+)?with\s+a\s+{Q}?{_PSM}{Q}?(?:\s+note)?",
        rf"(?:end|finish)\s+(?:{OBJ}\s+)?with\s+a\s+{_PS_WORD}\s+(?:that\s+)?(?:starting|beginning|starts|begins)\s+with\s+{Q}?{_PSM}{Q}?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contain|contains|include|includes|have|has)\s+a\s+{_PS_WORD}\s+(?:that\s+)?(?:starting|beginning|starts|begins)\s+with\s+{Q}?{_PSM}{Q}?{_AT_END}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends)\s+with\s+a\s+(?:{_PS_WORD}|{Q}?{_PSM}{Q}?)",
    ],
    _ps_params,
)

_constrained = _kind("constrained_response")
_OPTIONS = r"(?:options|phrases|answers|responses)"
_constrained.add(
    [
        rf"(?:answer|respond|reply)\s+with\s+one\s+of\s+the\s+following\s+(?:exact\s+)?{_OPTIONS}\s*:?\s*(?P<opts>.{{3,300}})",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contain|contains|include|includes|be|is)\s+one\s+of\s+the\s+following\s+(?:exact\s+)?{_OPTIONS}\s*:?\s*(?P<opts>.{{3,300}})",
    ],
    lambda m: _options(m.group("opts")),
)


def _options(text: str) -> dict[str, Any] | None:
    """Options listed in quotes (or as a Python tuple of strings); ``None`` unless at least two are read so."""
    body = text.strip().strip("()[]").strip()
    items = re.findall(r"[\"“”]([^\"“”]{1,120})[\"“”]|'([^']{1,120})'", body)
    options = [a or b for a, b in items]
    rest = re.sub(r"[\"“”][^\"“”]{1,120}[\"“”]|'[^']{1,120}'|[\s,]|\bor\b", "", body)
    if not items:  # "My answer is yes., My answer is no., My answer is maybe." (its final stop was trimmed)
        options = [o for o in re.split(r"(?<=[.!?]),?\s+(?:or\s+)?", body) if o]
        if len(options) > 1 and options[-1][-1:] not in ".!?" and len({o[-1] for o in options[:-1]}) == 1:
            options[-1] += options[0][-1]
        rest = "" if all(re.fullmatch(r"[^,\"“”']{2,120}[.!?]", o) for o in options) else "x"
    if len(options) < 2 or rest:
        return None
    return {"options": [o.strip() for o in options]}


_PLACE = (
    rf"(?:\s+(?:in|into|on)\s+(?:it|there|{OBJ}|the\s+(?:post|message|e-?mail|note|letter|flyer|ad|advert|blurb|"
    r"caption|announcement|invitation|invite|description|bio|listing|poster|tweet|update|notice|draft|copy|text)))?"
    r"(?:\s+(?:somewhere|too|as\s+well))?"
)
"""Where something goes when that is the whole text written ("in the post", "on the flyer"), never a part of it."""
_PURPOSE = r"(?:\s+for\s+(?:questions|enquiries|inquiries|bookings|orders|support|more\s+info(?:rmation)?|more\s+details|details))?"
"""What a contact detail is for ("an email address for questions"): nothing to check."""


def _contains_kind(name: str, noun: str, *, extra_nouns: str = "") -> None:
    """Phrasings of "include/give a <noun>" and "the answer contains a <noun>" for an everyday kind."""
    _kind(name).add(
        [
            rf"there\s*(?:'s|\s+is|\s+should\s+be|\s+must\s+be|\s+needs\s+to\s+be)\s+(?:at\s+least\s+one\s+|an?\s+)"
            rf"(?:{noun}{extra_nouns}){_PURPOSE}{_PLACE}",
            rf"(?:include|add|give|provide|contain|list|share|put)\s+(?:at\s+least\s+one\s+|an?\s+|your\s+)?(?:{noun}{extra_nouns}){_PURPOSE}{IN_OBJ}?",
            rf"(?:{SUBJ}\s+)?(?:{MODAL}\s+)?(?:contains?|includes?|has|have|gives?|lists?)\s+(?:at\s+least\s+one\s+|an?\s+)?{noun}",
        ],
        lambda m: {},
    )


_contains_kind(
    "contains_url",
    r"(?:url|web\s+link|link\s+\(url\)|web\s+address|hyperlink|http\s+link)",
    extra_nouns=r"|link(?:\s+to\s+(?:the|a|an|our|your|their|my|its)\s+(?:web\s*)?(?:site|page|website|homepage|article|video|source|form|shop|store))?",
)
_contains_kind(
    "contains_email", r"(?:(?:contact|support)\s+e-?mail(?:\s+address)?|e-?mail\s+address|e-?mail\s+contact)"
)
_contains_kind(
    "contains_phone_number", r"(?:(?:tele)?phone\s+number|contact\s+number|mobile\s+number|cell(?:\s+phone)?\s+number)"
)

_GIVEN_LIT = (
    rf"(?:\((?!\d)\s*|<)?{Q}?(?P<v>"
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
    r"|(?:https?://|www\.)[^\s()<>\"',]+"
    r"|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,6}(?:/[^\s()<>\"',]*)?"
    r"|\+?\(?\d[\d ().-]{3,22}\d"
    rf"){Q}?(?:\s*\)|>)?"
)
"""An e-mail address, URL, bare domain or phone number written out in the requirement (group ``v``)."""
_GIVEN_NOUNS = {
    "contains_email": r"(?:(?:contact|support|work|business|personal|new)\s+)?e-?mail(?:\s+address)?",
    "contains_url": r"(?:link(?:\s+to\s+(?:the|our|my|your|their|his|her|its)\s+(?:web\s*|[a-z]+\s+)?(?:site|page|homepage|shop|store|menu|form))?"
    r"|url|web\s*site(?:\s+address)?|site|web\s+address|homepage|web\s+page)",
    "contains_phone_number": r"(?:(?:tele)?phone(?:\s+number)?|(?:contact|mobile|cell|office|work|home|direct)\s+(?:phone\s+)?number"
    r"|(?:office|phone|contact|main|direct|support)\s+line"
    r"|number)",
}
_GIVEN_NOUN = "(?P<noun>" + "|".join(_GIVEN_NOUNS.values()) + ")"
_GIVEN_DET = r"(?:my|our|the|his|her|their|your|this|that|its|an?)"
_GIVEN_BE = (
    rf"(?:(?:{MODAL}\s+)?(?:be|is)\s+(?:in\s+(?:there|it)|included|mentioned|listed|given|present|(?=in\s|on\s))"
    rf"|(?:{MODAL}\s+)?(?:appears?|shows?\s+up|gets?\s+(?:in|included|mentioned)))"
)


def _given_params(kind: str) -> Params:
    """The ``value`` of a :data:`_GIVEN_LIT` of ``kind``'s type, named by no noun of another kind."""

    def params(m: re.Match[str]) -> dict[str, Any] | None:
        value = m.group("v").strip()
        noun = m.groupdict().get("noun")
        if noun and not re.fullmatch(_GIVEN_NOUNS[kind], noun, re.IGNORECASE):
            return None
        if kind == "contains_email":
            ok = "@" in value
        elif kind == "contains_phone_number":
            ok = "@" not in value and _kinds.phone_numbers(value) == [value]
        else:  # a bare domain ("greenleafcafe.com") is a URL only where a noun says so
            ok = (
                "@" not in value
                and not value[:1].isdigit()
                and (re.match(r"(?:https?://|www\.)", value, re.IGNORECASE) is not None or noun is not None)
            )
        return {"value": value} if ok else None

    return params


for _given_kind in _GIVEN_NOUNS:
    _kind(_given_kind).add(
        [
            rf"(?:include|add|put|give|mention|list|share|insert|provide|drop|write)\s+(?:(?:them|him|her|people|customers|readers|everyone)\s+)?"
            rf"(?:{_GIVEN_DET}\s+)?(?:{_GIVEN_NOUN}\s*[,:]?\s*)?{_GIVEN_LIT}{_PLACE}",
            rf"(?:{_GIVEN_DET}\s+)?{_GIVEN_NOUN}\s*[,:]?\s*{_GIVEN_LIT}\s*,?\s+{_GIVEN_BE}{_PLACE}",
            rf"{_GIVEN_LIT}\s+{_GIVEN_BE}{_PLACE}",
            rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:include|includes|contain|contains|mention|mentions|give|gives|list|lists|have|has)\s+"
            rf"(?:{_GIVEN_DET}\s+)?(?:{_GIVEN_NOUN}\s*[,:]?\s*)?{_GIVEN_LIT}(?:\s+(?:somewhere|too|as\s+well))?",
        ],
        _given_params(_given_kind),
    )

_number = _kind("contains_number")
_number.add(
    [
        rf"(?:{SUBJ}\s+)?(?:{MODAL}\s+)?(?:contains?|includes?|has|have|mentions?)\s+(?:at\s+least\s+one\s+|a\s+)(?:number|numeral|digit|numeric\s+value)",
        rf"(?:include|use|mention|give|put|add)\s+(?:at\s+least\s+one\s+|an?\s+)(?:actual\s+|real\s+|specific\s+)?(?:number|numeral|digit|numeric\s+value){IN_OBJ}?",
        rf"there\s*(?:'s|\s+is|\s+should\s+be|\s+must\s+be|\s+needs\s+to\s+be)\s+(?:at\s+least\s+one\s+|an?\s+)(?:actual\s+|real\s+|specific\s+)?(?:number|numeral|digit){_PLACE}",
    ],
    lambda m: {},
)


# -- normalising, gates and matching ------------------------------------------------------------

_LEAD = re.compile(
    r"^(?:please|kindly|also|additionally|finally|moreover|in\s+addition|importantly|note|important|requirement|constraint"
    r"|make\s+sure(?:\s+that)?(?:\s+(?:to|you))?|ensure(?:\s+that)?|be\s+sure(?:\s+(?:that|to))?|remember(?:\s+to)?|don't\s+forget\s+to"
    r"|you\s+(?:must|should|need\s+to|have\s+to|are\s+required\s+to)|in\s+this\s+task"
    r"|in\s+(?:your|the)\s+(?:entire\s+|whole\s+)?(?:answer|response|reply|output)"
    r"|it\s+is\s+(?:important|essential|required)\s+(?:that|to)|i\s+(?:want|need)\s+you\s+to|i\s+would\s+like\s+you\s+to"
    r"|i\s+(?:want|need|would\s+like|'d\s+like)(?!\s+(?:you|to|it|a|an|the|some|something)\b)"
    r"|(?:keep|make|i\s+(?:want|need|'d\s+like|would\s+like))\s+it\s+(?:short|brief|concise|tight)(?=\s*[,:])"
    r"|i\s+(?:want|need|'d\s+like|would\s+like)\s+it(?=\s+(?:in|between|under|below|within)\s)"
    r")\s*[,:]?\s+",
    re.IGNORECASE,
)
_ASKED = re.compile(
    r"^(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?(?P<rest>[a-z][^?]*?)\s*\??$", re.IGNORECASE
)
"""A request put as a question ("Can you end it with a question?"): the imperative it asks for, not a permission."""
_TAIL_POLITE = re.compile(
    r"(?:,?\s+(?:please|pls|plz|thanks|thx|thank\s+you)|\s+for\s+(?:me|this|this\s+one)|(?<!\bbe)(?<!\bis)\s+(?:in\s+there|in\s+it)"
    r"|,\s*(?:ok|okay|alright)\??)$",
    re.IGNORECASE,
)
_REASON = re.compile(
    r"(?:,\s*(?:it\s+is|this\s+is|that\s+is)\s+for\s+(?:a|an|the|my|our|your|their|his|her)\s+[a-z][\w\s'-]{0,60}"
    r"|,?\s+(?:so(?:\s+that)?\s+|that\s+)?(?:people|they|customers|clients|readers|guests|folks|anyone|someone|i|we)"
    r"\s+can\s+(?:call|reach|contact|email|text|find|write\s+to)(?:\s+(?:us|me|them|him|her|it))?(?:\s+back)?)$",
    re.IGNORECASE,
)
"""A closing reason that adds nothing to check: "..., it's for a sign", "... so people can reach us"."""
_COMMENT = re.compile(
    r"(?:(?:,\s*|\s+)(?:so(?:\s+that)?\s+(?=(?:it|they|people|readers|customers|clients|folks|everyone|he|she|we|i|you)\s)"
    r"|because\s+|since\s+|cause\s+|cuz\s+)(?P<why>[^,;:]+)"
    r"|,\s*(?:it|this|that|they|these|those)\s+(?:is|are|was|goes|go|will\s+be|sounds?|looks?|seems?|feels?)\s+(?P<what>[^,;:]+)"
    r"|,\s*(?:my|our|his|her|their)\s+(?P<who>[a-z]+(?:\s+[a-z]+)?\s+(?:is|are|was|were|said|says|asked)\s+[^,;:]+)"
    r"|\s+for\s+(?:my|our|his|her|their|a|an)\s+(?P<whom>[^,;:]+)"
    r"|(?:[.!]\s+|,\s*)(?:seriously|lol|haha)(?:[,.!]?\s*(?:lol|haha))?"
    r"|[.!?]\s+(?:it|this|that)\s+is\s+(?:for|going\s+(?:on|in|to|into))\s+(?P<use>[^,;:.!?]+)"
    r")[.!]?$",
    re.IGNORECASE,
)
"""A closing comment that adds nothing to check: a reason ("so it fits on the card", "because my boss asked"),
what the text is ("it's a formal letter", "for my grandmother") or an aside ("Seriously.", ", lol")."""
_PART_WORDS = (
    r"words?|sentences?|paragraphs?|points?|titles?|headings?|headlines?|subject|lines?|sections?|intro\w*|conclusion|"
    r"summary|signature|caption|items?|lists?|first|second|third|last|final|each|every|opening|closing|ending|beginning|"
    r"start|end|part|half|letters?|characters?|pages?"
)
"""Words that name a unit or a part of the response."""
_COMMENT_KEEPS = re.compile(
    r"\d|[\"“”`<>\[\]*#]|\b(?:not?|never|don't|doesn't|must|should|shall|needs?|has\s+to|have\s+to|only|exact(?:ly)?|least|"
    r"most|more\s+than|less\s+than|fewer|under|over|max(?:imum)?|min(?:imum)?|commas?|capital\w*|upper\w*|lower\w*|case|language|"
    r"bullets?|links?|url|e-?mails?|phones?|numbers?|questions?|json|quot\w*|exclamation|marks?|highlight\w*|"
    r"placeholders?|postscript|p\.?\s?s|starts?|ends?|begins?|finish\w*|"
    rf"include\w*|mention\w*|use|using|say|write|written|{_PART_WORDS}|{_LANG_NAMES})\b",
    re.IGNORECASE,
)
"""Words that make a closing clause something to check or a part to check on: such a clause is no comment."""


_OUTCOME = re.compile(
    r"\b(?:sounds?|seems?|looks?|feels?|comes?\s+across|reads?|stays?|remains?|becomes?|gets?|is|are|be|isn't|aren't)\b",
    re.IGNORECASE,
)
"""A result the text is meant to have ("so it sounds friendly", "so it's clear"): a requirement, not a reason."""


def _without_comment(text: str) -> str:
    """``text`` without a closing comment (:data:`_COMMENT`) in which nothing is to be checked."""
    m = _COMMENT.search(text)
    if m is None or m.start() == 0 or re.search(r"[\"“”‘’`]", m.group(0)) or re.search(r":\s", text[: m.start()]):
        return text
    said = " ".join(g for g in m.groups() if g)
    told = " ".join(m.group(g) or "" for g in ("what", "who"))  # "so they can reply" is no permission
    if _COMMENT_KEEPS.search(said) or _CONDITION.search(m.group(0)) or _PERMISSION.search(told):
        return text
    if m.group("why") and _OUTCOME.search(m.group("why")):  # "so it sounds friendly" asks for friendliness
        return text
    return text[: m.start()].strip()


_EXAMPLE_MARK = (
    r"(?:such\s+as|like\s+(?:this|so|below)|like|for\s+example|for\s+instance|e\.?g\.?|i\.?e\.?|as\s+follows|example"
    r"|(?:using|in|with)\s+the\s+(?:following\s+)?(?:form|format)(?:\s+below)?|(?:with|in)\s+the\s+format\s+below)"
)
_EXAMPLE_ITEM = r"(?:\[[^\]\n]*\]|<<[^>\n]*>>|\*{1,2}[^*\n]+\*{1,2}|\"[^\"\n]*\"|“[^”\n]*”|'[^'\n]*'|`{1,3}[^`\n]*`{0,3}|\([^)\n]*\))"
_EXAMPLE = re.compile(
    rf",?\s*\(?{_EXAMPLE_MARK}\s*[:,]?\s*(?:{_EXAMPLE_ITEM}(?:\s*(?:,|and|or|\.\.\.)\s*{_EXAMPLE_ITEM})*\)?\s*[.,]?|(?:\n[^\n]*)+)?\s*$",
    re.IGNORECASE,
)
_EXAMPLE_LINE = re.compile(
    r"\s*(?:[*+\u2022-]\s+.*|\[[^\]]*\]\.?|\*{3,}|\(?[A-Za-z]+\s+\d+\)?:?|<<[^>]*>>|\"[^\"]*\"|\d+\.\s+.*|\.{3}|)\s*"
)


def _strip_example(text: str) -> str:
    """``text`` without a closing example of the format ("such as [address]", "such as:\\n* point 1").

    A block after a line break is an example only when each of its lines is a bullet, a numbered
    item, a placeholder, a divider or a "Section N" line: a line of prose may be another requirement.
    """
    m = _EXAMPLE.search(text)
    if m is None or not m.group(0).strip():
        return text
    block = m.group(0)
    if "\n" in block and not all(_EXAMPLE_LINE.fullmatch(line) for line in block.split("\n")[1:]):
        return text
    return text[: m.start()]


_PERMISSION = re.compile(
    r"\b(?:can|may|might|could|optional(?:ly)?|feel\s+free|free\s+to|allowed|permitted|permissible|welcome\s+to|"
    r"fine|ok|okay|acceptable|if\s+you\s+(?:want|like|wish|prefer)|up\s+to\s+you|you\s+do\s+not\s+have\s+to|not\s+required|"
    r"no\s+need|don't\s+need|do\s+not\s+need|needn't|prefer(?:ably)?|ideally|try\s+to|if\s+possible|where\s+possible|"
    r"recommended|suggest(?:ed)?|encouraged?)\b",
    re.IGNORECASE,
)
_PROHIBITION = re.compile(
    r"\b(?:cannot|can't|can\s+not)\b|\b(?:is|are)\s+not\s+(?:allowed|permitted)\b|\bno\s+[\w\s]{1,40}?\s+(?:(?:is|are)\s+)?allowed\b"
    r"|\bnot\s+allowed\b|\byou\s+can\s+use\s+markdown\s+ticks\b",
    re.IGNORECASE,
)
_CONDITION = re.compile(
    r"\b(?:if|unless|when|whenever|in\s+case|provided\s+that|as\s+long\s+as|except|excluding|other\s+than|apart\s+from|"
    r"depending|otherwise|whether)\b",
    re.IGNORECASE,
)
_KNOWN_IF = re.compile(r"\bas\s+if\s+it\s+was\b", re.IGNORECASE)


def normalise(text: str) -> str:
    """The text a phrasing is matched against.

    One space between words, no polite lead-in ("Please", "Make sure that") or tail (", please"),
    no example after "such as:" / "for example" (which shows the format and adds no parameter),
    no final period.
    """
    t = _strip_example(text.replace("’", "'").replace("‘", "'").strip())
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(  # outside quotes: a quoted "it's" is the user's own word
        r"(\"[^\"]*\"|“[^”]*”|(?<!\w)'.*?'(?!\w))|\bit's\b", lambda m: m.group(1) or "it is", t, flags=re.IGNORECASE
    )
    t = re.sub(
        rf"\s*\((?:{_EXAMPLE_MARK})\s*:?\s*{_EXAMPLE_ITEM}(?:\s*,\s*{_EXAMPLE_ITEM})*\s*\)", "", t, flags=re.IGNORECASE
    )
    t = _without_comment(t)
    request = _ASKED.fullmatch(t)
    if request:
        t = request.group("rest")
    for _ in range(4):
        t = _LEAD.sub("", t)
    if re.search(r":\s*[^:\"“”]{1,80}[?!]$", t):
        return t  # an unquoted phrase after a colon keeps its own final mark ("end with: Any questions?")
    t = re.sub(r"\s*[.!;:]+$", "", t).strip()
    reason = _REASON.search(t)
    if (
        reason
        and not _CONDITION.search(reason.group(0))
        and not re.search(rf"\b(?:{_PART_WORDS})\b", reason.group(0), re.I)
    ):
        t = t[: reason.start()].strip()
    t = _without_comment(t)
    t = _TAIL_POLITE.sub("", t).strip()
    t = re.sub(r"\s*[.!;:]+$", "", t).strip()
    return re.sub(r"\?$", "", t).strip() if not re.search(rf"{Q}\?{Q}$|with\s+a\s+question\s+mark\?$", t) else t


def _quoted_removed(text: str) -> str:
    """``text`` without its quoted stretches (a keyword "if" or a phrase "Can you help?" is no condition)."""
    return re.sub(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|`[^`]*`|(?<!\w)'[^']*'(?!\w)|<<[^>]*>>|\[[^\]]*\]", " ", text)


def refused(text: str) -> str | None:
    """Why ``text`` stays with the model whatever its wording (permission, a condition), or ``None``."""
    bare = _quoted_removed(text)
    if _CONDITION.search(_KNOWN_IF.sub(" ", bare)):
        return "a condition or an exception"
    if _PERMISSION.search(_PROHIBITION.sub(" ", bare)):
        return "a permission, not an obligation"
    return None


_MAX_LEN = 600


def matches(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (kind, parameters) whose phrasing matches the whole of ``text``, without duplicates."""
    if len(text) > 2 * _MAX_LEN:
        return []
    t = normalise(text)
    found: list[tuple[str, dict[str, Any]]] = []
    if not t or len(t) > _MAX_LEN:
        return found
    rests = _framed_rests(t)
    for kind in KINDS:
        patterns, cores = kind.compiled
        tries = [(p, f, t, False) for p, f in patterns] + [(p, f, r, lim) for p, f in cores for r, lim in rests]
        for pattern, params, subject, limit in tries:
            m = pattern.fullmatch(subject)
            if m is None:
                continue
            try:
                p = params(m)
            except ValueError:
                p = None
            if p is not None:
                p = {k: ("at most" if limit else "exactly") if v == BARE else v for k, v in p.items()}
            if p is not None and (kind.name, p) not in found and not refused(_without_values(t, subject, m)):
                found.append((kind.name, p))
    return found


_FREE_TEXT = ("kw", "kw2", "kws", "p", "p2", "p3", "w", "w2", "l", "l2", "v")
"""Groups that capture the user's own words (a keyword, a phrase): no gate reads inside them."""


def _without_values(text: str, subject: str, m: re.Match[str]) -> str:
    """``text`` with the user's own words that ``m`` (a match on ``subject``, a stretch of ``text``) captured blanked."""
    chars = list(subject)
    for name in _FREE_TEXT:
        if m.groupdict().get(name) is not None:
            start, end = m.span(name)
            chars[start:end] = " " * (end - start)
    return text.replace(subject, "".join(chars), 1)


# -- conjunctions -------------------------------------------------------------------------------

_SEPARATOR = re.compile(
    r"[ \t]*(?:\n|;|,\s*and\s+then|,\s*and\s+also|,\s*and|,\s*but|,|\band\s+also\b|\band\s+then\b|\band\b|\bbut\b)\s*",
    re.IGNORECASE,
)
_VERB_START = re.compile(
    r"(?:be|is|are|have|has|contain|contains|include|includes|use|uses|end|ends|start|starts|begin|begins|finish|"
    r"finishes|mention|mentions|not|never|consist|consists)\b",
    re.IGNORECASE,
)
_COUNT_START = re.compile(rf"(?:{_LESS}|{_AT_MOST}|{_AT_LEAST}|{_MORE}|{_EXACT})\s+\S|\d", re.IGNORECASE)
_OWN_VERB = re.compile(
    r"\b(?:is|are|be|should|must|will|shall|appears?|occurs?|used|allowed|needs?|has|have)\b", re.IGNORECASE
)
_SUBJECT_PREFIX = re.compile(rf"^(?P<subj>{SUBJ})\s+(?P<modal>{MODAL}|{NEG})?\s*(?P<verb>\w+)?", re.IGNORECASE)
_IMPERATIVE_PREFIX = re.compile(r"^(?P<verb>(?:do\s+not|don't|never)\s+\w+|\w+)\b", re.IGNORECASE)


def _top_level_cuts(text: str) -> list[tuple[int, int]]:
    """Where ``text`` may be cut into clauses: separators outside quotes and brackets, as (start, end)."""
    masked = list(text)
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            masked[i] = "x"
            if ch == quote:
                quote = ""
        elif ch in '"“`' or (ch == "'" and (i == 0 or not text[i - 1].isalnum())):
            quote = {"“": "”"}.get(ch, ch)
            masked[i] = "x"
        elif ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth = max(0, depth - 1)
        elif depth:
            masked[i] = "x"
    return [(m.start(), m.end()) for m in _SEPARATOR.finditer("".join(masked)) if m.start() > 0]


def _pieces(text: str) -> list[tuple[str, str]]:
    """``text`` cut at sentence ends and top-level separators: (piece, separator before it) pairs."""
    from gencomp.checks import _text

    out: list[tuple[str, str]] = []
    text = _strip_example(text.strip())
    for sentence in _text.sentences(text) if "\n" not in text else [text]:
        body = sentence.strip()
        start, sep = 0, " " if out else ""
        for a, b in _top_level_cuts(body):
            if re.match(rf"{_EXAMPLE_MARK}\b", body[b:], re.IGNORECASE):
                continue  # "..., such as [address]" belongs to what it illustrates
            out.append((body[start:a], sep))
            start, sep = b, body[a:b]
        out.append((body[start:], sep))
    return [(p.strip(), sep) for p, sep in out if p.strip()]


_MAX_PIECES = 7


def clauses(text: str) -> list[list[str]]:
    """The ways ``text`` can be read as two or more clauses, each to be recognised on its own.

    ``text`` is cut at sentence ends and at top-level ``;``, ``,`` and ``and`` (never at ``or``:
    "X or Y" is one requirement; never inside quotes or brackets); neighbouring pieces may be joined
    back ("the words river and stone"). A clause without its own subject takes the previous
    clause's: "The answer must be under 50 words and contain a title" gives "The answer must contain
    a title"; a clause that is only a count ("exactly 2 bullet points") takes the previous clause's
    subject and verb, and is no clause at all after a negated one ("Don't write more than 50 words
    and 3 sentences" stays with the model). Readings with fewer, longer clauses come first.
    """
    pieces = _pieces(text)
    if not 2 <= len(pieces) <= _MAX_PIECES:
        return []
    readings: list[list[str]] = []
    n = len(pieces)
    for mask in range(1 << (n - 1)):
        groups: list[str] = []
        current = pieces[0][0]
        for i in range(1, n):
            piece, sep = pieces[i]
            if mask & (1 << (i - 1)):
                groups.append(current)
                current = piece
            else:
                current = f"{current}{sep}{piece}"
        groups.append(current)
        if len(groups) < 2:
            continue
        carried = _with_subjects(groups)
        if carried is not None:
            readings.append(carried)
    readings.sort(key=len)
    return readings


_CARRIED_VERB = (
    r"use|write|give|keep|include|add|make|answer|respond|reply|provide|limit|put|have|list|end|start|begin|finish|"
    r"mention|say|contain|compose|send"
)
"""Verbs a count clause may take from the clause before ("Use 3 bullets and at most 50 words"); never "No"."""


def _with_subjects(pieces: list[str]) -> list[str] | None:
    out: list[str] = []
    for piece in pieces:
        p = normalise(piece)
        if out:
            prev = out[-1]
            subject = _SUBJECT_PREFIX.match(prev)
            imperative = _IMPERATIVE_PREFIX.match(prev)
            starts_modal = re.match(rf"(?:{MODAL}|{NEG})\b", p, re.IGNORECASE)
            if starts_modal and re.match(r"(?:do\s+not|don't|never)\s", p, re.IGNORECASE):
                pass  # an imperative of its own: "... and do not use any commas"
            elif starts_modal:
                if not subject:
                    return None
                p = f"{subject.group('subj')} {p}"
            elif _VERB_START.match(p) and subject:
                p = f"{subject.group('subj')} {subject.group('modal') or ''} {p}"
            elif re.match(r"(?:in|with|without|using)\s", p, re.IGNORECASE) and subject:
                p = f"{subject.group('subj')} {subject.group('modal') or 'is'} be {p}".replace(" is be ", " is ")
            elif (
                re.match(r"no\s", p, re.IGNORECASE)
                and not re.search(NEG, prev, re.IGNORECASE)
                and len({k for k, _ in matches(p)}) == 1
            ):
                pass  # a prohibition of its own after an affirmative clause: "Under 50 words and no commas"
            elif _COUNT_START.match(p) or (
                re.match(r"(?:a|an|no|one|two|three)\s", p, re.IGNORECASE) and not _OWN_VERB.search(p)
            ):
                if subject and subject.group("verb") and not re.match(NEG, subject.group("modal") or "", re.I):
                    p = f"{subject.group('subj')} {subject.group('modal') or ''} {subject.group('verb')} {p}"
                elif imperative and re.fullmatch(_CARRIED_VERB, imperative.group("verb"), re.I):
                    p = f"{imperative.group('verb')} {p}"
                elif re.search(NEG, prev, re.I) or len({k for k, _ in matches(p)}) != 1:
                    return None
        out.append(re.sub(r"\s+", " ", p).strip())
    return out
