"""Counting in plain text: words, sentences, paragraphs, bullets, placeholders.

Pure Python, no data downloads, and linear in the length of the text: every rule looks at a bounded
window around the position it decides, and no regular expression here can backtrack over more than
one line. The rules are written down in ``core/src/gencomp/checks/TEXT-RULES.md`` and each one has a
test in ``tests/core/test_checks_text.py``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# -- words --------------------------------------------------------------------------------------

# Scripts written without spaces between words. Chinese and Japanese are counted one character per
# word (the convention of their word limits, 字数 / 文字数, and of word processors); Thai, Lao, Khmer
# and Myanmar cannot be segmented without a dictionary, so a run of them is a range of word counts.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f"
_UNSEGMENTED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"


def _ranges(codes: list[int]) -> str:
    """A regex character-class body for ``codes`` (sorted), as ranges."""
    out: list[str] = []
    start = prev = codes[0]
    for c in [*codes[1:], -1]:
        if c == prev + 1:
            prev = c
            continue
        out.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
        start = prev = c
    return "".join(out)


@functools.cache
def _word_re() -> re.Pattern[str]:
    """Words: a Chinese or Japanese character; a run of an unsegmented script; else a run of word characters and marks.

    Combining marks (Hindi vowel signs, Thai tone marks...) belong to the word they sit on; IFEval's
    ``\\w+`` splits words at them. Built on first use (it scans the Basic Multilingual Plane once).
    """
    marks = _ranges([c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)).startswith("M")])
    return re.compile(rf"[{_CJK}]|[{_UNSEGMENTED}]+|(?:(?![{_CJK}{_UNSEGMENTED}])[\w{marks}])+")


_UNSEGMENTED_RUN = re.compile(rf"[{_UNSEGMENTED}]")


def words(text: str) -> list[str]:
    """The words of ``text``.

    A word is a run of letters, digits, underscores and combining marks (IFEval's ``\\w+``, with the
    marks of Indic and other scripts kept inside their word: "don't" and "3.5" are two words each,
    as in IFEval); each Chinese or Japanese character is a word; a run of Thai, Lao, Khmer or
    Myanmar (written without spaces between words) is one item here (see :func:`word_count_range`).
    """
    return _word_re().findall(text)


def count_words(text: str) -> int:
    """How many words ``text`` has (see :func:`words`; a run of Thai, Lao, Khmer or Myanmar counts as one)."""
    return len(words(text))


def word_count_range(text: str) -> tuple[int, int]:
    """The fewest and the most words ``text`` can have: equal unless it has Thai, Lao, Khmer or Myanmar.

    A run of those scripts has at least one word and at most one per letter (no word is shorter
    than one letter); a check that holds for every count in the range is decided, else it is not.
    """
    low = high = 0
    for w in words(text):
        low += 1
        if _UNSEGMENTED_RUN.match(w):
            high += max(1, sum(1 for ch in w if unicodedata.category(ch) == "Lo"))
        else:
            high += 1
    return low, high


# -- lines and blocks ---------------------------------------------------------------------------

_DIVIDER = re.compile(r"[ \t]*(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})")
_ITEM = re.compile(
    r"[ \t]*(?:[-*+\u2022\u2023\u25e6\u25aa\u25cf\u2013\u2014]|\d{1,3}[.)]|[a-z][.)]|[A-Z]\)|\(\d{1,3}\)|\([A-Za-z]\))"
    r"[ \t]+(?=\S)"
)
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+")
_FENCE = re.compile(r"[ \t]*(?:```|~~~)")
_TABLE = re.compile(r"[ \t]*\|")
_QUOTE = re.compile(r"[ \t]*>[ \t]?")


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass
class _Block:
    """A run of lines read together: ``kind`` is ``"text"``, ``"item"``, ``"heading"`` or ``"table"``."""

    kind: str
    text: str
    last: bool = False


def _blocks(text: str) -> Iterator[_Block]:
    """The blocks of ``text``, in order: paragraphs' runs of lines, list items, headings, table rows.

    Blank lines and divider lines end a block and are no part of any; a list item, heading or table
    row starts a block of its own (without its marker); fenced code is skipped.
    """
    out: list[_Block] = []
    current: list[str] = []
    kind = "text"
    fenced = False

    def close() -> None:
        nonlocal current, kind
        if current:
            out.append(_Block(kind, "\n".join(current)))
        current, kind = [], "text"

    for line in _lines(text):
        if _FENCE.match(line):
            close()
            fenced = not fenced
            continue
        if fenced:
            continue
        if not line.strip() or _DIVIDER.fullmatch(line):
            close()
            continue
        quote = _QUOTE.match(line)
        if quote:
            line = line[quote.end() :]
        heading, item = _HEADING.match(line), _ITEM.match(line)
        if heading or _TABLE.match(line):
            close()
            out.append(_Block("heading" if heading else "table", line[heading.end() :] if heading else line))
            continue
        if item:
            close()
            kind = "item"
            current = [line[item.end() :]]
            continue
        current.append(line)
    close()
    if out:
        out[-1].last = True
    yield from out


# -- sentences ----------------------------------------------------------------------------------

_CLOSERS = "\"'\u201d\u2019)\\]\u00bb*_"
_TERMINATOR = re.compile(f"([.!?\u2026\u3002\uff01\uff1f\u0964\u061f\u06d4]+)([{_CLOSERS}]*)")
_WIDE_STOPS = frozenset("\u3002\uff01\uff1f\u0964\u061f\u06d4")
_TOKEN_BEFORE = re.compile(r"[\w.]*\w$")
_NEXT_WORD = re.compile(r"\s*[\"'\u201c\u2018(\[*_]*([\w'\u2019]+)")


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A title before a name, or a Latin abbreviation: never ends a sentence.
_NEVER_ENDS = _set(
    "mr mrs ms mx dr prof rev hon capt col gen lt sgt cmdr sen rep gov pres messrs fr "
    "e.g i.e cf viz vs approx ca esp incl excl resp"
)
# Ends a sentence unless a number follows ("No. 5", "Fig. 3", "p. 12").
_BEFORE_NUMBER = _set("no nos nr fig figs vol vols p pp ch chap sec eq art ref op pg tel ext")
# Ends a sentence when the next word starts with a capital ("etc. The", not "Apple Inc. is").
_MAY_END = _set("etc inc ltd co corp jr sr bros llc plc al a.m p.m dept est hr hrs oz lb lbs")
# An initial, an acronym with periods, "St." or "Mt.": ends a sentence only before a word that
# usually starts one ("Plan B. It works." ends; "J. K. Rowling", "the U.S. Army" do not).
_NAME_LIKE = _set("st mt")
STARTERS = _set(
    """the a an this that these those it its it's i i'm i've i'd i'll he she we they you my our your his her
    their there here but and or so yet however then in on at if when while as after before also finally first
    next now today what why how who where which is are was were do does did can could will would should let
    please thanks thank yes no one some many most all each every for to with by from not although because since
    unless once still instead overall meanwhile moreover furthermore additionally besides otherwise therefore
    thus hence indeed of"""
)
"""Words that usually start a sentence: after an initial or an acronym, they say the period ended one."""
_STRONG_STARTERS = _set(
    """the this these those it its it's i i'm i've i'd i'll he she we they you my our your his her their there
    here however then also finally next now today thanks yes"""
)
"""In a text without capital letters, only these say that a period after an initial or acronym ended a sentence."""


def _next_word(block: str, end: int) -> str | None:
    m = _NEXT_WORD.match(block, end, min(len(block), end + 60))
    return m.group(1) if m else None


def _is_starter(word: str | None, caseless: bool) -> bool:
    if word is None:
        return True
    w = word.lower().replace("\u2019", "'")
    return w in _STRONG_STARTERS if caseless else (w in STARTERS and word[0].isupper())


def _capitalised(word: str | None, caseless: bool) -> bool:
    if word is None:
        return True
    return word[0].isupper() or word[0].isdigit() or (caseless and _is_starter(word, caseless))


def _ends_sentence(block: str, m: re.Match[str], caseless: bool) -> bool:
    """Whether the terminator matched by ``m`` ends a sentence (looking at a bounded window only)."""
    stops, closers = m.group(1), m.group(2)
    if any(ch in _WIDE_STOPS for ch in stops):
        return True
    end = m.end()
    if end < len(block) and not block[end].isspace():
        return False  # 3.5, example.com, e.g.x, "?)" inside a word
    nxt = _next_word(block, end)
    if set(stops) <= {".", "\u2026"} and (len(stops) > 1 or stops == "\u2026"):
        return _capitalised(nxt, caseless)  # an ellipsis
    if stops != ".":
        # "?"/"!": a quoted question inside a sentence ('"Why?" she asked.') does not end it.
        return not (closers and nxt is not None and nxt[0].islower() and not caseless)
    before = _TOKEN_BEFORE.search(block, max(0, m.start() - 24), m.start())
    token = before.group(0).lower() if before else ""
    if not token or re.fullmatch(r"[\d.]+", token):
        return True
    if token in _NEVER_ENDS:
        return False
    if token in _BEFORE_NUMBER:
        return not (nxt is not None and nxt[0].isdigit())
    if token in _MAY_END:
        return _capitalised(nxt, caseless)
    if len(token) == 1 or token in _NAME_LIKE or re.fullmatch(r"(?:[a-z]{1,2}\.)+[a-z]{1,2}", token):
        return _is_starter(nxt, caseless)  # an initial or a dotted acronym ("U.S."), not "example.com"
    return True


_BRACKETED = re.compile(r"\[[^\]\n]*\]")
_SIGN_OFF = re.compile(
    r"(?:(?:best|kind|warm|warmest|kindest|many)\s+(?:regards|wishes|thanks)|regards|sincerely|yours(?:\s+(?:truly|sincerely|faithfully))?|"
    r"(?:all\s+)?the\s+best|best|cheers|thanks(?:\s+again)?|thank\s+you|respectfully|cordially|love|take\s+care|"
    r"with\s+(?:love|gratitude|appreciation|thanks))"
    r"(?:\s*[,!]?\s*\n\s*[\w.\[\]' -]{1,40}|\s*[,!]\s*[\w.\[\]' -]{1,40}|\s*[,!]?)",
    re.IGNORECASE,
)
_SMALL_WORDS = _set("a an the of and or in on at to for with by from vs")


_MARKED_TITLE = re.compile(r"(?:\*\*|__)[^*_\n]+(?:\*\*|__):?|<<[^\n]*>>|\*[^*\n]+\*|_[^_\n]+_")


def _heading_like(piece: str) -> bool:
    """A short line in Title Case or in capitals: a title, not a sentence (when more text follows it)."""
    core = piece.strip()
    ws = re.findall(r"[^\W\d_][\w'\u2019-]*", core)
    if not ws or len(ws) > 10 or "\n" in core:
        return False
    return all(w[0].isupper() or w.lower() in _SMALL_WORDS for w in ws) and ws[0][0].isupper()


def _counts(piece: str, block: _Block, terminated: bool) -> bool:
    """Whether ``piece`` (a stretch of a block) counts as a sentence."""
    if not any(ch.isalnum() for ch in piece):
        return False
    if not any(ch.isalnum() for ch in _BRACKETED.sub("", piece)):
        return False  # only placeholders ("[Your Name]")
    if terminated:
        return block.kind != "heading"
    if block.kind in ("heading", "table"):
        return False
    core = piece.strip().rstrip("*_ ")
    if core.endswith((",", ";")):
        return False  # a salutation ("Dear Jake,"), a sign-off ("Best regards,")
    if _SIGN_OFF.fullmatch(core):
        return False
    if core.endswith(":") and len(re.findall(r"\w+", core)) <= 3:
        return False  # a label ("Ingredients:")
    if _MARKED_TITLE.fullmatch(piece.strip()):
        return False  # a line wrapped whole in bold, italics or << >>
    return not (block.kind == "text" and not block.last and _heading_like(core))


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, by the rules of ``TEXT-RULES.md``.

    In short: a sentence ends at ``.``, ``!``, ``?`` or ``…`` (with closing quotes or brackets)
    before white space or the end, or at a full-width or Indic or Arabic stop (U+3002, U+FF01,
    U+FF1F, U+0964, U+061F, U+06D4); not after a title or Latin abbreviation
    ("Dr.", "e.g."), "No." before a number, an initial or an acronym unless a word that usually
    starts a sentence follows; an ellipsis ends one only before a capital. A blank line, a divider, a
    list item, a heading or a table row ends one. List markers ("1.", "-") are no sentence; a list
    item without a final period is one. Headings, titles, salutations and sign-offs ("Dear Jake,",
    "Best regards,"), labels ("Ingredients:") and lines holding only placeholders ("[Your Name]") are
    not sentences. Decimals, URLs and e-mail addresses do not end one.
    """
    caseless = not any(ch.isupper() for ch in text)
    out: list[str] = []
    for block in _blocks(text):
        start = 0
        b = block.text
        for m in _TERMINATOR.finditer(b):
            if not _ends_sentence(b, m, caseless):
                continue
            piece = b[start : m.end()]
            if _counts(piece, block, True):
                out.append(piece.strip())
            start = m.end()
        tail = b[start:]
        if _counts(tail, block, False):
            out.append(tail.strip())
    return out


