"""Running a strategy's plan: the same plan driven synchronously (:func:`drive`) or asynchronously (:func:`adrive`).

:class:`Run` holds everything one call knows and decides; the two drivers only do the waiting. A
plan's :class:`~gencomp.strategies.Generate` step becomes one generation (or a batch of candidates)
with a :class:`~gencomp.streaming.GenerationControl` per candidate: streamed text, prefix checks
that stop a candidate early, cancellation. A :class:`~gencomp.strategies.Check` step checks the
attempts (the model-judged checks of several candidates as one batch where a plugin can). Every
attempt is kept, the cost is counted, and the kept turn is added to the session's context last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gencomp.base import CBlock, Component, Context, GenerateLog, ModelOutputThunk, backend_name
from gencomp.components import Requirement, ValidationResult
from gencomp.errors import ConstraintRefusedError, GencompError, UnknownModelOptionError
from gencomp.model_options import ModelOption
from gencomp.strategies._base import (
    Attempt,
    Call,
    CallCost,
    Check,
    Generate,
    IdenticalAttemptError,
    SamplingResult,
    Selection,
    Strategy,
    StrategyError,
    UncertainPolicy,
    call_seed,
    call_temperature,
    verdict_state,
)
from gencomp.strategies._builtin import DEFAULT_TEMPERATURE
from gencomp.strategies._enforce import mark_enforced
from gencomp.streaming import (
    EarlyStop,
    GenerationCancelled,
    GenerationControl,
    StreamChunk,
    controlled,
    controlled_candidates,
    run_in_thread,
)
from gencomp.tracing import Span, end_span, record_span, start_span, using
from gencomp.verdicts import check_candidates, check_requirements

if TYPE_CHECKING:
    from gencomp.backend import Backend

__all__ = ["CallSpec", "Run", "adrive", "drive"]


@dataclass(frozen=True)
class CallSpec:
    """One session call, as the session hands it to the driver."""

    kind: str
    action: Component | CBlock
    requirements: list[Requirement]
    budget: int
    strategy: Strategy
    format: type[Any] | None = None
    model_options: dict[str, Any] | None = None
    tool_calls: bool = False
    uncertain: UncertainPolicy = "unmet"


@dataclass
class _Job:
    """A generation step made concrete: its attempts (numbered, with their seeds), options and controls."""

    step: Generate
    attempts: list[Attempt]
    model_options: dict[str, Any] | None
    controls: list[GenerationControl]
    span: Span | None
    start: float
    refused: GencompError | None = None
    """Why the job is not generated at all (it would repeat a failed attempt and nothing can be varied)."""


def _not_run(stop: EarlyStop) -> ValidationResult:
    return ValidationResult(
        False,
        reason=f"not run: the answer was stopped early, failing {stop.requirement.description!r}",
        ran=False,
    )


class Run:
    """One call in progress: the plan, its attempts, and what they cost."""

    def __init__(
        self,
        backend: Backend,
        ctx: Context,
        spec: CallSpec,
        logs: list[GenerateLog],
        *,
        emit: Callable[[StreamChunk], None] | None = None,
        cancelled: threading.Event | None = None,
        check_backend: Backend | None = None,
    ) -> None:
        self.backend = backend
        self.check_backend = check_backend if check_backend is not None else backend
        self.ctx = ctx
        self.spec = spec
        self.logs = logs
        self.emit = emit
        self.cancelled = cancelled if cancelled is not None else threading.Event()
        options = dict(spec.model_options or {})
        self.call = Call(
            spec.action,
            tuple(spec.requirements),
            spec.budget,
            options,
            call_seed(options, backend.model_options),
            call_temperature(options, backend.model_options),
            spec.uncertain,
            spec.format,
            frozenset(getattr(backend, "constraint_syntaxes", frozenset())),
            backend_name(backend),
        )
        self.plan = spec.strategy.sample(self.call)
        self.attempts: list[Attempt] = []
        self._tried: dict[tuple[str, int | None, float | None], int] = {}
        self._refused: dict[Any, str] = {}
        """Constraints the backend refused in this call, with its reason (later steps go without them)."""
        self._open: dict[int, Span | None] = {}
        self.start = time.perf_counter()
        self.generation_seconds = 0.0
        self.check_seconds = 0.0
        self.span = start_span(
            "call",
            f"{spec.kind} {spec.strategy.name or type(spec.strategy).__name__}",
            {
                "gencomp.call": spec.kind,
                "gencomp.strategy": spec.strategy.name or type(spec.strategy).__name__,
                "gencomp.loop_budget": spec.budget,
                "gencomp.requirements": len(spec.requirements),
            },
            backend=backend,
            action=spec.action,
        )

    # -- the plan ---------------------------------------------------------------------------------

    def step(self, reply: Any) -> Generate | Check | Selection:
        """The plan's next step after ``reply``, or its :class:`Selection` when it is done."""
        self.raise_if_cancelled()
        try:
            step = self.plan.send(reply)
        except StopIteration as done:
            selection = done.value
            if not isinstance(selection, Selection) or selection.attempt not in self.attempts:
                raise StrategyError(
                    f"strategy {self.spec.strategy!r} returned {selection!r}; sample() must return a Selection of "
                    "one of its attempts (call.select(attempt) or call.best(attempts))"
                ) from None
            return selection
        if not isinstance(step, Generate | Check):
            raise StrategyError(
                f"strategy {self.spec.strategy!r} yielded {step!r}; a plan yields call.generate(...) or call.check(...)"
            )
        return step

    def raise_if_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise GenerationCancelled("the call was cancelled; the session's context is unchanged")

    # -- generation -------------------------------------------------------------------------------

    def job(self, step: Generate) -> _Job:
        """The attempts of ``step``, numbered and seeded, with their options and controls."""
        if isinstance(step.n, bool) or not isinstance(step.n, int) or step.n < 1:
            raise StrategyError(f"strategy {self.spec.strategy!r} asked for {step.n!r} candidates; n must be >= 1")
        first = len(self.attempts) + 1
        if first + step.n - 1 > self.call.budget:
            raise StrategyError(
                f"strategy {self.spec.strategy!r} asked for attempt {first + step.n - 1} with a budget of "
                f"{self.call.budget}"
            )
        enforcement = step.enforcement
        if enforcement is not None and enforcement.constraint in self._refused:
            enforcement = enforcement.refused(self._refused[enforcement.constraint])
        seed = step.seed if step.seed is not None else self.call.seed
        temperature = step.temperature if step.temperature is not None else self.call.temperature
        varied = None
        if step.n > 1 and not temperature:  # greedy candidates would all be the same answer
            temperature = DEFAULT_TEMPERATURE
            seed = seed if seed is not None else 0
            varied = f"{step.n} greedy candidates would be identical: sampled at temperature {temperature}"
        elif step.n == 1:
            seed, temperature, varied = self._unrepeated(step.action, seed, temperature)
        attempts = [
            Attempt(
                first + i,
                step.action,
                seed=None if seed is None else seed + i,
                temperature=temperature,
                varied=varied,
                trust_uncertain=self.call.uncertain == "trust",
                enforcement=enforcement,
            )
            for i in range(step.n)
        ]
        options = dict(self.call.model_options)
        if enforcement is not None and enforcement.constraint is not None:
            options[ModelOption.CONSTRAINT] = enforcement.constraint
        if seed is not None and (step.seed is not None or varied or seed != self.call.seed):
            options[ModelOption.SEED] = seed
        if temperature is not None and temperature != self.call.temperature:
            options[ModelOption.TEMPERATURE] = temperature
        refused = self._cannot_vary(options, varied) if varied else None
        controls = [
            GenerationControl(self._on_text(a.number), self.call.requirements, cancelled=self.cancelled)
            for a in attempts
        ]
        name = f"attempt {first}" if step.n == 1 else f"attempts {first}-{first + step.n - 1}"
        s = start_span("attempt", name, {"gencomp.attempt": first, "gencomp.candidates": step.n}, parent=self.span)
        for a in attempts:
            self._open[a.number] = s
        self.attempts.extend(attempts)
        return _Job(step, attempts, options or None, controls, s, time.perf_counter(), refused)

    def without_constraint(self, job: _Job, error: BaseException) -> _Job | None:
        """``job`` without the constraint of its enforcement when the backend refused it (``error``), else ``None``.

        The refusal is remembered for the rest of the call: later steps are generated without it at once.
        """
        enforcement = job.step.enforcement
        sent = (job.model_options or {}).get(ModelOption.CONSTRAINT)
        if not isinstance(error, ConstraintRefusedError) or enforcement is None or sent is None:
            return None
        if sent is not enforcement.constraint:
            return None  # a constraint the caller set in model_options is theirs: its refusal is the call's error
        self._refused[sent] = str(error)
        refused = enforcement.refused(str(error))
        for a in job.attempts:  # each carries the job's enforcement, the one it was sent with
            a.enforcement = refused
        options = {k: v for k, v in (job.model_options or {}).items() if k != ModelOption.CONSTRAINT}
        return replace(job, model_options=options or None, start=time.perf_counter())

    def _cannot_vary(self, options: dict[str, Any], varied: str) -> GencompError | None:
        """Why the varied options cannot be used (the backend takes no seed or temperature), or ``None``."""
        try:
            self.backend.translate_options(options)
        except UnknownModelOptionError as exc:
            return IdenticalAttemptError(
                f"not generated: it would repeat a failed attempt exactly ({varied.split(':')[0]}), and the backend "
                f"cannot sample another answer ({exc})"
            )
        return None

    def _unrepeated(
        self, action: Component | CBlock, seed: int | None, temperature: float | None
    ) -> tuple[int | None, float | None, str | None]:
        """``seed`` and ``temperature``, changed when the same inputs already gave an answer that failed."""
        prompt = self.backend.render(action)
        key = (prompt, seed, temperature)
        if key not in self._tried or (temperature and seed is None):  # unseeded sampling never repeats exactly
            return seed, temperature, None
        same = self._tried[key]
        new_t = temperature or DEFAULT_TEMPERATURE
        new_seed = seed if seed is not None else 0
        while (prompt, new_seed, new_t) in self._tried:
            new_seed += 1
        return (
            new_seed,
            new_t,
            (f"the same inputs as attempt {same} (which failed): sampled at temperature {new_t} with seed {new_seed}"),
        )

    def _on_text(self, number: int) -> Callable[[str], None] | None:
        emit = self.emit
        if emit is None:
            return None
        return lambda text: emit(StreamChunk(text, number))

    def generated(self, job: _Job, outputs: Sequence[ModelOutputThunk] | None, error: BaseException | None) -> None:
        """Record the outputs of ``job`` (or the error that ended it); the plan's reply is ``job.attempts``."""
        seconds = time.perf_counter() - job.start
        self.generation_seconds += seconds
        for i, a in enumerate(job.attempts):
            a.seconds = seconds
            if error is not None:
                a.error = error
                continue
            assert outputs is not None
            a.output = outputs[i]
            a.early_stop = job.controls[i].early_stop
            if a.output is not None:
                self._tried.setdefault((self.backend.render(a.action), a.seed, a.temperature), a.number)
        if error is not None:
            end_span(job.span, error)

    def failed(self, job: _Job, error: BaseException) -> _Job | None:
        """After ``job``'s generation raised ``error``: the job to generate again (without a constraint the
        backend refused), or ``None`` once the error is recorded on its attempts; re-raises it when it ends the call."""
        retry = self.without_constraint(job, error)
        if retry is not None:
            return retry
        self.generated(job, None, error)
        if not self.keeps_going_after(error):
            raise error
        return None

    def keeps_going_after(self, error: BaseException) -> bool:
        """Whether a generation error becomes failed attempts (an earlier attempt has an answer) or ends the call."""
        return (
            isinstance(error, GencompError)
            and not isinstance(error, GenerationCancelled | StrategyError)
            and any(a.output is not None for a in self.attempts)
        )

    # -- checks -----------------------------------------------------------------------------------

    def to_check(self, step: Check) -> tuple[list[Attempt], list[Attempt]]:
        """The attempts of ``step`` still unchecked: those with a whole answer, and those stopped early."""
        for a in step.attempts:
            if a not in self.attempts:
                raise StrategyError(f"strategy {self.spec.strategy!r} asked to check an attempt of another call")
        todo = [a for a in step.attempts if a.verdicts is None and a.output is not None]
        return [a for a in todo if a.early_stop is None], [a for a in todo if a.early_stop is not None]

    def span_of(self, a: Attempt) -> Span | None:
        """The open span of ``a``'s generation step (the parent of its checks), if any."""
        return self._open.get(a.number)

    def checked_ctx(self, a: Attempt) -> Context:
        checked = self.ctx.copy()
        checked.insert_turn(a.action, a.output)
        return checked

    def stopped_requirements(self, a: Attempt) -> list[Requirement]:
        """What can still be checked of an answer stopped early: the code checks other than the one that stopped it."""
        assert a.early_stop is not None
        stop = a.early_stop.requirement
        return [r for r in self.call.requirements if r.validation_fn is not None and r is not stop]

    def record_checks(self, a: Attempt, results: Sequence[ValidationResult], start_ns: int) -> None:
        """Set ``a``'s verdicts from the checks that ran (of :meth:`stopped_requirements` when it was stopped)."""
        if a.early_stop is None:
            verdicts = list(results)
        else:
            stop = a.early_stop
            done = dict(zip(map(id, self.stopped_requirements(a)), results, strict=True))
            verdicts = [
                replace(stop.result, stopped_at_token=stop.token)
                if r is stop.requirement
                else done.get(id(r)) or _not_run(stop)
                for r in self.call.requirements
            ]
        if a.enforcement is not None:
            verdicts = mark_enforced(a, self.call.requirements, verdicts)
        a.verdicts = list(zip(self.call.requirements, verdicts, strict=True))
        parent = self.span_of(a)
        end_ns = time.time_ns()
        for r, v in a.verdicts:
            verdict = v.verdict
            record_span(
                "check",
                f"check {r.description or 'requirement'}"[:120],
                start_ns,
                end_ns,
                {
                    "gencomp.requirement": r.description,
                    "gencomp.candidate": a.number,
                    "gencomp.check_path": v.check_path,
                    "gencomp.passed": v.result if v.ran else None,
                    "gencomp.state": verdict_state(v) if v.ran else "not run",
                    "gencomp.p_yes": getattr(verdict, "p_yes", None),
                    "gencomp.reused_tokens": getattr(verdict, "reused_tokens", None),
                    "gencomp.computed_tokens": getattr(verdict, "computed_tokens", None),
                    "gencomp.reason": v.reason if v.thunk is None else getattr(verdict, "fallback_reason", None),
                },
                parent=parent,
                requirement=r,
                result=v,
                attempt=a,
            )
        if self.emit is not None and self.call.requirements:
            self.emit(StreamChunk("", a.number, checks=tuple(a.verdicts)))
        self._close_spans()

    def _close_spans(self, error: BaseException | None = None) -> None:
        by_span: dict[int, list[Attempt]] = {}
        spans: dict[int, Span] = {}
        for a in self.attempts:
            s = self._open.get(a.number)
            if s is not None:
                by_span.setdefault(s.id, []).append(a)
                spans[s.id] = s
        for sid, group in by_span.items():
            if error is None and any(a.verdicts is None and a.error is None for a in group):
                continue
            s = spans[sid]
            stopped = [a for a in group if a.early_stop is not None]
            s.set(
                **{
                    "gencomp.passed": sum(a.passed for a in group),
                    "gencomp.early_stops": len(stopped),
                    "gencomp.early_stop_reasons": [a.early_stop.result.reason or "" for a in stopped if a.early_stop]
                    or None,
                }
            )
            s.refs["attempts"] = group
            end_span(s, error)
            for a in group:
                self._open.pop(a.number, None)

    # -- the end ----------------------------------------------------------------------------------

    def result(self, selection: Selection) -> SamplingResult:
        """The call's :class:`SamplingResult` once its plan returned ``selection``."""
        kept = selection.attempt
        assert kept.output is not None
        if kept.verdicts is None:  # a plan that kept an unchecked attempt: it is checked, so the result says
            raise StrategyError(
                f"strategy {self.spec.strategy!r} kept attempt {kept.number} without checking it; check it first"
            )
        answered = [a for a in self.attempts if a.output is not None]
        cost = self.cost()
        self._close_spans()
        if self.span is not None:
            self.span.set(
                **{
                    "gencomp.success": kept.passed,
                    "gencomp.attempts": len(self.attempts),
                    "gencomp.selected": kept.number,
                    "gencomp.selection": selection.reason,
                    "gencomp.generated_tokens": cost.generated_tokens,
                    "gencomp.check_tokens_computed": cost.check_tokens_computed,
                    "gencomp.check_tokens_reused": cost.check_tokens_reused,
                }
            )
        return SamplingResult(
            result=kept.output,
            success=kept.passed,
            sample_generations=[a.output for a in answered if a.output is not None],
            sample_validations=[list(a.verdicts or []) for a in answered],
            attempts=list(self.attempts),
            selected=kept,
            selection=selection.reason,
            strategy=self.spec.strategy.name or type(self.spec.strategy).__name__,
            cost=cost,
        )

    def finish(self, error: BaseException | None) -> None:
        """End the call's spans (``error``: how the call ended, if it failed)."""
        self._close_spans(error or GenerationCancelled("the call ended before this attempt was checked"))
        if self.span is not None:
            self.span.refs["attempts"] = list(self.attempts)
        end_span(self.span, error)

    def cost(self) -> CallCost:
        """What the call has cost so far."""
        generated = [a.generated_tokens for a in self.attempts if a.output is not None]
        stopped = [a for a in self.attempts if a.early_stop is not None]
        saved: int | None = 0
        for a in stopped:
            log = a.output.generate_log if a.output is not None else None
            budget = (log.model_options or {}).get(ModelOption.MAX_NEW_TOKENS) if log is not None else None
            if not isinstance(budget, int) or a.generated_tokens is None or saved is None:
                saved = None
                continue
            saved += max(0, budget - a.generated_tokens)
        model = [v.verdict for a in self.attempts for _, v in a.verdicts or [] if v.ran and v.thunk is not None]
        return CallCost(
            attempts=len(generated),
            generated_tokens=_total(generated),
            stopped_early=len(stopped),
            saved_tokens=saved if stopped else 0,
            model_checks=len(model),
            check_tokens_computed=_total([getattr(v, "computed_tokens", None) for v in model]),
            check_tokens_reused=_total([getattr(v, "reused_tokens", None) for v in model]),
            seconds=time.perf_counter() - self.start,
            generation_seconds=self.generation_seconds,
            check_seconds=self.check_seconds,
        )


