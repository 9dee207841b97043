"""The grammar of each enforceable requirement kind, built from its ``CodeCheck.params``.

Every grammar here accepts only answers that pass the kind's code check (it may accept fewer: it is a
sufficient form, not the check itself). Where the check counts by rules that are not exact on every
text (sentences, words in scripts without spaces), the grammar keeps to a plain alphabet on which the
count is certain. The tests sample each grammar and run the check on every sample.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gencomp.constraints import _charset as cs
from gencomp.constraints import _regex as rx
from gencomp.constraints._regex import Node

__all__ = ["ENFORCEABLE", "NOT_ENFORCEABLE", "KindGrammar", "NotEnforceable", "grammar_of"]


class NotEnforceable(Exception):
    """This requirement has no grammar; the message says why."""


@dataclass(frozen=True)
class KindGrammar:
    """The grammar of one requirement. ``node`` is what is enforced: every answer it accepts passes the
    check (``exact``; when ``False``, ``rest`` says what it leaves to the check). ``outer``, when known,
    accepts every answer the check passes (and more): two requirements whose outer grammars share no
    answer contradict each other, whatever their enforced forms. ``wide``, when there is one, is an
    exact form wider than ``node``, enforced instead when ``node`` leaves no answer in common with the
    call's other requirements (``node`` steers the model better, ``wide`` combines with more).
    ``compact``, when there is one, is an exact form narrower than ``node`` whose intersections have
    far fewer states, enforced instead when a backend's grammar (GBNF, one rule per state) cannot hold
    ``node``'s intersection with the call's other requirements."""

    node: Node
    exact: bool = True
    rest: str = ""
    outer: Node | None = None
    wide: Node | None = None
    compact: Node | None = None


# -- alphabets ----------------------------------------------------------------------------------------

_LATIN = cs.intersect(cs.from_predicate("alpha", 0xC0, 0x24F), cs.from_ranges([(0xC0, 0x24F)]))
WORD: cs.Charset = cs.union(cs.from_ranges([(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x5F, 0x5F)]), _LATIN)
"""Word characters whose runs every word rule counts alike: ASCII letters, digits, ``_`` and Latin letters."""

_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
SEPARATOR: cs.Charset = cs.union(
    cs.from_chars(" \t\r\n" + _PUNCT),
    cs.from_chars("\u00ab\u00bb\u00a1\u00bf\u00b7\u2013\u2014\u2018\u2019\u201c\u201d\u2022"),
)
"""Characters that separate words under every rule: white space, ASCII punctuation and common typographic marks."""

TEXT: cs.Charset = cs.union(WORD, SEPARATOR)
"""The alphabet of the grammars that count words or sentences."""

_NEWLINE = cs.from_chars("\n\r")
_STOPS = cs.from_chars(".!?")


def _space() -> cs.Charset:
    """Every character ``str.strip()`` removes (white space)."""
    return cs.from_predicate("space", 0, 0x3000)


def _not(chars: str) -> cs.Charset:
    return cs.difference(cs.UNIVERSE, cs.from_chars(chars))


def _any_but(chars: str) -> Node:
    """One character that is none of ``chars`` (none that ends a line either, when ``chars`` has a newline)."""
    return rx.chars(_not(chars + ("\r" if "\n" in chars else "")))


CASE_LAST = 0xFF
"""The last code point the case kinds' grammars allow below general punctuation (Latin-1). Beyond it, in
Latin Extended, capitals and small letters alternate, so a class of one case lists ~200 single letters, and
llama.cpp's grammar sampler scans a class element by element for every vocabulary token it tests."""


def _cased(upper: bool) -> tuple[cs.Charset, cs.Charset]:
    """(allowed characters, letters of the required case) for the case kinds: up to :data:`CASE_LAST` and
    general punctuation, where every letter is plainly upper or lower case."""
    low = cs.from_ranges([(0, CASE_LAST)])
    letters = cs.intersect(cs.from_predicate("alpha", 0, CASE_LAST), low)
    case = cs.from_predicate("upper" if upper else "lower", 0, CASE_LAST)
    right = cs.intersect(letters, case)
    cased_other = cs.union(cs.from_predicate("upper", 0, CASE_LAST), cs.from_predicate("lower", 0, CASE_LAST))
    others = cs.difference(cs.intersect(low, cs.UNIVERSE), cs.union(letters, cased_other))
    allowed = cs.union(cs.union(right, others), cs.from_ranges([(0x2000, 0x206F)]))
    return cs.intersect(allowed, cs.UNIVERSE), right


@functools.lru_cache(maxsize=256)
def _case_variants(c: str) -> cs.Charset:
    """Every character Python's ``re.IGNORECASE`` matches for ``c`` (its cases, and the few signs that fold to it)."""
    pattern = re.compile(re.escape(c), re.IGNORECASE)
    found = [c, c.lower(), c.upper()]
    found.extend(chr(x) for x in (0x17F, 0x212A, 0x212B, 0x2126, 0x130, 0x131) if pattern.fullmatch(chr(x)))
    return cs.from_chars("".join(x for x in found if len(x) == 1))


