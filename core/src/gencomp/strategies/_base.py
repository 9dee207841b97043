"""The strategy protocol: what a strategy sees (:class:`Call`), asks (:class:`Generate`, :class:`Check`), returns."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from gencomp.base import CBlock, Component, ModelOutputThunk
from gencomp.components import Instruction, Requirement, ValidationResult
from gencomp.errors import GencompError
from gencomp.model_options import ModelOption

if TYPE_CHECKING:
    from gencomp.streaming import EarlyStop

__all__ = [
    "Attempt",
    "Call",
    "CallCost",
    "Check",
    "Generate",
    "IdenticalAttemptError",
    "Plan",
    "SamplingResult",
    "Selection",
    "Strategy",
    "StrategyError",
    "UncertainPolicy",
    "rank",
    "repair_feedback",
    "verdict_state",
]

UncertainPolicy = Literal["unmet", "trust"]
"""What a call does with an ``uncertain`` model verdict: count it as unmet (repair it; the default), or
trust its ``passed`` as if it were decided."""


class StrategyError(GencompError):
    """A strategy broke the protocol (asked for more attempts than its budget, returned no attempt...)."""


class IdenticalAttemptError(GencompError):
    """An attempt was not generated: it would have repeated a failed one exactly, and nothing could be varied."""


def verdict_state(v: ValidationResult) -> str:
    """``"passed"``, ``"failed"``, ``"uncertain"`` (a model verdict not to be taken as decided) or ``"not run"``."""
    if not v.ran:
        return "not run"
    if getattr(v.verdict, "state", "decided") == "uncertain":
        return "uncertain"
    return "passed" if v.result else "failed"


@dataclass(eq=False)
class Attempt:
    """One candidate answer of a call: what was asked, what came back, and its verdicts.

    ``number`` counts the call's candidates from 1. ``seed`` and ``temperature`` are the ones the
    strategy (or the repeat guard, see ``varied``) set for it, ``None`` when the call's own options
    applied. ``early_stop`` is set when a requirement failed on a prefix and stopped the generation;
    ``error`` when the generation failed (then ``output`` is ``None``). ``verdicts`` are ``None``
    until the attempt is checked.
    """

    number: int
    action: Component | CBlock
    output: ModelOutputThunk | None = None
    seed: int | None = None
    temperature: float | None = None
    varied: str | None = None
    """What was changed so that this attempt does not repeat an identical failed one, or ``None``."""
    early_stop: EarlyStop | None = None
    error: BaseException | None = None
    verdicts: list[tuple[Requirement, ValidationResult]] | None = None
    seconds: float = 0.0
    """Wall time of the generation step that produced it (shared by the candidates of one step)."""
    trust_uncertain: bool = False

    @property
    def text(self) -> str | None:
        """The answer's text (``None`` when the generation failed)."""
        return self.output.value if self.output is not None else None

    @property
    def checked(self) -> bool:
        """Whether the attempt's requirements were checked."""
        return self.verdicts is not None

    def met(self, v: ValidationResult) -> bool:
        """Whether verdict ``v`` counts as met: passed, run, and decided (or uncertain verdicts are trusted)."""
        state = verdict_state(v)
        return state == "passed" or (state == "uncertain" and self.trust_uncertain and v.result)

    @property
    def met_count(self) -> int:
        """How many requirements it met."""
        return sum(self.met(v) for _, v in self.verdicts or [])

    @property
    def passed(self) -> bool:
        """Whether it has an answer, was checked, and met every requirement."""
        return self.output is not None and self.verdicts is not None and all(self.met(v) for _, v in self.verdicts)

    @property
    def p_yes(self) -> float | None:
        """The mean ``p_yes`` of its model-checked verdicts (``None`` when none has one)."""
        values = [v.verdict.p_yes for _, v in self.verdicts or [] if getattr(v.verdict, "p_yes", None) is not None]
        return sum(values) / len(values) if values else None

    @property
    def generated_tokens(self) -> int | None:
        """Answer tokens generated, as the backend counted them (``None`` when it does not count).

        An answer stopped early that the backend did not count is counted by its stop: the tokens
        (pieces, for a backend that streams text) it had pushed when it stopped.
        """
        log = self.output.generate_log if self.output is not None else None
        count = log.extra.get("new_tokens") if log is not None else None
        if not isinstance(count, int) and self.early_stop is not None and self.early_stop.token:
            return self.early_stop.token
        return count if isinstance(count, int) else None

    def summary(self) -> str:
        """``"met 2 of 3"``, ``"stopped early: ..."``, ``"failed: ..."`` or ``"not checked"``."""
        if self.error is not None:
            return f"failed: {type(self.error).__name__}: {self.error}"
        if self.verdicts is None:
            return "not checked"
        text = f"met {self.met_count} of {len(self.verdicts)}"
        if self.early_stop is not None:
            text += f", stopped early ({self.early_stop.result.reason or self.early_stop.requirement.description})"
        return text


