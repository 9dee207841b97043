"""The conformance kit: standard tests every gencomp backend should pass (needs pytest).

Subclass :class:`BackendConformance` in a test module of your backend's distribution, implement
:meth:`~BackendConformance.make_backend`, set :attr:`~BackendConformance.backend_name`, and pytest
runs every standard test against your backend::

    from gencomp.testing import BackendConformance


    class TestMyBackend(BackendConformance):
        backend_name = "mine"  # its registered name, for the discovery test

        def make_backend(self, **kwargs):
            return MyBackend("my-model", **kwargs)

The tests check what gencomp relies on: generation from a context and over chat turns, raw batch
generation, ``format=`` output that parses, tool-call extraction, options (an unknown one refused by
name; max tokens, temperature, seed and stop strings each observably reach the model or are refused
by name), requirement checks through the batch hook and the judge prompt, logs, caching,
``gencomp_backend_created``, concurrent calls, the async counterparts (the sync results, an event
loop never blocked, measured on a backend made slow), streaming (pieces handed on as they are
generated, joining to the answer the plain call gives, sync and async), cancellation during a real
generation (a closed stream and a cancelled task stop the backend before it finishes; the context is
left as it was), the error an unreachable backend raises, and discovery by name.

Capabilities are class attributes: each declares what the backend does, and skips exactly the tests
that do not apply (CONTRIBUTING.md, "Run the conformance kit", has the table). Every failure says
what to change. :meth:`BackendConformance.test_no_standard_test_is_deleted_or_overridden_silently`
fails when a subclass deletes or overrides a standard test without ``@pytest.mark.xfail(reason=...)``.
A backend with a ``close()`` method (a connection pool, a server process) is closed at the end of
each test that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

import pydantic
import pytest

from gencomp import plugins
from gencomp.backend import Backend, Generation
from gencomp.base import CBlock, Component, GenerateLog, LinearContext, ModelOutputThunk, ModelToolCall
from gencomp.cache import Cache, LRUCache
from gencomp.components import Instruction, Message, Requirement
from gencomp.errors import GencompError, UnknownModelOptionError
from gencomp.model_options import ModelOption
from gencomp.plugins import hookimpl
from gencomp.session import Session
from gencomp.streaming import GenerationCancelled, GenerationControl, current_control
from gencomp.verdicts import JUDGE_PATH, CheckVerdict, RequirementCheck, label

__all__ = ["ENFORCEABLE_EXAMPLES", "BackendConformance", "City", "loop_stall"]

T = TypeVar("T")

LONG_PROMPT = "Count from one to one hundred in words, separated by spaces."
"""The prompt of the calls that should give a long answer."""
STALL_LIMIT = 0.25
"""The longest the event loop may stand still (s) while async calls run, or half of one call's time when that
is longer (a loaded machine slows the calls and the loop alike; a blocked loop stands still for a whole call)."""
SLOW_CALL = 0.3
"""How long (s) a call of a natively async backend must take for a blocked event loop to show."""
PUSHES_AFTER_STOP = 2
"""How many pieces a backend may still push once told to stop (the piece it was pushing, and one more)."""
WRITE_A_BACKEND = 'CONTRIBUTING.md, "Write a backend"'

ENFORCEABLE_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("no_comma", {}),
    ("all_lowercase", {"english": False}),
    ("all_capitals", {"english": False}),
    ("starts_with", {"start_phrase": "Dear John"}),
    ("end_phrase", {"end_phrase": "Any questions?"}),
    ("quotation", {}),
    ("title", {}),
    ("json_format", {}),
    ("constrained_response", {}),
    ("number_words", {"num_words": 5, "relation": "less than"}),
    ("number_sentences", {"num_sentences": 2, "relation": "at most"}),
    ("postscript", {"postscript_marker": "P.S."}),
    ("number_bullet_lists", {"num_bullets": 3}),
    ("forbidden_words", {"forbidden_words": ["the", "a"]}),
    ("include_keywords", {"keywords": ["river"]}),
    ("number_paragraphs", {"num_paragraphs": 2}),
    ("nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "so"}),
    ("number_placeholders", {"num_placeholders": 2}),
    ("number_highlighted_sections", {"num_highlights": 1}),
    ("multiple_sections", {"num_sections": 2}),
    ("letter_frequency", {"letter": "e", "let_frequency": 3, "let_relation": "at most"}),
    ("repeat_prompt", {"prompt_to_repeat": "Say hi."}),
    ("keyword_frequency", {"keyword": "river", "frequency": 2, "relation": "less than"}),
    ("contains_number", {}),
    ("contains_url", {}),
    ("word_range", {"min_words": 0, "max_words": 9}),
    ("ends_with_question", {}),
    ("contains_email", {}),
]
"""One (kind, parameters) of every kind in :data:`gencomp.constraints.ENFORCEABLE` but ``all_of`` and
``two_responses`` (made of other kinds), for a constraint-enforcing backend's tests: an answer generated
under ``constraint_of(checks.make(kind, **params))`` must pass that check."""


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

    A gap much longer than 5 ms means something blocked the event loop. Bound it relative to the
    run's length (a blocked loop stalls for a whole call), not by a fixed time: a loaded machine's
    scheduler alone can pause the loop for a few hundred milliseconds.
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


class _Probe:
    """Watches one backend's generations: when each starts and ends, what it returns or raises, what it pushes.

    It wraps the instance's ``generate`` and ``agenerate`` (the base calls them through the instance)
    and the ``push`` of each call's :class:`~gencomp.streaming.GenerationControl`.
    """

    def __init__(self, backend: Backend) -> None:
        self.started = threading.Event()
        self.first_piece = threading.Event()
        self.ended = threading.Event()
        self.pieces: list[str] = []
        self.pushes_after_stop = 0
        self.outcome: Generation | BaseException | None = None
        self._depth = 0
        self._lock = threading.Lock()
        self._watched: set[int] = set()
        sync, native = backend.generate, backend.agenerate

        def generate(request: Any) -> Generation:
            self._enter()
            try:
                out = sync(request)
            except BaseException as exc:
                self._leave(exc)
                raise
            self._leave(out)
            return out

        async def agenerate(request: Any) -> Generation:
            self._enter()
            try:
                out = await native(request)
            except BaseException as exc:
                self._leave(exc)
                raise
            self._leave(out)
            return out

        backend.generate = generate  # type: ignore[method-assign]
        backend.agenerate = agenerate  # type: ignore[method-assign]

    def _enter(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return  # a sync call of a natively async backend runs its agenerate: one generation
            self.started.set()
            control = current_control()
            if control is not None and id(control) not in self._watched:
                self._watched.add(id(control))
                self._watch(control)

    def _leave(self, outcome: Any) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self.outcome = outcome
                self.ended.set()

    def _watch(self, control: GenerationControl) -> None:
        push = control.push

        def counted(text: str, *, tokens: int = 0, whole: bool = False) -> bool:
            if self._depth > 0:  # the backend's own pushes, not the base's after it returned
                if control.stop_requested():
                    self.pushes_after_stop += 1
                elif text:
                    self.pieces.append(text)
                    self.first_piece.set()
            return push(text, tokens=tokens, whole=whole)

        control.push = counted  # type: ignore[method-assign]

    @property
    def text(self) -> str | None:
        """The text the generation returned (``None`` when it raised)."""
        return self.outcome.text if isinstance(self.outcome, Generation) else None


def _prompt_text(prompt: Any) -> str:
    """A log's prompt as one text: a string as it is, chat messages' contents one per line."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in prompt)
    return str(prompt)