def count_sentences(text: str) -> int:
    """How many sentences ``text`` has (see :func:`sentences`)."""
    return len(sentences(text))


# -- paragraphs, bullets, placeholders -----------------------------------------------------------


def paragraphs(text: str, separator: str = "\n\n") -> list[str]:
    """The paragraphs of ``text``.

    With ``separator="\\n\\n"``: split at blank lines and at divider lines (``***``, ``---``,
    ``___``; a divider is no paragraph). With another separator (IFEval's ``***``): split where the
    separator stands between white space (or at the start or end), not inside a longer run of its
    characters or a word (``***bold***`` is no divider). Empty pieces are dropped.
    """
    if separator == "\n\n":
        lines = _lines(text)
        parts: list[list[str]] = [[]]
        for line in lines:
            if not line.strip() or _DIVIDER.fullmatch(line):
                parts.append([])
            else:
                parts[-1].append(line)
        return [p for p in ("\n".join(ls).strip() for ls in parts) if p]
    return [p.strip() for p in split_on(text, separator) if p.strip()]


def split_on(text: str, separator: str) -> list[str]:
    """``text`` split where ``separator`` stands between white space or the text's ends (see :func:`paragraphs`)."""
    ch = re.escape(separator[0]) if len(set(separator)) == 1 else None
    run = rf"(?<!{ch})" if ch else ""
    after = rf"(?!{ch})" if ch else ""
    return re.split(rf"(?:(?<=\s)|^){run}{re.escape(separator)}{after}(?=\s|$)", text)


_BULLET = re.compile(r"[ \t]*[*+\u2022-][ \t]+\S")


def bullets(text: str) -> list[str]:
    """The markdown bullet points of ``text``: lines that start with ``*``, ``-``, ``+`` or ``•`` and a space.

    Divider lines (``***``, ``- - -``) and emphasis at the start of a line (``*word*``) are not bullets.
    """
    return [line for line in _lines(text) if _BULLET.match(line) and not _DIVIDER.fullmatch(line)]


def placeholders(text: str) -> list[str]:
    """The placeholders of ``text``: square brackets with text between them on one line, like ``[name]``.

    A markdown link's text (``[here](https://...)``) is no placeholder. Each ``[`` is matched with
    the first ``]`` after it on its line (IFEval's ``\\[.*?\\]``); scanned once, left to right.
    """
    found: list[str] = []
    for line in _lines(text):
        pos = 0
        while True:
            start = line.find("[", pos)
            if start < 0:
                break
            end = line.find("]", start + 1)
            if end < 0:
                break
            if not line.startswith("(", end + 1) and line[start + 1 : end].strip():
                found.append(line[start : end + 1])
            pos = end + 1
    return found


def plural(n: int, unit: str) -> str:
    """``"1 word"``, ``"2 words"``."""
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
