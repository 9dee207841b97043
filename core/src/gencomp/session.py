"""Sessions: a backend and a context, with instruct, chat, validate and act."""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gencomp import plugins
from gencomp.backend import Backend
from gencomp.base import CBlock, Component, Context, GenerateLog, LinearContext, ModelOutputThunk
from gencomp.components import Instruction, Message, Requirement, ValidationResult, as_list, as_requirement
from gencomp.errors import ConfigError, UnknownBackendOptionError
from gencomp.model_options import ModelOption
from gencomp.streaming import (
    AsyncResultStream,
    EarlyStop,
    GenerationCancelled,
    GenerationControl,
    ResultStream,
    StreamChunk,
    controlled,
    run_in_thread,
)
from gencomp.verdicts import check_requirements

__all__ = ["SamplingResult", "Session", "start_session", "validate_requirements"]


@dataclass
class SamplingResult:
    """Every attempt of one call: outputs, their validations, and whether the last one passed."""

    result: ModelOutputThunk
    success: bool
    sample_generations: list[ModelOutputThunk] = field(default_factory=list)
    sample_validations: list[list[tuple[Requirement, ValidationResult]]] = field(default_factory=list)


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


def validate_requirements(
    requirements: Sequence[Requirement],
    backend: Backend,
    ctx: Context,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[ValidationResult]:
    """Validate each requirement against the last output in ``ctx`` (:func:`gencomp.verdicts.check_requirements`)."""
    return check_requirements(requirements, backend, ctx, model_options=model_options, generate_logs=generate_logs)


@dataclass
class _Generate:
    """A step of a call: generate attempt ``attempt`` for ``action`` after the session's context."""

    action: Component | CBlock
    attempt: int


@dataclass
class _Validate:
    """A step of a call: validate ``requirements`` against the last output of ``ctx``."""

    requirements: list[Requirement]
    ctx: Context


_Step = _Generate | _Validate


@dataclass
class _CallOptions:
    requirements: list[Requirement]
    loop_budget: int
    format: type[Any] | None
    model_options: dict[str, Any] | None
    tool_calls: bool

    def __post_init__(self) -> None:  # every call's arguments are checked here, before any generation
        if isinstance(self.loop_budget, bool) or not isinstance(self.loop_budget, int) or self.loop_budget < 1:
            raise ValueError(f"loop_budget must be a whole number >= 1, got {self.loop_budget!r}")
        if self.model_options:
            ModelOption.validate(self.model_options)


def _not_checked(stop: EarlyStop) -> ValidationResult:
    return ValidationResult(
        False, reason=f"not checked: the answer was stopped early, failing {stop.requirement.description!r}"
    )


class Session:
    """A backend and a context; each call appends its turn to the context.

    ``last_logs`` holds the ``GenerateLog``s of the most recent call, requirement checks included.
    Every call has an async counterpart (``aact``, ``ainstruct``, ``achat``, ``avalidate``) with the
    same results, and ``instruct_stream``/``chat_stream`` (and their async twins) yield the answer
    as it is generated. A call that is cancelled (or whose stream is closed) leaves the context as
    it was before the call. Calls on one session must not overlap: use one session per conversation.
    """

    def __init__(self, backend: Backend, ctx: Context | None = None) -> None:
        self.backend = backend
        self.ctx = ctx if ctx is not None else LinearContext()
        self.last_logs: list[GenerateLog] = []

    # -- one call, as steps: the same program whether it is driven synchronously or asynchronously ----

    def _steps(
        self, action: Component | CBlock, o: _CallOptions, emit: Any = None
    ) -> Generator[_Step, Any, SamplingResult]:
        """The attempts of one call: generate, validate, repair; the kept turn is added to the context last."""
        self.last_logs = []
        generations: list[ModelOutputThunk] = []
        validations: list[list[tuple[Requirement, ValidationResult]]] = []
        current = action
        for attempt in range(o.loop_budget):
            if attempt and isinstance(action, Instruction):
                current = action.with_repair(repair_feedback([(r, v) for r, v in validations[-1] if not v.result]))
            out, stop = yield _Generate(current, attempt + 1)
            checked = self.ctx.copy()
            checked.insert_turn(current, out)
            generations.append(out)
            if stop is None:
                verdicts = yield _Validate(o.requirements, checked)
            else:  # a requirement failed on the prefix: run only the free checks, then repair
                by_code = [r for r in o.requirements if r.validation_fn is not None and r is not stop.requirement]
                done = dict(zip(map(id, by_code), (yield _Validate(by_code, checked)), strict=True))
                verdicts = [
                    replace(stop.result, stopped_at_token=stop.token)
                    if r is stop.requirement
                    else done.get(id(r)) or _not_checked(stop)
                    for r in o.requirements
                ]
            validations.append(list(zip(o.requirements, verdicts, strict=True)))
            if o.requirements and emit is not None:  # a stream reports each attempt's verdicts
                emit(StreamChunk("", attempt + 1, checks=tuple(validations[-1])))
            if all(v.result for _, v in validations[-1]):
                break
        success = all(v.result for _, v in validations[-1])
        sampling = SamplingResult(generations[-1], success, generations, validations)
        self.ctx.insert_turn(current, sampling.result)
        return sampling

    def _control(
        self, o: _CallOptions, step: _Generate, outer: GenerationControl | None, emit: Any
    ) -> GenerationControl:
        on_text = None if emit is None else (lambda text: emit(StreamChunk(text, step.attempt)))
        cancelled = outer.cancelled if outer is not None else None
        return GenerationControl(on_text, o.requirements, cancelled=cancelled)

    def _drive(
        self, action: Component | CBlock, o: _CallOptions, outer: GenerationControl | None = None, emit: Any = None
    ) -> SamplingResult:
        steps = self._steps(action, o, emit)
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:  # only the steps' own end: a backend's stray StopIteration propagates
                return done.value  # type: ignore[no-any-return]
            _raise_if_cancelled(outer)
            if isinstance(step, _Validate):
                with controlled(outer):
                    reply = validate_requirements(
                        step.requirements, self.backend, step.ctx, generate_logs=self.last_logs
                    )
                continue
            control = self._control(o, step, outer, emit)
            with controlled(control):
                out = self.backend.generate_from_context(
                    step.action, self.ctx, format=o.format, model_options=o.model_options,
                    generate_logs=self.last_logs, tool_calls=o.tool_calls,
                )  # fmt: skip
            _raise_if_cancelled(control)
            reply = (out, control.early_stop)

    async def _adrive(
        self, action: Component | CBlock, o: _CallOptions, outer: GenerationControl | None = None, emit: Any = None
    ) -> SamplingResult:
        steps = self._steps(action, o, emit)
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:  # only the steps' own end: a backend's stray StopIteration propagates
                return done.value  # type: ignore[no-any-return]
            _raise_if_cancelled(outer)
            if isinstance(step, _Validate):
                with controlled(outer):
                    reply = await run_in_thread(
                        validate_requirements, step.requirements, self.backend, step.ctx,
                        generate_logs=self.last_logs,
                    )  # fmt: skip
                continue
            control = self._control(o, step, outer, emit)
            with controlled(control):
                out = await self.backend.agenerate_from_context(
                    step.action, self.ctx, format=o.format, model_options=o.model_options,
                    generate_logs=self.last_logs, tool_calls=o.tool_calls,
                )  # fmt: skip
            _raise_if_cancelled(control)
            reply = (out, control.early_stop)

    # -- calls ---------------------------------------------------------------------------------------

    def act(
        self,
        action: Component | CBlock,
        *,
        requirements: list[Requirement | str] | Requirement | str | None = None,
        loop_budget: int = 1,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Run ``action``, validate the output against ``requirements``, retry up to ``loop_budget`` times.

        A retry of an :class:`Instruction` carries the failed requirements as repair feedback. The
        turn that is kept (the first that passes, else the last) is appended to the context.
        Returns the output, or with ``return_sampling_results`` every attempt and its validations.
        """
        o = _CallOptions(_requirements(requirements), loop_budget, format, model_options, tool_calls)
        sampling = self._drive(action, o)
        return sampling if return_sampling_results else sampling.result

    async def aact(
        self,
        action: Component | CBlock,
        *,
        requirements: list[Requirement | str] | Requirement | str | None = None,
        loop_budget: int = 1,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """:meth:`act` for asyncio: the same result; the event loop is never blocked."""
        o = _CallOptions(_requirements(requirements), loop_budget, format, model_options, tool_calls)
        sampling = await self._adrive(action, o)
        return sampling if return_sampling_results else sampling.result

    def instruct(
        self,
        description: str,
        *,
        requirements: list[Requirement | str] | Requirement | str | None = None,
        icl_examples: list[str | CBlock] | str | None = None,
        grounding_context: dict[str, str | CBlock | Component] | None = None,
        user_variables: dict[str, str] | None = None,
        prefix: str | CBlock | None = None,
        output_prefix: str | CBlock | None = None,
        loop_budget: int = 2,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Ask the model to do ``description``; requirements are shown to it and validated after.

        ``loop_budget`` is the number of attempts (the first plus retries).
        """
        instruction = Instruction(
            description,
            requirements=requirements,
            icl_examples=icl_examples,
            grounding_context=grounding_context,
            user_variables=user_variables,
            prefix=prefix,
            output_prefix=output_prefix,
        )
        o = _CallOptions(list(instruction.requirements), loop_budget, format, model_options, tool_calls)
        sampling = self._drive(instruction, o)
        return sampling if return_sampling_results else sampling.result

    async def ainstruct(self, description: str, **kwargs: Any) -> ModelOutputThunk | SamplingResult:
        """:meth:`instruct` for asyncio (same arguments, same result); the event loop is never blocked."""
        instruction, o, full = _instruction(description, kwargs)
        sampling = await self._adrive(instruction, o)
        return sampling if full else sampling.result

    def instruct_stream(self, description: str, **kwargs: Any) -> ResultStream[SamplingResult]:
        """:meth:`instruct` (same arguments), yielding the answer's chunks as they are generated.

        Iterate the returned stream for :class:`~gencomp.streaming.StreamChunk`s (every attempt's;
        ``chunk.attempt`` tells a retry), then read ``stream.result``: the
        :class:`SamplingResult`, validated and in the context as after :meth:`instruct`. A requirement
        with a ``prefix_fn`` that fails on the streamed prefix stops the attempt early (its verdict's
        ``stopped_at_token``) and the retry starts at once. Closing the stream cancels the call.
        """
        instruction, o, _ = _instruction(description, kwargs)
        return ResultStream(lambda emit, control: self._drive(instruction, o, control, emit))

    def ainstruct_stream(self, description: str, **kwargs: Any) -> AsyncResultStream[SamplingResult]:
        """:meth:`instruct_stream` for asyncio: ``async for`` the chunks, then ``await stream.result()``."""
        instruction, o, _ = _instruction(description, kwargs)
        return AsyncResultStream(lambda emit, control: self._adrive(instruction, o, control, emit))

    def chat(
        self,
        content: str,
        role: str = "user",
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
    ) -> Message:
        """Send a message and return the model's reply as an assistant message."""
        o = _CallOptions([], 1, format, model_options, tool_calls)
        return _reply(self._drive(Message(role, content), o))  # type: ignore[arg-type]

    async def achat(
        self,
        content: str,
        role: str = "user",
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
    ) -> Message:
        """:meth:`chat` for asyncio."""
        o = _CallOptions([], 1, format, model_options, tool_calls)
        return _reply(await self._adrive(Message(role, content), o))  # type: ignore[arg-type]

    def chat_stream(self, content: str, role: str = "user", **kwargs: Any) -> ResultStream[SamplingResult]:
        """:meth:`chat` yielding the reply's chunks; ``stream.result.result`` is the reply's output."""
        o = _CallOptions([], 1, kwargs.get("format"), kwargs.get("model_options"), kwargs.get("tool_calls", False))
        message = Message(role, content)  # type: ignore[arg-type]
        return ResultStream(lambda emit, control: self._drive(message, o, control, emit))

    def achat_stream(self, content: str, role: str = "user", **kwargs: Any) -> AsyncResultStream[SamplingResult]:
        """:meth:`chat_stream` for asyncio."""
        o = _CallOptions([], 1, kwargs.get("format"), kwargs.get("model_options"), kwargs.get("tool_calls", False))
        message = Message(role, content)  # type: ignore[arg-type]
        return AsyncResultStream(lambda emit, control: self._adrive(message, o, control, emit))

    def validate(
        self,
        requirements: list[Requirement | str] | Requirement | str,
        *,
        output: ModelOutputThunk | CBlock | str | None = None,
    ) -> list[ValidationResult]:
        """Validate the context's last output (or ``output``, appended to a copy of the context)."""
        reqs, ctx = self._validation(requirements, output)
        return validate_requirements(reqs, self.backend, ctx, generate_logs=self.last_logs)

    async def avalidate(
        self,
        requirements: list[Requirement | str] | Requirement | str,
        *,
        output: ModelOutputThunk | CBlock | str | None = None,
    ) -> list[ValidationResult]:
        """:meth:`validate` for asyncio."""
        reqs, ctx = self._validation(requirements, output)
        return await run_in_thread(validate_requirements, reqs, self.backend, ctx, generate_logs=self.last_logs)

    def _validation(
        self, requirements: list[Requirement | str] | Requirement | str, output: ModelOutputThunk | CBlock | str | None
    ) -> tuple[list[Requirement], Context]:
        reqs = as_list(requirements, "requirements")
        ctx = self.ctx
        if output is not None:
            ctx = ctx.copy()
            ctx.insert(output if isinstance(output, ModelOutputThunk) else ModelOutputThunk(str(output)))
        self.last_logs = []
        return [as_requirement(r) for r in reqs], ctx

    def reset(self) -> None:
        """Forget the conversation."""
        self.ctx.reset()
        self.last_logs = []


def _raise_if_cancelled(control: GenerationControl | None) -> None:
    if control is not None and control.cancelled.is_set():
        raise GenerationCancelled("the call was cancelled; the session's context is unchanged")


def _requirements(requirements: list[Requirement | str] | Requirement | str | None) -> list[Requirement]:
    return [as_requirement(r) for r in as_list(requirements, "requirements")]


_INSTRUCTION_ARGS = ("requirements", "icl_examples", "grounding_context", "user_variables", "prefix", "output_prefix")
_CALL_ARGS = ("loop_budget", "format", "model_options", "tool_calls", "return_sampling_results")


def _instruction(description: str, kwargs: dict[str, Any]) -> tuple[Instruction, _CallOptions, bool]:
    """The instruction and call options of :meth:`Session.instruct`'s arguments (for its variants)."""
    unknown = set(kwargs) - set(_INSTRUCTION_ARGS) - set(_CALL_ARGS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(unknown))}; see Session.instruct")
    instruction = Instruction(description, **{k: kwargs[k] for k in _INSTRUCTION_ARGS if k in kwargs})
    o = _CallOptions(
        list(instruction.requirements),
        kwargs.get("loop_budget", 2),
        kwargs.get("format"),
        kwargs.get("model_options"),
        kwargs.get("tool_calls", False),
    )
    return instruction, o, bool(kwargs.get("return_sampling_results", False))


def _reply(sampling: SamplingResult) -> Message:
    parsed = sampling.result.parsed_repr
    return parsed if isinstance(parsed, Message) else Message("assistant", sampling.result.value or "")


def start_session(
    backend: str | None = None,
    model_id: str | None = None,
    *,
    ctx: Context | None = None,
    model_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Session:
    """Start a session on a registered backend chosen at runtime.

    The backend and model come from the arguments, else ``GENCOMP_BACKEND`` / ``GENCOMP_MODEL``,
    else ``gencomp.toml`` (see :func:`gencomp.selection.config_paths`), else the default backend
    ``hf`` with its default model. A model from a later source is used only when that source names
    no backend or the chosen one (an alias names the same backend). ``kwargs`` (over the config's
    ``backend_options``) go to the backend's factory; ``model_options`` are merged over the config's.
    ``threads=N`` (else ``$GENCOMP_THREADS``, else ``threads`` in ``gencomp.toml``) sets the CPU
    threads of backends that run a local model. Mistakes (an unknown or mistyped name, a missing
    folder, an option the backend does not take) raise before any model loads, saying where the
    name came from.
    """
    from gencomp.selection import _make_backend, _unknown_backend, load_config  # pydantic loads with the first session

    config, path = load_config()
    in_file = f"{path}" if path is not None else "gencomp.toml"
    reg = plugins.registry()
    sources = [
        (backend, model_id, "the backend= argument (--backend)", "the model_id= argument (--model)"),
        (
            os.environ.get("GENCOMP_BACKEND") or None,
            os.environ.get("GENCOMP_MODEL") or None,
            "$GENCOMP_BACKEND",
            "$GENCOMP_MODEL",
        ),
        (config.backend, config.model_id, f"backend in {in_file}", f"model_id in {in_file}"),
    ]
    chosen, backend_source = next(((b, src) for b, _, src, _ in sources if b), (None, None))
    spec = reg.backend(chosen) if chosen else None
    if chosen and spec is None:
        raise _unknown_backend(chosen, backend_source)
    # a model from a source that names another backend is not for this one (aliases name the same backend)
    chosen_model, model_source = next(
        ((m, src) for b, m, _, src in sources if m and (b is None or spec is None or reg.backend(b) is spec)),
        (None, None),
    )
    if model_options:
        ModelOption.validate(model_options)
    options = {**config.model_options, **(model_options or {})}
    factory_kwargs = {**config.backend_options, **kwargs}
    from_file = set(config.backend_options) - set(kwargs)
    if config.threads is not None and "threads" not in factory_kwargs and not os.environ.get("GENCOMP_THREADS"):
        factory_kwargs["threads"] = config.threads
        from_file.add("threads")
    if options:
        factory_kwargs["model_options"] = options
    try:
        made = _make_backend(chosen, chosen_model, factory_kwargs, backend_source, model_source)
    except UnknownBackendOptionError as exc:
        if exc.option in from_file:
            where = (
                "threads"
                if exc.option == "threads" and exc.option not in config.backend_options
                else "[backend_options]"
            )
            raise ConfigError(f"{in_file} {where}: {exc}") from exc
        raise
    return Session(made, ctx)
