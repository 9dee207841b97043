"""One path for every requirement check: code, a plugin's batch hook, or the model as a judge.

:func:`check_requirements` checks requirements against the last output of a context. A requirement
with a ``validation_fn`` is checked by code. The others are offered together, as one batch, to the
``gencomp_check_requirements`` hook (a batch of one is a batch): a plugin answers each with an
output carrying a :class:`CheckVerdict`, or with :class:`CheckFallback` (the plugin decided that
the model should judge it, and says why), or leaves it (``None``). What is left is judged by the
backend itself (:func:`judge`): the model answers a :class:`RequirementCheck`, and its ``p_yes``
(when the backend gives one) or the first word of its answer is the verdict.

Every model-path verdict has a state (:attr:`CheckVerdict.state`): ``"decided"``, or
``"uncertain"`` with its reason when its ``p_yes`` lies within the path's margin of 0.5, when the
path was never shown to beat chance on this kind of requirement, or when a judge's answer starts
with neither yes nor no (:func:`with_state`, :func:`judge`). Code checks are always decided.

Nothing here mutates a :class:`~gencomp.Requirement`: each check renders its own
:class:`RequirementCheck`, so one requirement object can be checked from several threads at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from gencomp import plugins
from gencomp.base import (
    CBlock,
    Component,
    Context,
    GenerateLog,
    ModelOutputThunk,
    TemplateRepresentation,
    backend_name,
)
from gencomp.components import Requirement, ValidationResult, bool_from_text, judge_options
from gencomp.errors import GencompError

if TYPE_CHECKING:
    from gencomp.backend import Backend

__all__ = [
    "JUDGE_MARGIN",
    "JUDGE_PATH",
    "CheckFallback",
    "CheckVerdict",
    "RequirementCheck",
    "VerdictState",
    "check_candidates",
    "check_requirements",
    "judge",
    "label",
    "uncertain_reason",
    "verdict_of",
    "with_state",
    "yes_or_no",
]

VerdictState = Literal["decided", "uncertain"]
"""The state of a :class:`CheckVerdict`."""

JUDGE_PATH = "llm-as-a-judge"
"""``CheckVerdict.path`` of a requirement judged by the backend's own generation."""

JUDGE_MARGIN = 0.3
"""A judge's verdict whose ``p_yes`` lies within this distance of 0.5 is ``"uncertain"`` (``judge(margin=)``).

Calibrated on the embedded default model (515 hand-written checks, gencomp-alora's
``training/RESULTS.md``): its judge is right on 50% of them, its p(yes) lies between 0.2 and 0.8 on
514, and its verdicts are no better than a coin at any margin (33% to 53% right); 0.3 leaves none of
them decided but one. A judge that answers with p(yes) below 0.2 or above 0.8 (a larger model) is decided.
"""

_YES = frozenset({"yes", "y", "true", "pass", "passed", "correct"})
_NO = frozenset({"no", "n", "false", "fail", "failed", "incorrect", "not"})


@dataclass(frozen=True)
class CheckVerdict:
    """How a requirement check was decided.

    ``path`` names the decider: ``"alora:<name>"``, ``"llm-as-a-judge"``, ``"code:<kind>"``...;
    ``fallback_reason`` says why a check meant for another path was judged by the model;
    ``reused_tokens``/``computed_tokens`` are the positions read from a cache and run through the
    model (``None`` when the path does not count them). A model path that knows its own measured
    skill says so: ``validated`` (whether a measurement covers this kind of requirement),
    ``accuracy`` (the accuracy measured) and ``validation`` (a line for people, for example
    ``"measured 70% on semantic checks (n=50)"`` or ``"unvalidated kind"``); ``None`` when the path
    does not say. ``state`` is ``"decided"``, or ``"uncertain"`` when the verdict must not be taken
    as decided (``uncertain_reason`` says why: p(yes) near 0.5, a path never validated on this kind
    of requirement, an answer that is neither yes nor no...).
    """

    passed: bool
    p_yes: float | None = None
    path: str = JUDGE_PATH
    fallback_reason: str | None = None
    reused_tokens: int | None = None
    computed_tokens: int | None = None
    validated: bool | None = None
    accuracy: float | None = None
    validation: str | None = None
    state: VerdictState = "decided"
    uncertain_reason: str | None = None
    decided_by: str | None = None
    """The backend that decided a model-judged check (``"OpenAIBackend(granite-3.3-8b)"``); ``None`` for code."""

    @property
    def uncertain(self) -> bool:
        """Whether this verdict is ``"uncertain"``."""
        return self.state == "uncertain"