def _word_literal(text: str) -> Node:
    """``text`` in any case, as ``re.IGNORECASE`` would match it."""
    return rx.seq(*(rx.chars(_case_variants(c)) for c in text))


TAIL = 4
"""How many separators may follow the last word (or sentence) an upper bound allows: a closing mark, a
quote, a line break. Past it the answer must end, so a model cannot wander on in punctuation alone."""


def _count_range(relation: str, n: int) -> tuple[int, int | None]:
    return {
        "less than": (0, n - 1),
        "at most": (0, n),
        "exactly": (n, n),
        "at least": (n, None),
        "more than": (n + 1, None),
    }[relation]


def _bounded(lo: int, hi: int | None, what: str) -> tuple[int, int]:
    """The counts a structural grammar produces for a relation: a range with an upper end, from at least one."""
    if hi is not None and hi < 0:
        raise NotEnforceable(f"no answer can have fewer than 0 {what}")
    if hi is None:
        hi = lo
    if hi == 0:
        raise NotEnforceable(f"an answer with no {what} has no structure to enforce; it is checked")
    return max(lo, 1), hi


# -- the kinds ------------------------------------------------------------------------------------------


def _no_comma(p: Mapping[str, Any]) -> KindGrammar:
    node = rx.star(_any_but(","))
    return KindGrammar(node, outer=node)


def _case(upper: bool) -> Callable[[Mapping[str, Any]], KindGrammar]:
    def build(p: Mapping[str, Any]) -> KindGrammar:
        allowed, letters = _cased(upper)
        body = rx.star(rx.chars(allowed))
        node = rx.seq(body, rx.chars(letters), body)
        if p.get("english", False):
            return KindGrammar(node, exact=False, rest="that the answer is in English (checked, not enforced)")
        return KindGrammar(node)

    return build


_LEADING = "\"'\u201c\u2018*_#"
"""What the starts-with check skips before the phrase, besides white space."""


def _starts_with(p: Mapping[str, Any]) -> KindGrammar:
    phrase = str(p["start_phrase"])
    # the phrase as given, or in lowercase or capitals (the check ignores case), after an opening quote or mark
    forms = rx.alt(rx.lit(phrase), rx.lit(phrase.lower()), rx.lit(phrase.upper()))
    lead = rx.opt(rx.chars(cs.from_chars(_LEADING)))
    outer = rx.seq(rx.star(rx.chars(cs.union(_space(), cs.from_chars(_LEADING)))), _word_literal(phrase))
    if phrase[-1].isalnum() or phrase[-1] == "_":  # the check wants no word character after it
        not_word = cs.difference(cs.UNIVERSE, cs.from_predicate("word", 0, 0x2FFF))
        outer = rx.seq(outer, rx.opt(rx.seq(rx.chars(not_word), rx.ANY_STAR)))
        return KindGrammar(rx.seq(lead, forms, rx.opt(rx.seq(rx.chars(SEPARATOR), rx.ANY_STAR))), outer=outer)
    return KindGrammar(rx.seq(lead, forms, rx.ANY_STAR), outer=rx.seq(outer, rx.ANY_STAR))


def _end_phrase(p: Mapping[str, Any]) -> KindGrammar:
    phrase = str(p["end_phrase"])
    if phrase[0] == '"' or phrase[-1] == '"':
        raise NotEnforceable(
            "the check strips double quotes around the answer, so a phrase that starts or ends with one"
        )
    # an answer may close a quotation after the phrase: the check strips quotes around the answer
    outer = rx.seq(rx.ANY_STAR, _word_literal(phrase), rx.star(rx.chars(cs.union(_space(), cs.from_chars('"')))))
    forms = rx.alt(rx.lit(phrase), rx.lit(phrase.lower()), rx.lit(phrase.upper()))  # the check ignores case
    return KindGrammar(rx.seq(rx.ANY_STAR, forms, rx.opt(rx.lit('"'))), outer=outer)


def _quotation(p: Mapping[str, Any]) -> KindGrammar:
    space = rx.star(rx.chars(_space()))
    return KindGrammar(
        rx.seq(rx.lit('"'), rx.ANY_STAR, rx.lit('"')), outer=rx.seq(space, rx.lit('"'), rx.ANY_STAR, rx.lit('"'), space)
    )


