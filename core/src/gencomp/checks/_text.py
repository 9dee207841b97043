"""Counting in plain text: words, sentences, paragraphs, bullets. Pure Python, no data downloads."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
# An abbreviation or initial whose period does not end a sentence.
_NO_STOP = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Ltd|Co|vs|etc|e\.g|i\.e|cf|approx|No|Fig|[A-Z])\.$", re.IGNORECASE
)


def words(text: str) -> list[str]:
    """The words of ``text``: runs of letters, digits and underscores (IFEval's ``\\w+`` tokenizer)."""
    return _WORD.findall(text)


def count_words(text: str) -> int:
    """How many words ``text`` has (see :func:`words`)."""
    return len(words(text))


def sentences(text: str) -> list[str]:
    """The sentences of ``text``.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` (repeated or followed by closing quotes and
    brackets) before white space or the end, except after a common abbreviation or a single-letter
    initial, and at a blank line or a line that is a list item or heading. Decimal numbers, URLs and
    e-mail addresses do not end sentences. Empty pieces are dropped.
    """
    pieces: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+•]|\d+[.)]|#+)\s)", text):
        start = 0
        for m in re.finditer("[.!?\u2026]+[\"'\u201d\u2019)\\]]*(?=\\s|$)", block):
            candidate = block[start : m.end()]
            if m.group(0) == "." and _NO_STOP.search(candidate):
                continue
            pieces.append(candidate)
            start = m.end()
        pieces.append(block[start:])
    return [p.strip() for p in pieces if _WORD.search(p)]


def count_sentences(text: str) -> int:
    """How many sentences ``text`` has (see :func:`sentences`)."""
    return len(sentences(text))


def paragraphs(text: str, separator: str = "\n\n") -> list[str]:
    """The non-empty paragraphs of ``text``: split at blank lines, or at a divider such as ``***``."""
    if separator == "\n\n":
        parts = re.split(r"\n\s*\n", text)
    else:
        parts = re.split(r"\s?" + re.escape(separator) + r"\s?", text)
    return [p.strip() for p in parts if p.strip()]


_BULLET = re.compile(r"^\s*(?:[*+•][^*\n]|-(?!-)).*$", re.MULTILINE)


def bullets(text: str) -> list[str]:
    """The markdown bullet points of ``text``: lines starting with ``*``, ``-``, ``+`` or ``•``."""
    return _BULLET.findall(text)


def plural(n: int, unit: str) -> str:
    """``"1 word"``, ``"2 words"``."""
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
