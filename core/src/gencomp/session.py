"""Sessions: a backend and a context, with instruct, chat, validate and act."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from gencomp import plugins
from gencomp.backend import Backend
from gencomp.base import CBlock, Component, Context, GenerateLog, LinearContext, ModelOutputThunk
from gencomp.components import Instruction, Message, Requirement, ValidationResult, as_list, as_requirement
from gencomp.errors import ConfigError, SessionBusyError, UnknownBackendOptionError
from gencomp.model_options import ModelOption
from gencomp.strategies import SamplingResult, Strategy, UncertainPolicy, resolve_strategy
from gencomp.strategies._builtin import Repair
from gencomp.strategies._driver import CallSpec, Run, adrive, drive
from gencomp.streaming import (
    AsyncResultStream,
    GenerationCancelled,
    GenerationControl,
    ResultStream,
    run_in_thread,
)
from gencomp.tracing import span
from gencomp.verdicts import check_requirements

if TYPE_CHECKING:
    import asyncio

__all__ = ["SamplingResult", "Session", "start_session", "validate_requirements"]


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


_ONE_GENERATION = Repair()  # chat: one generation, no requirements


@dataclass(eq=False)
class _Running:
    """A call of a session that has started and not ended."""

    kind: str
    stream: bool
    cancelled: threading.Event
    done: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[Any] | None = None

    def abandon(self) -> None:
        """Cancel the call: its stream was left behind by a newer call."""
        self.cancelled.set()
        task = self.task
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed: the task will never run again
                task.get_loop().call_soon_threadsafe(task.cancel)


def _current_task() -> asyncio.Task[Any] | None:
    import sys

    if "asyncio" not in sys.modules:  # no event loop can be running without asyncio imported
        return None
    import asyncio

    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class Session:
    """A backend and a context; each call appends its turn to the context.

    ``strategy`` (a :class:`~gencomp.strategies.Strategy` or a registered name; default:
    ``$GENCOMP_STRATEGY``, ``strategy`` in ``gencomp.toml``, else ``"repair"``) decides how a call
    with requirements spends its attempts; each call may name another. ``last_logs`` holds the
    ``GenerateLog``s of the most recent call, requirement checks included. Every call has an async
    counterpart (``aact``, ``ainstruct``, ``achat``, ``avalidate``) with the same results, and
    ``instruct_stream``/``chat_stream`` (and their async twins) yield the answer as it is generated.
    A call that is cancelled (or whose stream is closed) leaves the context as it was before the call.

    A session runs one call at a time. A call made while another call of the same session runs
    raises :class:`~gencomp.errors.SessionBusyError`, except that a stream left unfinished (its
    consumer stopped iterating without closing it) is cancelled by the next call, which waits for
    it to stop: its turn is never added to the context, so turns are always in the order of the calls.
    Use one session per conversation.

    ``check_backend`` decides the model-judged requirement checks instead of ``backend`` (a larger
    model on a server judging a small one's answers); each verdict says which backend decided it
    (``CheckVerdict.decided_by``). Code checks need no backend.
    """

    def __init__(
        self,
        backend: Backend,
        ctx: Context | None = None,
        *,
        strategy: Strategy | str | None = None,
        check_backend: Backend | None = None,
    ) -> None:
        self.backend = backend
        self.check_backend = check_backend
        """The backend that decides model-judged checks (``None``: ``backend`` does)."""
        self.ctx = ctx if ctx is not None else LinearContext()
        self.last_logs: list[GenerateLog] = []
        self._strategy: Strategy | None = strategy if isinstance(strategy, Strategy) else None
        self._strategy_name = strategy if isinstance(strategy, str) else None
        if self._strategy_name is not None:
            self._strategy = resolve_strategy(self._strategy_name)
        self._lock = threading.Lock()
        self._running: list[_Running] = []

    @property
    def strategy(self) -> Strategy:
        """The session's default strategy (resolved on first use when none was given)."""
        if self._strategy is None:
            self._strategy = resolve_strategy(None)
        return self._strategy

    # -- one call at a time -------------------------------------------------------------------------

    def _claim(self, kind: str, control: GenerationControl | None) -> tuple[_Running | None, list[_Running]]:
        """Register a call, or say which running streams it must wait for (having cancelled them)."""
        with self._lock:
            if not self._running:
                handle = _Running(
                    kind,
                    control is not None,
                    control.cancelled if control is not None else threading.Event(),
                    task=_current_task(),
                )
                self._running.append(handle)
                return handle, []
            busy = [h for h in self._running if not h.stream]
            if busy:
                raise SessionBusyError(
                    f"this session's {busy[0].kind} call is still running: calls on one session must not overlap "
                    "(await or finish the first call, or use one session per conversation)"
                )
            for h in self._running:
                h.abandon()
            return None, list(self._running)

    def _enter(self, kind: str, control: GenerationControl | None) -> _Running:
        while True:
            handle, abandoned = self._claim(kind, control)
            if handle is not None:
                return handle
            for h in abandoned:
                task = h.task
                if task is not None and not task.done() and task.get_loop() is _running_loop():
                    continue  # it runs on this thread's loop: it cannot end while we wait; it never adds its turn
                h.done.wait()

    async def _aenter(self, kind: str, control: GenerationControl | None) -> _Running:
        import asyncio

        while True:
            handle, abandoned = self._claim(kind, control)
            if handle is not None:
                return handle
            loop = asyncio.get_running_loop()
            for h in abandoned:
                task = h.task
                if task is not None and task.get_loop() is loop:
                    await asyncio.wait({task})
                else:
                    await loop.run_in_executor(None, h.done.wait)

    def _leave(self, handle: _Running) -> None:
        with self._lock:
            self._running.remove(handle)
        handle.done.set()

    def _commit(self, handle: _Running, result: SamplingResult) -> None:
        """Add the kept turn to the context, unless the call was cancelled meanwhile."""
        with self._lock:
            if handle.cancelled.is_set():
                raise GenerationCancelled("the call was cancelled; the session's context is unchanged")
            assert result.selected is not None
            self.ctx.insert_turn(result.selected.action, result.result)

    # -- running a call -------------------------------------------------------------------------------

    def _run(self, spec: CallSpec, control: GenerationControl | None = None, emit: Any = None) -> SamplingResult:
        handle = self._enter(spec.kind, control)
        self.last_logs = []
        run = self._make_run(spec, handle, emit)
        try:
            result = run.result(drive(run, control))
            self._commit(handle, result)
        except BaseException as exc:
            run.finish(exc)
            raise
        finally:
            self._leave(handle)
        run.finish(None)
        return result

    async def _arun(self, spec: CallSpec, control: GenerationControl | None = None, emit: Any = None) -> SamplingResult:
        handle = await self._aenter(spec.kind, control)
        self.last_logs = []
        run = self._make_run(spec, handle, emit)
        try:
            result = run.result(await adrive(run, control))
            self._commit(handle, result)
        except BaseException as exc:
            run.finish(exc)
            raise
        finally:
            self._leave(handle)
        run.finish(None)
        return result

    def _make_run(self, spec: CallSpec, handle: _Running, emit: Any) -> Run:
        return Run(
            self.backend, self.ctx, spec, self.last_logs, emit=emit, cancelled=handle.cancelled,
            check_backend=self.check_backend,
        )  # fmt: skip

    def _spec(
        self,
        kind: str,
        action: Component | CBlock,
        requirements: list[Requirement],
        *,
        loop_budget: int | None,
        strategy: Strategy | str | None,
        format: type[Any] | None,
        model_options: dict[str, Any] | None,
        tool_calls: bool,
        uncertain: UncertainPolicy,
        default_budget: int,
    ) -> CallSpec:
        """Every argument of a call checked, and the strategy resolved, before anything is generated."""
        chosen = resolve_strategy(strategy) if strategy is not None else self.strategy
        budget = loop_budget if loop_budget is not None else (chosen.default_budget or default_budget)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"loop_budget must be a whole number >= 1, got {budget!r}")
        if uncertain not in get_args(UncertainPolicy):
            allowed = " or ".join(map(repr, get_args(UncertainPolicy)))
            raise ValueError(f"uncertain must be {allowed}, got {uncertain!r}")
        if model_options:
            ModelOption.validate(model_options)
        return CallSpec(kind, action, requirements, budget, chosen, format, model_options, tool_calls, uncertain)

    # -- calls ---------------------------------------------------------------------------------------

    def act(
        self,
        action: Component | CBlock,
        *,
        requirements: list[Requirement | str] | Requirement | str | None = None,
        loop_budget: int | None = None,
        strategy: Strategy | str | None = None,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        uncertain: UncertainPolicy = "unmet",
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Run ``action``, validate the output against ``requirements``, and let the strategy decide what next.

        ``strategy`` (default: the session's) spends up to ``loop_budget`` generations (default: the
        strategy's own, else 1); with ``repair`` a retry of an :class:`Instruction` carries the
        failed requirements as feedback. The kept turn (the first that passes; when none does, the
        one that met the most requirements) is appended to the context. ``uncertain="trust"``
        counts an uncertain model verdict as decided. Returns the output, or with
        ``return_sampling_results`` every attempt, its verdicts and the call's cost.
        """
        spec = self._spec(
            "act", action, _requirements(requirements), loop_budget=loop_budget, strategy=strategy, format=format,
            model_options=model_options, tool_calls=tool_calls, uncertain=uncertain, default_budget=1,
        )  # fmt: skip
        sampling = self._run(spec)
        return sampling if return_sampling_results else sampling.result

    async def aact(self, action: Component | CBlock, **kwargs: Any) -> ModelOutputThunk | SamplingResult:
        """:meth:`act` for asyncio (same arguments, same result); the event loop is never blocked."""
        full = bool(kwargs.pop("return_sampling_results", False))
        spec = self._spec(
            "act", action, _requirements(kwargs.pop("requirements", None)), **_call_kwargs(kwargs, "act"),
            default_budget=1,
        )  # fmt: skip
        sampling = await self._arun(spec)
        return sampling if full else sampling.result

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
        loop_budget: int | None = None,
        strategy: Strategy | str | None = None,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        uncertain: UncertainPolicy = "unmet",
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Ask the model to do ``description``; requirements are shown to it and validated after.

        ``loop_budget`` is the number of generations the strategy may spend (default: the
        strategy's own, else 2: the first attempt and one retry); ``strategy`` and ``uncertain`` as
        in :meth:`act`.
        """
        _, spec, full = self._instruction(
            description,
            dict(
                requirements=requirements, icl_examples=icl_examples, grounding_context=grounding_context,
                user_variables=user_variables, prefix=prefix, output_prefix=output_prefix, loop_budget=loop_budget,
                strategy=strategy, format=format, model_options=model_options, tool_calls=tool_calls,
                uncertain=uncertain, return_sampling_results=return_sampling_results,
            ),
        )  # fmt: skip
        sampling = self._run(spec)
        return sampling if full else sampling.result

    async def ainstruct(self, description: str, **kwargs: Any) -> ModelOutputThunk | SamplingResult:
        """:meth:`instruct` for asyncio (same arguments, same result); the event loop is never blocked."""
        _, spec, full = self._instruction(description, kwargs)
        sampling = await self._arun(spec)
        return sampling if full else sampling.result

    def instruct_stream(self, description: str, **kwargs: Any) -> ResultStream[SamplingResult]:
        """:meth:`instruct` (same arguments), yielding the answer's chunks as they are generated.

        Iterate the returned stream for :class:`~gencomp.streaming.StreamChunk`s (every attempt's;
        ``chunk.attempt`` tells them apart, and candidates generated at once interleave), then read
        ``stream.result``: the :class:`SamplingResult`, validated and in the context as after
        :meth:`instruct`. A requirement with a ``prefix_fn`` that fails on the streamed prefix stops
        that attempt early (its verdict's ``stopped_at_token``). Closing the stream, or leaving its
        loop early, cancels the call.
        """
        _, spec, _ = self._instruction(description, kwargs)
        return ResultStream(lambda emit, control: self._run(spec, control, emit))

    def ainstruct_stream(self, description: str, **kwargs: Any) -> AsyncResultStream[SamplingResult]:
        """:meth:`instruct_stream` for asyncio: ``async for`` the chunks, then ``await stream.result()``."""
        _, spec, _ = self._instruction(description, kwargs)
        return AsyncResultStream(lambda emit, control: self._arun(spec, control, emit))

    def _instruction(self, description: str, kwargs: dict[str, Any]) -> tuple[Instruction, CallSpec, bool]:
        """The instruction and call of :meth:`instruct`'s arguments (for its variants)."""
        unknown = set(kwargs) - set(_INSTRUCTION_ARGS) - set(_CALL_ARGS) - {"return_sampling_results"}
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(unknown))}; see Session.instruct")
        instruction = Instruction(description, **{k: kwargs[k] for k in _INSTRUCTION_ARGS if k in kwargs})
        call = {k: v for k, v in kwargs.items() if k in _CALL_ARGS}
        spec = self._spec(
            "instruct", instruction, list(instruction.requirements), **_call_kwargs(call, "instruct"), default_budget=2
        )
        return instruction, spec, bool(kwargs.get("return_sampling_results", False))

    def chat(
        self,
        content: str,
        role: str = "user",
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
    ) -> Message:
        """Send a message and return the model's reply as an assistant message (one generation)."""
        return _reply(self._run(self._chat(content, role, format, model_options, tool_calls)))

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
        return _reply(await self._arun(self._chat(content, role, format, model_options, tool_calls)))

    def chat_stream(self, content: str, role: str = "user", **kwargs: Any) -> ResultStream[SamplingResult]:
        """:meth:`chat` yielding the reply's chunks; ``stream.result.result`` is the reply's output."""
        spec = self._chat(content, role, kwargs.get("format"), kwargs.get("model_options"), kwargs.get("tool_calls"))
        return ResultStream(lambda emit, control: self._run(spec, control, emit))

    def achat_stream(self, content: str, role: str = "user", **kwargs: Any) -> AsyncResultStream[SamplingResult]:
        """:meth:`chat_stream` for asyncio."""
        spec = self._chat(content, role, kwargs.get("format"), kwargs.get("model_options"), kwargs.get("tool_calls"))
        return AsyncResultStream(lambda emit, control: self._arun(spec, control, emit))

    def _chat(
        self, content: str, role: str, format: type[Any] | None, model_options: dict[str, Any] | None, tool_calls: Any
    ) -> CallSpec:
        if model_options:
            ModelOption.validate(model_options)
        message = Message(role, content)  # type: ignore[arg-type]
        return CallSpec("chat", message, [], 1, _ONE_GENERATION, format, model_options, bool(tool_calls))

    def validate(
        self,
        requirements: list[Requirement | str] | Requirement | str,
        *,
        output: ModelOutputThunk | CBlock | str | None = None,
    ) -> list[ValidationResult]:
        """Validate the context's last output (or ``output``, appended to a copy of the context)."""
        reqs, ctx = self._validation(requirements, output)
        with span("call", "validate", {"gencomp.call": "validate", "gencomp.requirements": len(reqs)}):
            return validate_requirements(reqs, self._checker, ctx, generate_logs=self.last_logs)

    async def avalidate(
        self,
        requirements: list[Requirement | str] | Requirement | str,
        *,
        output: ModelOutputThunk | CBlock | str | None = None,
    ) -> list[ValidationResult]:
        """:meth:`validate` for asyncio."""
        reqs, ctx = self._validation(requirements, output)
        with span("call", "validate", {"gencomp.call": "validate", "gencomp.requirements": len(reqs)}):
            return await run_in_thread(validate_requirements, reqs, self._checker, ctx, generate_logs=self.last_logs)

    @property
    def _checker(self) -> Backend:
        return self.check_backend if self.check_backend is not None else self.backend

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


