"""Sets of characters as sorted, disjoint ranges of code points: the alphabet of the constraint engine."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable

__all__ = [
    "MAX",
    "UNIVERSE",
    "Charset",
    "complement",
    "contains",
    "difference",
    "from_chars",
    "from_predicate",
    "from_ranges",
    "intersect",
    "union",
]

Charset = tuple[tuple[int, int], ...]
"""Inclusive ``(lo, hi)`` code-point ranges, sorted, disjoint and never adjacent (so equal sets are equal tuples)."""

MAX = 0x10FFFF

UNIVERSE: Charset = (
    (0x09, 0x0A),
    (0x0D, 0x0D),
    (0x20, 0x7E),
    (0xA0, 0x2027),
    (0x202A, 0xD7FF),
    (0xE000, 0xFFFD),
    (0x10000, MAX),
)
"""Every character a constrained answer may hold: tab, newline, carriage return and printable text (no other
control characters, no U+2028/U+2029 line and paragraph separators, no surrogates, no U+FFFE/U+FFFF)."""


def from_ranges(ranges: Iterable[tuple[int, int]]) -> Charset:
    """The normal form of ``ranges`` (any order, overlapping or adjacent allowed)."""
    out: list[list[int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def from_chars(chars: str) -> Charset:
    """The set of the characters of ``chars``."""
    return from_ranges((ord(c), ord(c)) for c in chars)


def union(a: Charset, b: Charset) -> Charset:
    if not a or a == b:
        return b
    if not b:
        return a
    return from_ranges((*a, *b))


def intersect(a: Charset, b: Charset) -> Charset:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def complement(a: Charset) -> Charset:
    """The characters of :data:`UNIVERSE` not in ``a``."""
    gaps = []
    start = 0
    for lo, hi in a:
        if lo > start:
            gaps.append((start, lo - 1))
        start = hi + 1
    if start <= MAX:
        gaps.append((start, MAX))
    return intersect(tuple(gaps), UNIVERSE)


def difference(a: Charset, b: Charset) -> Charset:
    return intersect(a, complement(b))


def contains(a: Charset, code: int) -> bool:
    lo, hi = 0, len(a)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid][1] < code:
            lo = mid + 1
        elif a[mid][0] > code:
            hi = mid
        else:
            return True
    return False


@functools.lru_cache(maxsize=64)
def _scan(name: str, lo: int, hi: int) -> Charset:
    pred = _PREDICATES[name]
    ranges: list[tuple[int, int]] = []
    start = None
    for code in range(lo, hi + 2):
        inside = code <= hi and pred(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append((start, code - 1))
            start = None
    return intersect(from_ranges(ranges), UNIVERSE)


_PREDICATES: dict[str, Callable[[str], bool]] = {
    "upper": str.isupper,
    "lower": str.islower,
    "alpha": str.isalpha,
    "word": lambda c: c.isalnum() or c == "_",
    "space": str.isspace,
    "nonword": lambda c: not (c.isalnum() or c == "_" or unicodedata.category(c).startswith("M")),
}


def from_predicate(name: str, lo: int = 0, hi: int = 0x2FFF) -> Charset:
    """The characters between ``lo`` and ``hi`` for which Python's ``str.<name>`` holds
    (``"upper"``, ``"lower"``, ``"alpha"``, ``"space"``, ``"word"``: ``\\w``, or ``"nonword"``: neither a
    letter, digit, underscore nor combining mark); computed once."""
    return _scan(name, lo, hi)
