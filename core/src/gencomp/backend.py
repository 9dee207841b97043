"""The backend interfaces: what every backend offers, and the base of formatter-driven backends."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

from gencomp import plugins
from gencomp.base import CBlock, Component, Context, GenerateLog, ModelOutputThunk, ModelToolCall
from gencomp.errors import GencompError
from gencomp.formatter import Formatter
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.model_options import ModelOption

__all__ = ["Backend", "FormatterBackend", "default_formatter"]


class Backend(abc.ABC):
    """Runs components on a model.

    :meth:`generate_from_context` first offers the call to plugins (``gencomp_generate``), then
    runs the backend's own :meth:`_generate_from_context`, then tells observers
    (``gencomp_after_generate``).
    """

    def __init__(self, model_id: str | ModelIdentifier, model_options: dict[str, Any] | None = None) -> None:
        if model_options:
            ModelOption.validate(model_options)
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
        if format is not None and not isinstance(format, type):
            raise TypeError(
                f"format= takes a class (a pydantic BaseModel subclass), got an instance of {type(format).__name__}; "
                "pass the class itself"
            )
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
        new_logs = logs[first_log:]
        if new_logs and result.generate_log is None:
            result.generate_log = new_logs[-1]
        relay.gencomp_after_generate(backend=self, action=action, result=result, log=new_logs[-1] if new_logs else None)
        return result

    @abc.abstractmethod
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
        """The backend's own generation, used when no plugin takes the call."""

    @abc.abstractmethod
    def _generate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """Generate for each action with no chat templating: the rendered action is the whole prompt."""

    def _extract_model_tool_requests(
        self, tools: Mapping[str, Callable[..., Any]], decoded_result: str
    ) -> dict[str, ModelToolCall] | None:
        """The tool calls in a model's output, through the ``gencomp_extract_tool_calls`` hook."""
        if not tools:
            return None
        calls = plugins.hook().gencomp_extract_tool_calls(backend=self, tools=tools, text=decoded_result)
        return calls or None


def default_formatter(model_id: str | ModelIdentifier) -> Formatter:
    """The formatter the installed plugins offer for ``model_id`` (``gencomp_default_formatter``)."""
    formatter = plugins.hook().gencomp_default_formatter(model_id=model_id)
    if formatter is None:
        raise GencompError(
            "no installed plugin provides a formatter; install one with "
            "`pip install gencomp-template-formatter`, or pass formatter= to the backend"
        )
    return formatter


class FormatterBackend(Backend, abc.ABC):
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