@dataclass(frozen=True)
class Generate:
    """A step: generate ``n`` candidates for ``action`` after the call's context.

    The reply is a list of ``n`` :class:`Attempt`\\ s. ``seed`` (candidate ``i`` gets ``seed + i``) and
    ``temperature`` are set over the call's options when given. The ``n`` candidates are generated
    at once where the backend can (a batched generation, or parallel requests to a server).
    """

    action: Component | CBlock
    n: int = 1
    seed: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class Check:
    """A step: check ``attempts`` against the call's requirements; the reply is ``None``, the verdicts are set on them.

    Attempts already checked are not checked again; the model-judged checks of several candidates
    go to the backend as one batch where a plugin can take it (``gencomp_check_candidates``).
    """

    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class Selection:
    """What a strategy returns: the attempt to keep, and why it was kept (shown to users)."""

    attempt: Attempt
    reason: str


Plan = Generator["Generate | Check", Any, Selection]
"""What :meth:`Strategy.sample` returns: a generator that yields steps and returns a :class:`Selection`."""


@dataclass(frozen=True)
class Call:
    """What one call gives its strategy: the action, the requirements, the budget and the options.

    ``budget`` is how many candidates the strategy may generate in all. ``seed`` and
    ``temperature`` are the call's own (its ``model_options``, else the backend's defaults), ``None``
    when not set. Build steps with :meth:`generate` and :meth:`check`; pick with :meth:`select` and
    :meth:`best`.
    """

    action: Component | CBlock
    requirements: tuple[Requirement, ...]
    budget: int
    model_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    temperature: float | None = None
    uncertain: UncertainPolicy = "unmet"

    def generate(
        self,
        n: int = 1,
        *,
        action: Component | CBlock | None = None,
        seed: int | None = None,
        temperature: float | None = None,
    ) -> Generate:
        """The step that generates ``n`` candidates for ``action`` (default: the call's action)."""
        return Generate(self.action if action is None else action, n, seed, temperature)

    def check(self, attempts: Sequence[Attempt]) -> Check:
        """The step that checks ``attempts`` against the call's requirements."""
        return Check(tuple(attempts))

    def repaired(self, attempt: Attempt) -> Component | CBlock:
        """The call's action carrying repair feedback: what ``attempt`` failed and why (:func:`repair_feedback`).

        Only an :class:`~gencomp.Instruction` can carry feedback; other actions come back unchanged.
        Checks that did not run are not listed.
        """
        failed = [(r, v) for r, v in attempt.verdicts or [] if v.ran and not attempt.met(v)]
        if not failed or not isinstance(self.action, Instruction):
            return self.action
        return self.action.with_repair(repair_feedback(failed))

    def select(self, attempt: Attempt, reason: str | None = None) -> Selection:
        """Keep ``attempt``; the reason defaults to what it met."""
        if reason is None:
            reason = (
                f"attempt {attempt.number} met every requirement"
                if attempt.passed
                else f"attempt {attempt.number}: {attempt.summary()}"
            )
        return Selection(attempt, reason)

    def best(self, attempts: Sequence[Attempt]) -> Selection:
        """The best of ``attempts`` by :func:`rank`, with a reason that says how it compares.

        Every built-in strategy ends here when no attempt passes ("select from failure"): the kept
        answer is the one that met the most requirements, never merely the last one.
        """
        with_output = [a for a in attempts if a.output is not None]
        if not with_output:
            raise StrategyError("no attempt produced an answer to select")
        best = max(with_output, key=rank)
        total = len(best.verdicts or [])
        if best.passed:
            passing = [a for a in with_output if a.passed]
            if len(passing) == 1:
                return Selection(best, f"attempt {best.number} of {len(attempts)} met every requirement")
            tie = f" (highest mean p(yes), {best.p_yes:.2f})" if best.p_yes is not None else ""
            return Selection(
                best, f"attempt {best.number}: {len(passing)} of {len(attempts)} met every requirement; kept{tie}"
            )
        others = ", ".join(
            f"attempt {a.number}: {a.met_count}" for a in attempts if a is not best and a.output is not None
        )
        return Selection(
            best,
            f"no attempt met every requirement; kept attempt {best.number} of {len(attempts)}, which met "
            f"{best.met_count} of {total}" + (f" (met by the others: {others})" if others else ""),
        )