@dataclass(frozen=True)
class CheckFallback:
    """Judge this requirement with the model, because ``reason``.

    A ``gencomp_check_requirements`` answer (the plugin leaves the check to the model), or the
    ``verdict`` of a ``validation_fn``'s :class:`~gencomp.ValidationResult` when code cannot decide
    (a language identified below its confidence floor...): :func:`check_requirements` then judges
    the requirement's description on the model path, and the model's verdict carries ``reason`` as
    its ``fallback_reason``. ``path`` names the check that could not decide (``"code:<kind>"``).
    """

    reason: str
    path: str | None = None


class RequirementCheck:
    """What a model judges: one requirement and the text of the output under test.

    A fresh object per check (the requirement itself is never changed). It renders as the
    requirement's own template representation with ``args["output"]`` set.
    """

    def __init__(self, requirement: Requirement, output: str | None) -> None:
        self.requirement = requirement
        self.output = output

    @property
    def description(self) -> str | None:
        """The requirement's description."""
        return self.requirement.description

    def parts(self) -> list[Component | CBlock]:
        return []

    def format_for_llm(self) -> TemplateRepresentation | str:
        rep = self.requirement.format_for_llm()
        if isinstance(rep, str):
            return rep
        return replace(rep, args={**rep.args, "output": self.output})

    def __repr__(self) -> str:
        return f"RequirementCheck({self.requirement!r})"


def uncertain_reason(
    p_yes: float | None,
    *,
    margin: float,
    validated: bool | None = None,
    validation: str | None = None,
    accuracy: float | None = None,
    min_accuracy: float | None = None,
    target: float | None = None,
) -> str | None:
    """Why a model verdict is uncertain, or ``None`` when it is decided.

    Uncertain when ``validated`` is false (no measurement covers this kind of requirement), when
    ``accuracy`` is below ``min_accuracy`` (the measurement does not show the path beats chance on
    it) or below ``target`` (the accuracy the path's decided verdicts must be measured at), or when
    ``p_yes`` is within ``margin`` of 0.5. Several reasons are joined with ``"; "``.
    """
    if not 0 <= margin <= 0.5:
        raise ValueError(f"margin must be between 0 and 0.5, got {margin}")
    reasons = []
    if validated is False:
        reasons.append(f"never validated on this kind of requirement ({validation or 'no measurement'})")
    elif accuracy is not None and min_accuracy is not None and accuracy < min_accuracy:
        reasons.append(
            f"measured {100 * accuracy:.0f}% on this kind of requirement, below the {100 * min_accuracy:.0f}% "
            "needed to show it beats chance"
        )
    elif accuracy is not None and target is not None and accuracy < target - 1e-9:
        reasons.append(
            f"measured {100 * accuracy:.0f}% on this kind of requirement, below the {100 * target:.0f}% a decided "
            "verdict must be measured at"
        )
    if p_yes is not None and abs(p_yes - 0.5) < margin - 1e-9:  # a p(yes) exactly at the margin is decided
        reasons.append(f"p(yes)={p_yes:.2f} is within {margin:.2f} of 0.5")
    return "; ".join(reasons) or None