def _total(counts: Sequence[Any]) -> int | None:
    """The sum of ``counts``, or ``None`` when one of them is not known."""
    return sum(counts) if all(isinstance(c, int) for c in counts) else None


def drive(run: Run, outer: GenerationControl | None = None) -> Selection:
    """Run ``run``'s plan to its selection, synchronously."""
    reply: Any = None
    while True:
        step = run.step(reply)
        if isinstance(step, Selection):
            return step
        if isinstance(step, Check):
            _check(run, step, outer)
            reply = None
            continue
        job = run.job(step)
        if job.refused is not None:
            run.generated(job, None, job.refused)
            reply = job.attempts
            continue
        while True:
            try:
                with using(job.span):
                    if step.n == 1:
                        with controlled(job.controls[0]):
                            outputs = [
                                run.backend.generate_from_context(
                                    step.action, run.ctx, format=run.spec.format, model_options=job.model_options,
                                    generate_logs=run.logs, tool_calls=run.spec.tool_calls,
                                )
                            ]  # fmt: skip
                    else:
                        with controlled(_group(job)), controlled_candidates(job.controls):
                            outputs = run.backend.generate_candidates(
                                step.action, run.ctx, step.n, format=run.spec.format, model_options=job.model_options,
                                generate_logs=run.logs, tool_calls=run.spec.tool_calls,
                            )  # fmt: skip
            except BaseException as exc:
                retry = run.failed(job, exc)
                if retry is not None:
                    job = retry
                    continue
            else:
                run.generated(job, outputs, None)
            break
        run.raise_if_cancelled()
        reply = job.attempts


