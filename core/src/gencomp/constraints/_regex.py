"""Regular expressions with intersection and complement, decided with Brzozowski derivatives.

Nodes are hash-consed (one object per distinct expression, compared by identity), and the smart
constructors keep them in a normal form (alternations and intersections are flat, ordered and free
of duplicates; sequences nest to the right) so that every expression has finitely many derivatives
and the automaton explored from it is finite. The alphabet is split into blocks: classes of characters
that no character set of the expression tells apart, so one derivative per block is enough.

From one expression this module decides emptiness, matches text, finds the shortest completion of a
prefix, and renders the expression for llguidance (a Lark terminal, where ``&`` and ``~`` are native)
and for llama.cpp (GBNF: structurally when the expression has no ``&``/``~`` once character filters are
pushed into it, else one rule per state of its automaton).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import random
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from gencomp.constraints import _charset as cs
from gencomp.constraints._charset import Charset

__all__ = [
    "EMPTY",
    "EPS",
    "Automaton",
    "Node",
    "TooLargeError",
    "alt",
    "and_",
    "chars",
    "lit",
    "not_",
    "opt",
    "plus",
    "rep",
    "seq",
    "star",
]


class TooLargeError(ValueError):
    """An automaton would have more states than allowed."""


_serial = itertools.count()
_LOCK = threading.Lock()
_TABLE: weakref.WeakValueDictionary[tuple[object, ...], Node] = weakref.WeakValueDictionary()


class Node:
    """One regular expression (build it with the module's constructors, never directly)."""

    __slots__ = ("__weakref__", "_deriv", "_min", "cs", "hi", "kids", "lo", "n", "nullable", "tag")

    tag: str
    kids: tuple[Node, ...]
    cs: Charset
    lo: int
    hi: int | None
    n: int
    nullable: bool
    _deriv: dict[int, Node]
    _min: float | None

    def __repr__(self) -> str:
        return f"<{self.tag}#{self.n}: {to_lark_expr(self)[:80]}>"


def _make(tag: str, kids: tuple[Node, ...] = (), charset: Charset = (), lo: int = 0, hi: int | None = 0) -> Node:
    key = (tag, tuple(k.n for k in kids), charset, lo, hi)
    node = _TABLE.get(key)
    if node is not None:
        return node
    with _LOCK:  # one node per expression, also when threads build the same one at once
        node = _TABLE.get(key)
        if node is not None:
            return node
        return _new(key, tag, kids, charset, lo, hi)


def _new(key: tuple[object, ...], tag: str, kids: tuple[Node, ...], charset: Charset, lo: int, hi: int | None) -> Node:
    node = Node()
    node.tag, node.kids, node.cs, node.lo, node.hi = tag, kids, charset, lo, hi
    node.n = next(_serial)
    node._deriv = {}
    node._min = None
    if tag == "eps":
        node.nullable = True
    elif tag in ("empty", "chars"):
        node.nullable = False
    elif tag == "seq":
        node.nullable = kids[0].nullable and kids[1].nullable
    elif tag == "alt":
        node.nullable = any(k.nullable for k in kids)
    elif tag == "and":
        node.nullable = all(k.nullable for k in kids)
    elif tag == "not":
        node.nullable = not kids[0].nullable
    else:  # rep
        node.nullable = lo == 0 or kids[0].nullable
    _TABLE[key] = node
    return node


EMPTY = _make("empty")
"""The empty language."""
EPS = _make("eps")
"""The language of the empty string."""
_keep = [EMPTY, EPS]  # the two constants stay in the table for the process's life


def chars(charset: Charset) -> Node:
    """One character of ``charset``."""
    return _make("chars", charset=charset) if charset else EMPTY


def seq(*parts: Node) -> Node:
    """The concatenation of ``parts``."""
    out = EPS
    for p in reversed(parts):
        out = _seq2(p, out)
    return out


def _seq2(a: Node, b: Node) -> Node:
    if a is EMPTY or b is EMPTY:
        return EMPTY
    if a is EPS:
        return b
    if b is EPS:
        return a
    if a.tag == "seq":
        return _seq2(a.kids[0], _seq2(a.kids[1], b))
    return _make("seq", (a, b))


def alt(*parts: Node) -> Node:
    """Any of ``parts``."""
    flat: dict[int, Node] = {}
    charset: Charset = ()
    for p in parts:
        for q in p.kids if p.tag == "alt" else (p,):
            if q is EMPTY:
                continue
            if q.tag == "chars":
                charset = cs.union(charset, q.cs)
            else:
                flat[q.n] = q
    if charset:
        c = chars(charset)
        flat[c.n] = c
    if ANY_STAR.n in flat:
        return ANY_STAR
    if not flat:
        return EMPTY
    if len(flat) == 1:
        return next(iter(flat.values()))
    return _make("alt", tuple(flat[k] for k in sorted(flat)))


def and_(*parts: Node) -> Node:
    """Every one of ``parts`` (intersection)."""
    flat: dict[int, Node] = {}
    single: Charset | None = None
    for p in parts:
        for q in p.kids if p.tag == "and" else (p,):
            if q is EMPTY:
                return EMPTY
            if q is ANY_STAR:
                continue
            if q.tag == "chars":
                single = q.cs if single is None else cs.intersect(single, q.cs)
                if not single:
                    return EMPTY
            else:
                flat[q.n] = q
    if single is not None:
        c = chars(single)
        if any(q is EPS for q in flat.values()):
            return EMPTY
        flat[c.n] = c
    if not flat:
        return ANY_STAR
    if len(flat) == 1:
        return next(iter(flat.values()))
    return _make("and", tuple(flat[k] for k in sorted(flat)))


def not_(a: Node) -> Node:
    """Every string over the universe that ``a`` does not match."""
    if a.tag == "not":
        return a.kids[0]
    return _make("not", (a,))


def rep(a: Node, lo: int, hi: int | None) -> Node:
    """``a`` repeated ``lo`` to ``hi`` times (``hi=None``: no upper bound)."""
    if hi is not None and (hi < lo or hi < 0):
        raise ValueError(f"bad repetition {{{lo},{hi}}}")
    if a is EMPTY:
        return EPS if lo == 0 else EMPTY
    if a is EPS or hi == 0:
        return EPS
    if a.nullable:
        lo = 0
    if lo == 1 and hi == 1:
        return a
    if a.tag == "rep" and a.lo == 0 and a.hi is None and lo == 0:  # (x*)* , (x*){0,n}
        return a
    return _make("rep", (a,), lo=lo, hi=hi)


def star(a: Node) -> Node:
    return rep(a, 0, None)


def plus(a: Node) -> Node:
    return rep(a, 1, None)


def opt(a: Node) -> Node:
    return rep(a, 0, 1)


ANY = chars(cs.UNIVERSE)
"""Any one character."""
ANY_STAR = star(ANY)
"""Any text."""


def lit(text: str, *, ignore_case: bool = False) -> Node:
    """The string ``text`` (``ignore_case``: each letter in either case)."""
    parts = []
    for c in text:
        if ignore_case and c.lower() != c.upper() and len(c.lower()) == 1 and len(c.upper()) == 1:
            parts.append(chars(cs.from_chars(c.lower() + c.upper())))
        else:
            parts.append(chars(cs.from_chars(c)))
    return seq(*parts)


# -- derivatives ------------------------------------------------------------------------------------


def derive(node: Node, code: int) -> Node:
    """The derivative of ``node`` by the character ``code``: what must follow once ``code`` was read."""
    memo = node._deriv
    got = memo.get(code)
    if got is not None:
        return got
    tag = node.tag
    if tag in ("empty", "eps"):
        out = EMPTY
    elif tag == "chars":
        out = EPS if cs.contains(node.cs, code) else EMPTY
    elif tag == "seq":
        a, b = node.kids
        out = _seq2(derive(a, code), b)
        if a.nullable:
            out = alt(out, derive(b, code))
    elif tag == "alt":
        out = alt(*(derive(k, code) for k in node.kids))
    elif tag == "and":
        out = and_(*(derive(k, code) for k in node.kids))
    elif tag == "not":
        out = not_(derive(node.kids[0], code))
    else:
        a = node.kids[0]
        out = _seq2(derive(a, code), rep(a, max(node.lo - 1, 0), None if node.hi is None else node.hi - 1))
    memo[code] = out
    return out


def min_length(node: Node) -> float:
    """A lower bound of the length of the strings ``node`` accepts (exact without ``&``/``~``; inf: none)."""
    got = node._min
    if got is not None:
        return got
    tag = node.tag
    if tag == "empty":
        out = float("inf")
    elif tag in ("eps", "not"):
        out = 0.0 if tag == "eps" or node.nullable else 1.0
    elif tag == "chars":
        out = 1.0
    elif tag == "seq":
        out = min_length(node.kids[0]) + min_length(node.kids[1])
    elif tag == "alt":
        out = min(min_length(k) for k in node.kids)
    elif tag == "and":
        out = max(min_length(k) for k in node.kids)
    else:
        out = 0.0 if node.lo == 0 else node.lo * min_length(node.kids[0])
    node._min = out
    return out


def walk(root: Node) -> Iterator[Node]:
    """Every distinct node under ``root`` (``root`` included), each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.n in seen:
            continue
        seen.add(node.n)
        yield node
        stack.extend(node.kids)


_PREFERRED = " etaoinsrhldcumfpgwybvkxjqz.ETAOINSRHLDCUMFPGWYBVKXJQZ0123456789\n*-,'\"!?:;()[]{}<>/"


@dataclass(frozen=True)
class Blocks:
    """The alphabet split into classes of characters that ``root``'s character sets never tell apart."""

    sets: tuple[Charset, ...]
    reps: tuple[int, ...]
    """One character of each block, chosen to read well (space, common letters, punctuation) when it is emitted."""
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    owner: tuple[int, ...]

    @staticmethod
    def of(root: Node) -> Blocks:
        blocks: list[Charset] = [cs.UNIVERSE]
        for charset in sorted({n.cs for n in walk(root) if n.tag == "chars"}):
            split: list[Charset] = []
            for b in blocks:
                inside, outside = cs.intersect(b, charset), cs.difference(b, charset)
                split.extend(x for x in (inside, outside) if x)
            blocks = split
        reps = []
        for b in blocks:
            nice = next((ord(c) for c in _PREFERRED if cs.contains(b, ord(c))), None)
            reps.append(nice if nice is not None else b[0][0])
        order = sorted(range(len(blocks)), key=lambda i: (_rank(reps[i]), reps[i]))
        blocks = [blocks[i] for i in order]
        reps = [reps[i] for i in order]
        table = sorted((lo, hi, i) for i, b in enumerate(blocks) for lo, hi in b)
        return Blocks(
            tuple(blocks),
            tuple(reps),
            tuple(t[0] for t in table),
            tuple(t[1] for t in table),
            tuple(t[2] for t in table),
        )

    def block_of(self, code: int) -> int | None:
        """The block of ``code``, or ``None`` when it is outside the universe."""
        i = bisect.bisect_right(self.starts, code) - 1
        if i >= 0 and code <= self.ends[i]:
            return self.owner[i]
        return None


def _rank(code: int) -> int:
    i = _PREFERRED.find(chr(code))
    return i if i >= 0 else len(_PREFERRED)


class Automaton:
    """The deterministic automaton of ``root``, explored lazily, one state per distinct derivative."""

    def __init__(self, root: Node, limit: int = 20000) -> None:
        self.root = root
        self.blocks = Blocks.of(root)
        self.limit = limit
        self._shortest: dict[int, str | object | None] = {}

    def step(self, state: Node, block: int) -> Node:
        return derive(state, self.blocks.reps[block])

    def run(self, text: str, state: Node | None = None) -> Node:
        """The state after reading ``text`` (``EMPTY`` once no continuation can be accepted... or matched)."""
        node = self.root if state is None else state
        for c in text:
            b = self.blocks.block_of(ord(c))
            if b is None:
                return EMPTY
            node = self.step(node, b)
            if node is EMPTY:
                return EMPTY
        return node

    def matches(self, text: str) -> bool:
        return self.run(text).nullable

    def is_empty(self) -> bool | None:
        """Whether no string is accepted: ``True``/``False``, or ``None`` when the limit stopped the search."""
        return None if (found := self.shortest(self.root)) is _UNDECIDED else found is None

    def shortest(self, state: Node) -> str | object | None:
        """The shortest string accepted from ``state`` (``None``: none; ``_UNDECIDED`` past the limit).

        An A* search over the automaton, guided by :func:`min_length`; found strings are kept per state.
        """
        if state.nullable:
            return ""
        if state.n in self._shortest:
            return self._shortest[state.n]
        h0 = min_length(state)
        if h0 == float("inf"):
            return None
        order = itertools.count()
        heap: list[tuple[float, int, int, Node]] = [(h0, 0, next(order), state)]
        best = {state.n: 0}
        parent: dict[int, tuple[int, int] | None] = {state.n: None}
        found: str | object | None = None
        while heap:
            _, g, _, node = heapq.heappop(heap)
            if g > best[node.n]:
                continue
            if node.nullable:
                out = []
                at: int = node.n
                while (p := parent[at]) is not None:
                    at, code = p
                    out.append(chr(code))
                found = "".join(reversed(out))
                break
            for b in range(len(self.blocks.sets)):
                nxt = self.step(node, b)
                h = min_length(nxt)
                if h == float("inf") or g + 1 >= best.get(nxt.n, 1 << 62):
                    continue
                best[nxt.n] = g + 1
                parent[nxt.n] = (node.n, self.blocks.reps[b])
                heapq.heappush(heap, (g + 1 + h, g + 1, next(order), nxt))
            if len(best) > self.limit:
                return _UNDECIDED
        if len(self._shortest) > 4 * self.limit:
            self._shortest.clear()
        self._shortest[state.n] = found
        return found

    def sample(self, rng: random.Random, length: int = 60) -> str | None:
        """A random accepted string: random characters (from anywhere in each block) for about ``length``
        characters, then the shortest way to an accepting state. ``None`` when nothing is accepted."""
        node, out = self.root, list[str]()
        while len(out) < length:
            if node.nullable and rng.random() < 0.05:
                return "".join(out)
            options = list(range(len(self.blocks.sets)))
            rng.shuffle(options)
            for b in options:
                code = _random_char(self.blocks.sets[b], rng)
                nxt = derive(node, code)
                if nxt is not EMPTY and isinstance(self.shortest(nxt), str):
                    node = nxt
                    out.append(chr(code))
                    break
            else:
                break
        rest = self.shortest(node)
        return "".join(out) + rest if isinstance(rest, str) else None

    def explore(self) -> tuple[list[Node], list[dict[int, int]]]:
        """Every live state (from which an accepted string can be reached) and its transitions by block.

        Raises :class:`TooLargeError` past the limit.
        """
        states = [self.root]
        index = {self.root.n: 0}
        edges: list[dict[int, int]] = []
        i = 0
        while i < len(states):
            node = states[i]
            out: dict[int, int] = {}
            for b in range(len(self.blocks.sets)):
                nxt = self.step(node, b)
                if nxt is EMPTY:
                    continue
                if nxt.n not in index:
                    if len(states) >= self.limit:
                        raise TooLargeError(f"more than {self.limit} states")
                    index[nxt.n] = len(states)
                    states.append(nxt)
                out[b] = index[nxt.n]
            edges.append(out)
            i += 1
        live = {i for i, s in enumerate(states) if s.nullable}
        back: dict[int, set[int]] = {}
        for i, out in enumerate(edges):
            for j in out.values():
                back.setdefault(j, set()).add(i)
        todo = list(live)
        while todo:
            j = todo.pop()
            for i in back.get(j, ()):
                if i not in live:
                    live.add(i)
                    todo.append(i)
        if 0 not in live:
            return [], []
        keep = sorted(live)
        renumber = {old: new for new, old in enumerate(keep)}
        return [states[i] for i in keep], [{b: renumber[j] for b, j in edges[i].items() if j in renumber} for i in keep]


_UNDECIDED = object()


def _random_char(charset: Charset, rng: random.Random) -> int:
    lo, hi = charset[rng.randrange(len(charset))]
    if rng.random() < 0.5 and hi - lo > 128:  # mostly the start of a big range: plain characters read better
        hi = lo + 127
    return rng.randint(lo, hi)


# -- rendering --------------------------------------------------------------------------------------


def push_filters(node: Node) -> Node:
    """``node`` with every intersection with a character filter (``[S]*``) pushed into the other side's sets.

    ``A & [S]*`` is ``A`` with each character set intersected with ``S``: the same language, without
    ``&``, so that grammars without intersection can express it.
    """
    memo: dict[int, Node] = {}

    def go(n: Node) -> Node:
        got = memo.get(n.n)
        if got is not None:
            return got
        if n.tag == "and":
            filters = [k for k in n.kids if _is_filter(k)]
            others = [go(k) for k in n.kids if not _is_filter(k)]
            if filters and others:
                allowed = filters[0].kids[0].cs
                for f in filters[1:]:
                    allowed = cs.intersect(allowed, f.kids[0].cs)
                out = and_(*(restrict(o, allowed) for o in others))
            else:
                out = and_(*filters, *others)
        elif n.tag in ("seq", "alt"):
            out = (seq if n.tag == "seq" else alt)(*(go(k) for k in n.kids))
        elif n.tag == "rep":
            out = rep(go(n.kids[0]), n.lo, n.hi)
        elif n.tag == "not":
            out = not_(go(n.kids[0]))
        else:
            out = n
        memo[n.n] = out
        return out

    return go(node)


def _is_filter(n: Node) -> bool:
    return n.tag == "rep" and n.lo == 0 and n.hi is None and n.kids[0].tag == "chars"


def restrict(node: Node, allowed: Charset) -> Node:
    """``node`` ∩ ``[allowed]*``."""
    memo: dict[int, Node] = {}

    def go(n: Node) -> Node:
        got = memo.get(n.n)
        if got is not None:
            return got
        if n.tag == "chars":
            out = chars(cs.intersect(n.cs, allowed))
        elif n.tag in ("seq", "alt", "and"):
            out = {"seq": seq, "alt": alt, "and": and_}[n.tag](*(go(k) for k in n.kids))
        elif n.tag == "rep":
            out = rep(go(n.kids[0]), n.lo, n.hi)
        elif n.tag == "not":
            out = and_(star(chars(allowed)), n)
        else:
            out = n
        memo[n.n] = out
        return out

    return go(node)


def has_boolean(node: Node) -> bool:
    """Whether ``node`` uses ``&`` or ``~``."""
    return any(n.tag in ("and", "not") for n in walk(node))


def _size(root: Node) -> dict[int, int]:
    size: dict[int, int] = {}
    for n in reversed(list(_postorder(root))):
        size[n.n] = 1 + sum(size[k.n] for k in n.kids)
    return size


def _postorder(root: Node) -> Iterator[Node]:
    """Nodes in reverse topological order reversed: parents before children (each once)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node.n in seen:
            continue
        seen.add(node.n)
        stack.append((node, True))
        stack.extend((k, False) for k in node.kids)
    return reversed(order)


def _shared(root: Node, threshold: int = 12) -> set[int]:
    """Nodes used more than once under ``root`` and big enough to be worth a name of their own."""
    uses: dict[int, int] = {}
    for n in walk(root):
        for k in n.kids:
            uses[k.n] = uses.get(k.n, 0) + 1
    size = _size(root)
    return {n for n, u in uses.items() if u > 1 and size[n] >= threshold}


def _rust_class(charset: Charset) -> str:
    parts = []
    for lo, hi in charset:
        parts.append(_rust_char(lo) if lo == hi else f"{_rust_char(lo)}-{_rust_char(hi)}")
    return "[" + "".join(parts) + "]"


def _rust_char(code: int) -> str:
    c = chr(code)
    return c if c.isascii() and c.isalnum() else f"\\x{{{code:x}}}"


def _lark_string(text: str) -> str:
    return json.dumps(text)


class _Renderer:
    """Renders a node as text, naming shared subexpressions (``define`` returns the name's reference)."""

    def __init__(self, root: Node, name: str) -> None:
        self.shared = _shared(root)
        self.names: dict[int, str] = {}
        self.rules: list[tuple[str, str]] = []
        self.prefix = name

    def expr(self, node: Node) -> str:
        if node.n in self.names:
            return self.names[node.n]
        text = self.render(node)
        if node.n in self.shared:
            name = f"{self.prefix}{len(self.rules)}"
            self.rules.append((name, text))
            self.names[node.n] = name
            return name
        return text

    def render(self, node: Node) -> str:
        raise NotImplementedError

    def literal_run(self, kids: Sequence[Node]) -> list[str | Node]:
        """The parts of a sequence, with runs of single characters joined into strings."""
        parts: list[str | Node] = []
        for k in kids:
            if k.tag == "chars" and len(k.cs) == 1 and k.cs[0][0] == k.cs[0][1] and k.n not in self.shared:
                c = chr(k.cs[0][0])
                if parts and isinstance(parts[-1], str):
                    parts[-1] += c
                else:
                    parts.append(c)
            else:
                parts.append(k)
        return parts


def _seq_items(node: Node) -> list[Node]:
    items = []
    while node.tag == "seq":
        items.append(node.kids[0])
        node = node.kids[1]
    items.append(node)
    return items


def _quantifier(lo: int, hi: int | None) -> str:
    if (lo, hi) == (0, None):
        return "*"
    if (lo, hi) == (1, None):
        return "+"
    if (lo, hi) == (0, 1):
        return "?"
    if hi is None:
        return f"{{{lo},}}"
    if lo == hi:
        return f"{{{lo}}}"
    return f"{{{lo},{hi}}}"


class _Lark(_Renderer):
    def render(self, node: Node) -> str:
        tag = node.tag
        if tag == "eps":
            return '""'
        if tag == "empty":
            raise ValueError("the empty language has no grammar")
        if tag == "chars":
            if len(node.cs) == 1 and node.cs[0][0] == node.cs[0][1]:
                return _lark_string(chr(node.cs[0][0]))
            return "/" + _rust_class(node.cs) + "/"
        if tag == "seq":
            parts = [
                _lark_string(p) if isinstance(p, str) else self.expr(p) for p in self.literal_run(_seq_items(node))
            ]
            return "(" + " ".join(parts) + ")"
        if tag == "alt":
            kids = [k for k in node.kids if k is not EPS]
            body = " | ".join(self.expr(k) for k in kids)
            return f"({body})?" if len(kids) < len(node.kids) else f"({body})"
        if tag == "and":
            return "(" + " & ".join(self.expr(k) for k in node.kids) + ")"
        if tag == "not":  # llguidance's ~ also matches invalid UTF-8 and any character: keep to the universe
            return "(~(" + self.expr(node.kids[0]) + ") & (" + self.expr(ANY) + ")*)"
        return "(" + self.expr(node.kids[0]) + ")" + _quantifier(node.lo, node.hi)


def to_lark_expr(node: Node) -> str:
    """``node`` as one Lark terminal expression (no named parts), for messages and ``repr``."""
    r = _Lark(node, "T")
    r.shared = set()
    return r.expr(node)


def to_lark(node: Node) -> str:
    """A llguidance Lark grammar whose ``start`` is exactly ``node``'s language, as one terminal."""
    r = _Lark(node, "T")
    body = r.expr(node)
    lines = ["start: TEXT", f"TEXT: {body}"]
    lines.extend(f"{name}: {text}" for name, text in r.rules)
    return "\n".join(lines) + "\n"


def _gbnf_char(code: int) -> str:
    c = chr(code)
    if c.isascii() and c.isalnum():
        return c
    if code < 0x100:
        return f"\\x{code:02X}"
    if code < 0x10000:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _gbnf_class(charset: Charset) -> str:
    parts = []
    for lo, hi in charset:
        parts.append(_gbnf_char(lo) if lo == hi else f"{_gbnf_char(lo)}-{_gbnf_char(hi)}")
    return "[" + "".join(parts) + "]"


def _gbnf_string(text: str) -> str:
    return '"' + "".join(_gbnf_char(ord(c)) if not (c.isascii() and c.isalnum()) else c for c in text) + '"'


class _Gbnf(_Renderer):
    def render(self, node: Node) -> str:
        tag = node.tag
        if tag == "eps":
            return '""'
        if tag == "empty":
            raise ValueError("the empty language has no grammar")
        if tag == "chars":
            return _gbnf_class(node.cs)
        if tag == "seq":
            parts = [
                _gbnf_string(p) if isinstance(p, str) else self.expr(p) for p in self.literal_run(_seq_items(node))
            ]
            return "(" + " ".join(parts) + ")"
        if tag == "alt":
            kids = [k for k in node.kids if k is not EPS]
            body = " | ".join(self.expr(k) for k in kids)
            return f"({body})?" if len(kids) < len(node.kids) else f"({body})"
        if tag in ("and", "not"):
            raise ValueError("GBNF has no intersection or complement")
        return "(" + self.expr(node.kids[0]) + ")" + _quantifier(node.lo, node.hi)


def to_gbnf(node: Node, limit: int = 4000) -> str:
    """A llama.cpp grammar (GBNF) whose ``root`` is exactly ``node``'s language.

    Structural when ``node`` has no ``&``/``~`` once character filters are pushed into it; else one rule
    per state of its automaton (:class:`TooLargeError` past ``limit`` states).
    """
    pushed = push_filters(node)
    if not has_boolean(pushed):
        r = _Gbnf(pushed, "t")
        body = r.expr(pushed)
        return "\n".join([f"root ::= {body}", *(f"{name} ::= {text}" for name, text in r.rules)]) + "\n"
    auto = Automaton(pushed, limit)
    states, edges = auto.explore()
    if not states:
        raise ValueError("the empty language has no grammar")
    classes: dict[tuple[int, ...], str] = {}
    named: list[str] = []

    def cls(blocks: list[int]) -> str:
        key = tuple(sorted(blocks))
        got = classes.get(key)
        if got is None:
            got = _gbnf_class(cs.from_ranges(r for b in key for r in auto.blocks.sets[b]))
            if len(got) > 40:  # a large class is written once, as a rule of its own
                named.append(f"c{len(named)} ::= {got}")
                got = f"c{len(named) - 1}"
            classes[key] = got
        return got

    lines = ["root ::= s0"]
    for i, out in enumerate(edges):
        by_target: dict[int, list[int]] = {}
        for b, j in out.items():
            by_target.setdefault(j, []).append(b)
        alts = [f"{cls(blocks)} s{j}" for j, blocks in sorted(by_target.items())]
        if not alts:
            lines.append(f's{i} ::= ""')
        elif states[i].nullable:
            lines.append(f"s{i} ::= ({' | '.join(alts)})?")
        else:
            lines.append(f"s{i} ::= {' | '.join(alts)}")
    return "\n".join([*lines, *named]) + "\n"


def collect(items: Iterable[Node]) -> Node:
    """The intersection of ``items``."""
    return and_(*items)