def rank(attempt: Attempt) -> tuple[bool, int, float, int]:
    """How good an attempt is, to compare: every requirement met, then how many, then mean ``p_yes``, then later.

    Attempts without an answer rank lowest; ties go to the later attempt.
    """
    p = attempt.p_yes
    return (attempt.passed, attempt.met_count, p if p is not None else 0.5, attempt.number)


def repair_feedback(failed: Sequence[tuple[Requirement, ValidationResult]]) -> str:
    """The note a retry carries: each requirement the previous answer failed, with why.

    A check by code gives its reason verbatim ("41 words; at most 20 allowed"); a model's verdict
    says "judged not met"; a ``validation_fn`` that gives no reason says "its check failed".
    """
    lines = []
    for r, v in failed:
        why = "judged not met" if v.thunk is not None else v.reason or "its check failed"
        lines.append(f"- {r.description or 'a check'} ({why})")
    body = "\n".join(lines)
    return f"A previous answer failed these requirements:\n{body}\nWrite a new answer that meets all of them."


@dataclass(frozen=True)
class CallCost:
    """What a whole call cost: generations, tokens and time, over every attempt and check.

    Token counts are ``None`` when the backend does not count them. ``saved_tokens`` is the answer
    budget (``max_new_tokens``) that candidates stopped early did not spend, where it is known.
    """

    attempts: int
    generated_tokens: int | None
    stopped_early: int
    saved_tokens: int | None
    model_checks: int
    check_tokens_computed: int | None
    check_tokens_reused: int | None
    seconds: float
    generation_seconds: float
    check_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class SamplingResult:
    """Every attempt of one call, the one kept, and what the call cost.

    ``result`` is the kept output and ``success`` whether it met every requirement.
    ``sample_generations``/``sample_validations`` (the seed's names) list every answer and its
    verdicts in order; ``attempts`` are the same candidates with everything known about them.
    ``selection`` says why ``selected`` was kept (``"no attempt met every requirement; kept attempt
    2 of 3..."``).
    """

    result: ModelOutputThunk
    success: bool
    sample_generations: list[ModelOutputThunk] = field(default_factory=list)
    sample_validations: list[list[tuple[Requirement, ValidationResult]]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    selected: Attempt | None = None
    selection: str = ""
    strategy: str = ""
    cost: CallCost | None = None


class Strategy:
    """How a call spends its attempts: generate, check, repair, select. Subclass it and register it by name.

    :meth:`sample` is a plan: a generator that yields steps (:class:`Generate`, :class:`Check`) and
    returns a :class:`Selection`. gencomp drives the same plan synchronously or asynchronously, runs
    the candidates of one step at once where the backend can, streams them, stops a candidate whose
    prefix fails a check, keeps every attempt and counts the cost. A strategy holds no session
    state: everything about the call arrives in :class:`Call`, so one strategy object serves any
    number of calls at once. Options of the strategy itself (a temperature, a normaliser) are
    constructor arguments.

    ``default_budget`` is the budget when the caller gives none (``None``: the call's own default,
    2 for ``instruct`` and 1 for ``act``). ``samples`` says whether it samples (then calls without a
    temperature are sampled at ``temperature``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_budget: ClassVar[int | None] = None

    def sample(self, call: Call) -> Plan:
        """The plan of one call (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample(call)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def call_seed(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> int | None:
    """The seed a call's options (else the backend's defaults) set, or ``None``."""
    seed = options.get(ModelOption.SEED, defaults.get(ModelOption.SEED))
    return int(seed) if seed is not None else None


def call_temperature(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> float | None:
    """The temperature a call's options (else the backend's defaults) set, or ``None``."""
    t = options.get(ModelOption.TEMPERATURE, defaults.get(ModelOption.TEMPERATURE))
    return float(t) if t is not None else None