def _title(p: Mapping[str, Any]) -> KindGrammar:
    inner = rx.star(_any_but("\n<>"))
    title = rx.seq(rx.opt(rx.lit('"')), rx.lit("<<"), inner, _any_but("\n<> \t\r"), inner, rx.lit(">>"))
    outer = rx.seq(rx.ANY_STAR, rx.lit("<<"), rx.plus(_any_but("\n")), rx.lit(">>"), rx.ANY_STAR)
    first = rx.seq(title, rx.opt(rx.seq(rx.lit("\n"), rx.ANY_STAR)))
    return KindGrammar(first, outer=outer, wide=rx.seq(rx.ANY_STAR, title, rx.ANY_STAR))


JSON_DEPTH = 4
"""How deeply a ``json_format`` answer's objects and arrays may nest (a regular grammar needs a bound)."""

JSON_COMPACT_DEPTH = 2
"""The nesting of ``json_format``'s compact form: each level more multiplies the states of an intersection
(with a forbidden word or a keyword) by about three."""


@functools.lru_cache(maxsize=4)
def json_grammar(depth: int = JSON_DEPTH) -> Node:
    """Any JSON object or array nested at most ``depth`` deep, optionally in a ```` ```json ```` fence."""
    ws = rx.star(rx.chars(cs.from_chars(" \t\n")))
    hexd = rx.chars(cs.from_chars("0123456789abcdefABCDEF"))
    char = rx.alt(
        rx.chars(cs.difference(cs.UNIVERSE, cs.union(cs.from_chars('"\\'), cs.from_ranges([(0, 0x1F)])))),
        rx.seq(rx.lit("\\"), rx.chars(cs.from_chars('"\\/bfnrt'))),
        rx.seq(rx.lit("\\u"), hexd, hexd, hexd, hexd),
    )
    string = rx.seq(rx.lit('"'), rx.star(char), rx.lit('"'))
    digit = rx.chars(cs.from_ranges([(0x30, 0x39)]))
    digits = rx.plus(digit)
    number = rx.seq(
        rx.opt(rx.lit("-")),
        rx.alt(rx.lit("0"), rx.seq(rx.chars(cs.from_ranges([(0x31, 0x39)])), rx.star(digit))),
        rx.opt(rx.seq(rx.lit("."), digits)),
        rx.opt(rx.seq(rx.chars(cs.from_chars("eE")), rx.opt(rx.chars(cs.from_chars("+-"))), digits)),
    )
    value = rx.alt(string, number, rx.lit("true"), rx.lit("false"), rx.lit("null"))
    container = rx.EMPTY
    for _ in range(depth):
        member = rx.seq(string, ws, rx.lit(":"), ws, value, ws)
        obj = rx.seq(rx.lit("{"), ws, rx.opt(rx.seq(member, rx.star(rx.seq(rx.lit(","), ws, member)))), rx.lit("}"))
        item = rx.seq(value, ws)
        arr = rx.seq(rx.lit("["), ws, rx.opt(rx.seq(item, rx.star(rx.seq(rx.lit(","), ws, item)))), rx.lit("]"))
        container = rx.alt(obj, arr)
        value = rx.alt(value, container)
    doc = rx.seq(ws, container, ws)
    return rx.alt(doc, rx.seq(rx.lit("```json\n"), doc, rx.lit("\n```")))


def _json(p: Mapping[str, Any]) -> KindGrammar:
    space = rx.star(rx.chars(_space()))
    fence = rx.alt(*(rx.lit(f) for f in ("```json", "```Json", "```JSON", "```")))
    first = rx.chars(cs.from_chars('{["-0123456789tfnNI'))  # how any JSON text json.loads reads begins
    outer = rx.seq(space, rx.opt(rx.seq(fence, space)), first, rx.ANY_STAR)
    return KindGrammar(json_grammar(), outer=outer, compact=json_grammar(JSON_COMPACT_DEPTH))


def _constrained_response(p: Mapping[str, Any]) -> KindGrammar:
    options = [rx.lit(str(o)) for o in p["options"]]
    return KindGrammar(rx.alt(*options), outer=rx.seq(rx.ANY_STAR, rx.alt(*options), rx.ANY_STAR))


def _words(p: Mapping[str, Any]) -> KindGrammar:
    relation, n = str(p["relation"]), int(p["num_words"])
    lo, hi = _count_range(relation, n)
    if lo > 0 and hi is not None:  # exactly N: the upper bound is enforced, the lower one checked
        return _word_range({"min_words": lo, "max_words": hi})
    if lo > 0 or hi is None:
        raise NotEnforceable(
            f"{relation} {n} words is a lower bound: a grammar can only refuse to stop, and a small model then "
            "writes filler or runs out of its token budget"
        )
    if hi < 0:
        raise NotEnforceable("no answer can have fewer than 0 words")
    sep, word = rx.chars(SEPARATOR), rx.plus(rx.chars(WORD))
    # outer: at most hi runs between separators that hold a letter or digit every word rule counts (each such
    # run is at least one word under every rule, and no two share one)
    between = cs.from_predicate("nonword", 0, 0x2FFF)  # a separator under every rule (beyond: not counted)
    other = rx.star(rx.chars(cs.difference(cs.UNIVERSE, between)))
    counted = rx.seq(other, rx.chars(WORD), other)
    gap = rx.chars(between)
    before, after = rx.opt(rx.seq(rx.ANY_STAR, gap)), rx.opt(rx.seq(gap, rx.ANY_STAR))
    outer = rx.not_(rx.seq(before, counted, rx.rep(rx.seq(gap, before, counted), hi, hi), after))
    if hi == 0:
        return KindGrammar(rx.rep(sep, 0, TAIL), outer=outer)
    body = rx.seq(word, rx.rep(rx.seq(rx.plus(sep), word), 0, hi - 1), rx.rep(sep, 0, TAIL))
    return KindGrammar(rx.seq(rx.star(sep), rx.opt(body)), outer=outer)