def with_state(
    verdict: CheckVerdict, *, margin: float, min_accuracy: float | None = None, target: float | None = None
) -> CheckVerdict:
    """``verdict`` with its state set by :func:`uncertain_reason` from its ``p_yes``, ``validated`` and ``accuracy``.

    A verdict that is already uncertain stays so (its reasons come first).
    """
    reason = uncertain_reason(
        verdict.p_yes,
        margin=margin,
        validated=verdict.validated,
        validation=verdict.validation,
        accuracy=verdict.accuracy,
        min_accuracy=min_accuracy,
        target=target,
    )
    reasons = [r for r in (verdict.uncertain_reason, reason) if r]
    if not reasons and verdict.state == "decided":
        return verdict
    return replace(verdict, state="uncertain", uncertain_reason="; ".join(reasons) or None)


def yes_or_no(text: str | None) -> bool | None:
    """The verdict a model's answer starts with: ``True`` (yes), ``False`` (no), ``None`` (neither)."""
    m = re.search(r"[A-Za-z]+", text or "")
    word = m.group(0).lower() if m else ""
    return True if word in _YES else False if word in _NO else None


def label(thunk: ModelOutputThunk, verdict: CheckVerdict) -> ModelOutputThunk:
    """Attach ``verdict`` to a check's output: ``meta["check"]``, and ``verdict``/``p_yes``/``check_path`` too.

    ``meta["state"]`` is the verdict's state (with ``meta["uncertain_reason"]`` when uncertain). A
    verdict that says what it rests on also sets ``meta["validated"]`` and ``meta["validation"]``.

    The output's log (when it has one) gets ``extra["check_path"]`` (and ``extra["check_fallback"]``).
    """
    thunk.meta["check"] = verdict
    thunk.meta["verdict"] = verdict.passed
    thunk.meta["check_path"] = verdict.path
    thunk.meta["state"] = verdict.state
    if verdict.uncertain_reason is not None:
        thunk.meta["uncertain_reason"] = verdict.uncertain_reason
    if verdict.p_yes is not None:
        thunk.meta["p_yes"] = verdict.p_yes
    if verdict.fallback_reason is not None:
        thunk.meta["check_fallback"] = verdict.fallback_reason
    if verdict.validation is not None:
        thunk.meta["validated"] = verdict.validated
        thunk.meta["validation"] = verdict.validation
    log = thunk.generate_log
    if log is not None:
        log.extra["check_path"] = verdict.path
        if verdict.fallback_reason is not None:
            log.extra["check_fallback"] = verdict.fallback_reason
    return thunk


def verdict_of(thunk: ModelOutputThunk) -> CheckVerdict:
    """The :class:`CheckVerdict` of a check's output (read from ``meta`` when no plugin labelled it)."""
    verdict = thunk.meta.get("check")
    if isinstance(verdict, CheckVerdict):
        return verdict
    p_yes = thunk.meta.get("p_yes")
    passed = thunk.meta.get("verdict")
    if passed is None:
        passed = p_yes > 0.5 if p_yes is not None else bool_from_text(thunk.value)
    return CheckVerdict(bool(passed), p_yes, str(thunk.meta.get("check_path", JUDGE_PATH)))


def judge(
    backend: Backend,
    requirement: Requirement,
    ctx: Context,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
    fallback_reason: str | None = None,
    margin: float = JUDGE_MARGIN,
) -> ModelOutputThunk:
    """Ask ``backend`` whether the last output of ``ctx`` meets ``requirement`` (the model as a judge).

    Generates for a :class:`RequirementCheck` within ``JUDGE_MAX_NEW_TOKENS`` tokens unless
    ``model_options`` say otherwise. The verdict is ``p_yes > 0.5`` when the backend reports
    ``meta["p_yes"]`` ("uncertain" within ``margin`` of 0.5), else the first word of the answer
    (an answer that starts with neither yes nor no is a failed, "uncertain" verdict that says so);
    the output is :func:`label`-led with it (path ``"llm-as-a-judge"``, with ``fallback_reason``).
    """
    last = ctx.last_output()
    check = RequirementCheck(requirement, last.value if last is not None else None)
    thunk = backend.generate_from_context(
        check, ctx, model_options=judge_options(model_options), generate_logs=generate_logs
    )
    verdict = verdict_of(thunk)
    if fallback_reason is not None:
        verdict = replace(verdict, fallback_reason=fallback_reason)
    if verdict.p_yes is not None:
        verdict = with_state(verdict, margin=margin)
    elif yes_or_no(thunk.value) is None:
        answer = " ".join((thunk.value or "").split())
        shown = answer if len(answer) <= 60 else answer[:57] + "..."
        verdict = replace(
            verdict,
            passed=False,
            state="uncertain",
            uncertain_reason=f"the judge's answer starts with neither yes nor no: {shown!r}",
        )
    return label(thunk, verdict)


