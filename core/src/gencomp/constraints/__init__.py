"""Requirements the decoder can enforce: code-checked kinds compiled into a constraint on decoding.

A requirement of a code-checked kind whose rule is regular (no commas, all lowercase, at most N words,
a title in ``<<...>>``, valid JSON...) has a grammar: :func:`constraint_of` builds it from the
requirement's ``CodeCheck`` (kind and params). Several are intersected into one :class:`Constraint`,
which is backend-neutral: a regular language over characters that renders as a llguidance Lark grammar
(:meth:`Constraint.lark`, in-process) or a llama.cpp GBNF grammar (:meth:`Constraint.gbnf`, on
llama-server). A backend says which of these it enforces (``Backend.constraint_syntaxes``) and receives
the constraint in ``ModelOption.CONSTRAINT``; the ``enforce`` strategy (:mod:`gencomp.strategies`) plans it
with :func:`plan`, and what cannot be enforced is checked and repaired, with a note in its verdict.

Every grammar accepts only answers that pass the kind's check (a subset, never more), so an enforced
requirement's check still runs and must pass; a failure is reported as a bug. Which kinds are
enforceable, and why the others are not: :data:`ENFORCEABLE` and :data:`NOT_ENFORCEABLE` (and the table
in the README).
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gencomp.constraints import _regex as rx
from gencomp.constraints._kinds import ENFORCEABLE, JSON_DEPTH, NOT_ENFORCEABLE, NotEnforceable, grammar_of
from gencomp.errors import ConstraintRefusedError, GencompError

__all__ = [
    "ENFORCEABLE",
    "JSON_DEPTH",
    "NOT_ENFORCEABLE",
    "REASONS",
    "SYNTAXES",
    "Constraint",
    "ConstraintRefusedError",
    "ConstraintTooLargeError",
    "ContradictoryRequirementsError",
    "Enforced",
    "Enforcement",
    "EnforcementBugWarning",
    "NotEnforceable",
    "constraint_of",
    "plan",
]

SYNTAXES = frozenset({"lark", "gbnf", "json"})
"""The constraint syntaxes a backend can declare in ``constraint_syntaxes``: ``"lark"`` (llguidance's Lark
grammars, :meth:`Constraint.lark`), ``"gbnf"`` (llama.cpp's grammars, :meth:`Constraint.gbnf`) and
``"json"`` (any JSON answer only, such as OpenAI's ``response_format`` ``json_object``)."""


class ContradictoryRequirementsError(GencompError):
    """Requirements no answer can meet together (their grammars do not intersect); raised before generation.

    ``requirements`` are the ones that contradict each other (two when a pair does).
    """

    def __init__(self, message: str, requirements: Sequence[Any]) -> None:
        super().__init__(message)
        self.requirements = tuple(requirements)


class ConstraintTooLargeError(GencompError):
    """A constraint's grammar would be too large for a backend's syntax (llama.cpp's GBNF has no intersection:
    an intersection of counting requirements is rendered one rule per state)."""


class EnforcementBugWarning(UserWarning):
    """An enforced requirement failed its own check: a bug in gencomp (or a backend that did not enforce)."""


class Constraint:
    """The answers a generation may produce: a regular language over characters, backend-neutral.

    ``sources`` names the requirements it was built from. ``json`` is true when it is exactly "a JSON
    answer" (``json_format`` alone), which a backend that only offers JSON mode (``"json"``) can enforce.
    Build one with :func:`constraint_of` or :func:`plan`; combine two with ``&``.
    """

    def __init__(self, node: rx.Node, sources: Sequence[str] = (), *, json: bool = False, limit: int = 20000) -> None:
        if node is rx.EMPTY:
            raise ValueError("a constraint that no answer meets")
        self._node = node
        self._limit = limit
        self.sources = tuple(sources)
        self.json = json
        self._automaton: rx.Automaton | None = None
        self._states: dict[str, rx.Node] = {}
        self._lock = threading.Lock()

    def __and__(self, other: Constraint) -> Constraint:
        return Constraint(rx.and_(self._node, other._node), (*self.sources, *other.sources))

    def __repr__(self) -> str:
        what = "; ".join(self.sources) or rx.to_lark_expr(self._node)[:60]
        return f"Constraint({what})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraint) and other._node is self._node

    def __hash__(self) -> int:
        return hash(self._node.n)

    @property
    def automaton(self) -> rx.Automaton:
        """The constraint's automaton (built on first use)."""
        if self._automaton is None:
            with self._lock:
                if self._automaton is None:  # filters pushed into the other parts: the same language, fewer states
                    self._automaton = rx.Automaton(rx.push_filters(self._node), self._limit)
        return self._automaton

    def lark(self) -> str:
        """The llguidance Lark grammar: ``start`` is one terminal whose language is this constraint's."""
        return _lark(self._node)

    def gbnf(self, limit: int = 4000) -> str:
        """The llama.cpp grammar (GBNF, ``root`` rule); :class:`ConstraintTooLargeError` when an intersection
        would need more than ``limit`` rules."""
        try:
            return _gbnf(self._node, limit)
        except rx.TooLargeError as exc:
            raise ConstraintTooLargeError(
                f"the grammar of {' and '.join(self.sources) or 'this constraint'} needs {exc} in GBNF"
            ) from exc

    def matches(self, text: str) -> bool:
        """Whether ``text`` is an answer this constraint accepts."""
        return self.automaton.matches(text)

    def completion(self, prefix: str) -> str | None:
        """The shortest text that makes ``prefix`` an accepted answer (``""`` when it already is), or ``None``
        when no continuation can (or the search gave up). A space goes first when the text would otherwise
        join a word of ``prefix`` and the grammar allows it at no other cost."""
        state = self._state(prefix)
        if state is rx.EMPTY:
            return None
        found = self.automaton.shortest(state)
        if not isinstance(found, str):
            return None
        if found[:1].isalnum() and prefix[-1:].isalnum():  # "enjoying" + "Is there...": keep the words apart
            spaced = self.automaton.run(" ", state)
            rest = self.automaton.shortest(spaced) if spaced is not rx.EMPTY else None
            if isinstance(rest, str) and rest == found:
                return " " + rest
        return found

    def _state(self, text: str) -> rx.Node:
        """The automaton's state after ``text``, continued from the longest text met before that begins it
        (a generation asks after every token: each call then reads only the new characters)."""
        start, done = None, ""
        with self._lock:
            for seen, state in self._states.items():
                if len(seen) > len(done) and text.startswith(seen):
                    start, done = state, seen
        state = self.automaton.run(text[len(done) :], start)
        with self._lock:
            if len(self._states) >= 256:
                self._states.pop(next(iter(self._states)))
            self._states[text] = state
        return state

    def is_empty(self) -> bool | None:
        """Whether no answer meets it (``None``: undecided within the search limit)."""
        return self.automaton.is_empty()


@functools.lru_cache(maxsize=128)
def _lark(node: rx.Node) -> str:
    return rx.to_lark(node)


@functools.lru_cache(maxsize=128)
def _gbnf(node: rx.Node, limit: int) -> str:
    return rx.to_gbnf(node, limit)


def _code_check(requirement: Any) -> Any:
    from gencomp.checks import CodeCheck

    fn = getattr(requirement, "validation_fn", None)
    return fn if isinstance(fn, CodeCheck) else None


@dataclass(frozen=True)
class Enforced:
    """How one requirement of a call is decoded: ``enforced`` (its grammar is part of the call's constraint),
    ``exact`` (the grammar guarantees its whole check; else ``rest`` says what is left to the check), and
    ``note``: why it is not enforced, when it is not, and ``reason``, the same as a word (:data:`REASONS`)."""

    requirement: Any
    enforced: bool
    exact: bool = False
    rest: str = ""
    note: str = ""
    constraint: Constraint | None = None
    """This requirement's own constraint (also when it could not be enforced in this call)."""
    reason: str = ""
    """Why it is not enforced, as one of :data:`REASONS` (``""`` when it is)."""


REASONS: dict[str, str] = {
    "no grammar": "it has no grammar: not a code-checked kind, a kind without one, or a lower bound",
    "format": "format= is enforced as a JSON schema, which other grammars do not join",
    "backend": "the backend enforces no constraints, or JSON alone",
    "clash": "its grammar and those enforced before it share no answer (the checks may still agree)",
    "undecided": "whether its grammar and those before it share an answer was not decided within PLAN_STATES",
    "too large": "the GBNF of its intersection with those before it would exceed the rule limit",
    "refused": "the backend's grammar engine refused the call's constraint (ConstraintRefusedError)",
}
"""The reasons an :class:`Enforced` gives for a requirement that is not enforced."""


def constraint_of(requirement: Any, *, request: str | None = None) -> Constraint:
    """The constraint of ``requirement``, a code-checked kind (:class:`NotEnforceable` says why there is none).

    ``request`` is the text of the instruction, for ``repeat_prompt`` without its own prompt (what it asks
    to repeat of it: :func:`gencomp.checks.request_to_repeat`, as its check reads it).
    """
    return _grammar(requirement, request)[0]


def _grammar(requirement: Any, request: str | None) -> tuple[Constraint, Any]:
    check = _code_check(requirement)
    if check is None:
        raise NotEnforceable("it is not checked by code (no gencomp.checks kind)")
    if check.kind == "repeat_prompt" and request is not None:
        from gencomp.checks import request_to_repeat

        request = request_to_repeat(request, requirement.description)
    grammar = grammar_of(check.kind, check.params, request=request)
    made = Constraint(grammar.node, (requirement.description or check.kind,), json=check.kind == "json_format")
    return made, grammar


@dataclass(frozen=True)
class Enforcement:
    """What a call enforces: one :class:`Constraint` for its enforceable requirements, and for every
    requirement whether it is enforced, and why not (:attr:`entries`, in the call's order)."""

    constraint: Constraint | None
    entries: tuple[Enforced, ...]
    format_note: str = ""
    _by_id: dict[int, Enforced] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({id(e.requirement): e for e in self.entries})

    def of(self, requirement: Any) -> Enforced | None:
        """The entry of ``requirement`` (the same object), or ``None``."""
        return self._by_id.get(id(requirement))

    @property
    def enforced(self) -> tuple[Any, ...]:
        """The requirements the constraint enforces."""
        return tuple(e.requirement for e in self.entries if e.enforced)

    @property
    def not_enforced(self) -> tuple[Enforced, ...]:
        """The entries of requirements left to check-and-repair, with their notes."""
        return tuple(e for e in self.entries if not e.enforced)

    def refused(self, why: str) -> Enforcement:
        """The same requirements with none enforced: the backend refused :attr:`constraint` (``why``)."""
        note = f"not enforced: the backend refused the call's grammar, so it is checked instead ({why})"
        entries = tuple(
            replace(e, enforced=False, exact=False, rest="", note=note, reason="refused") if e.enforced else e
            for e in self.entries
        )
        return Enforcement(None, entries, self.format_note)


def plan(
    requirements: Sequence[Any],
    *,
    syntaxes: frozenset[str] | set[str] = frozenset(),
    format: type[Any] | None = None,
    request: str | None = None,
    backend: str = "the backend",
    gbnf_limit: int = 4000,
) -> Enforcement:
    """Which of ``requirements`` one constraint can enforce on a backend offering ``syntaxes``.

    Requirements that contradict each other (their checks can pass no answer together: the outer
    grammars of their kinds are disjoint) raise :class:`ContradictoryRequirementsError` naming both,
    before any generation, whatever the backend offers. The enforceable ones are intersected in order;
    one whose enforced grammar leaves no answer in common with those before it is not enforced (noted),
    unless the kinds' wider exact forms (``KindGrammar.wide``: a title anywhere, not first) enforce more;
    one dropped because the GBNF of the intersection would be too large is retried with the kinds'
    compact forms (``KindGrammar.compact``: JSON nested less deeply).
    With ``format=`` (a JSON schema, enforced by the backend itself) ``json_format`` is met by the
    schema and the other kinds are not combined into it. A backend that offers only
    ``"json"`` enforces ``json_format`` alone; one offering only ``"gbnf"`` drops (with a note) a
    requirement whose intersection with the others would exceed ``gbnf_limit`` rules. Every
    requirement not enforced gets a note saying why.
    """
    own: list[tuple[Any, Constraint | None, Any, str]] = []
    for r in requirements:
        try:
            made, grammar = _grammar(r, request)
            own.append((r, made, grammar, ""))
        except NotEnforceable as exc:
            own.append((r, None, None, f"not enforced: {exc}"))
    _contradictions([(r, Constraint(g.outer)) for r, _, g, _ in own if g is not None and g.outer is not None])
    full = bool({"lark", "gbnf"} & set(syntaxes))
    settings = (format, set(syntaxes), full, backend, gbnf_limit)
    combined, entries = _intersect(own, *settings)
    if any(e.reason in ("clash", "undecided") for e in entries):
        wider = _other_form(own, "wide")
        if wider is not own:
            again = _intersect(wider, *settings)
            if sum(e.enforced for e in again[1]) > sum(e.enforced for e in entries):
                (combined, entries), own = again, wider
    if any(e.reason == "too large" for e in entries):
        compact = _other_form(own, "compact")
        if compact is not own:
            again = _intersect(compact, *settings)
            if sum(e.enforced for e in again[1]) > sum(e.enforced for e in entries):
                combined, entries = again
    if combined is not None and not full:
        combined = Constraint(combined._node, combined.sources, json=True)
    return Enforcement(combined, tuple(entries))


def _other_form(
    own: list[tuple[Any, Constraint | None, Any, str]], form: str
) -> list[tuple[Any, Constraint | None, Any, str]]:
    """``own`` with each kind's ``form`` (``"wide"`` or ``"compact"``) where it has one (``own`` itself: none has)."""
    out = [
        (
            r,
            Constraint(getattr(g, form), c.sources, json=c.json)
            if c is not None and getattr(g, form) is not None
            else c,
            g,
            n,
        )
        for r, c, g, n in own
    ]
    return out if any(o[1] is not n[1] for o, n in zip(own, out, strict=True)) else own


def _intersect(
    own: Sequence[tuple[Any, Constraint | None, Any, str]],
    format: type[Any] | None,
    syntaxes: set[str],
    full: bool,
    backend: str,
    gbnf_limit: int,
) -> tuple[Constraint | None, list[Enforced]]:
    """:func:`plan`'s intersection of ``own`` (requirement, constraint, kind grammar, note) in order."""
    combined: Constraint | None = None
    entries = []
    for r, c, grammar, note in own:
        if c is None:
            entries.append(Enforced(r, False, note=note, reason="no grammar"))
            continue
        why = reason = ""
        if format is not None:
            if c.json:
                entries.append(Enforced(r, True, True, note="", constraint=c))
                continue
            why = (
                f"not enforced: format={format.__name__} is enforced as a JSON schema, which other grammars do not join"
            )
            reason = "format"
        elif not full and "json" in syntaxes:
            if not c.json:
                why, reason = f"not enforced: {backend} enforces only JSON answers", "backend"
            elif combined is not None:
                why = f"not enforced: {backend} enforces JSON alone, and another requirement is enforced"
                reason = "backend"
        elif not full:
            why = f"not enforced: {backend} enforces no constraints (its constraint_syntaxes is empty)"
            reason = "backend"
        if not why and combined is not None:
            others = ", ".join(map(repr, combined.sources))
            empty = _empty(combined, c)
            if empty:
                why = (
                    f"not enforced: its grammar and those of {others} leave no answer in common "
                    "(the forms gencomp enforces are narrower than the checks, which may agree)"
                )
                reason = "clash"
            elif empty is None:
                why = (
                    f"not enforced: whether its grammar and those of {others} share an answer was not decided "
                    f"within {PLAN_STATES} states"
                )
                reason = "undecided"
        if not why and full and "lark" not in syntaxes:  # after the emptiness test: an empty language has no GBNF
            trial = c if combined is None else combined & c
            try:
                trial.gbnf(gbnf_limit)
            except ConstraintTooLargeError as exc:
                why, reason = f"not enforced: {exc}", "too large"
        if why:
            entries.append(Enforced(r, False, note=why, constraint=c, reason=reason))
            continue
        combined = c if combined is None else combined & c
        entries.append(Enforced(r, True, grammar.exact, grammar.rest, constraint=c))
    return combined, entries


def _contradictions(items: Sequence[tuple[Any, Constraint]]) -> None:
    """Raise :class:`ContradictoryRequirementsError` when the constraints of ``items`` have no answer in common:
    naming the first pair that has none, else (all pairs have some) the whole group."""
    done: list[tuple[Any, Constraint]] = []
    combined: Constraint | None = None
    for r, c in items:
        for earlier, ec in done:
            if _empty(ec, c) is True:
                raise ContradictoryRequirementsError(
                    f"requirements {_name(earlier)} and {_name(r)} contradict each other: no answer can meet "
                    "both; change or drop one",
                    [earlier, r],
                )
        if combined is not None and len(done) > 1 and _empty(combined, c) is True:
            names = ", ".join(_name(x) for x, _ in (*done, (r, c)))
            raise ContradictoryRequirementsError(
                f"requirements {names} contradict each other together (no two of them alone): no answer can "
                "meet them all; change or drop one",
                [x for x, _ in (*done, (r, c))],
            )
        done.append((r, c))
        combined = c if combined is None else combined & c


PLAN_STATES = 20000
"""How many automaton states :func:`plan` explores to decide whether two grammars share an answer; past it,
undecided (not a contradiction; not enforced together)."""


def _empty(a: Constraint, b: Constraint) -> bool | None:
    """Whether ``a`` and ``b`` share no answer (``None``: undecided within :data:`PLAN_STATES`)."""
    return Constraint(rx.and_(a._node, b._node), limit=PLAN_STATES).is_empty()


def _name(requirement: Any) -> str:
    check = _code_check(requirement)
    kind = f" ({check.kind})" if check is not None else ""
    return f"{(requirement.description or 'a requirement')!r}{kind}"


def warn_bug(message: str) -> None:
    """Report an enforced requirement that failed its check (always a bug)."""
    warnings.warn(message, EnforcementBugWarning, stacklevel=3)