def _word_range(p: Mapping[str, Any]) -> KindGrammar:
    lo, hi = int(p["min_words"]), int(p["max_words"])
    upper = _words({"num_words": hi, "relation": "at most"})
    if lo == 0:
        return upper
    return KindGrammar(upper.node, exact=False, rest=f"at least {lo} words (checked, not enforced)", outer=upper.outer)


def _sentences(p: Mapping[str, Any]) -> KindGrammar:
    relation, n = str(p["relation"]), int(p["num_sentences"])
    lo, hi = _count_range(relation, n)
    if lo > 0 and hi is not None:  # exactly N: at most N enforced, at least N checked
        upper = _sentences({"num_sentences": hi, "relation": "at most"})
        return KindGrammar(upper.node, exact=False, rest=f"at least {lo} sentences (checked, not enforced)")
    if lo > 0 or hi is None:
        raise NotEnforceable(
            f"{relation} {n} sentences is a lower bound: abbreviations and other rules may join what a grammar "
            "would count as two sentences"
        )
    if hi < 0:
        raise NotEnforceable("no answer can have fewer than 0 sentences")
    line = cs.difference(TEXT, _NEWLINE)  # one paragraph: a line break may end a sentence by rule
    no_word = rx.star(rx.chars(cs.difference(line, WORD)))
    no_stop = rx.star(rx.chars(cs.difference(line, _STOPS)))
    sentence = rx.seq(rx.chars(WORD), no_stop, rx.chars(_STOPS), no_word)
    last = rx.seq(rx.chars(WORD), no_stop)
    tail = rx.rep(rx.chars(cs.difference(line, WORD)), 0, TAIL)
    if hi == 0:
        return KindGrammar(tail)
    full = rx.seq(rx.rep(sentence, hi - 1, hi - 1), rx.chars(WORD), no_stop, rx.chars(_STOPS), tail)
    return KindGrammar(
        rx.seq(no_word, rx.alt(rx.rep(sentence, 0, hi - 1), rx.seq(rx.rep(sentence, 0, hi - 1), last), full))
    )


def _postscript(p: Mapping[str, Any]) -> KindGrammar:
    marker = str(p["postscript_marker"])
    space = rx.opt(rx.chars(_space()))
    if marker == "P.S.":
        found = rx.seq(_word_literal("p."), space, _word_literal("s."))
    elif marker == "P.P.S":
        found = rx.seq(_word_literal("p."), space, _word_literal("p."), space, _word_literal("s"))
    else:
        found = _word_literal(marker.lower())
    line_start = rx.opt(rx.seq(rx.ANY_STAR, rx.lit("\n")))
    node = rx.seq(line_start, rx.lit(marker), rx.ANY_STAR)
    wide = rx.seq(line_start, rx.lit(marker, ignore_case=True), rx.ANY_STAR)  # "p.s." under all lowercase
    return KindGrammar(node, outer=rx.seq(rx.ANY_STAR, found, rx.ANY_STAR), wide=wide)


def _line(first_not: str) -> Node:
    """A non-empty line whose first character is none of ``first_not`` nor white space."""
    return rx.seq(_any_but("\n \t\r" + first_not), rx.star(_any_but("\n\r")))


def _bullets(p: Mapping[str, Any]) -> KindGrammar:
    lo, hi = _bounded(*_count_range(str(p["relation"]), int(p["num_bullets"])), "bullet points")
    bullet = rx.seq(rx.lit("* "), _line("*-+\u2022"))
    node = rx.seq(bullet, rx.rep(rx.seq(rx.lit("\n"), bullet), lo - 1, hi - 1))
    # a blank line, a divider line, or one that starts with no bullet mark nor white space
    other = rx.alt(rx.opt(_line("*-+\u2022")), rx.lit("***"))
    wide = rx.seq(rx.star(rx.seq(other, rx.lit("\n"))), node, rx.star(rx.seq(rx.lit("\n"), other)))
    return KindGrammar(node, wide=wide)  # wide: lines of text around the list (a postscript, paragraphs)


