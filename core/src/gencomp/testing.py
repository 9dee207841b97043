"""The conformance kit: standard tests every gencomp backend should pass (needs pytest).

Subclass :class:`BackendConformance` in a test module of your backend's distribution, implement
:meth:`~BackendConformance.make_backend`, and pytest runs every standard test against it::

    from gencomp.testing import BackendConformance


    class TestMyBackend(BackendConformance):
        backend_name = "mine"  # its registered name, for the discovery test

        def make_backend(self, **kwargs):
            return MyBackend("my-model", **kwargs)

The tests check what gencomp relies on: generation from a context and over chat turns, raw batch
generation (skipped when the backend offers none), ``format=`` output that parses, tool-call
extraction, option handling (unknown options rejected clearly), requirement checks through the
batch hook, logs, caching, ``gencomp_backend_created``, concurrent calls, the async counterparts
(same results as the sync calls, the event loop never blocked, many calls at once), streaming
(chunks that join to the answer) and cancellation (the context left as it was), and discovery by name.
Class attributes adapt them: ``options`` (the options of every call: keep outputs short),
``deterministic`` (whether equal calls, one at a time, give equal outputs), ``batch_invariant``
(whether calls running at once give the outputs they give alone: not so on a server that batches
concurrent requests, where batch shapes change the arithmetic). A backend with a ``close()`` method
(a connection pool, a server process) is closed at the end of each test that made it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

import pydantic
import pytest

from gencomp import plugins
from gencomp.backend import Backend
from gencomp.base import CBlock, Component, GenerateLog, LinearContext, ModelOutputThunk, ModelToolCall
from gencomp.cache import Cache, LRUCache
from gencomp.components import Instruction, Message, Requirement
from gencomp.errors import UnknownModelOptionError
from gencomp.model_options import ModelOption
from gencomp.plugins import hookimpl
from gencomp.session import Session
from gencomp.verdicts import JUDGE_PATH, CheckVerdict, label

__all__ = ["BackendConformance", "City", "loop_stall"]

T = TypeVar("T")


class City(pydantic.BaseModel):
    """The schema of the ``format=`` test."""

    name: str
    population: int


def lookup(query: str) -> str:
    """The tool the tool-call test offers.

    Args:
        query: what to look up.
    """
    return f"found {query}"


class _Plugin:
    """An in-process plugin for one test: registered on enter, unregistered on exit."""

    def __enter__(self) -> _Plugin:
        plugins.register_plugin(self, name=f"gencomp-testing-{type(self).__name__}-{id(self)}")
        return self

    def __exit__(self, *exc: object) -> None:
        plugins.unregister_plugin(self)


async def loop_stall(work: Awaitable[T]) -> tuple[T, float]:
    """Await ``work`` while a heartbeat task ticks every 5 ms; returns its result and the longest gap (s).

    A gap much longer than 5 ms means something blocked the event loop.
    """
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    try:
        result = await work
    finally:
        done.set()
        await beat
    return result, max(gaps, default=0.0)


class BackendConformance:
    """Standard tests for a backend; subclass it and implement :meth:`make_backend`."""

    backend_name: ClassVar[str | None] = None
    """The backend's registered name (the discovery test is skipped when ``None``)."""
    options: ClassVar[dict[str, Any]] = {ModelOption.MAX_NEW_TOKENS: 8}
    """Options of every generation the tests run."""
    deterministic: ClassVar[bool] = True
    """Whether two equal calls give equal outputs (greedy decoding, a script)."""
    batch_invariant: ClassVar[bool] = True
    """Whether calls running at once give the outputs they give alone (``False`` for batching servers)."""

    def make_backend(self, **kwargs: Any) -> Backend:
        """A new backend; ``kwargs`` (``use_caches``, ``cache``, ``model_options``) go to its constructor."""
        raise NotImplementedError("implement make_backend(**kwargs) in your BackendConformance subclass")

    @pytest.fixture(autouse=True)
    def _close_made_backends(self) -> Iterator[None]:
        made: list[Any] = []
        factory = self.make_backend

        def tracked(**kwargs: Any) -> Backend:
            made.append(factory(**kwargs))
            return made[-1]  # type: ignore[no-any-return]

        self.make_backend = tracked  # type: ignore[method-assign]  # this test's instance only
        self._made = made
        yield
        for backend in made:
            close = getattr(backend, "close", None)
            if callable(close):
                close()
        # pytest keeps test instances to the end of the session: let go of the backends now
        made.clear()
        del self.make_backend, self._made

    def discovery_kwargs(self) -> dict[str, Any]:
        """The ``model_id`` and factory keywords :func:`gencomp.make_backend` needs for ``backend_name``."""
        return {}

    # -- generation ------------------------------------------------------------------------------

    def test_generates_from_a_context(self) -> None:
        backend = self.make_backend()
        ctx = LinearContext()
        ctx.insert_turn(Message("user", "Hello."), ModelOutputThunk("Hi."))
        logs: list[GenerateLog] = []
        action = Message("user", "Name a colour.")
        out = backend.generate_from_context(action, ctx, model_options=dict(self.options), generate_logs=logs)
        assert isinstance(out, ModelOutputThunk) and isinstance(out.value, str) and out.is_computed()
        assert len(logs) == 1 and logs[0].action is action and logs[0].result is out and out.generate_log is logs[0]

    def test_chat_turns_build_on_each_other(self) -> None:
        session = Session(self.make_backend())
        first = session.chat("Say one word.", model_options=dict(self.options))
        second = session.chat("Say another word.", model_options=dict(self.options))
        assert isinstance(first, Message) and first.role == "assistant"
        assert isinstance(second, Message) and second.role == "assistant"
        assert len(session.ctx) == 4
        assert "Say one word." in str(session.last_logs[-1].prompt)  # the earlier turn is in the prompt

    def test_raw_batch_gives_one_output_and_log_per_prompt(self) -> None:
        backend = self.make_backend()
        if type(backend).generate_raw is Backend.generate_raw and type(backend).agenerate_raw is Backend.agenerate_raw:
            pytest.skip(f"{type(backend).__name__} offers no raw generation")
        logs: list[GenerateLog] = []
        actions: list[Component | CBlock] = [CBlock("One"), CBlock("Two"), CBlock("Three")]
        outs = backend._generate_from_raw(actions, model_options=dict(self.options), generate_logs=logs)
        assert len(outs) == 3 and all(isinstance(o.value, str) for o in outs)
        assert [log.result for log in logs] == outs and [log.action for log in logs] == actions

    def test_format_output_parses(self) -> None:
        backend = self.make_backend()
        out = backend.generate_from_context(
            Instruction("Give a city and its population as JSON."),
            LinearContext(),
            format=City,
            model_options={**self.options, ModelOption.MAX_NEW_TOKENS: 48},
        )
        City.model_validate_json(out.value or "")

    def test_tool_calls_are_extracted_only_when_asked_for(self) -> None:
        seen: list[str] = []

        class Parser(_Plugin):
            @hookimpl
            def gencomp_extract_tool_calls(self, tools: Any, text: str) -> dict[str, ModelToolCall]:
                seen.append(text)
                return {"lookup": ModelToolCall("lookup", tools["lookup"], {"query": "x"})}

        backend = self.make_backend()
        options = {**self.options, ModelOption.TOOLS: [lookup]}
        with Parser():
            out = backend.generate_from_context(
                Message("user", "Look up x."), LinearContext(), model_options=options, tool_calls=True
            )
            assert seen == [out.value] and out.tool_calls is not None
            assert out.tool_calls["lookup"].call_func() == "found x"
            plain = backend.generate_from_context(Message("user", "Look up x."), LinearContext(), model_options=options)
        assert len(seen) == 1 and not plain.tool_calls

    # -- options, checks, logs ------------------------------------------------------------------

    def test_an_unknown_option_is_rejected_with_its_name(self) -> None:
        backend = self.make_backend()
        with pytest.raises(UnknownModelOptionError, match="'no_such_option_xyz'"):
            backend.generate_from_context(
                Message("user", "hi"), LinearContext(), model_options={**self.options, "no_such_option_xyz": 1}
            )

    def test_requirement_checks_go_through_the_batch_hook_then_the_judge(self) -> None:
        offered: list[list[str | None]] = []

        class Checker(_Plugin):
            @hookimpl
            def gencomp_check_requirements(self, requirements: list[Requirement], output: Any) -> list[Any]:
                offered.append([r.description for r in requirements])
                answers: list[Any] = []
                for r in requirements:
                    if r.description == "answered by the plugin":
                        answers.append(label(ModelOutputThunk("Y"), CheckVerdict(True, 0.9, "code:test")))
                    else:
                        answers.append(None)
                return answers

        session = Session(self.make_backend())
        reqs: list[Requirement | str] = [
            Requirement("answered by the plugin"),
            Requirement("The answer is polite."),
            Requirement("Not empty.", validation_fn=lambda ctx: True),
        ]
        with Checker():
            results = session.validate(reqs, output="Thank you for asking.")
        assert offered == [["answered by the plugin", "The answer is polite."]]
        assert (
            replace(results[0].verdict, decided_by=None) == CheckVerdict(True, 0.9, "code:test") and results[0].result
        )
        assert isinstance(results[1].verdict, CheckVerdict) and results[1].verdict.path == JUDGE_PATH
        assert results[2].result is True

    def test_logs_record_the_merged_options_prompt_and_backend(self) -> None:
        backend = self.make_backend(model_options={ModelOption.SEED: 7})
        logs: list[GenerateLog] = []
        action = Message("user", "hi")
        backend.generate_from_context(action, LinearContext(), model_options=dict(self.options), generate_logs=logs)
        (log,) = logs
        assert log.model_options is not None and log.model_options[ModelOption.SEED] == 7
        for key, value in self.options.items():
            assert log.model_options[key] == value
        assert log.prompt and isinstance(log.backend, str) and log.date is not None

    # -- construction, caching, threads, discovery ------------------------------------------------

    def test_caching_follows_the_hook_and_can_be_turned_off(self) -> None:
        made: list[Cache] = []

        class Caches(_Plugin):
            @hookimpl
            def gencomp_make_cache(self) -> Cache:
                made.append(LRUCache(2))
                return made[-1]

        with Caches():
            backend = self.make_backend()
        assert made and backend.cache is made[0]
        assert self.make_backend(use_caches=False).cache is None
        given = LRUCache(4)
        assert self.make_backend(cache=given).cache is given

    def test_backend_created_fires_once_per_backend(self) -> None:
        created: list[Backend] = []

        class Observer(_Plugin):
            @hookimpl
            def gencomp_backend_created(self, backend: Backend) -> None:
                created.append(backend)

        with Observer():
            backend = self.make_backend()
        assert created == [backend]

    def test_concurrent_calls_succeed_and_match_sequential_ones(self) -> None:
        backend = self.make_backend()
        prompts = [f"Count to {i}." for i in range(4)]

        def ask(prompt: str) -> str | None:
            return backend.generate_from_context(
                Message("user", prompt), LinearContext(), model_options=dict(self.options)
            ).value

        sequential = [ask(p) for p in prompts]
        results: dict[int, str | None] = {}
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(prompts))

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = ask(prompts[i])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(results) == len(prompts)
        if self.deterministic and self.batch_invariant:
            assert [results[i] for i in range(len(prompts))] == sequential

    # -- async, streaming, cancellation ----------------------------------------------------------

    def test_async_calls_give_the_sync_results(self) -> None:
        if not self.deterministic:
            pytest.skip("the backend's outputs are not deterministic")
        sync = Session(self.make_backend())
        want = [sync.chat(p, model_options=dict(self.options)).content for p in ("Hello.", "Name a colour.")]

        async def run() -> list[str]:
            session = Session(self.make_backend())
            return [
                (await session.achat(p, model_options=dict(self.options))).content for p in ("Hello.", "Name a colour.")
            ]

        assert asyncio.run(run()) == want
        backend = self.make_backend()
        raw_offered = type(backend).generate_raw is not Backend.generate_raw or (
            type(backend).agenerate_raw is not Backend.agenerate_raw
        )
        if raw_offered:
            actions: list[Component | CBlock] = [CBlock("One"), CBlock("Two")]
            outs = asyncio.run(backend.agenerate_from_raw(actions, model_options=dict(self.options)))
            assert [o.value for o in outs] == [
                o.value for o in backend._generate_from_raw(actions, model_options=dict(self.options))
            ]

    def test_async_calls_leave_the_event_loop_free_and_run_together(self) -> None:
        backend = self.make_backend()

        async def run() -> tuple[list[Message], float]:
            chats = (Session(backend).achat(f"Count to {i}.", model_options=dict(self.options)) for i in range(4))
            return await loop_stall(asyncio.gather(*chats))

        outs, stall = asyncio.run(run())
        assert all(isinstance(o, Message) for o in outs)
        assert stall < 0.25  # the loop ticked while the backend worked

    def test_a_stream_yields_chunks_that_join_to_the_answer(self) -> None:
        session = Session(self.make_backend())
        stream = session.chat_stream("Name a colour.", model_options=dict(self.options))
        text = "".join(chunk.text for chunk in stream)
        assert text == (stream.result.result.value or "")
        assert session.ctx.last_output() is stream.result.result

    def test_a_closed_stream_leaves_the_context_as_it_was(self) -> None:
        session = Session(self.make_backend())
        session.chat("Hello.", model_options=dict(self.options))
        before = session.ctx.full_history()
        stream = session.chat_stream("Name a colour.", model_options=dict(self.options))
        stream.close()
        assert session.ctx.full_history() == before

    def test_discovery_and_selection_by_name(self) -> None:
        if self.backend_name is None:
            pytest.skip("backend_name is not set")
        from gencomp.selection import make_backend

        spec = plugins.registry().backend(self.backend_name)
        assert spec is not None, f"no installed plugin registers a backend named {self.backend_name!r}"
        built = make_backend(self.backend_name, **self.discovery_kwargs())
        self._made.append(built)
        assert type(built) is type(self.make_backend())
