"""On the HF backend: a stream left by break stops its generation and never adds its turn after a newer call's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gencomp import ModelOption, Session, hookimpl, plugins
from gencomp.base import plain_text

LONG = {ModelOption.MAX_NEW_TOKENS: 200}
SHORT = {ModelOption.MAX_NEW_TOKENS: 4}


class Generated:
    """Records each finished generation: what it answered and how many tokens it generated."""

    def __init__(self) -> None:
        self.done: list[tuple[str, int]] = []

    @hookimpl
    def gencomp_after_generate(self, action, log):
        self.done.append((plain_text(action), log.extra["new_tokens"]))


@pytest.fixture
def generated() -> Iterator[Generated]:
    seen = Generated()
    plugins.register_plugin(seen, name="generated")
    yield seen
    plugins.unregister_plugin(name="generated")


def _asked(s: Session) -> list[str]:
    return [plain_text(c) for c in s.ctx.full_history()[::2]]


def test_a_sync_stream_left_by_break_stops_generating_and_keeps_turns_in_order(backend, generated):
    s = Session(backend)
    stream = s.instruct_stream("Write a long story.", model_options=LONG)
    for _ in stream:  # still referenced after the loop: leaving the loop is what abandons it
        break
    s.instruct("Say banana.", model_options=SHORT)
    assert _asked(s) == ["description: Say banana."] and len(s.ctx) == 2
    story = [n for what, n in generated.done if what == "description: Write a long story."]
    assert story and story[0] < 200  # stopped at once, not generated to its budget


def test_an_async_stream_left_by_break_is_cancelled_before_the_next_call(backend, generated):
    async def main() -> Session:
        s = Session(backend)
        async for _ in s.ainstruct_stream("Write a long story.", model_options=LONG):
            break
        await s.ainstruct("Say banana.", model_options=SHORT)
        return s

    s = asyncio.run(main())
    assert _asked(s) == ["description: Say banana."] and len(s.ctx) == 2
    story = [n for what, n in generated.done if what == "description: Write a long story."]
    assert story and story[0] < 200