async def adrive(run: Run, outer: GenerationControl | None = None) -> Selection:
    """Run ``run``'s plan to its selection on the running event loop (never blocking it)."""
    reply: Any = None
    while True:
        step = run.step(reply)
        if isinstance(step, Selection):
            return step
        if isinstance(step, Check):
            await run_in_thread(_check, run, step, outer)
            reply = None
            continue
        job = run.job(step)
        if job.refused is not None:
            run.generated(job, None, job.refused)
            reply = job.attempts
            continue
        while True:
            try:
                with using(job.span):
                    if step.n == 1:
                        with controlled(job.controls[0]):
                            outputs = [
                                await run.backend.agenerate_from_context(
                                    step.action, run.ctx, format=run.spec.format, model_options=job.model_options,
                                    generate_logs=run.logs, tool_calls=run.spec.tool_calls,
                                )
                            ]  # fmt: skip
                    else:
                        with controlled(_group(job)), controlled_candidates(job.controls):
                            outputs = await run.backend.agenerate_candidates(
                                step.action, run.ctx, step.n, format=run.spec.format, model_options=job.model_options,
                                generate_logs=run.logs, tool_calls=run.spec.tool_calls,
                            )  # fmt: skip
            except BaseException as exc:
                retry = run.failed(job, exc)
                if retry is not None:
                    job = retry
                    continue
            else:
                run.generated(job, outputs, None)
            break
        run.raise_if_cancelled()
        reply = job.attempts


