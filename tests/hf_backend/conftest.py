"""Fixtures of the hf_backend tests: a tiny random chat model built once per session, and backends on it."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gencomp import CBlock, Component, Context, Formatter, Message, ModelOutputThunk
from gencomp.base import plain_text

os.environ.setdefault("OMP_NUM_THREADS", "1")


class PlainFormatter(Formatter):
    """A minimal formatter for mechanics tests: plain text; chat messages from the base class's helper."""

    def print(self, c: Component | CBlock) -> str:
        return c.content if isinstance(c, Message) else plain_text(c)

    def print_context(self, ctx: Context) -> str:
        return "\n".join(self.print(c) for c in ctx.render_for_generation())

    def parse(self, source_component: Component | CBlock, result: ModelOutputThunk) -> Any:
        parsed = Message("assistant", result.value or "") if isinstance(source_component, Message) else result.value
        result.parsed_repr = parsed
        return parsed


@pytest.fixture
def formatter() -> PlainFormatter:
    return PlainFormatter()


@pytest.fixture
def make_backend(tiny_model_path: str, formatter: PlainFormatter):
    """Build a LocalHFBackend on the tiny model (loaded with the real loading code); kwargs go to the constructor."""
    from gencomp_hf_backend import LocalHFBackend

    def make(**kwargs: Any) -> LocalHFBackend:
        kwargs.setdefault("formatter", formatter)
        return LocalHFBackend(tiny_model_path, **kwargs)

    return make


@pytest.fixture
def backend(make_backend):
    return make_backend()