def _running_loop() -> Any:
    import sys

    if "asyncio" not in sys.modules:
        return None
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _requirements(requirements: list[Requirement | str] | Requirement | str | None) -> list[Requirement]:
    return [as_requirement(r) for r in as_list(requirements, "requirements")]


_INSTRUCTION_ARGS = ("requirements", "icl_examples", "grounding_context", "user_variables", "prefix", "output_prefix")
_CALL_ARGS = ("loop_budget", "strategy", "format", "model_options", "tool_calls", "uncertain")


def _call_kwargs(kwargs: dict[str, Any], method: str) -> dict[str, Any]:
    """The call options among ``kwargs`` with their defaults; an unknown name is a ``TypeError``."""
    unknown = set(kwargs) - set(_CALL_ARGS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(unknown))}; see Session.{method}")
    return {
        "loop_budget": kwargs.get("loop_budget"),
        "strategy": kwargs.get("strategy"),
        "format": kwargs.get("format"),
        "model_options": kwargs.get("model_options"),
        "tool_calls": bool(kwargs.get("tool_calls", False)),
        "uncertain": kwargs.get("uncertain", "unmet"),
    }


def _reply(sampling: SamplingResult) -> Message:
    parsed = sampling.result.parsed_repr
    return parsed if isinstance(parsed, Message) else Message("assistant", sampling.result.value or "")


