"""The formatter interface: components to prompts, model outputs back to components."""

from __future__ import annotations

import abc
from typing import Any

from gencomp.base import CBlock, Component, Context, ModelOutputThunk
from gencomp.components import Message

__all__ = ["Formatter"]


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

    @abc.abstractmethod
    def to_chat_messages(self, cs: list[Component | CBlock]) -> list[Message]:
        """Turn a linearized chat history into messages for a chat endpoint."""
