"""The backend interfaces: what every backend offers, and the base of formatter-driven backends."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from gencomp import plugins
from gencomp.base import CBlock, Component, Context, GenerateLog, ModelOutputThunk, ModelToolCall
from gencomp.errors import GencompError
from gencomp.formatter import Formatter
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.streaming import current_control, run_in_thread, run_sync

__all__ = ["Backend", "FormatterBackend", "default_formatter"]


class Backend:
    """Runs components on a model.

    :meth:`generate_from_context` first offers the call to plugins (``gencomp_generate``), then
    runs the backend's own :meth:`_generate_from_context`, then tells observers
    (``gencomp_after_generate``).

    Async: :meth:`agenerate_from_context` and :meth:`agenerate_from_raw` give the same results
    without blocking the event loop. A backend implements its generation synchronously (the async
    methods then run it in a worker thread) or natively async, by overriding
    :meth:`_agenerate_from_context` (and :meth:`_agenerate_from_raw`): the sync methods then run
    those on an event loop of their own. Streaming and cancellation reach a backend through
    :func:`gencomp.streaming.current_control`; one that cannot stream needs to do nothing.
    """

    def __init__(self, model_id: str | ModelIdentifier, model_options: dict[str, Any] | None = None) -> None:
        if not (_overrides(self, "_generate_from_context") or _overrides(self, "_agenerate_from_context")):
            raise TypeError(
                f"{type(self).__name__} must implement _generate_from_context (or, natively async, "
                "_agenerate_from_context): a backend's own generation"
            )
        self.model_id = model_id
        self.model_options: dict[str, Any] = dict(model_options or {})

    @property
    def model_id_str(self) -> str:
        """The model id as a string."""
        return model_id_string(self.model_id)

    def generate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """Generate the output for ``action`` after ``ctx``; appends a ``GenerateLog`` to ``generate_logs``."""
        logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
        first_log = len(logs)
        relay = plugins.hook()
        result = relay.gencomp_generate(
            backend=self,
            action=action,
            ctx=ctx,
            format=format,
            model_options=model_options,
            generate_logs=logs,
            tool_calls=tool_calls,
        )
        if result is None:
            result = self._generate_from_context(
                action, ctx, format=format, model_options=model_options, generate_logs=logs, tool_calls=tool_calls
            )
        return self._finish(relay, action, result, logs, first_log)

    async def agenerate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """:meth:`generate_from_context` for asyncio: the same hooks, result and logs.

        A sync backend's generation runs in a worker thread; cancelling the awaiting task stops it
        (through the current control) and waits for it to end.
        """
        if not _overrides(self, "_agenerate_from_context"):
            return await run_in_thread(
                self.generate_from_context, action, ctx, format, model_options, generate_logs, tool_calls
            )
        logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
        first_log = len(logs)
        relay = plugins.hook()
        result = await run_in_thread(
            relay.gencomp_generate, backend=self, action=action, ctx=ctx, format=format,
            model_options=model_options, generate_logs=logs, tool_calls=tool_calls,
        )  # fmt: skip
        if result is None:
            result = await self._agenerate_from_context(
                action, ctx, format=format, model_options=model_options, generate_logs=logs, tool_calls=tool_calls
            )
        return self._finish(relay, action, result, logs, first_log)

    def _finish(
        self, relay: Any, action: Component | CBlock, result: ModelOutputThunk, logs: list[GenerateLog], first_log: int
    ) -> ModelOutputThunk:
        control = current_control()
        if control is not None and not control.pushed and result.value:
            control.push(result.value, whole=True)  # a backend that does not stream: its answer in one piece
        new_logs = logs[first_log:]
        if new_logs and result.generate_log is None:
            result.generate_log = new_logs[-1]
        relay.gencomp_after_generate(backend=self, action=action, result=result, log=new_logs[-1] if new_logs else None)
        return result

    def _generate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """The backend's own generation, used when no plugin takes the call.

        Implement this or :meth:`_agenerate_from_context`; by default it runs the latter.
        """
        if not _overrides(self, "_agenerate_from_context"):
            raise NotImplementedError(
                f"{type(self).__name__} implements neither _generate_from_context nor its async twin"
            )
        return run_sync(
            lambda: self._agenerate_from_context(
                action,
                ctx,
                format=format,
                model_options=model_options,
                generate_logs=generate_logs,
                tool_calls=tool_calls,
            )
        )

    async def _agenerate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """The backend's own generation, natively async (optional: see the class docstring)."""
        return await run_in_thread(
            functools.partial(
                self._generate_from_context, action, ctx,
                format=format, model_options=model_options, generate_logs=generate_logs, tool_calls=tool_calls,
            )
        )  # fmt: skip

    def _generate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """Generate for each action with no chat templating: the rendered action is the whole prompt.

        Implement this or :meth:`_agenerate_from_raw`; by default it runs the latter.
        """
        if not _overrides(self, "_agenerate_from_raw"):
            raise NotImplementedError(f"{type(self).__name__} does not generate from raw prompts")
        return run_sync(lambda: self._agenerate_from_raw(actions, format, model_options, generate_logs))

    async def _agenerate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """Raw generation, natively async (optional)."""
        return await run_in_thread(self._generate_from_raw, actions, format, model_options, generate_logs)

    async def agenerate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """:meth:`_generate_from_raw` for asyncio."""
        return await self._agenerate_from_raw(actions, format, model_options, generate_logs)

    def _extract_model_tool_requests(
        self, tools: Mapping[str, Callable[..., Any]], decoded_result: str
    ) -> dict[str, ModelToolCall] | None:
        """The tool calls in a model's output, through the ``gencomp_extract_tool_calls`` hook."""
        if not tools:
            return None
        calls = plugins.hook().gencomp_extract_tool_calls(backend=self, tools=tools, text=decoded_result)
        return calls or None


def _overrides(backend: Backend, name: str) -> bool:
    """Whether ``backend``'s class defines ``name`` itself rather than inheriting :class:`Backend`'s."""
    return getattr(type(backend), name) is not getattr(Backend, name)


def default_formatter(model_id: str | ModelIdentifier) -> Formatter:
    """The formatter the installed plugins offer for ``model_id`` (``gencomp_default_formatter``)."""
    formatter = plugins.hook().gencomp_default_formatter(model_id=model_id)
    if formatter is None:
        raise GencompError(
            "no installed plugin provides a formatter; install one with "
            "`pip install gencomp-template-formatter`, or pass formatter= to the backend"
        )
    return formatter


class FormatterBackend(Backend):
    """A backend that renders components with a :class:`~gencomp.Formatter` (hand-engineered prompts).

    ``formatter`` turns components into prompts and parses outputs back; ``model_options`` are the
    backend's defaults, merged under each call's options.
    """

    def __init__(
        self,
        model_id: str | ModelIdentifier,
        formatter: Formatter,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model_id, model_options)
        self.formatter = formatter