def _result(thunk: ModelOutputThunk, backend: Backend) -> ValidationResult:
    verdict = verdict_of(thunk)
    if verdict.decided_by is None:
        verdict = replace(verdict, decided_by=backend_name(backend))
        thunk.meta["check"] = verdict
    return ValidationResult(verdict.passed, reason=thunk.value, score=verdict.p_yes, thunk=thunk, verdict=verdict)


def check_requirements(
    requirements: Sequence[Requirement],
    backend: Backend,
    ctx: Context,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[ValidationResult]:
    """Check each requirement against the last output in ``ctx``; the results are in the same order.

    Code checks run first; the model-judged ones go as one batch to ``gencomp_check_requirements``,
    and what no plugin answers is judged by the backend (:func:`judge`). A code check that cannot
    decide (its result's ``verdict`` is a :class:`CheckFallback`) joins the model-judged ones as a
    plain ``Requirement`` with its description, and its reason becomes the verdict's
    ``fallback_reason``. Logs go to ``generate_logs`` in the order of the requirements. Each
    plugin-answered check is reported to ``gencomp_after_generate`` (judged ones are, by the
    backend's generation).
    """
    logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
    relay = plugins.hook()
    code = _code_checks(requirements, ctx)
    reqs = code.modelled_requirements(requirements)
    hook_logs: list[GenerateLog] = []
    answered = None
    if reqs:
        answered = relay.gencomp_check_requirements(
            backend=backend,
            requirements=reqs,
            ctx=ctx,
            output=ctx.last_output(),
            model_options=judge_options(model_options),
            generate_logs=hook_logs,
        )
        _check_answer_count(answered, reqs, "gencomp_check_requirements")
    return _results(requirements, backend, ctx, code, answered, hook_logs, logs, model_options, relay)


def check_candidates(
    requirements: Sequence[Requirement],
    backend: Backend,
    ctxs: Sequence[Context],
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[list[ValidationResult]]:
    """:func:`check_requirements` for several candidate outputs of one call (each context ends with one).

    The model-judged checks of all candidates are offered at once to ``gencomp_check_candidates``
    (a plugin can check them against their shared prompt in one batch); when no plugin takes them,
    or a code check of some candidate could not decide (the candidates then need different model
    checks), each candidate is checked on its own.
    """
    logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
    relay = plugins.hook()
    codes = [_code_checks(requirements, ctx) for ctx in ctxs]
    reqs = [r for r in requirements if r.validation_fn is None]
    answered = None
    hook_logs: list[GenerateLog] = []
    if reqs and len(ctxs) > 1 and not any(c.deferred for c in codes):
        answered = relay.gencomp_check_candidates(
            backend=backend,
            requirements=reqs,
            ctxs=list(ctxs),
            model_options=judge_options(model_options),
            generate_logs=hook_logs,
        )
        if answered is not None and len(answered) != len(ctxs):
            raise GencompError(
                f"gencomp_check_candidates answered {len(answered)} candidates for {len(ctxs)}; "
                "a plugin must return one list per context"
            )
    if answered is None:
        return [
            check_requirements(requirements, backend, ctx, model_options=model_options, generate_logs=logs)
            for ctx in ctxs
        ]
    for answers in answered:
        _check_answer_count(answers, reqs, "gencomp_check_candidates")
    mine = [{id(a) for a in answers if a is not None} for answers in answered]
    leftover = [log for log in hook_logs if not any(id(log.result) in m for m in mine)]
    results = []
    for ctx, code, answers, m in zip(ctxs, codes, answered, mine, strict=True):
        own = [log for log in hook_logs if id(log.result) in m]
        results.append(_results(requirements, backend, ctx, code, answers, own, logs, model_options, relay))
    logs.extend(leftover)
    return results


@dataclass
class _CodeChecks:
    """The code checks of one output: those that decided, and those that left the requirement to the model."""

    decided: dict[int, ValidationResult]
    deferred: dict[int, tuple[Requirement, str]]

    def modelled(self, requirements: Sequence[Requirement]) -> list[int]:
        """The indices of the requirements the model judges: no ``validation_fn``, or one that deferred."""
        return [i for i, r in enumerate(requirements) if r.validation_fn is None or i in self.deferred]

    def modelled_requirements(self, requirements: Sequence[Requirement]) -> list[Requirement]:
        """What the model is asked about, in order: a deferred check as a plain requirement of its description."""
        return [self.deferred[i][0] if i in self.deferred else requirements[i] for i in self.modelled(requirements)]


def _code_checks(requirements: Sequence[Requirement], ctx: Context) -> _CodeChecks:
    code = _CodeChecks({}, {})
    for i, r in enumerate(requirements):
        if r.validation_fn is None:
            continue
        checked = r.validation_fn(ctx)
        result = checked if isinstance(checked, ValidationResult) else ValidationResult(bool(checked))
        if isinstance(result.verdict, CheckFallback) and r.description:
            code.deferred[i] = (Requirement(r.description), result.verdict.reason)
        else:
            code.decided[i] = result
    return code


def _check_answer_count(answered: list[Any] | None, reqs: list[Requirement], hook: str) -> None:
    if answered is not None and len(answered) != len(reqs):
        raise GencompError(
            f"{hook} answered {len(answered)} checks for {len(reqs)} requirements; "
            "a plugin must return one entry (an output, a CheckFallback or None) per requirement"
        )


def _results(
    requirements: Sequence[Requirement],
    backend: Backend,
    ctx: Context,
    code: _CodeChecks,
    answered: list[ModelOutputThunk | CheckFallback | None] | None,
    hook_logs: list[GenerateLog],
    logs: list[GenerateLog],
    model_options: dict[str, Any] | None,
    relay: Any,
) -> list[ValidationResult]:
    """The verdicts of one output: its code checks, the plugin's ``answered`` model checks, the judge for the rest."""
    answers: dict[int, ModelOutputThunk | CheckFallback] = {}
    if answered is not None:
        answers = {i: a for i, a in zip(code.modelled(requirements), answered, strict=True) if a is not None}
    index = {id(a): i for i, a in answers.items()}
    own: dict[int, list[GenerateLog]] = {i: [] for i in answers}
    for log in hook_logs:
        k = index.get(id(log.result))
        (own[k] if k is not None else logs).append(log)
    results = []
    for i, r in enumerate(requirements):
        if i in code.decided:
            results.append(code.decided[i])
            continue
        deferred = code.deferred.get(i)
        if deferred is not None:
            r = deferred[0]
        answer = answers.get(i)
        if not isinstance(answer, ModelOutputThunk):
            reasons = [deferred[1] if deferred else None, answer.reason if isinstance(answer, CheckFallback) else None]
            reason = "; ".join(x for x in reasons if x) or None
            thunk = judge(backend, r, ctx, model_options=model_options, generate_logs=logs, fallback_reason=reason)
            results.append(_result(thunk, backend))
            continue
        logs.extend(own[i])
        last_log = own[i][-1] if own[i] else None
        if answer.generate_log is None:
            answer.generate_log = last_log
        if deferred is not None:
            label(answer, replace(verdict_of(answer), fallback_reason=deferred[1]))
        relay.gencomp_after_generate(backend=backend, action=r, result=answer, log=last_log)
        results.append(_result(answer, backend))
    return results