def _marked_xfail(test: Any) -> bool:
    return any(getattr(mark, "name", None) == "xfail" for mark in getattr(test, "pytestmark", []))


def _overrides(backend: Backend, *names: str) -> bool:
    return any(getattr(type(backend), n) is not getattr(Backend, n) for n in names)


class BackendConformance:
    """Standard tests for a backend; subclass it, implement :meth:`make_backend`, declare what your backend does.

    Capabilities (class attributes) skip exactly the tests that do not apply; the table in
    CONTRIBUTING.md ("Run the conformance kit") says which.
    """

    backend_name: ClassVar[str | None] = None
    """The name your plugin registers (``gencomp_register_backends``), for the discovery test."""
    registered: ClassVar[bool] = True
    """Whether a plugin registers the backend; ``False`` skips the discovery test."""
    options: ClassVar[dict[str, Any]] = {ModelOption.MAX_NEW_TOKENS: 8}
    """Options of every generation the tests run (keep outputs short)."""
    slow_max_new_tokens: ClassVar[int] = 64
    """``MAX_NEW_TOKENS`` of the calls that must still be running when the test looks (streaming, cancellation)."""
    deterministic: ClassVar[bool] = True
    """Whether two equal calls, one at a time, give equal outputs (greedy decoding, a script)."""
    batch_invariant: ClassVar[bool] = True
    """Whether calls running at once give the outputs they give alone (``False`` for batching servers)."""
    streams: ClassVar[bool] = True
    """Whether the backend pushes its answer in pieces as they are generated, and stops when told to."""
    has_raw_generation: ClassVar[bool | None] = None
    """Whether it offers raw batch generation; ``None``: whether the class implements ``generate_raw``."""
    supports_format: ClassVar[bool] = True
    """Whether ``format=`` constrains the output; ``False``: the backend must refuse ``format=``."""
    model_judges: ClassVar[bool] = True
    """Whether a model answers requirement checks from the prompt (``False`` for a scripted backend)."""
    stop_option: ClassVar[str] = "stop"
    """The backend's own option name for stop strings (a list of strings)."""
    refused_options: ClassVar[frozenset[str]] = frozenset()
    """Those of ``ModelOption.TEMPERATURE``, ``ModelOption.SEED`` and :attr:`stop_option` refused by name."""

    def make_backend(self, **kwargs: Any) -> Backend:
        """A new backend; ``kwargs`` (``use_caches``, ``cache``, ``model_options``) go to its constructor."""
        raise NotImplementedError("implement make_backend(**kwargs) in your BackendConformance subclass")

    def make_slow_backend(self, **kwargs: Any) -> Backend:
        """A backend whose answers with ``slow_max_new_tokens`` take a while (default: :meth:`make_backend`).

        Natively async backends must take at least 0.3 s per such answer, so that a blocked event loop
        shows; a backend in front of a fast fake server returns one whose server is slowed on purpose.
        """
        return self.make_backend(**kwargs)

    def make_unreachable_backend(self) -> Backend | None:
        """A backend pointed at an address where nothing listens; ``None`` (default): it talks to no server."""
        return None

    def discovery_kwargs(self) -> dict[str, Any]:
        """The ``model_id`` and factory keywords :func:`gencomp.make_backend` needs for ``backend_name``."""
        return {}

    @pytest.fixture(autouse=True)
    def _close_made_backends(self) -> Iterator[None]:
        made: list[Any] = []

        def tracked(factory: Callable[..., Any]) -> Callable[..., Any]:
            def make(**kwargs: Any) -> Any:
                backend = factory(**kwargs)
                if backend is not None and all(b is not backend for b in made):
                    made.append(backend)
                return backend

            return make

        self.make_backend = tracked(self.make_backend)  # type: ignore[method-assign]  # this test's instance only
        self.make_slow_backend = tracked(self.make_slow_backend)  # type: ignore[method-assign]
        self.make_unreachable_backend = tracked(self.make_unreachable_backend)  # type: ignore[method-assign]
        self._made = made
        yield
        for backend in made:
            close = getattr(backend, "close", None)
            if callable(close):
                close()
        # pytest keeps test instances to the end of the session: let go of the backends now
        made.clear()
        del self.make_backend, self.make_slow_backend, self.make_unreachable_backend, self._made

    # -- helpers -----------------------------------------------------------------------------------

    @property
    def _slow_options(self) -> dict[str, Any]:
        return {**self.options, ModelOption.MAX_NEW_TOKENS: self.slow_max_new_tokens}

    def _ask(self, backend: Backend, options: dict[str, Any], prompt: str = LONG_PROMPT) -> str:
        out = backend.generate_from_context(Message("user", prompt), LinearContext(), model_options=options)
        return out.value or ""

    def _offers_raw(self, backend: Backend) -> bool:
        if self.has_raw_generation is not None:
            return self.has_raw_generation
        return _overrides(backend, "generate_raw", "agenerate_raw", "_generate_from_raw")

    def _accepts(self, key: str) -> bool:
        return key not in self.refused_options

    def _check_refused(self, backend: Backend, key: str, value: Any) -> None:
        """``key`` is declared refused: a call with it must raise ``UnknownModelOptionError`` naming it."""
        try:
            self._ask(backend, {**self.options, key: value}, "hi")
        except UnknownModelOptionError as exc:
            assert repr(key) in str(exc) or key in str(exc), (
                f"the backend refused {key!r}, but its error does not name it: {exc}"
            )
            return
        pytest.fail(
            f"refused_options declares {key!r} refused, but the backend took {key}={value!r}: "
            f"remove it from refused_options (and make it reach the model), or leave it out of option_map and "
            f"generate_keys so that gencomp refuses it by name"
        )

    def _ask_with(self, backend: Backend, key: str, options: dict[str, Any], prompt: str = LONG_PROMPT) -> str:
        """A call with option ``key`` the backend is meant to take; any error says how to fix the translation."""
        try:
            return self._ask(backend, options, prompt)
        except UnknownModelOptionError as exc:
            refused = next((k for k in options if repr(k) in str(exc)), key)
            pytest.fail(
                f"the backend refuses {refused!r} by name ({exc}). If its model takes it under another name, map "
                f"it (option_map {{'<its name>': ...}} and generate_keys, or stop_option for stop strings); if it "
                f"cannot take it, declare it: refused_options = frozenset({{{refused!r}}})"
            )
        except Exception as exc:
            given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k == key or k not in self.options)
            pytest.fail(
                f"a call with {given} failed with {type(exc).__name__}: {exc}. Translate each option to the name "
                "and form your model takes (option_map and generate_keys, then pass request.options.generate on); "
                "one the model cannot take: leave it out of option_map and generate_keys so that gencomp refuses it "
                "by name, and declare it in refused_options"
            )

    def _sample(self, backend: Backend, key: str, temperature: float | None, seed: int | None) -> str:
        """A short answer at ``temperature`` with ``seed`` (each left out when ``None``), for the test of ``key``."""
        options = {**self.options, ModelOption.MAX_NEW_TOKENS: 12}
        if temperature is not None:
            options[ModelOption.TEMPERATURE] = temperature
        if seed is not None:
            options[ModelOption.SEED] = seed
        return self._ask_with(backend, key, options, "Name a word.")

    # -- generation ------------------------------------------------------------------------------

    def test_generates_from_a_context(self) -> None:
        backend = self.make_backend()
        ctx = LinearContext()
        ctx.insert_turn(Message("user", "Hello."), ModelOutputThunk("Hi."))
        logs: list[GenerateLog] = []
        action = Message("user", "Name a colour.")
        out = backend.generate_from_context(action, ctx, model_options=dict(self.options), generate_logs=logs)
        assert isinstance(out, ModelOutputThunk) and isinstance(out.value, str) and out.is_computed(), (
            f"generate_from_context returned {out!r}, not a computed output with text: return Generation(text) "
            "from generate(request) and let the base build the output (do not override generate_from_context)"
        )
        assert len(logs) == 1 and logs[0].action is action and logs[0].result is out, (
            f"one call left {len(logs)} logs in generate_logs, not one for the action and its output: let the "
            "base write the log (do not append to generate_logs in generate)"
        )
        assert out.generate_log is logs[0], "the output's generate_log is not its log: let the base write the log"

    def test_chat_turns_build_on_each_other(self) -> None:
        session = Session(self.make_backend())
        first = session.chat("Say one word.", model_options=dict(self.options))
        second = session.chat("Say another word.", model_options=dict(self.options))
        assert isinstance(first, Message) and first.role == "assistant", (
            f"a chat reply parsed to {first!r}, not an assistant Message: keep the formatter's parse "
            "(PlainFormatter, or a Formatter whose parse gives a Message for a Message action)"
        )
        assert isinstance(second, Message) and second.role == "assistant", (
            f"the second chat reply parsed to {second!r}, not an assistant Message: keep the formatter's parse"
        )
        assert len(session.ctx) == 4, f"two chat turns left {len(session.ctx)} items in the context, not 4"
        prompt = _prompt_text(session.last_logs[-1].prompt)
        assert "Say one word." in prompt, (
            f"the second turn's prompt does not hold the first turn ({prompt!r}): send request.messages "
            "(the whole conversation) to the model, not only the last message"
        )

    def test_raw_batch_gives_one_output_and_log_per_prompt(self) -> None:
        backend = self.make_backend()
        if not self._offers_raw(backend):
            pytest.skip(f"{type(backend).__name__} offers no raw generation (has_raw_generation)")
        logs: list[GenerateLog] = []
        actions: list[Component | CBlock] = [CBlock("One"), CBlock("Two"), CBlock("Three")]
        outs = backend._generate_from_raw(actions, model_options=dict(self.options), generate_logs=logs)
        assert len(outs) == 3 and all(isinstance(o.value, str) for o in outs), (
            f"raw generation of 3 prompts gave {outs!r}: return one Generation per request.prompts entry, in order"
        )
        assert [log.result for log in logs] == outs and [log.action for log in logs] == actions, (
            "raw generation must leave one log per prompt, in order: let the base write them"
        )

    def test_format_output_parses_or_format_is_refused(self) -> None:
        backend = self.make_backend()
        options = {**self.options, ModelOption.MAX_NEW_TOKENS: 48}
        action = Instruction("Give a city and its population as JSON.")
        if not self.supports_format:
            try:
                out = backend.generate_from_context(action, LinearContext(), format=City, model_options=options)
            except Exception as exc:
                assert "format" in str(exc), f"format= was refused, but the error does not name it: {exc!r}"
                return
            pytest.fail(
                f"supports_format = False, but format=City was taken silently (answer {out.value!r}): raise an "
                "error naming format= when request.format is set, or constrain the output and declare "
                "supports_format = True"
            )
        out = backend.generate_from_context(action, LinearContext(), format=City, model_options=options)
        try:
            City.model_validate_json(out.value or "")
        except pydantic.ValidationError as exc:
            pytest.fail(
                f"with format=City the answer {out.value!r} does not parse as City ({exc.error_count()} errors): "
                "constrain the model with request.format (its model_json_schema() for a server's JSON-schema "
                "option), or declare supports_format = False and refuse format= with an error naming it"
            )

    def test_a_constraint_is_enforced_or_refused_by_name(self) -> None:
        from gencomp import checks
        from gencomp.constraints import constraint_of

        backend = self.make_backend()
        offered = frozenset(getattr(backend, "constraint_syntaxes", frozenset()))
        if {"lark", "gbnf"} & offered:
            constraint = constraint_of(checks.starts_with("Yes")) & constraint_of(checks.no_comma())
        else:  # "json" alone, or nothing: a JSON answer is the one constraint such a backend may take
            constraint = constraint_of(checks.json_format())
        options = {**self.options, ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 24}
        action = Instruction("Say yes, then list three fruits.")
        if not ({"lark", "gbnf"} & offered or "json" in offered):
            try:
                out = backend.generate_from_context(action, LinearContext(), model_options=options)
            except GencompError as exc:
                assert "constraint" in str(exc), f"the constraint was refused, but the error does not say so: {exc}"
                return
            pytest.fail(
                f"constraint_syntaxes is empty, but ModelOption.CONSTRAINT was taken silently (answer {out.value!r}): "
                "leave refusing to the base (do not catch its error), or enforce request.options.constraint and "
                "declare constraint_syntaxes"
            )
        out = backend.generate_from_context(action, LinearContext(), model_options=options)
        assert constraint.matches(out.value or ""), (
            f"constraint_syntaxes = {sorted(offered)}, but the answer {out.value!r} does not follow the constraint "
            f"{constraint!r}: pass request.options.constraint to the model (constraint.lark() for llguidance, "
            "constraint.gbnf() for llama.cpp; a JSON mode for 'json'), or declare only what the backend enforces"
        )

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
            assert seen == [out.value] and out.tool_calls is not None, (
                f"with tool_calls=True the answer's text went to gencomp_extract_tool_calls {len(seen)} times, not "
                "once: return the model's text in Generation.text and let the base extract tool calls"
            )
            assert out.tool_calls["lookup"].call_func() == "found x", (
                "the extracted tool call does not run the offered tool: keep the tools of request.tools as given"
            )
            plain = backend.generate_from_context(Message("user", "Look up x."), LinearContext(), model_options=options)
        assert len(seen) == 1 and not plain.tool_calls, (
            "tool calls were extracted from a call that did not ask for them"
        )

    # -- options --------------------------------------------------------------------------------

    def test_an_unknown_option_is_rejected_with_its_name(self) -> None:
        backend = self.make_backend()
        try:
            self._ask(backend, {**self.options, "no_such_option_xyz": 1}, "hi")
        except UnknownModelOptionError as exc:
            assert "'no_such_option_xyz'" in str(exc), f"the refusal does not name the option: {exc}"
            return
        pytest.fail(
            "the option 'no_such_option_xyz' was taken silently: list only the names your model takes in "
            "generate_keys (the base then refuses every other name with UnknownModelOptionError)"
        )

    def test_max_new_tokens_reaches_the_model(self) -> None:
        backend = self.make_backend()
        short = self._ask_with(backend, ModelOption.MAX_NEW_TOKENS, {**self.options, ModelOption.MAX_NEW_TOKENS: 2})
        long = self._ask_with(backend, ModelOption.MAX_NEW_TOKENS, {**self.options, ModelOption.MAX_NEW_TOKENS: 24})
        assert len(short) < len(long), (
            f"ModelOption.MAX_NEW_TOKENS does not reach the model: 2 tokens gave {short!r}, 24 gave {long!r}. "
            "Map it to your model's name (option_map = {'<its name>': ModelOption.MAX_NEW_TOKENS}, the name in "
            "generate_keys) and pass request.options.generate to the model (or read request.options.max_new_tokens)"
        )

    def test_temperature_reaches_the_model_or_is_refused_by_name(self) -> None:
        backend = self.make_backend()
        key = ModelOption.TEMPERATURE
        if not self._accepts(key):
            self._check_refused(backend, key, 0.5)
            return
        seeded = self._accepts(ModelOption.SEED)

        def ask(temperature: float, seed: int) -> str:
            return self._sample(backend, key, temperature, seed if seeded else None)

        if self.deterministic:
            cold = [ask(0.0, seed) for seed in (1, 2)]
            assert cold[0] == cold[1], (
                f"at temperature 0 two calls (seeds 1 and 2) gave {cold[0]!r} and {cold[1]!r}: temperature does "
                "not reach the model (it samples at its own default). Pass request.options.generate['temperature'] "
                "to the model, or declare refused_options and leave 'temperature' out of generate_keys"
            )
        hot = {ask(1.0, seed) for seed in range(1, 7)}
        assert len(hot) > 1, (
            f"at temperature 1.0 six calls{' with seeds 1-6' if seeded else ''} all gave {hot.pop()!r}: temperature "
            "does not reach the model. Pass request.options.generate['temperature'] to it, or, if it cannot "
            "sample, declare refused_options = frozenset({ModelOption.TEMPERATURE}) and leave 'temperature' out of "
            "generate_keys"
        )

    def test_seed_reaches_the_model_or_is_refused_by_name(self) -> None:
        backend = self.make_backend()
        key = ModelOption.SEED
        if not self._accepts(key):
            self._check_refused(backend, key, 7)
            return
        hot = self._accepts(ModelOption.TEMPERATURE)

        def ask(seed: int) -> str:
            return self._sample(backend, key, 1.0 if hot else None, seed)

        fix = (
            "Map it (option_map = {'seed': ModelOption.SEED}, 'seed' in generate_keys) and pass it to the model, "
            "or read request.options.seed; if the model cannot take one, declare refused_options = "
            "frozenset({ModelOption.SEED}) and leave it out of option_map"
        )
        if self.deterministic:
            first, again = ask(7), ask(7)
            assert first == again, f"seed 7{' at temperature 1.0' if hot else ''} gave {first!r}, then {again!r}. {fix}"
        if hot:
            answers = {ask(seed) for seed in range(1, 7)}
            assert len(answers) > 1, f"seeds 1-6 at temperature 1.0 all gave {answers.pop()!r}: the seed is lost. {fix}"

    def test_stop_strings_reach_the_model_or_are_refused_by_name(self) -> None:
        backend = self.make_backend()
        key = self.stop_option
        if not self._accepts(key):
            self._check_refused(backend, key, ["x"])
            return
        greedy = {ModelOption.TEMPERATURE: 0.0} if self._accepts(ModelOption.TEMPERATURE) else {}
        options = {**self.options, **greedy, ModelOption.MAX_NEW_TOKENS: 24}
        full = self._ask_with(backend, ModelOption.TEMPERATURE if greedy else key, options)
        words = re.findall(r"[A-Za-z]{2,}", full)  # letters only: no piece of a character split across tokens
        candidates = [w for w in words[len(words) // 2 :] if full.find(w) > len(full) // 4]
        assert candidates, f"the kit needs a longer answer to test stop strings: 24 tokens gave {full!r}"
        stop = candidates[0]
        at = full.find(stop)
        cut = self._ask_with(backend, key, {**options, key: [stop]})
        fix = (
            f"Pass the stop strings to the model: stop_option names your backend's option for them "
            f"({key!r} now; it must be in generate_keys), or declare refused_options = frozenset({{{key!r}}}) "
            f"and leave it out of generate_keys"
        )
        if self.deterministic:
            assert full[:at].strip() and cut.strip().startswith(full[:at].strip()), (
                f"with {key}=[{stop!r}] the answer {cut!r} is not the answer without it ({full!r}) up to {stop!r}: "
                "stop strings must only end the answer early (send the same request otherwise)"
            )
            assert len(cut) < len(full) and stop not in cut[: len(cut) - len(stop)], (
                f"with {key}=[{stop!r}] the answer went on past {stop!r}: {cut!r} (without it: {full!r}). {fix}"
            )
        else:
            assert stop not in cut[: len(cut) - len(stop)], f"the answer {cut!r} went on past {stop!r}. {fix}"

    # -- checks, logs ---------------------------------------------------------------------------

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
        assert offered == [["answered by the plugin", "The answer is polite."]], (
            f"the model-judged requirements were offered to gencomp_check_requirements as {offered!r}, not once as "
            "one batch: do not answer requirement checks outside the base (let Session.validate run them)"
        )
        assert replace(results[0].verdict, decided_by=None) == CheckVerdict(True, 0.9, "code:test")
        assert results[0].result
        assert isinstance(results[1].verdict, CheckVerdict) and results[1].verdict.path == JUDGE_PATH, (
            f"the requirement no plugin answered got {results[1].verdict!r}, not a verdict of the model as a judge"
        )
        assert results[2].result is True, (
            f"a requirement with a validation_fn got {results[2]!r}: do not answer requirement checks yourself"
        )

    def test_the_judge_prompt_asks_the_model_for_yes_or_no_on_the_output(self) -> None:
        if not self.model_judges:
            pytest.skip("a script, not a model, answers requirement checks (model_judges = False)")
        session = Session(self.make_backend())
        session.validate([Requirement("The answer names a colour.")], output="The sky is blue today.")
        checks = [log for log in session.last_logs if isinstance(log.action, RequirementCheck)]
        assert len(checks) == 1, f"judging one requirement left {len(checks)} logs of a RequirementCheck, not one"
        prompt = _prompt_text(checks[0].prompt)
        assert "The answer names a colour." in prompt and "The sky is blue today." in prompt, (
            f"the judge prompt does not show the requirement and the answer under test: {prompt!r}. Render "
            "request.messages / request.prompt as given (the base renders the RequirementCheck into them)"
        )
        assert re.search(r"\byes\b", prompt, re.IGNORECASE) and re.search(r"\bno\b", prompt, re.IGNORECASE), (
            f"the judge prompt does not ask for yes or no, so the verdict (the answer's first word) is a guess: "
            f"{prompt!r}. A chat backend renders components with a formatter: subclass FormatterBackend with "
            "formatter='template' (gencomp-template-formatter asks 'Reply with \"Yes\" or \"No\" first'), or, "
            "when request.check is set, ask the model yourself to answer yes or no; see " + WRITE_A_BACKEND
        )

    def test_logs_record_the_merged_options_prompt_and_backend(self) -> None:
        default = {ModelOption.SEED: 7} if self._accepts(ModelOption.SEED) else {ModelOption.SYSTEM_PROMPT: "Be brief."}
        backend = self.make_backend(model_options=default)
        logs: list[GenerateLog] = []
        action = Message("user", "hi")
        backend.generate_from_context(action, LinearContext(), model_options=dict(self.options), generate_logs=logs)
        assert len(logs) == 1, f"one call left {len(logs)} logs: let the base write the log"
        (log,) = logs
        merged = log.model_options or {}
        for key, value in {**default, **self.options}.items():
            assert merged.get(key) == value, (
                f"the log's options {merged!r} lack {key}={value!r} (the backend's defaults merged under the "
                "call's): pass model_options through to Backend.__init__ and let the base translate them"
            )
        assert log.prompt and isinstance(log.backend, str) and log.date is not None, (
            f"the log lacks its prompt or backend ({log.prompt!r}, {log.backend!r}): return Generation(text) and "
            "set Generation.prompt only to the prompt the model really saw"
        )

    # -- construction, caching, threads ----------------------------------------------------------

    def test_caching_follows_the_hook_and_can_be_turned_off(self) -> None:
        made: list[Cache] = []

        class Caches(_Plugin):
            @hookimpl
            def gencomp_make_cache(self) -> Cache:
                made.append(LRUCache(2))
                return made[-1]

        fix = (
            "pass use_caches= and cache= through to Backend.__init__ (super().__init__(model_id, **kwargs)) and "
            "never set self.cache yourself"
        )
        with Caches():
            backend = self.make_backend()
        assert len(made) == 1, f"gencomp_make_cache ran {len(made)} times for one backend, not once: {fix}"
        assert backend.cache is made[0], f"the backend's cache is {backend.cache!r}, not the hook's: {fix}"
        off = self.make_backend(use_caches=False).cache
        assert off is None, f"use_caches=False left the cache {off!r}: {fix}"
        given = LRUCache(4)
        kept = self.make_backend(cache=given).cache
        assert kept is given, f"cache=LRUCache(4) was replaced by {kept!r}: {fix}"

    def test_backend_created_fires_once_per_backend(self) -> None:
        created: list[Backend] = []

        class Observer(_Plugin):
            @hookimpl
            def gencomp_backend_created(self, backend: Backend) -> None:
                created.append(backend)

        with Observer():
            backend = self.make_backend()
        assert created == [backend], (
            f"gencomp_backend_created fired {len(created)} times for one backend (for {created!r}), not once: the "
            "base fires it when your __init__ has returned; do not call it yourself"
        )

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
        assert errors == [], (
            f"calls from {len(prompts)} threads at once failed: {errors!r}. One backend serves many threads: guard "
            "shared state (a lock around the model, a connection pool)"
        )
        if self.deterministic and self.batch_invariant:
            together = [results[i] for i in range(len(prompts))]
            assert together == sequential, (
                f"calls at once gave {together!r}, one at a time {sequential!r}: guard shared state, or declare "
                "batch_invariant = False if the model batches concurrent requests"
            )

    # -- async ----------------------------------------------------------------------------------

    def test_async_calls_give_the_sync_results(self) -> None:
        if not self.deterministic:
            pytest.skip("the backend's outputs are not deterministic (deterministic = False)")
        sync = Session(self.make_backend())
        want = [sync.chat(p, model_options=dict(self.options)).content for p in ("Hello.", "Name a colour.")]

        async def run() -> list[str]:
            session = Session(self.make_backend())
            return [
                (await session.achat(p, model_options=dict(self.options))).content for p in ("Hello.", "Name a colour.")
            ]

        got = asyncio.run(run())
        assert got == want, (
            f"async calls gave {got!r}, sync calls {want!r}: agenerate must do what generate does (or implement "
            "only one of them: the base derives the other)"
        )
        backend = self.make_backend()
        if self._offers_raw(backend):
            actions: list[Component | CBlock] = [CBlock("One"), CBlock("Two")]
            outs = asyncio.run(backend.agenerate_from_raw(actions, model_options=dict(self.options)))
            plain = backend._generate_from_raw(actions, model_options=dict(self.options))
            assert [o.value for o in outs] == [o.value for o in plain], (
                "async raw generation differs from sync raw generation: agenerate_raw must do what generate_raw does"
            )

    def test_async_calls_leave_the_event_loop_free(self) -> None:
        backend = self.make_slow_backend()
        options = self._slow_options
        native = _overrides(backend, "agenerate", "agenerate_raw")
        start = time.perf_counter()
        self._ask(backend, options, "Count to 3.")
        seconds = time.perf_counter() - start
        if native:
            assert seconds >= SLOW_CALL, (
                f"one answer of {self.slow_max_new_tokens} tokens took {seconds:.3f} s: too fast to show whether "
                f"agenerate blocks the event loop. Make make_slow_backend() return a backend whose answers take "
                f"{SLOW_CALL} s or more (in front of a server slowed on purpose), or raise slow_max_new_tokens"
            )

        async def run() -> tuple[list[Message], float]:
            chats = (Session(backend).achat(f"Count to {i}.", model_options=dict(options)) for i in range(3))
            return await loop_stall(asyncio.gather(*chats))

        outs, stall = asyncio.run(run())
        assert all(isinstance(o, Message) for o in outs), f"async chats returned {outs!r}, not assistant messages"
        assert stall < max(STALL_LIMIT, seconds / 2), (
            f"the event loop stood still for {stall:.2f} s while 3 async calls ran (one takes {seconds:.2f} s): "
            "agenerate blocks it. Await the model (an async client), move blocking work to "
            "`await asyncio.to_thread(...)`, or implement only generate (the base runs it in a worker thread)"
        )

    # -- streaming ------------------------------------------------------------------------------

    def test_a_stream_yields_chunks_that_join_to_the_answer(self) -> None:
        session = Session(self.make_backend())
        stream = session.chat_stream("Name a colour.", model_options=dict(self.options))
        text = "".join(chunk.text for chunk in stream)
        answer = stream.result.result.value or ""
        assert text == answer, (
            f"the streamed pieces join to {text!r}, but the answer is {answer!r}: push exactly the text you return, "
            "each piece once, in order"
        )
        assert session.ctx.last_output() is stream.result.result, (
            "after a streamed chat the context's last output is not the call's result: return the answer from "
            "generate (the session adds it to the context)"
        )

    def test_a_streamed_answer_equals_the_plain_answer(self) -> None:
        if not self.deterministic:
            pytest.skip("the backend's outputs are not deterministic (deterministic = False)")
        backend = self.make_backend()
        plain = Session(backend).chat("Name a colour.", model_options=dict(self.options)).content
        stream = Session(backend).chat_stream("Name a colour.", model_options=dict(self.options))
        streamed = "".join(chunk.text for chunk in stream)
        assert streamed == plain, (
            f"streamed, the answer is {streamed!r}; not streamed, {plain!r}: a streaming call must send the model "
            "the same request (options, prompt) as a plain one"
        )

    def test_an_async_stream_yields_chunks_that_join_to_the_answer(self) -> None:
        async def run() -> tuple[str, str, Session]:
            session = Session(self.make_backend())
            stream = session.achat_stream("Name a colour.", model_options=dict(self.options))
            text = "".join([chunk.text async for chunk in stream])
            return text, (await stream.result()).result.value or "", session

        text, answer, session = asyncio.run(run())
        assert text == answer, (
            f"the async stream's pieces join to {text!r}, but the answer is {answer!r}: agenerate must push exactly "
            "the text it returns, each piece once"
        )
        last = session.ctx.last_output()
        assert last is not None and last.value == answer, (
            f"after an async streamed chat the context's last output is {last!r}, not the answer {answer!r}: return "
            "the answer from agenerate (the session adds it to the context)"
        )

    def test_a_streaming_backend_hands_on_pieces_while_it_generates(self) -> None:
        if not self.streams:
            pytest.skip("the backend answers in one piece (streams = False)")
        backend = self.make_slow_backend()
        probe = _Probe(backend)
        stream = Session(backend).chat_stream(LONG_PROMPT, model_options=self._slow_options)
        pieces, before_end = [], None
        for chunk in stream:
            if chunk.text:
                if before_end is None:
                    before_end = not probe.ended.is_set()
                pieces.append(chunk.text)
        fix = (
            "push each piece as the model produces it: control = gencomp.streaming.current_control(); "
            "if control is not None and not control.push(piece): stop (return the text so far); or declare "
            "streams = False"
        )
        assert len(pieces) > 1, f"streams = True, but the answer came in {len(pieces)} piece(s): {fix}"
        assert before_end, f"the first piece arrived only once the generation had ended: {fix}"

    # -- cancellation ---------------------------------------------------------------------------

    def _full_answer(self, backend: Backend) -> tuple[str | None, int]:
        """The slow call's whole answer (streamed, uncancelled) and how many pieces the backend pushed."""
        probe = _Probe(backend)
        with Session(backend).chat_stream(LONG_PROMPT, model_options=self._slow_options) as stream:
            for _ in stream:
                pass
        return probe.text, len(probe.pieces)

    def _assert_stopped(self, probe: _Probe, full: str | None, how: str) -> None:
        fix = (
            "stop as soon as push() returns False or the control's stop_requested() is true: close the model's "
            "stream, return Generation(text so far) (or raise gencomp.streaming.GenerationCancelled)"
        )
        assert probe.ended.wait(30), f"{how}, the backend had not returned 30 s later: {fix}"
        assert probe.pushes_after_stop <= PUSHES_AFTER_STOP, (
            f"{how}, the backend pushed {probe.pushes_after_stop} more pieces (push() returned False to each): {fix}"
        )
        if isinstance(probe.outcome, BaseException):
            assert isinstance(probe.outcome, (GenerationCancelled, asyncio.CancelledError)), (
                f"{how}, the backend raised {type(probe.outcome).__name__}: {probe.outcome}; return the text so far "
                "or raise gencomp.streaming.GenerationCancelled"
            )
        elif self.deterministic and full is not None:
            got = probe.text or ""
            assert len(got) < len(full), (
                f"{how}, the backend still generated the whole answer ({len(got)} characters, as many as uncancelled): "
                f"{fix}"
            )

    def test_closing_a_stream_mid_answer_stops_the_backend_and_keeps_the_context(self) -> None:
        if not self.streams:
            pytest.skip("the backend answers in one piece, so a stream cannot be closed mid-answer (streams = False)")
        backend = self.make_slow_backend()
        full, pieces = self._full_answer(backend)
        session = Session(backend)
        session.chat("Hello.", model_options=dict(self.options))
        before = session.ctx.full_history()
        probe = _Probe(backend)
        stream = session.chat_stream(LONG_PROMPT, model_options=self._slow_options)
        finished_first = None
        for chunk in stream:
            if chunk.text:
                finished_first = probe.ended.is_set()  # here: leaving the loop may already stop the call
                break
        stream.close()
        assert finished_first is not None, (
            f"the answer to {LONG_PROMPT!r} came with no text: the kit needs a long answer to close mid-way"
        )
        assert not finished_first, (
            f"the whole answer ({pieces} pieces) was generated before the first piece reached the reader: "
            "push each piece as it is generated; make_slow_backend()/slow_max_new_tokens must give an answer "
            "that takes a while"
        )
        self._assert_stopped(probe, full, "after the stream was closed at its first piece")
        assert session.ctx.full_history() == before, (
            "closing the stream changed the session's context: return from generate (or raise "
            "GenerationCancelled) once told to stop; never add to the context yourself"
        )

    def test_cancelling_an_async_call_mid_answer_stops_the_backend(self) -> None:
        if not self.streams:
            pytest.skip("the backend answers in one piece and cannot be stopped mid-answer (streams = False)")
        backend = self.make_slow_backend()
        full, _ = self._full_answer(backend)
        probe = _Probe(backend)

        async def run() -> tuple[Session, list[Any], bool]:
            session = Session(backend)
            before = session.ctx.full_history()
            task = asyncio.ensure_future(session.achat(LONG_PROMPT, model_options=self._slow_options))
            waited = 0  # ticks since the generation started: cancel at its first piece, or after 20 ticks
            for _ in range(6000):
                if probe.first_piece.is_set() or waited > 20 or task.done():
                    break
                waited += probe.started.is_set()
                await asyncio.sleep(0.005)
            ended_first = probe.ended.is_set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return session, before, ended_first

        session, before, ended_first = asyncio.run(run())
        assert probe.started.is_set(), "the async call never reached the backend's generate/agenerate"
        assert not ended_first, (
            "the generation ended before the kit could cancel it: make_slow_backend()/slow_max_new_tokens must give "
            "an answer that takes a while"
        )
        self._assert_stopped(probe, full, "after the task awaiting it was cancelled")
        assert session.ctx.full_history() == before, (
            "cancelling the call changed the session's context: let asyncio.CancelledError propagate from "
            "agenerate; never add to the context yourself"
        )

    # -- errors, discovery ----------------------------------------------------------------------

    def test_an_unreachable_backend_raises_a_gencomp_connection_error(self) -> None:
        fix = (
            "raise an error class of your own deriving from gencomp.GencompError and ConnectionError, whose "
            "message names the address and what to do (start the server, check base_url)"
        )

        def attempt(call: Callable[[Backend], Any]) -> BaseException:
            try:
                backend = self.make_unreachable_backend()
                if backend is None:
                    pytest.skip("the backend talks to no server (make_unreachable_backend returns None)")
                call(backend)
            except pytest.skip.Exception:
                raise
            except Exception as exc:
                return exc
            pytest.fail(f"a backend pointed at an address where nothing listens answered without an error: {fix}")

        for how, call in (
            ("sync", lambda b: self._ask(b, dict(self.options), "hi")),
            (
                "async",
                lambda b: asyncio.run(
                    b.agenerate_from_context(Message("user", "hi"), LinearContext(), model_options=dict(self.options))
                ),
            ),
        ):
            err = attempt(call)
            assert isinstance(err, GencompError) and isinstance(err, ConnectionError), (
                f"a {how} call to an unreachable backend raised {type(err).__name__}: {err}: {fix}"
            )
            assert str(err).strip(), f"the {how} unreachable-backend error has no message: {fix}"

    def test_discovery_and_selection_by_name(self) -> None:
        if not self.registered:
            pytest.skip("no plugin registers the backend (registered = False)")
        assert self.backend_name is not None, (
            "backend_name is not set: set it to the name your plugin registers in gencomp_register_backends, or "
            "declare registered = False for a backend no plugin registers"
        )
        from gencomp.selection import make_backend

        spec = plugins.registry().backend(self.backend_name)
        assert spec is not None, (
            f"no installed plugin registers a backend named {self.backend_name!r}: install your distribution "
            f"(pip install -e .) with its entry point in the 'gencomp' group; `gencomp plugins` shows why not"
        )
        built = make_backend(self.backend_name, **self.discovery_kwargs())
        self._made.append(built)
        want = type(self.make_backend())
        assert type(built) is want, (
            f"gencomp.make_backend({self.backend_name!r}) built a {type(built).__name__}, not a {want.__name__}: "
            "register the factory that builds your backend, and return discovery_kwargs() it needs"
        )

    def test_no_standard_test_is_deleted_or_overridden_silently(self) -> None:
        problems = []
        for name in sorted(n for n in vars(BackendConformance) if n.startswith("test_")):
            mine, standard = getattr(type(self), name, None), vars(BackendConformance)[name]
            if mine is standard:
                continue
            if not callable(mine):
                problems.append(f"{name} is deleted (set to {mine!r})")
            elif not _marked_xfail(mine):
                problems.append(f"{name} is overridden without @pytest.mark.xfail(reason=...)")
        assert not problems, (
            f"{type(self).__name__}: {'; '.join(problems)}. Keep the standard tests: declare a capability to skip "
            "what does not apply to your backend, or mark an override @pytest.mark.xfail(reason='why') so that "
            "the gap is on record"
        )
