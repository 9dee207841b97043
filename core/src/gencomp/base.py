"""The vocabulary of generative programs: blocks, components, outputs, logs and contexts."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import pydantic

    from gencomp.backend import Backend

__all__ = [
    "BaseModelSubclass",
    "CBlock",
    "Component",
    "Context",
    "GenerateLog",
    "LinearContext",
    "ModelOutputThunk",
    "ModelToolCall",
    "SimpleContext",
    "TemplateRepresentation",
]

BaseModelSubclass = TypeVar("BaseModelSubclass", bound="pydantic.BaseModel")
"""A pydantic model class passed as ``format=`` to constrain an output to its JSON schema."""


class CBlock:
    """A block of content: a string value and optional metadata."""

    def __init__(self, value: str | None, meta: dict[str, Any] | None = None) -> None:
        self._value = value
        self._meta: dict[str, Any] = {} if meta is None else meta

    @property
    def value(self) -> str | None:
        """The block's text."""
        return self._value

    @value.setter
    def value(self, v: str | None) -> None:
        self._value = v

    @property
    def meta(self) -> dict[str, Any]:
        """Free-form metadata attached to the block."""
        return self._meta

    def __str__(self) -> str:
        return "" if self._value is None else self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value  # type: ignore[attr-defined]

    __hash__ = object.__hash__


@dataclass
class TemplateRepresentation:
    """What a component hands a formatter: the object, the arguments its template reads, and how to find it.

    ``template`` is an inline jinja template used instead of a file lookup. ``template_order`` lists the
    template names to look up in order; ``"*"`` stands for the class name of ``obj``; ``None`` means ``["*"]``.
    """

    obj: Any
    args: dict[str, Any]
    tools: dict[str, Callable[..., Any]] | None = None
    fields: list[Any] | None = None
    template: str | None = None
    template_order: list[str] | None = None
    images: list[Any] | None = None


@runtime_checkable
class Component(Protocol):
    """Anything a generative program is built from: it lists its parts and renders for a model."""

    def parts(self) -> list[Component | CBlock]:
        """The component's constituents, for traversal."""
        ...

    def format_for_llm(self) -> TemplateRepresentation | str:
        """A template representation for a formatter, or the final string."""
        ...


@dataclass
class ModelToolCall:
    """A tool call requested by a model: the tool's name, the callable and its parsed arguments."""

    name: str
    func: Callable[..., Any]
    args: Mapping[str, Any]

    def call_func(self) -> Any:
        """Call the tool with the model's arguments."""
        return self.func(**self.args)


class ModelOutputThunk(CBlock):
    """A model's output: its text, the parsed representation and any tool calls it asked for."""

    def __init__(
        self,
        value: str | None,
        meta: dict[str, Any] | None = None,
        parsed_repr: CBlock | Component | Any | None = None,
        tool_calls: dict[str, ModelToolCall] | None = None,
    ) -> None:
        super().__init__(value, meta)
        self.parsed_repr = parsed_repr
        self.tool_calls = tool_calls
        self.generate_log: GenerateLog | None = None

    def is_computed(self) -> bool:
        """Whether the value is there (gencomp computes eagerly, so a thunk with a value is computed)."""
        return self._value is not None

    def __repr__(self) -> str:
        return f"ModelOutputThunk({self._value!r})"

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


@dataclass
class GenerateLog:
    """What one generation call did: the prompt, the options, the backend and the output."""

    prompt: str | list[dict[str, Any]] | None = None
    backend: str | None = None
    model_options: dict[str, Any] | None = None
    model_output: Any = None
    action: Component | CBlock | None = None
    result: ModelOutputThunk | None = None
    date: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    is_final_result: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Context:
    """A sequence of turns that a backend renders into a prompt.

    ``is_chat_context`` tells a backend whether to render the context as chat messages.
    """

    is_chat_context: bool = True

    def __init__(self) -> None:
        self._data: list[Component | CBlock] = []
        self._logs: list[list[GenerateLog] | None] = []

    def insert(self, value: Component | CBlock, *, generate_logs: list[GenerateLog] | None = None) -> None:
        """Append a component or block, with the logs of the call that produced it."""
        self._data.append(value)
        self._logs.append(generate_logs)

    def insert_turn(self, action: Component | CBlock, output: ModelOutputThunk | None = None) -> None:
        """Append an action and the output it got."""
        self.insert(action)
        if output is not None:
            self.insert(output, generate_logs=[output.generate_log] if output.generate_log else None)

    def full_history(self) -> list[Component | CBlock]:
        """Everything inserted so far."""
        return list(self._data)

    def linearize(self) -> list[Component | CBlock]:
        """The history as a list of turns, oldest first."""
        return list(self._data)

    def render_for_generation(self) -> list[Component | CBlock]:
        """What a backend should render before the action."""
        return self.linearize()

    def last_output(self) -> ModelOutputThunk | None:
        """The most recent model output in the context, if any."""
        for item in reversed(self._data):
            if isinstance(item, ModelOutputThunk):
                return item
        return None

    def logs_of(self, index: int) -> list[GenerateLog] | None:
        """The generate logs stored with the item at ``index``."""
        return self._logs[index]

    def copy(self) -> Context:
        """A shallow copy with its own list of turns."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._data = list(self._data)
        new._logs = list(self._logs)
        return new

    def drop_oldest(self, n: int = 1) -> None:
        """Forget the ``n`` oldest items (a turn is two: the action and its output)."""
        del self._data[:n]
        del self._logs[:n]

    def reset(self) -> None:
        """Forget every turn."""
        self._data.clear()
        self._logs.clear()

    def __len__(self) -> int:
        return len(self._data)


class LinearContext(Context):
    """A linear history; renders the last ``window_size`` turns (all when ``None``)."""

    def __init__(self, window_size: int | None = None, *, is_chat_context: bool = True) -> None:
        super().__init__()
        if window_size is not None and window_size < 0:
            raise ValueError(f"window_size must be None or >= 0, got {window_size}")
        self.window_size = window_size
        self.is_chat_context = is_chat_context

    def render_for_generation(self) -> list[Component | CBlock]:
        if self.window_size is None:
            return list(self._data)
        return list(self._data[len(self._data) - self.window_size :]) if self.window_size else []


class SimpleContext(Context):
    """A context in which every call stands alone: nothing earlier is rendered before the action."""

    def __init__(self, *, is_chat_context: bool = True) -> None:
        super().__init__()
        self.is_chat_context = is_chat_context

    def render_for_generation(self) -> list[Component | CBlock]:
        return []


def plain_text(c: Component | CBlock | str | None) -> str:
    """A formatter-free rendering: a block's value, or a component's ``format_for_llm`` as text."""
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, CBlock):
        return str(c)
    rep = c.format_for_llm()
    if isinstance(rep, str):
        return rep
    return "\n".join(f"{k}: {_plain_arg(v)}" for k, v in rep.args.items() if v not in (None, "", [], {}))


def _plain_arg(v: Any) -> str:
    if isinstance(v, str | CBlock | Component):
        return plain_text(v)
    if isinstance(v, Mapping):
        return json.dumps({k: _plain_arg(x) for k, x in v.items()})
    if isinstance(v, Iterable):
        return ", ".join(_plain_arg(x) for x in v)
    return str(v)


def backend_name(backend: Backend) -> str:
    """A short label for a backend, used in logs."""
    return f"{type(backend).__name__}({backend.model_id_str})"