def _forbidden(p: Mapping[str, Any]) -> KindGrammar:
    # Every word that starts with a forbidden one is refused too ("sky" and "skyline"): more than the check
    # forbids, but a model then picks another word instead of bending this one ("skys").
    edge = rx.chars(cs.difference(cs.UNIVERSE, WORD))  # more than every non-word character: forbids more
    uses = [rx.seq(rx.opt(rx.seq(rx.ANY_STAR, edge)), _word_literal(str(w)), rx.ANY_STAR) for w in p["forbidden_words"]]
    sep = rx.chars(SEPARATOR)
    plain = [
        rx.seq(rx.opt(rx.seq(rx.ANY_STAR, sep)), _word_literal(str(w)), rx.opt(rx.seq(sep, rx.ANY_STAR)))
        for w in p["forbidden_words"]
    ]
    return KindGrammar(rx.not_(rx.alt(*uses)), outer=rx.not_(rx.alt(*plain)))


def _include(p: Mapping[str, Any]) -> KindGrammar:
    substring = p.get("match", "word") == "substring"
    edge = rx.chars(SEPARATOR)
    parts = []
    for k in p["keywords"]:
        word = rx.lit(str(k))
        if not substring:
            word = rx.seq(rx.opt(rx.seq(rx.ANY_STAR, edge)), word, rx.opt(rx.seq(edge, rx.ANY_STAR)))
        else:
            word = rx.seq(rx.ANY_STAR, word, rx.ANY_STAR)
        parts.append(word)
    outer = rx.and_(*(rx.seq(rx.ANY_STAR, _word_literal(str(k)), rx.ANY_STAR) for k in p["keywords"]))
    return KindGrammar(rx.and_(*parts), outer=outer)


def _paragraph() -> Node:
    """One line with a word on it (not a divider, not blank)."""
    free = rx.star(_any_but("\n*"))
    return rx.seq(free, rx.chars(WORD), free)


def _paragraphs(p: Mapping[str, Any]) -> KindGrammar:
    lo, hi = _bounded(*_count_range(str(p["relation"]), int(p["num_paragraphs"])), "paragraphs")
    separator = str(p["separator"])
    if separator == "\n\n":
        between = rx.lit("\n\n")
    elif separator == "***":
        between = rx.lit("\n\n***\n\n")
    else:
        raise NotEnforceable(f"paragraphs separated by {separator!r} have no grammar here (only '***' and blank lines)")
    para = _paragraph()
    node = rx.seq(para, rx.rep(rx.seq(between, para), lo - 1, hi - 1))
    wide_para = _wide_paragraph()
    wide = rx.seq(wide_para, rx.rep(rx.seq(between, wide_para), lo - 1, hi - 1))
    return KindGrammar(node, wide=wide)  # wide: paragraphs of several lines (a bullet list, highlights)


def _wide_paragraph() -> Node:
    """Lines, each with a word on it (no blank line, no divider), and no ``***`` anywhere (nothing splits it)."""
    free = rx.star(_any_but("\n"))
    line = rx.seq(free, rx.chars(WORD), free)
    lines = rx.seq(line, rx.star(rx.seq(rx.lit("\n"), line)))
    return rx.and_(lines, rx.not_(rx.seq(rx.ANY_STAR, rx.lit("***"), rx.ANY_STAR)))


def _nth_first_word(p: Mapping[str, Any]) -> KindGrammar:
    total, nth, word = p.get("num_paragraphs"), int(p["nth_paragraph"]), str(p["first_word"])
    para = _paragraph()
    after = rx.chars(cs.from_chars(" ,.:;!?"))
    rest = rx.opt(rx.seq(after, rx.star(_any_but("\n"))))
    first = rx.seq(rx.alt(rx.lit(word), rx.lit(word.capitalize())), rest)
    before = [rx.seq(para, rx.lit("\n\n")) for _ in range(nth - 1)]
    more = rx.seq(rx.lit("\n\n"), para)
    tail = rx.star(more) if total is None else rx.rep(more, int(total) - nth, int(total) - nth)
    return KindGrammar(rx.seq(*before, first, tail))


def _placeholders(p: Mapping[str, Any]) -> KindGrammar:
    n = int(p["num_placeholders"])
    inner_free = rx.star(_any_but("[]\n"))
    placeholder = rx.seq(rx.lit("["), inner_free, _any_but("[]\n \t\r"), inner_free, rx.lit("]"))
    free = rx.star(_any_but("[]"))
    after = rx.opt(rx.seq(_any_but("[]("), free))  # "[text](url)" is a link, not a placeholder
    return KindGrammar(rx.seq(free, rx.rep(rx.seq(placeholder, after), n, n)))