def start_session(
    backend: str | None = None,
    model_id: str | None = None,
    *,
    ctx: Context | None = None,
    model_options: dict[str, Any] | None = None,
    strategy: Strategy | str | None = None,
    check_backend: str | Backend | None = None,
    check_model_id: str | None = None,
    check_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Session:
    """Start a session on a registered backend chosen at runtime.

    The backend and model come from the arguments, else ``GENCOMP_BACKEND`` / ``GENCOMP_MODEL``,
    else ``gencomp.toml`` (see :func:`gencomp.selection.config_paths`), else the default backend
    ``hf`` with its default model. A model from a later source is used only when that source names
    no backend or the chosen one (an alias names the same backend). ``kwargs`` (over the config's
    ``backend_options``) go to the backend's factory; ``model_options`` are merged over the config's.
    ``threads=N`` (else ``$GENCOMP_THREADS``, else ``threads`` in ``gencomp.toml``) sets the CPU
    threads of backends that run a local model. ``strategy`` (else ``$GENCOMP_STRATEGY``, else
    ``strategy`` in ``gencomp.toml`` with its ``[strategy_options]``, else ``"repair"``) is the
    session's default strategy (:mod:`gencomp.strategies`). ``check_backend`` (a registered name with
    ``check_model_id`` and ``check_options``, or a backend; else the ``[check]`` table of
    ``gencomp.toml``) decides the model-judged checks instead of the generating backend. Mistakes (an
    unknown or mistyped name, a missing folder, an option the backend does not take) raise before any
    model loads, saying where the name came from.
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
    chosen_strategy = resolve_strategy(strategy)
    check_name = check_backend if isinstance(check_backend, str) else None
    check_source = "the check_backend= argument"
    if check_backend is None and config.check is not None:
        check_name, check_source = config.check.backend, f"[check] backend in {in_file}"
    if check_name is not None and reg.backend(check_name) is None:  # before any model loads
        raise _unknown_backend(check_name, check_source)
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
    checker = _check_backend(check_backend, check_model_id, check_options, config, in_file)
    return Session(made, ctx, strategy=chosen_strategy, check_backend=checker)


def _check_backend(
    name: str | Backend | None,
    model_id: str | None,
    options: dict[str, Any] | None,
    config: Any,
    in_file: str,
) -> Backend | None:
    """The backend that decides model-judged checks: the argument's, else ``[check]`` in ``gencomp.toml``."""
    from gencomp.selection import _make_backend

    if isinstance(name, Backend):
        if model_id is not None or options:
            raise ValueError("check_model_id and check_options go with a check_backend name, not a backend object")
        return name
    if name is not None:
        return _make_backend(
            name, model_id, dict(options or {}), "the check_backend= argument", "the check_model_id= argument"
        )
    if model_id is not None or options:
        raise ValueError("check_model_id and check_options need check_backend= (the backend that decides checks)")
    if config.check is None:
        return None
    try:
        return _make_backend(
            config.check.backend, config.check.model_id, dict(config.check.backend_options),
            f"[check] backend in {in_file}", f"[check] model_id in {in_file}",
        )  # fmt: skip
    except UnknownBackendOptionError as exc:
        raise ConfigError(f"{in_file} [check.backend_options]: {exc}") from exc