def _group(job: _Job) -> GenerationControl:
    """The control that stands for all candidates of a job (cancelling it cancels them all)."""
    return GenerationControl(cancelled=job.controls[0].cancelled)


def _check(run: Run, step: Check, outer: GenerationControl | None) -> None:
    """Check the unchecked attempts of ``step`` (blocking: the async driver runs it in a worker thread)."""
    whole, stopped = run.to_check(step)
    start = time.perf_counter()
    try:
        with controlled(outer):
            _check_all(run, whole, stopped)
    finally:
        run.check_seconds += time.perf_counter() - start


def _check_all(run: Run, whole: list[Attempt], stopped: list[Attempt]) -> None:
    for a in stopped:
        start_ns = time.time_ns()
        with using(run.span_of(a)):
            results = check_requirements(
                run.stopped_requirements(a), run.check_backend, run.checked_ctx(a), generate_logs=run.logs
            )
        run.record_checks(a, results, start_ns)
    if whole:
        start_ns = time.time_ns()
        with using(run.span_of(whole[0])):
            reqs = list(run.call.requirements)
            if len(whole) == 1:
                ctx = run.checked_ctx(whole[0])
                batches = [check_requirements(reqs, run.check_backend, ctx, generate_logs=run.logs)]
            else:
                ctxs = [run.checked_ctx(a) for a in whole]
                batches = check_candidates(reqs, run.check_backend, ctxs, generate_logs=run.logs)
        for a, results in zip(whole, batches, strict=True):
            run.record_checks(a, results, start_ns)