def _highlights(p: Mapping[str, Any]) -> KindGrammar:
    lo, hi = _bounded(*_count_range(str(p.get("relation", "at least")), int(p["num_highlights"])), "highlights")
    inner = rx.star(_any_but("*\n"))
    highlight = rx.seq(rx.lit("*"), inner, _any_but("*\n \t\r"), inner, rx.lit("*"))
    free = rx.star(_any_but("*"))
    node = rx.seq(free, rx.rep(rx.seq(highlight, free), lo, hi))
    # wide: divider lines between the text (paragraphs separated by ***), which the check counts as none
    free_or_divider = rx.star(rx.alt(_any_but("*"), rx.lit("\n***\n")))
    wide = rx.seq(free_or_divider, rx.rep(rx.seq(highlight, free_or_divider), lo, hi))
    return KindGrammar(node, wide=wide)


def _sections(p: Mapping[str, Any]) -> KindGrammar:
    splitter = str(p["section_spliter"])
    lo, hi = _count_range(str(p.get("relation", "at least")), int(p["num_sections"]))
    if hi is None:  # at least: more markers may follow in the text
        n, text = max(lo, 1), rx.ANY_STAR
    else:  # as many as allowed, and no other marker (the check counts "Section" and a digit anywhere)
        _, n = _bounded(lo, hi, "sections")  # refuses an answer with no section at all
        digit = rx.chars(cs.from_ranges([(0x30, 0x39)]))
        marker = rx.seq(rx.ANY_STAR, rx.lit(splitter), rx.opt(rx.chars(_space())), digit, rx.ANY_STAR)
        text = rx.and_(rx.ANY_STAR, rx.not_(marker))
    parts = []
    for i in range(1, n + 1):
        parts.append(rx.lit(("" if i == 1 else "\n\n") + f"{splitter} {i}\n"))
        parts.append(text)
    node = rx.seq(*parts)
    return KindGrammar(node, wide=rx.seq(text, node))  # wide: after an opening quote


def _letters(p: Mapping[str, Any]) -> KindGrammar:
    letter, relation, n = str(p["letter"]), str(p["let_relation"]), int(p["let_frequency"])
    lo, hi = _count_range(relation, n)
    if lo > 0 or hi is None:
        raise NotEnforceable(f"{relation} {n} times is a lower bound: a grammar can only refuse to stop")
    if hi < 0:
        raise NotEnforceable("no letter can appear fewer than 0 times")
    low = cs.from_ranges([(0, 0x2FFF)])
    hits = cs.from_chars("".join(chr(x) for x in range(0x3000) if letter in chr(x).lower()))
    other = rx.star(rx.chars(cs.intersect(cs.difference(low, hits), cs.UNIVERSE)))
    return KindGrammar(rx.seq(other, rx.rep(rx.seq(rx.chars(hits), other), 0, hi)))


def _repeat_prompt(p: Mapping[str, Any], request: str | None) -> KindGrammar:
    text = p.get("prompt_to_repeat") or request
    if not text:
        raise NotEnforceable("the request to repeat is not known before generation")
    said = str(text).strip()
    outer = wide = None
    if said.isascii():  # the check: after white space, the request in any case (str.lower is plain on ASCII)
        spaces = rx.star(rx.chars(cs.from_predicate("space", 0, 0x3000)))
        any_case = rx.lit(said, ignore_case=True)
        outer, wide = rx.seq(spaces, any_case, rx.ANY_STAR), rx.seq(any_case, rx.ANY_STAR)
    return KindGrammar(rx.seq(rx.lit(said), rx.ANY_STAR), outer=outer, wide=wide)


def _keyword_frequency(p: Mapping[str, Any]) -> KindGrammar:
    keyword, relation, n = str(p["keyword"]), str(p["relation"]), int(p["frequency"])
    lo, hi = _count_range(relation, n)
    if lo > 0 or hi is None:
        raise NotEnforceable(f"{relation} {n} times is a lower bound: a grammar can only refuse to stop")
    if hi < 0:
        raise NotEnforceable("no keyword can appear fewer than 0 times")
    # every word that starts with the keyword counts (stricter than the check's whole words)
    edge = rx.chars(cs.difference(cs.UNIVERSE, WORD))
    use = rx.seq(rx.opt(rx.seq(rx.ANY_STAR, edge)), _word_literal(keyword))
    return KindGrammar(rx.not_(rx.seq(rx.rep(use, hi + 1, hi + 1), rx.ANY_STAR)))


def _contains_number(p: Mapping[str, Any]) -> KindGrammar:
    digit = rx.chars(cs.from_ranges([(0x30, 0x39)]))
    return KindGrammar(rx.seq(rx.ANY_STAR, digit, rx.ANY_STAR))


