"""The ``enforce`` strategy: requirements with a grammar are enforced by the decoder, the rest are repaired."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gencomp.components import Requirement, ValidationResult
from gencomp.strategies._base import Attempt, Call, Plan, Selection, Strategy

__all__ = ["Enforce", "EnforceBestOfN", "mark_enforced"]


class Enforce(Strategy):
    """Enforce what grammars can, on the decoder; check and repair the rest with another strategy.

    When to use it: requirements of code-checked kinds that have a grammar (no commas, lowercase, at
    most N words, a title, JSON...: :data:`gencomp.constraints.ENFORCEABLE`) on a backend that enforces
    constraints (``constraint_syntaxes``: the HF backend, llama-server). Their grammars are combined into
    one constraint that every generation of the call decodes under, so the first answer meets them by
    construction; the other requirements are checked and handled by ``then`` (default ``repair``; any
    registered strategy name or a :class:`Strategy`, with ``options`` for its constructor).

    When the backend's grammar engine refuses the constraint (:class:`~gencomp.ConstraintRefusedError`), the
    call goes on without it: the same candidates are generated unconstrained and checked, and the
    verdicts' notes and the selection say so.

    Before anything is generated, requirements that contradict each other raise
    :class:`~gencomp.constraints.ContradictoryRequirementsError` naming both. Every verdict says whether
    its requirement was enforced (``ValidationResult.enforced``) and, when not, why
    (``enforcement_note``: not a kind with a grammar, a backend that cannot enforce it, ``format=``...).
    An enforced requirement is still checked by its code; if it fails, that is a bug, and it is reported
    as one (an :class:`~gencomp.constraints.EnforcementBugWarning`, and the note says which).
    """

    name = "enforce"
    description = "enforce requirements with a grammar while decoding; check and repair the rest"

    def __init__(self, then: Strategy | str = "repair", **options: Any) -> None:
        if isinstance(then, str):
            from gencomp.strategies import get_strategy

            then = get_strategy(then, "enforce's then= option", **options)
        elif options:
            raise ValueError(f"enforce: options {sorted(options)} are for a then= strategy given by name")
        if not isinstance(then, Strategy) or isinstance(then, Enforce):
            raise ValueError(f"enforce: then= must be another strategy (a name or a Strategy), got {then!r}")
        self.then = then

    def sample(self, call: Call) -> Plan:
        enforcement = call.enforce()
        selection = yield from self.then.sample(replace(call, enforcement=enforcement))
        kept = selection.attempt.enforcement or enforcement
        n, total = len(kept.enforced), len(kept.entries)
        summary = f"enforced {n} of {total} requirements" if total else "no requirements to enforce"
        if kept.constraint is None and enforcement.constraint is not None:
            summary += " (the backend refused the grammar; checked instead)"
        return Selection(selection.attempt, f"{summary}; {self.then.name}: {selection.reason}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(then={self.then!r})"


class EnforceBestOfN(Enforce):
    """:class:`Enforce` with ``best-of-n`` for what cannot be enforced: N enforced candidates at once, the best kept."""

    name = "enforce-best-of-n"
    description = "enforce requirements with a grammar; best of N candidates for the rest"
    default_budget = 4

    def __init__(self, **options: Any) -> None:
        super().__init__("best-of-n", **options)


def mark_enforced(
    attempt: Attempt, requirements: Sequence[Requirement], verdicts: Sequence[ValidationResult]
) -> list[ValidationResult]:
    """``verdicts`` saying what ``attempt``'s generation enforced: ``enforced`` and ``enforcement_note``.

    An enforced requirement whose check failed on a whole answer is a bug: either the backend did not
    decode under the constraint (the answer is outside its grammar) or the grammar accepts an answer
    its check rejects. Both are warned about (:class:`~gencomp.constraints.EnforcementBugWarning`) and
    said in the note.
    """
    from gencomp.constraints import warn_bug

    enforcement = attempt.enforcement
    assert enforcement is not None
    out = []
    for r, v in zip(requirements, verdicts, strict=True):
        entry = enforcement.of(r)
        if entry is None:
            out.append(v)
            continue
        if not entry.enforced:
            out.append(replace(v, enforced=False, enforcement_note=entry.note))
            continue
        note = entry.rest or None
        if v.ran and not v.result and attempt.early_stop is None and attempt.text is not None:
            if entry.constraint is not None and not entry.constraint.matches(attempt.text):
                note = (
                    f"enforced, yet the answer is outside its grammar: the backend did not decode under the "
                    f"constraint (a bug; please report it with this answer): {v.reason}"
                )
                warn_bug(f"{r.description!r}: {note}")
            elif entry.exact:
                note = (
                    "enforced, and its grammar accepts the answer, yet its check failed: a bug in the grammar of "
                    f"this kind (please report it with this answer): {v.reason}"
                )
                warn_bug(f"{r.description!r}: {note}")
        out.append(replace(v, enforced=True, enforcement_note=note))
    return out
