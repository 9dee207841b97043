"""The formatter interface: components to prompts, model outputs back to components."""

from __future__ import annotations

import abc
from typing import Any

from gencomp.base import CBlock, Component, Context, ModelOutputThunk, plain_text
from gencomp.components import Message

__all__ = ["Formatter", "PlainFormatter"]


class Formatter(abc.ABC):
    """Converts components into strings and parses model outputs into components (or blocks)."""

    @abc.abstractmethod
    def print(self, c: Component | CBlock) -> str:
        """Render a component for input to a model."""

    @abc.abstractmethod
    def print_context(self, ctx: Context) -> str:
        """Render a context for input to a model."""

    @abc.abstractmethod
    def parse(self, source_component: Component | CBlock, result: ModelOutputThunk) -> Any:
        """Parse a model's output for ``source_component``; sets and returns ``result.parsed_repr``."""

    def to_chat_messages(self, cs: list[Component | CBlock]) -> list[Message]:
        """Helper method that converts a linearized chat history into a list of messages.

        Model outputs become assistant messages (their ``parsed_repr`` when it is a ``Message``),
        messages pass through, and everything else is printed (:meth:`print`) into a user message.
        """
        messages: list[Message] = []
        for c in cs:
            if isinstance(c, ModelOutputThunk):
                parsed = c.parsed_repr
                messages.append(parsed if isinstance(parsed, Message) else Message("assistant", c.value or ""))
            elif isinstance(c, Message):
                messages.append(c)
            else:
                messages.append(Message("user", self.print(c)))
        return messages


class PlainFormatter(Formatter):
    """A formatter with no templates: a message's content, a block's text, a component's fields as lines.

    Backends without a formatter of their own use it; outputs for a message parse to an assistant message.
    """

    def print(self, c: Component | CBlock) -> str:
        return c.content if isinstance(c, Message) else plain_text(c)

    def print_context(self, ctx: Context) -> str:
        return "\n".join(self.print(c) for c in ctx.render_for_generation())

    def parse(self, source_component: Component | CBlock, result: ModelOutputThunk) -> Any:
        parsed: Any = Message("assistant", result.value or "") if isinstance(source_component, Message) else result
        result.parsed_repr = parsed
        return parsed
