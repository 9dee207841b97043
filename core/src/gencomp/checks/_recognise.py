"""Recognise a plain-text requirement that states a built-in kind unambiguously.

Precision first: a text is recognised only when the *whole* text (after trimming white space, a
final ``.``/``!``/``?`` and a polite lead-in such as "Please") matches one phrasing of one kind,
with every parameter read from it. Anything more ("Answer in fewer than 20 words and mention
Paris"), anything vaguer ("Keep it short", "Answer in 20 words") and anything negated in a way the
phrasing does not cover is not recognised, and stays with the model.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gencomp.checks import _language

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

ANS = r"(?:answer|response|reply|output|text|result|summary|description|explanation|message|essay|story|article|email|template)"
SUBJ = rf"(?:(?:the|your)\s+(?:entire\s+|whole\s+|full\s+|final\s+|complete\s+)?{ANS})"
MODAL = r"(?:must|should|shall|has\s+to|have\s+to|needs\s+to|need\s+to|is\s+to|will|ought\s+to|can|may)"
BE = rf"(?:{MODAL}\s+(?:be\s+)?|is\s+|are\s+|be\s+)"
OBJ = rf"(?:it|{SUBJ}|(?:your|the)\s+(?:answers?|responses?|replies|outputs?))"
TELL = r"(?:answer|respond|reply|write|compose|give\s+(?:your|an|the)\s+answer|provide\s+(?:your|an|the)\s+answer)"
Q = r"[\"'“”‘’`]"

# Count phrases: (relation, regex with a named group n), tried in order.
_LESS = r"(?:fewer|less|shorter)\s+than|under|below|beneath"
_AT_MOST = (
    r"at\s+most|no\s+more\s+than|not\s+more\s+than|no\s+longer\s+than|not\s+longer\s+than|up\s+to|"
    r"a\s+maximum\s+of|maximum\s+of|maximum|max\.?|not\s+exceeding|within|no\s+greater\s+than"
)
_AT_LEAST = (
    r"at\s+least|no\s+fewer\s+than|no\s+less\s+than|not\s+fewer\s+than|not\s+less\s+than|"
    r"a\s+minimum\s+of|minimum\s+of|minimum|min\.?|no\s+shorter\s+than"
)
_MORE = r"more\s+than|over|longer\s+than|above|in\s+excess\s+of|upwards\s+of"
_EXACT = r"exactly|precisely"
_REL_WORDS = [
    ("less than", _LESS),
    ("at most", _AT_MOST),
    ("at least", _AT_LEAST),
    ("more than", _MORE),
    ("exactly", _EXACT),
]


def _count_core(unit: str, *, bare: bool, relations: tuple[str, ...] | None = None) -> str:
    """One regex for every phrasing of "<relation> N <unit>"; :func:`_read_count` reads it back."""
    forms: list[tuple[str, str]] = [(rel, rf"(?:{words})\s+{{n}}\s+{unit}") for rel, words in _REL_WORDS]
    forms += [
        ("at most", rf"{{n}}\s+{unit}\s+or\s+(?:fewer|less)"),
        ("at most", rf"{{n}}\s+or\s+(?:fewer|less)\s+{unit}"),
        ("at most", rf"{{n}}\s+{unit}\s+(?:at\s+most|at\s+the\s+most|max(?:imum)?\.?|tops)"),
        ("at least", rf"{{n}}\s+{unit}\s+or\s+more"),
        ("at least", rf"{{n}}\s+or\s+more\s+{unit}"),
        ("at least", rf"{{n}}\s+{unit}\s+(?:at\s+least|minimum|min\.?)"),
        ("exactly", rf"{{n}}\s+{unit}\s+exactly"),
    ]
    if bare:
        forms.append(("exactly", rf"{{n}}\s+{unit}"))
    alts = [
        form.replace("{n}", rf"(?P<n_{i}_{rel.replace(' ', '_')}>{NUM})")
        for i, (rel, form) in enumerate(forms)
        if relations is None or rel in relations
    ]
    return "(?:" + "|".join(alts) + ")"


def _read_count(m: re.Match[str]) -> tuple[int, str]:
    """The count and relation matched by a :func:`_count_core` regex."""
    for name, value in m.groupdict().items():
        if name.startswith("n_") and value is not None:
            return parse_number(value), name.split("_", 2)[2].replace("_", " ")
    raise ValueError("no count matched")


_TAIL = r"(?:\s+(?:long|in\s+length|in\s+total|total|only))?"
_LIMIT_FRAME = rf"(?:limit|keep|restrict|cap)\s+{OBJ}\s+to\s+"
"""The one frame in which a bare count ("Limit your answer to 5 bullet points") is an upper bound."""
_FRAMES: list[tuple[str, str]] = [
    (_LIMIT_FRAME, _TAIL),
    (rf"(?:{TELL}|keep\s+{OBJ}|use|be|make\s+{OBJ}|write\s+{OBJ}|give|provide)(?:\s+(?:in|with|using))?\s+", _TAIL),
    (
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:be|is|are|has|have|contains?|uses?|consists?\s+of|includes?|runs?|stays?|remains?|comprises?)\s+",
        _TAIL,
    ),
    (rf"{SUBJ}\s+{BE}?(?:written\s+)?(?:in|with)\s+", _TAIL),
    (rf"{SUBJ}\s+(?:length\s+)?{BE}?", _TAIL),
    (r"(?:use|write)\s+", rf"\s+(?:in|for)\s+{OBJ}"),
    (r"there\s+(?:should|must)\s+be\s+", _TAIL),
    (r"(?:include|add|insert|put)\s+", rf"(?:\s+in\s+{OBJ})?"),
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
) -> None:
    def params(m: re.Match[str]) -> dict[str, Any]:
        n, rel = _read_count(m)
        return {param: n, rel_param: rel}

    kind.add_framed(_count_core(unit, bare=bare, relations=relations), params)


# -- number_words / number_sentences / number_paragraphs / number_bullet_lists ------------------

_words = _kind("number_words")
_counted(_words, r"words?", "num_words", bare=False)
_words.add(
    [
        rf"(?:do\s+not|don't|never)\s+(?:exceed|go\s+(?:over|beyond|past))\s+(?P<n>{NUM})\s+words?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:not|never)\s+(?:exceed|go\s+(?:over|beyond))\s+(?P<n>{NUM})\s+words?",
        rf"(?:do\s+not|don't|never)\s+(?:use|write)\s+more\s+than\s+(?P<n>{NUM})\s+words?",
        rf"limit\s+{OBJ}\s+to\s+(?P<n>{NUM})\s+words?",
        rf"(?:a\s+)?(?:maximum\s+)?(?:word\s+(?:limit|count)|length)\s*(?:of|:|is)\s*(?P<n>{NUM})(?:\s+words?)?(?:\s+max(?:imum)?)?",
        rf"(?P<n>{NUM})[- ]word\s+(?:limit|maximum|max)",
    ],
    lambda m: {"num_words": parse_number(m.group("n")), "relation": "at most"},
)
_words.add(
    [
        rf"(?:do\s+not|don't|never)\s+(?:use|write)\s+(?:fewer|less)\s+than\s+(?P<n>{NUM})\s+words?",
        rf"(?P<n>{NUM})[- ]word\s+minimum",
    ],
    lambda m: {"num_words": parse_number(m.group("n")), "relation": "at least"},
)

_SENT = r"(?:complete\s+|full\s+)?sentences?"
_sentences = _kind("number_sentences")
_counted(_sentences, _SENT, "num_sentences", bare=True)
_sentences.add(
    [
        rf"(?:{TELL}|keep\s+{OBJ}|explain\s+(?:it|this))\s+in\s+(?:a\s+single|one\s+single|just\s+one|only\s+one|one|a)\s+sentence",
        rf"{SUBJ}\s+{BE}(?:a\s+single|one\s+single|just\s+one|only\s+one|one|a)\s+sentence(?:\s+long)?",
        r"(?:a\s+single|one\s+single|just\s+one|only\s+one)\s+sentence",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:be|is|consists?\s+of|contains?)\s+(?:a\s+single|one\s+single|just\s+one|only\s+one|one|exactly\s+one)\s+sentence",
    ],
    lambda m: {"num_sentences": 1, "relation": "exactly"},
)
_sentences.add(
    [
        rf"(?:do\s+not|don't|never)\s+(?:use|write)\s+more\s+than\s+(?P<n>{NUM})\s+{_SENT}",
        rf"limit\s+{OBJ}\s+to\s+(?P<n>{NUM})\s+{_SENT}",
    ],
    lambda m: {"num_sentences": parse_number(m.group("n")), "relation": "at most"},
)

_PARA = r"paragraphs?"
_DIVIDER = r"(?:[.,;]?\s*paragraphs\s+are\s+separated\s+(?:with|by)\s+the\s+markdown\s+divider:?\s*{q}?\*\*\*{q}?|(?:,\s*|\s+)?(?:(?:and\s+)?(?:each\s+)?separated|split|divided)\s+(?:from\s+each\s+other\s+)?(?:by|with|using)\s+(?:the\s+)?(?:markdown\s+)?(?:divider|separator|horizontal\s+rule)?\s*(?::\s*)?(?:{q}?\*\*\*{q}?)(?:\s+(?:divider|separator|markdown\s+divider))?)"
_DIVIDER = _DIVIDER.format(q=Q)
_paragraphs = _kind("number_paragraphs")
_PCORE = _count_core(_PARA, bare=True)


def _para_params(sep: str) -> Callable[[re.Match[str]], dict[str, Any]]:
    def params(m: re.Match[str]) -> dict[str, Any]:
        n, rel = _read_count(m)
        return {"num_paragraphs": n, "separator": sep, "relation": rel}

    return params


_paragraphs.add_framed(_PCORE + _DIVIDER, _para_params("***"))
_paragraphs.add_framed(
    _PCORE + r"(?:(?:,\s*|\s+)(?:separated|split)\s+by\s+(?:blank|empty)\s+lines)?", _para_params("\n\n")
)

_BULLET = r"(?:markdown\s+)?(?:bullet(?:ed)?[\s-]*points?|bullets|bullet\s+items?|bulleted\s+items?)"
_bullets = _kind("number_bullet_lists")
_counted(_bullets, _BULLET, "num_bullets", bare=True)
_bullets.add(
    [
        rf"(?:{TELL}|format\s+{OBJ})\s+(?:as|in|with)\s+(?:a\s+)?(?:markdown\s+)?bullet(?:ed)?\s+list\s+(?:of|with)\s+(?:exactly\s+)?(?P<n>{NUM})\s+(?:items|points|bullets|bullet\s+points)",
        rf"(?:use|give|write|make|provide)\s+(?:a\s+)?(?:markdown\s+)?bullet(?:ed)?\s+list\s+(?:of|with)\s+(?:exactly\s+)?(?P<n>{NUM})\s+(?:items|points|bullets|bullet\s+points)",
    ],
    lambda m: {"num_bullets": parse_number(m.group("n")), "relation": "exactly"},
)

# -- counted occurrences ------------------------------------------------------------------------

_TIMES = rf"(?:(?P<rel>{_LESS}|{_AT_MOST}|{_AT_LEAST}|{_MORE}|{_EXACT})\s+)?(?:(?P<n>{NUM})\s+times?|(?P<once>once|twice|thrice))"


def _times(m: re.Match[str]) -> tuple[int, str]:
    n = {"once": 1, "twice": 2, "thrice": 3}[m.group("once").lower()] if m.group("once") else parse_number(m.group("n"))
    rel_text = re.sub(r"\s+", " ", (m.group("rel") or "exactly").lower())
    for rel, words in _REL_WORDS:
        if re.fullmatch(words, rel_text):
            return n, rel
    return n, "exactly"


_KW = rf"{Q}(?P<kw>[^\"'“”‘’`]{{1,40}}){Q}|(?P<kw2>[A-Za-z][\w-]{{0,30}})"


def _kw(m: re.Match[str]) -> str:
    return m.groupdict().get("kw") or m.groupdict().get("kw2") or ""


_kwfreq = _kind("keyword_frequency")
_kwfreq.add(
    [
        rf"(?:use|mention|include|repeat|say|write)\s+the\s+(?:key)?word\s+(?:{_KW})\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"(?:use|mention|include|repeat|say|write)\s+{Q}(?P<kw>[^\"'“”‘’`]{{1,40}}){Q}\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"(?:in\s+{OBJ},?\s+)?the\s+(?:key)?word\s+(?:{_KW})\s+(?:{MODAL}\s+)?(?:appears?|occurs?|be\s+used|be\s+mentioned|is\s+used|is\s+mentioned)\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:use|uses|mention|mentions|contain|contains|include|includes)\s+the\s+(?:key)?word\s+(?:{_KW})\s+{_TIMES}",
    ],
    lambda m: dict(zip(("frequency", "relation"), _times(m), strict=True)) | {"keyword": _kw(m)},
)

_letter = _kind("letter_frequency")
_letter.add(
    [
        rf"(?:in\s+{OBJ},?\s+)?the\s+letter\s+{Q}?(?P<l>[a-z]){Q}?\s+(?:{MODAL}\s+)?(?:appears?|occurs?|be\s+used|is\s+used)\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"(?:use|include)\s+the\s+letter\s+{Q}?(?P<l>[a-z]){Q}?\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:use|uses|contain|contains|include|includes)\s+the\s+letter\s+{Q}?(?P<l>[a-z]){Q}?\s+{_TIMES}",
    ],
    lambda m: dict(zip(("let_frequency", "let_relation"), _times(m), strict=True)) | {"letter": m.group("l").lower()},
)

_CAPS_WORDS = (
    r"(?:words?\s+(?:written\s+)?(?:in|with)\s+all\s+(?:capital\s+letters|caps|capitals|uppercase(?:\s+letters)?)|"
    r"all[- ]caps\s+words?|all[- ]capitals?\s+words?|fully\s+capitali[sz]ed\s+words?|(?:entirely\s+)?uppercase\s+words?|words?\s+in\s+(?:all\s+)?uppercase)"
)
_capfreq = _kind("capital_word_frequency")
_capfreq.add(
    [
        rf"(?:in\s+{OBJ},?\s+)?{_CAPS_WORDS}\s+(?:{MODAL}\s+)?(?:appear|occur|be\s+used)\s+{_TIMES}(?:\s+in\s+{OBJ})?",
        rf"(?:use|include|write)\s+{_CAPS_WORDS}\s+{_TIMES}",
    ],
    lambda m: dict(zip(("capital_frequency", "capital_relation"), _times(m), strict=True)),
)
_counted(_capfreq, _CAPS_WORDS, "capital_frequency", bare=True, rel_param="capital_relation")

_place = _kind("number_placeholders")
_PLACE = r"(?:square[- ]bracket(?:ed)?\s+)?placeholders?(?:\s+(?:represented\s+by|in|inside|within|using|written\s+in|enclosed\s+in|wrapped\s+in)\s+square\s+brackets)?(?:,?\s+(?:such\s+as|like|e\.g\.,?|for\s+example)\s+\[[^\]]+\])?"
_PLCORE = _count_core(_PLACE, bare=True, relations=("at least", "exactly"))
_place.add_framed(_PLCORE, lambda m: {"num_placeholders": _read_count(m)[0]})

_HIGHLIGHT = r"(?:sections?|parts?|phrases?|passages?)"
_highlight = _kind("number_highlighted_sections")
_highlight.add(
    [
        rf"highlight\s+(?:at\s+least|a\s+minimum\s+of|no\s+fewer\s+than)\s+(?P<n>{NUM})\s+{_HIGHLIGHT}(?:\s+(?:of|in)\s+{OBJ})?(?:\s+(?:with|using|in)\s+markdown)?(?:,?\s*(?:i\.e\.|e\.g\.|such\s+as|like)\s*\*[^*]+\*)?",
        rf"highlight\s+(?:at\s+least|a\s+minimum\s+of)\s+(?P<n>{NUM})\s+{_HIGHLIGHT}(?:\s+(?:of|in)\s+{OBJ})?\s+(?:with|using|in)\s+markdown(?:\s+(?:italics|asterisks))?",
        rf"(?:(?:use|include|add)\s+)?(?:at\s+least\s+)?(?P<n>{NUM})\s+(?:markdown[- ])?highlighted\s+{_HIGHLIGHT}(?:,?\s*(?:i\.e\.|e\.g\.|such\s+as|like)\s*\*[^*]+\*)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:have|has|contains?|include|includes)\s+at\s+least\s+(?P<n>{NUM})\s+(?:markdown[- ])?highlighted\s+{_HIGHLIGHT}",
    ],
    lambda m: {"num_highlights": parse_number(m.group("n"))},
)

_sections = _kind("multiple_sections")
_sections.add(
    [
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:have|has|contain|contains)\s+(?P<n>{NUM})\s+sections?[.,;]?\s+mark\s+the\s+beginning\s+of\s+each\s+section\s+with\s+{Q}?(?P<s>section|SECTION|part|PART|chapter|CHAPTER){Q}?\s+(?:x|n|\d|{Q}?x{Q}?)(?:,?\s*such\s+as:?\s+.*)?",
        rf"(?:divide|split|organi[sz]e)\s+{OBJ}\s+into\s+(?P<n>{NUM})\s+sections?(?:,|\s+and)?\s+(?:each\s+)?(?:marked|labell?ed|starting|beginning)\s+(?:with\s+)?{Q}?(?P<s>section|SECTION|part|PART)\s+(?:x|n|1){Q}?(?:,?\s+{Q}?(?:section|part)\s+2{Q}?(?:,?\s+(?:and\s+so\s+on|etc\.?))?)?",
    ],
    lambda m: {
        "num_sections": parse_number(m.group("n")),
        "section_spliter": m.group("s")
        if m.group("s") in ("SECTION", "PART", "CHAPTER")
        else m.group("s").capitalize(),
    },
)

# -- keywords -----------------------------------------------------------------------------------

_ITEM = rf"(?:{Q}[^\"'“”‘’`]{{1,40}}{Q}|[A-Za-z][\w-]{{0,30}})"
_KWS = rf"(?P<kws>{_ITEM}(?:(?:\s*,\s*and\s+|\s*,\s*|\s+and\s+){_ITEM}){{0,7}})"
_KWS_ANY = rf"(?P<kws>{_ITEM}(?:(?:\s*,\s*(?:and|or|nor)\s+|\s*,\s*|\s+(?:and|or|nor)\s+){_ITEM}){{0,7}})"


_NOT_A_KEYWORD = {"a", "an", "the", "word", "words", "keyword", "keywords", "it", "them", "both", "any"}


def _kw_list(text: str) -> list[str] | None:
    """The keywords of a list ("river, stone and 'sea'"); ``None`` when an unquoted item is no keyword ("the")."""
    items = [i.strip() for i in re.split(r"\s*,\s*(?:and|or|nor)\s+|\s*,\s*|\s+(?:and|or|nor)\s+", text.strip())]
    out = []
    for item in filter(None, items):
        quoted = re.fullmatch(rf"{Q}(.+){Q}", item)
        if quoted is None and item.lower() in _NOT_A_KEYWORD:
            return None
        out.append(quoted.group(1).strip() if quoted else item)
    return out or None


def _kw_list_params(name: str) -> Callable[[re.Match[str]], dict[str, Any] | None]:
    def params(m: re.Match[str]) -> dict[str, Any] | None:
        kws = _kw_list(m.group("kws"))
        return None if kws is None else {name: kws}

    return params


_include = _kind("include_keywords")
_include.add(
    [
        rf"(?:include|use|mention|contain)\s+(?:the\s+|these\s+|all\s+(?:of\s+)?the\s+)?(?:key)?words?\s*:?\s*{_KWS}(?:\s+in\s+{OBJ})?",
        rf"(?:include|use|mention)\s+(?:the\s+|these\s+)?keywords?\s*:?\s*{_KWS}(?:\s+in\s+{OBJ})?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:include|includes|contain|contains|use|uses|mention|mentions)\s+(?:the\s+|these\s+|all\s+(?:of\s+)?the\s+)?(?:key)?words?\s*:?\s*{_KWS}",
        rf"(?:the\s+)?(?:key)?words?\s+{_KWS}\s+(?:{MODAL}\s+)?(?:appear|be\s+included|be\s+used|be\s+mentioned|are\s+included|is\s+included)(?:\s+in\s+{OBJ})?",
        rf"(?:include|use|mention)\s+(?:the\s+)?(?:key)?words?\s+{_KWS}\s+somewhere(?:\s+in\s+{OBJ})?",
        rf"(?:include|use|mention)\s+{Q}(?P<kws>[^\"'“”‘’`]{{1,40}}){Q}(?:\s+in\s+{OBJ})?",
    ],
    _kw_list_params("keywords"),
)

_forbid = _kind("forbidden_words")
_forbid.add(
    [
        rf"(?:do\s+not|don't|never|please\s+do\s+not)\s+(?:include|use|mention|say|write)\s+(?:the\s+|these\s+|any\s+of\s+(?:the|these)\s+)?(?:key)?words?\s*:?\s*{_KWS_ANY}(?:\s+in\s+{OBJ})?",
        rf"avoid\s+(?:using\s+)?(?:the\s+|these\s+)?(?:key)?words?\s*:?\s*{_KWS_ANY}(?:\s+in\s+{OBJ})?",
        rf"(?:do\s+not|don't|never)\s+(?:include|use)\s+(?:the\s+)?keywords?\s*:?\s*{_KWS_ANY}(?:\s+in\s+{OBJ})?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:not|never)\s+(?:include|contain|use|mention)\s+(?:the\s+|any\s+of\s+the\s+)?(?:key)?words?\s*:?\s*{_KWS_ANY}",
        rf"{SUBJ}\s+(?:does\s+not|doesn't|do\s+not)\s+(?:include|contain|use|mention)\s+(?:the\s+)?(?:key)?words?\s*:?\s*{_KWS_ANY}",
        rf"(?:the\s+)?(?:key)?words?\s+{_KWS_ANY}\s+(?:{MODAL}\s+)?(?:not|never)\s+(?:appear|be\s+used|be\s+included)(?:\s+in\s+{OBJ})?",
        rf"(?:the\s+)?(?:key)?words?\s+{_KWS_ANY}\s+(?:is|are)\s+(?:forbidden|not\s+allowed|banned)",
        rf"(?:do\s+not|don't|never)\s+(?:use|say|write)\s+{Q}(?P<kws>[^\"'“”‘’`]{{1,40}}){Q}(?:\s+in\s+{OBJ})?",
    ],
    _kw_list_params("forbidden_words"),
)

# -- language and case --------------------------------------------------------------------------

_LANG_NAMES = "|".join(sorted(_language.LANGUAGES.values(), key=len, reverse=True))
_LANG = rf"(?P<lang>{_LANG_NAMES})"
_ONLY = r"(?:\s+only|\s+and\s+no\s+other\s+language(?:\s+is\s+allowed)?|,\s*no\s+other\s+language(?:\s+is)?\s+allowed|\s+\(no\s+other\s+language\))?"
_lang = _kind("response_language")
_lang.add(
    [
        rf"(?:{TELL}|speak|respond\s+only)\s+(?:{OBJ}\s+)?(?:only\s+|entirely\s+|exclusively\s+|solely\s+)?in\s+{_LANG}(?:\s+language)?{_ONLY}",
        rf"{SUBJ}\s+{BE}?(?:written\s+|entirely\s+|fully\s+|only\s+)*in\s+{_LANG}(?:\s+language)?{_ONLY}",
        rf"(?:{SUBJ}\s+)?(?:is\s+)?written\s+(?:entirely\s+|only\s+)?in\s+{_LANG}{_ONLY}",
        rf"{SUBJ}\s+{BE}?(?:entirely\s+)?in\s+the\s+{_LANG}\s+language{_ONLY}",
        rf"use\s+(?:only\s+)?(?:the\s+)?{_LANG}(?:\s+language)?(?:\s+only)?(?:\s+in\s+{OBJ})?",
        rf"(?:only\s+)?{_LANG}(?:\s+language)?\s+only",
        rf"{_LANG}\s+language\s+only",
    ],
    lambda m: {"language": _language.code_of(m.group("lang"))},
)

_IN_ENGLISH = r"(?P<en>(?:,\s*|\s+)?(?:and\s+)?in\s+english(?:,\s*and\s+|,\s*|\s+and\s+|\s+)?)?"


def _case_kind(name: str, case_words: str, *, opposite: str) -> None:
    k = _kind(name)
    letters = rf"(?:{case_words})(?:\s+letters|\s+characters|\s+case)?"
    tail = rf"(?:\s+only)?(?:[.,;]\s*no\s+(?:{opposite})\s+letters\s+(?:are\s+)?allowed)?"
    k.add(
        [
            rf"{SUBJ}\s+{BE}?(?:written\s+)?(?:entirely\s+|completely\s+|fully\s+)?{_IN_ENGLISH}(?:in\s+)?(?:all\s+|only\s+)?{letters}{tail}",
            rf"(?:{TELL}|type|reply)\s+(?:entirely\s+|only\s+|completely\s+)?{_IN_ENGLISH}(?:in|using|with)\s+(?:all\s+|only\s+)?{letters}{tail}",
            rf"(?:use\s+)?only\s+{letters}(?:\s+(?:in|for)\s+{OBJ})?",
            rf"(?:use\s+)?(?:all\s+)?{letters}\s+only(?:\s+(?:in|for)\s+{OBJ})?",
            rf"(?:in\s+)?all\s+{letters}",
            rf"(?:do\s+not|don't|never)\s+use\s+(?:any\s+)?(?:{opposite})\s+letters(?:\s+(?:in|for)\s+{OBJ})?",
            rf"no\s+(?:{opposite})\s+letters(?:\s+(?:are\s+)?allowed)?(?:\s+in\s+{OBJ})?",
        ],
        lambda m: {"english": bool(m.groupdict().get("en"))},
    )


_case_kind(
    "all_capitals",
    r"capital|capitals|caps|uppercase|upper[- ]case|block\s+capitals?",
    opposite="lowercase|lower[- ]case|small",
)
_case_kind("all_lowercase", r"lowercase|lower[- ]case|small\s+letters", opposite="capital|uppercase|upper[- ]case")

# -- punctuation, wrapping, start and end -------------------------------------------------------

_comma = _kind("no_comma")
_comma.add(
    [
        rf"(?:do\s+not|don't|never)\s+use\s+(?:any\s+)?commas(?:\s+(?:at\s+all|anywhere))?(?:\s+in\s+{OBJ})?",
        rf"(?:in\s+(?:your\s+)?(?:entire\s+|whole\s+)?{ANS},?\s+)?refrain\s+from\s+(?:the\s+use\s+of|using)\s+(?:any\s+)?commas(?:\s+in\s+{OBJ})?",
        rf"(?:avoid|no)\s+(?:using\s+)?(?:any\s+)?commas(?:\s+(?:at\s+all|allowed))?(?:\s+in\s+{OBJ})?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:not|never)\s+(?:contain|include|use|have)\s+(?:any\s+)?commas",
        rf"{SUBJ}\s+(?:contains|has|uses)\s+no\s+commas",
        rf"(?:{TELL}|write)\s+without\s+(?:using\s+)?(?:any\s+)?commas",
        rf"commas\s+are\s+not\s+allowed(?:\s+in\s+{OBJ})?",
    ],
    lambda m: {},
)

_DQ = r"(?:double\s+quot(?:ation\s+marks|es|ation\s+signs|e\s+marks)|{q}{q}|\"\s*\")".format(q='"')
_quote = _kind("quotation")
_quote.add(
    [
        rf"(?:wrap|enclose|put|surround|place)\s+(?:{OBJ}|everything)\s+(?:with|in|inside|within|between)\s+{_DQ}",
        rf"{SUBJ}\s+{BE}?(?:wrapped|enclosed|surrounded)\s+(?:with|in|by)\s+{_DQ}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:start\s+and\s+end|begin\s+and\s+end)\s+with\s+(?:a\s+)?double\s+quot(?:ation\s+mark|e)s?",
    ],
    lambda m: {},
)

_json = _kind("json_format")
_json.add(
    [
        rf"(?:{TELL}|format\s+{OBJ}|output|return|respond|(?:return|output|give|provide)\s+{OBJ})\s+(?:only\s+|entirely\s+|strictly\s+)?(?:in|as|with|using)\s+(?:valid\s+|a\s+valid\s+|well-formed\s+|a\s+)?json(?:\s+format|\s+object|\s+only)?(?:\s+only)?",
        rf"(?:{SUBJ}|the\s+entire\s+output|entire\s+output)\s+{BE}?(?:wrapped\s+in\s+|formatted\s+(?:as|in)\s+|in\s+|valid\s+|a\s+valid\s+|written\s+in\s+)*(?:valid\s+|a\s+valid\s+)?json(?:\s+format|\s+object)?(?:[.,]\s*you\s+can\s+use\s+markdown\s+ticks\s+such\s+as\s+```)?",
        rf"(?:{SUBJ}\s+{BE}?)?(?:valid|well-formed|parseable)\s+json(?:\s+only)?",
        r"json\s+(?:format\s+)?only",
        r"(?:output|return|produce|emit)\s+(?:only\s+)?(?:valid\s+)?json(?:\s+only)?",
        rf"wrap\s+(?:{OBJ}|the\s+entire\s+output|your\s+entire\s+output)\s+in\s+json(?:\s+format)?",
    ],
    lambda m: {},
)

_title = _kind("title")
_title.add(
    [
        rf"(?:include|add|give|start\s+with|begin\s+with)\s+(?:{OBJ}\s+)?a\s+title\s+(?:wrapped|enclosed|written|placed|put)?\s*(?:in|inside|within|with|between)\s+(?:double\s+angular\s+brackets|double\s+angle\s+brackets|<<\s*>>)(?:,?\s*(?:such\s+as|like|e\.g\.)\s*<<[^>]+>>)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:contain|contains|have|has|include|includes)\s+a\s+title,?\s*(?:wrapped|enclosed)?\s*(?:in|inside|within)\s+double\s+(?:angular|angle)\s+brackets(?:,?\s*(?:such\s+as|like|e\.g\.)\s*<<[^>]+>>)?",
        r"(?:put|wrap|write)\s+(?:the|a|your)\s+title\s+in\s+(?:double\s+angular\s+brackets|double\s+angle\s+brackets|<<\s*>>)(?:,?\s*(?:such\s+as|like|e\.g\.)\s*<<[^>]+>>)?",
    ],
    lambda m: {},
)

_two = _kind("two_responses")
_two.add(
    [
        r"(?:give|provide|write)\s+two\s+different\s+(?:responses|answers)[.,;]?\s*(?:responses\s+and\s+only\s+responses\s+should\s+be\s+)?separated\s+(?:them\s+)?(?:by|with)\s+(?:6|six)\s+asterisk(?:\s+symbol)?s?(?::?\s*\*{6})?",
        r"(?:give|provide|write)\s+two\s+different\s+(?:responses|answers)\s+(?:and\s+)?separate\s+them\s+(?:by|with)\s+(?:6|six)\s+asterisks?(?::?\s*\*{6})?",
        r"(?:give|provide|write)\s+two\s+different\s+(?:responses|answers)\s+separated\s+by\s+\*{6}",
    ],
    lambda m: {},
)

_repeat = _kind("repeat_prompt")
_repeat.add(
    [
        r"first\s+repeat\s+the\s+(?:request|question|prompt)\s+word\s+for\s+word(?:\s+without\s+change)?,?\s+then\s+(?:give|provide|write)\s+your\s+answer(?:\s+\(.*\))?",
        r"(?:start|begin)\s+(?:by|with)\s+repeating\s+the\s+(?:request|question|prompt)\s+(?:word\s+for\s+word|verbatim|exactly)(?:,?\s+(?:and\s+)?then\s+(?:answer(?:\s+it)?|give\s+your\s+answer))?",
        r"repeat\s+the\s+(?:request|question|prompt)\s+(?:word\s+for\s+word|verbatim)\s+(?:first|before\s+(?:answering|your\s+answer))(?:,?\s+then\s+answer(?:\s+it)?)?",
    ],
    lambda m: {},
)

_PHRASE = rf"{Q}(?P<p>[^\"“”]{{1,80}}?){Q}"
_end = _kind("end_phrase")
_end.add(
    [
        rf"(?:finish|end|conclude|close)\s+(?:{OBJ}\s+)?with\s+(?:this\s+|the\s+)?(?:exact\s+)?(?:phrase|sentence|words?|question)?\s*:?\s*{_PHRASE}(?:[.,;]?\s*no\s+other\s+words\s+should\s+follow(?:\s+(?:this|the)\s+phrase)?)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends|finish|finishes|conclude|concludes)\s+with\s+(?:the\s+(?:exact\s+)?(?:phrase|sentence|words?)\s*:?\s*)?{_PHRASE}",
        rf"(?:the\s+)?last\s+(?:words?|sentence)\s+(?:of\s+{OBJ}\s+)?(?:{MODAL}\s+)?(?:be|is)\s+{_PHRASE}",
    ],
    lambda m: {"end_phrase": m.group("p").strip()},
)
_end.add(
    [
        r"finish\s+your\s+response\s+with\s+this\s+exact\s+phrase\s+(?P<p>[^\"“”]{1,80}?)[.,]?\s+no\s+other\s+words\s+should\s+follow\s+this\s+phrase"
    ],
    lambda m: {"end_phrase": m.group("p").strip()},
)
_end.add(
    [
        r"(?:it\s+)?ends\s+with\s+a\s+question(?:\s+mark)?",
        rf"(?:finish|end|conclude|close)\s+(?:{OBJ}\s+)?with\s+a\s+question(?:\s+mark)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends|finish|finishes)\s+with\s+a\s+question(?:\s+mark)?",
        rf"(?:finish|end)\s+(?:{OBJ}\s+)?with\s+{Q}\?{Q}",
    ],
    lambda m: {"end_phrase": "?"},
)

_start = _kind("starts_with")
_start.add(
    [
        rf"(?:start|begin|open)\s+(?:{OBJ}\s+)?with\s+(?:the\s+(?:exact\s+)?(?:word|phrase|words)\s+)?{_PHRASE}",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:start|starts|begin|begins)\s+with\s+(?:the\s+(?:exact\s+)?(?:word|phrase|words)\s+)?{_PHRASE}",
        rf"(?:start|begin)\s+(?:{OBJ}\s+)?with\s+the\s+word\s+(?P<p>[A-Za-z][\w'-]*)",
        rf"the\s+first\s+word\s+(?:of\s+{OBJ}\s+)?(?:{MODAL}\s+)?(?:be|is)\s+(?:{Q}(?P<p2>[^\"“”]{{1,40}}){Q}|(?P<p3>[A-Za-z][\w'-]*))",
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
_NTH = rf"(?:paragraph\s+(?P<k>\d+|{_SMALL})|(?:the\s+)?(?P<o>{_ORDW})\s+paragraph)"
_COUNT_PARAS = rf"(?:there\s+should\s+be\s+(?P<n>{NUM})\s+paragraphs|write\s+(?:exactly\s+)?(?P<n2>{NUM})\s+paragraphs)(?:[.,]?\s*(?:paragraphs\s+and\s+only\s+paragraphs\s+are\s+separated\s+(?:with\s+each\s+other\s+)?by\s+two\s+new\s+lines(?:\s+as\s+if\s+it\s+was\s+{Q}\\n\\n{Q}\s+in\s+python)?|separated\s+by\s+(?:blank|empty)\s+lines))?[.,;]?\s*"
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
    nth = _ORD[g["o"].lower()] if g.get("o") else parse_number(g["k"])
    count = g.get("n") or g.get("n2")
    n = parse_number(count) if count else None
    if nth < 1 or (n is not None and nth > n):
        return None
    return {"num_paragraphs": n, "nth_paragraph": nth, "first_word": (g.get("w") or g.get("w2") or "").lower()}


_ps = _kind("postscript")
_PSM = r"(?P<m>p\.\s?p\.\s?s\.?|p\.\s?s\.?)"


def _ps_params(m: re.Match[str]) -> dict[str, Any]:
    marker = (m.groupdict().get("m") or "P.S.").upper().replace(" ", "")
    return {"postscript_marker": "P.P.S" if marker.startswith("P.P.S") else "P.S."}


_ps.add(
    [
        rf"(?:at\s+the\s+end\s+of\s+{OBJ},?\s+)?(?:please\s+)?(?:explicitly\s+)?(?:add|include|append|write|end\s+with)\s+a\s+(?:postscript|post\s*script)\s+(?:starting|beginning)\s+with\s+{Q}?{_PSM}{Q}?(?:\s+at\s+the\s+end(?:\s+of\s+{OBJ})?)?",
        rf"(?:add|include|append)\s+a\s+{Q}?{_PSM}{Q}?(?:\s+(?:at\s+the\s+end|to\s+{OBJ}))?",
        rf"(?:end|finish)\s+(?:{OBJ}\s+)?with\s+a\s+{Q}?{_PSM}{Q}?(?:\s+note)?",
        rf"(?:add|include|append)\s+a\s+(?:postscript|post\s*script)(?:\s+at\s+the\s+end(?:\s+of\s+{OBJ})?)?",
        rf"{SUBJ}\s+(?:{MODAL}\s+)?(?:end|ends)\s+with\s+a\s+(?:postscript|{Q}?{_PSM}{Q}?)",
    ],
    _ps_params,
)

_constrained = _kind("constrained_response")
_constrained.add(
    [
        rf"answer\s+with\s+one\s+of\s+the\s+following\s+options:?\s*\(?{Q}?my\s+answer\s+is\s+yes\.?{Q}?,?\s*{Q}?my\s+answer\s+is\s+no\.?{Q}?,?\s*(?:or\s+)?{Q}?my\s+answer\s+is\s+maybe\.?{Q}?\)?",
    ],
    lambda m: {},
)

_url = _kind("contains_url")
_url.add(
    [
        rf"(?:include|add|give|provide|contain)\s+(?:at\s+least\s+one\s+|a\s+|an?\s+)?(?:url|web\s+link|link\s+\(url\)|web\s+address|hyperlink|http\s+link)(?:\s+in\s+{OBJ})?",
        rf"(?:{SUBJ}\s+)?(?:{MODAL}\s+)?(?:contains?|includes?|has|have)\s+(?:at\s+least\s+one\s+|a\s+|an\s+)?(?:url|web\s+link|link\s+\(url\)|web\s+address|http\s+link)",
    ],
    lambda m: {},
)

_number = _kind("contains_number")
_number.add(
    [
        rf"(?:{SUBJ}\s+)?(?:{MODAL}\s+)?(?:contains?|includes?|has|have|mentions?)\s+(?:at\s+least\s+one\s+|a\s+)(?:number|numeral|digit|numeric\s+value)",
        rf"(?:include|use|mention|give)\s+(?:at\s+least\s+one\s+|a\s+)(?:number|numeral|digit|numeric\s+value)(?:\s+in\s+{OBJ})?",
    ],
    lambda m: {},
)


# -- matching -----------------------------------------------------------------------------------

_LEAD = re.compile(
    r"^(?:please|kindly|make\s+sure\s+(?:that\s+)?|ensure\s+(?:that\s+)?|be\s+sure\s+to|remember\s+to|requirement\s*:|constraint\s*:)\s*,?\s*",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """The text a phrasing is matched against: one space between words, no polite lead-in, no final period."""
    t = re.sub(r"\s+", " ", text.replace("’", "'").replace("‘", "'")).strip()
    for _ in range(2):
        t = _LEAD.sub("", t)
    t = re.sub(r"\s*[.!]+$", "", t).strip()
    return re.sub(r"\?$", "", t).strip() if not re.search(rf"{Q}\?{Q}$|with\s+a\s+question\s+mark\?$", t) else t


def matches(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (kind, parameters) whose phrasing matches the whole of ``text``, without duplicates."""
    t = normalise(text)
    found: list[tuple[str, dict[str, Any]]] = []
    if not t or len(t) > 400:
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
            if p is not None and limit:
                p = {k: "at most" if k.endswith("relation") and v == "exactly" else v for k, v in p.items()}
            if p is not None and (kind.name, p) not in found:
                found.append((kind.name, p))
    return found