def _given(value: str, opens: str, ends: str) -> KindGrammar:
    """``value`` as given, at the start or after white space or one of ``opens``, then the end, white
    space, one of ``ends``, or one of ``.,;:`` that ends a sentence or clause."""
    before = rx.opt(rx.seq(rx.ANY_STAR, rx.chars(cs.from_chars(" \t\n" + opens))))
    space = rx.chars(cs.from_chars(" \t\n"))
    after = rx.alt(
        rx.EPS,
        rx.seq(rx.chars(cs.from_chars(" \t\n" + ends)), rx.ANY_STAR),
        rx.seq(rx.chars(cs.from_chars(".,;:")), rx.opt(rx.seq(space, rx.ANY_STAR))),
    )
    return KindGrammar(rx.seq(before, rx.lit(value), after))


def _contains_url(p: Mapping[str, Any]) -> KindGrammar:
    if p.get("value"):
        return _given(str(p["value"]), "(<\"'", ")\"'>!")
    host = rx.plus(rx.chars(cs.from_ranges([(0x30, 0x39), (0x61, 0x7A), (0x2D, 0x2E)])))
    url = rx.seq(rx.lit("https://"), host)
    return KindGrammar(rx.seq(rx.opt(rx.seq(rx.ANY_STAR, rx.chars(SEPARATOR))), url, rx.ANY_STAR))


def _ends_with_question(p: Mapping[str, Any]) -> KindGrammar:
    closing = rx.star(rx.chars(cs.from_chars("\"'\u201d\u2019)]}\u00bb*_`~ \t\r\n")))
    outer = rx.seq(rx.ANY_STAR, rx.chars(cs.from_chars("?\uff1f\u061f\u2e2e")), closing)
    return KindGrammar(rx.seq(rx.ANY_STAR, rx.lit("?"), rx.opt(rx.lit('"'))), outer=outer)


def _contains_email(p: Mapping[str, Any]) -> KindGrammar:
    if p.get("value"):
        return _given(str(p["value"]), '(<"', ")\"'>!?")  # ' may start an address
    alnum = cs.from_ranges([(0x30, 0x39), (0x61, 0x7A)])
    part = rx.rep(rx.chars(alnum), 1, 16)
    address = rx.seq(part, rx.lit("@"), part, rx.lit("."), rx.rep(rx.chars(cs.from_ranges([(0x61, 0x7A)])), 2, 6))
    before = rx.opt(rx.seq(rx.ANY_STAR, rx.chars(cs.from_chars(" \t\n"))))
    after = rx.opt(rx.seq(rx.chars(cs.from_chars(" \t\n.,;:!?)\"'")), rx.ANY_STAR))
    return KindGrammar(rx.seq(before, address, after))


def _all_of(p: Mapping[str, Any], request: str | None) -> KindGrammar:
    grammars, left = [], []
    for part in p["parts"]:
        try:
            grammars.append(grammar_of(part.kind, part.params, request=request))
        except NotEnforceable as exc:
            left.append(f"{part.kind} ({exc})")
    if not grammars:
        raise NotEnforceable(f"none of its parts has a grammar: {'; '.join(left)}")
    rest = [g.rest for g in grammars if g.rest] + [f"{x}: checked, not enforced" for x in left]
    outers = [g.outer for g in grammars if g.outer is not None]
    return KindGrammar(
        rx.and_(*(g.node for g in grammars)),
        exact=not rest,
        rest="; ".join(rest),
        outer=rx.and_(*outers) if outers else None,
    )


def _two_responses(p: Mapping[str, Any]) -> KindGrammar:
    free = rx.star(_any_but("*"))
    response = rx.seq(free, _any_but("* \t\n\r"), free)
    return KindGrammar(
        rx.seq(response, rx.lit("\n******\n"), response),
        exact=False,
        rest="that the two responses differ (checked, not enforced)",
    )


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], KindGrammar]] = {
    "no_comma": _no_comma,
    "all_lowercase": _case(upper=False),
    "all_capitals": _case(upper=True),
    "starts_with": _starts_with,
    "end_phrase": _end_phrase,
    "quotation": _quotation,
    "title": _title,
    "json_format": _json,
    "constrained_response": _constrained_response,
    "number_words": _words,
    "number_sentences": _sentences,
    "postscript": _postscript,
    "number_bullet_lists": _bullets,
    "forbidden_words": _forbidden,
    "include_keywords": _include,
    "number_paragraphs": _paragraphs,
    "nth_paragraph_first_word": _nth_first_word,
    "number_placeholders": _placeholders,
    "number_highlighted_sections": _highlights,
    "multiple_sections": _sections,
    "letter_frequency": _letters,
    "keyword_frequency": _keyword_frequency,
    "contains_number": _contains_number,
    "contains_url": _contains_url,
    "two_responses": _two_responses,
    "word_range": _word_range,
    "ends_with_question": _ends_with_question,
    "contains_email": _contains_email,
}

ENFORCEABLE: dict[str, str] = {
    "no_comma": "any text without a comma",
    "all_lowercase": "text without capitals (letters up to U+00FF), with a letter; in English: checked, not enforced",
    "all_capitals": "text without lowercase letters (up to U+00FF), with a letter; in English: checked, not enforced",
    "starts_with": "the phrase as given, in lowercase or in capitals, after an optional quote or mark, then a "
    "separator",
    "end_phrase": "anything, then the phrase as given, in lowercase or in capitals, at the very end (a closing "
    "quote allowed)",
    "quotation": "anything between a double quote at the start and one at the end",
    "title": "a title in <<...>> on the first line (after an optional quote); anywhere when the first line would "
    "leave no answer with the other requirements (a repeated request first)",
    "json_format": f"a JSON object or array, nested at most {JSON_DEPTH} deep (in a json code fence or not); at "
    f"most {JSON_COMPACT_DEPTH} deep where a GBNF grammar of its intersection with the other requirements would "
    "be too large",
    "constrained_response": "exactly one of the options",
    "number_words": "at most N words (fewer than, at most; exactly N: at most N, and N is checked): plain "
    "letters, digits and punctuation; after the last word allowed, at most 4 more characters",
    "number_sentences": "at most N sentences (fewer than, at most; exactly N: at most N, and N is checked): one "
    "paragraph, sentences end with . ! ?; after the last sentence allowed, at most 4 more characters",
    "postscript": "a line starting with the marker; in any case when its own case would leave no answer with the "
    "other requirements (all lowercase)",
    "number_bullet_lists": "exactly N (or up to N) '* ' bullet lines and nothing else; with lines of text (or *** "
    "dividers) before and after them when the list alone would leave no answer with the other requirements",
    "forbidden_words": "text where no word starts with one of the words, in any case (stricter than the check)",
    "include_keywords": "text with each keyword between separators",
    "number_paragraphs": "N one-line paragraphs, separated by the divider or blank lines; paragraphs of several "
    "lines (no blank line, no ***) when one-line ones would leave no answer with the other requirements (a list)",
    "nth_paragraph_first_word": "one-line paragraphs, paragraph n starting with the word",
    "number_placeholders": "exactly N placeholders in square brackets",
    "number_highlighted_sections": "exactly N *highlighted* sections (up to N: fewer than, at most); with *** "
    "divider lines when that alone would leave no answer with the other requirements (paragraphs)",
    "multiple_sections": "N sections headed 'Section 1'... on their own lines (exactly, at most: no other marker in "
    "the text); after any opening (a quote) when that alone would leave no answer with the other requirements",
    "letter_frequency": "the letter at most N times (fewer than, at most)",
    "keyword_frequency": "at most N words starting with the keyword (fewer than, at most)",
    "contains_number": "a digit somewhere",
    "contains_url": "an https:// address somewhere, after a separator; a given URL as written, between separators",
    "repeat_prompt": "the request, word for word, then anything; in any case when the request's own case would leave "
    "no answer with the other requirements",
    "two_responses": "two responses around a ****** line; that they differ is checked",
    "word_range": "at most the larger number of words, as number_words; the smaller is checked",
    "ends_with_question": "anything, then a question mark at the very end (a closing quote allowed)",
    "contains_email": "a plain address (name@domain.tld, letters and digits) between separators; a given address "
    "as written",
    "all_of": "the intersection of its parts' grammars; parts without one are checked",
}
"""What the grammar of each enforceable kind accepts (every answer it accepts passes the check)."""

NOT_ENFORCEABLE: dict[str, str] = {
    "response_language": "a language is a statistical judgement (py3langid), not a grammar",
    "capital_word_frequency": "a count of words in capitals needs each word's whole spelling, which the "
    "word rules of the check and the model's tokens split differently; not implemented",
    "contains_phone_number": "not implemented: what counts as a phone number (7 to 15 digits in groups, no dates, "
    "versions or ISBNs), or a given one (its digits, however grouped), is checked",
}
"""Kinds without a grammar, and why (lower bounds of words, sentences and letters are refused per call, saying why)."""


def grammar_of(kind: str, params: Mapping[str, Any], *, request: str | None = None) -> KindGrammar:
    """The grammar of the requirement of ``kind`` with ``params``; :class:`NotEnforceable` says why there is none."""
    if kind == "repeat_prompt":
        return _repeat_prompt(params, request)
    if kind == "all_of":
        return _all_of(params, request)
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise NotEnforceable(NOT_ENFORCEABLE.get(kind, f"the kind {kind!r} has no grammar"))
    try:
        return builder(params)
    except (KeyError, TypeError, ValueError) as exc:
        raise NotEnforceable(f"its parameters {dict(params)} have no grammar: {exc}") from exc


def kinds_table(rows: Sequence[tuple[str, str]]) -> str:
    """A markdown table of ``rows`` (kind, text)."""
    return "\n".join(f"| `{k}` | {v} |" for k, v in rows)
