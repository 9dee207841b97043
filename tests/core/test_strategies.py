"""Strategies as plugins: selection by name, the built-ins' rules, every attempt kept and counted, sync = async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from gencomp import (
    Backend,
    ContextWindowError,
    Generation,
    GenerationRequest,
    Instruction,
    ModelOption,
    Requirement,
    Session,
    ValidationResult,
    hookimpl,
    plugins,
    simple_validate,
    start_session,
)
from gencomp import errors as gencomp_errors
from gencomp.errors import UnknownStrategyError
from gencomp.strategies import (
    BestOfN,
    IdenticalAttemptError,
    Majority,
    Rejection,
    Strategy,
    StrategyError,
    normalise_answer,
    strategy_names,
)

Answer = Callable[[str, int | None, float | None], str]


class Sampler(Backend):
    """Answers ``answer(prompt, seed, temperature)``; takes ``seed`` and ``temperature``, counts words as tokens."""

    generate_keys = frozenset({"temperature"})

    def __init__(self, answer: Answer, **kwargs: Any) -> None:
        super().__init__("sampler", **kwargs)
        self.answer = answer
        self.calls: list[tuple[str, int | None, float | None]] = []
        self.lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        prompt = request.prompt or "\n".join(m["content"] for m in request.messages or [])
        seed, temperature = request.options.seed, request.options.generate.get("temperature")
        with self.lock:
            self.calls.append((prompt, seed, temperature))
        text = self.answer(prompt, seed, temperature)
        return Generation(text, extra={"new_tokens": len(text.split()), "prompt_tokens": len(prompt.split())})


def by_seed(answers: dict[int | None, str]) -> Answer:
    return lambda prompt, seed, temperature: answers.get(seed, answers.get(None, ""))


def has(word: str) -> Requirement:
    return Requirement(f"Mentions {word}.", simple_validate(lambda text: word in text))


def upper() -> Requirement:
    return Requirement("Use capitals.", simple_validate(str.isupper))


# -- selection by name ------------------------------------------------------------------------------


def test_the_built_in_strategies_are_registered_through_the_hook():
    assert {"repair", "rejection", "best-of-n", "majority"} <= set(strategy_names())
    spec = plugins.registry().strategy("best-of-n")
    assert spec is not None and spec.plugin == plugins.CORE_PLUGIN and spec.factory is BestOfN


def test_a_third_party_strategy_installed_through_an_entry_point_is_chosen_by_name(install):
    install("gencomp-example-strategy")
    assert "shortest" in strategy_names()
    s = Session(Sampler(by_seed({7: "a much longer answer about cats", 8: "cats", 9: "dogs"})), strategy="short")
    result = s.instruct("Talk.", requirements=[has("cats")], return_sampling_results=True)
    assert result.strategy == "shortest" and [a.seed for a in result.attempts] == [7, 8, 9]
    assert result.result.value == "cats" and result.selection == "the shortest of 2 passing answers"


def test_an_unknown_strategy_lists_the_installed_ones_and_the_closest_name():
    with pytest.raises(UnknownStrategyError) as err:
        Session(Sampler(by_seed({None: "x"}))).instruct("Talk.", strategy="best-of-m")
    message = str(err.value)
    assert "unknown strategy 'best-of-m'" in message and "Did you mean 'best-of-n'?" in message
    assert "from the strategy= argument" in message and "repair" in message


def test_the_strategy_comes_from_the_environment_then_gencomp_toml(monkeypatch, tmp_path):
    (tmp_path / "gencomp.toml").write_text('strategy = "rejection"\n[strategy_options]\ntemperature = 0.3\n')
    s = Session(Sampler(by_seed({None: "x"})))
    assert isinstance(s.strategy, Rejection) and s.strategy.temperature == 0.3
    monkeypatch.setenv("GENCOMP_STRATEGY", "majority")
    assert isinstance(Session(Sampler(by_seed({None: "x"}))).strategy, Majority)
    monkeypatch.setenv("GENCOMP_STRATEGY", "majorty")
    with pytest.raises(UnknownStrategyError, match=r"\(from \$GENCOMP_STRATEGY\)\. Did you mean 'majority'"):
        Session(Sampler(by_seed({None: "x"}))).strategy  # noqa: B018


def test_an_unknown_strategy_in_gencomp_toml_names_the_file(tmp_path):
    (tmp_path / "gencomp.toml").write_text('strategy = "best_of_n"\n')
    with pytest.raises(UnknownStrategyError, match=r"strategy in .*gencomp\.toml\)\. Did you mean 'best-of-n'"):
        Session(Sampler(by_seed({None: "x"}))).strategy  # noqa: B018


def test_start_session_refuses_an_unknown_strategy_before_making_the_backend(install):
    install("gencomp-echo-backend")
    with pytest.raises(UnknownStrategyError, match="unknown strategy 'nope'"):
        start_session("echo", strategy="nope")


def test_a_plugin_cannot_take_a_built_in_strategy_name():
    class Impostor:
        @hookimpl
        def gencomp_register_strategies(self, register):
            register("repair", Rejection)

    plugins.register_plugin(Impostor(), name="impostor")
    try:
        with pytest.raises(ValueError, match="strategy name 'repair' is built into gencomp; register another name"):
            plugins.registry()
    finally:
        plugins.unregister_plugin(name="impostor")


# -- repair and the rules every strategy follows -------------------------------------------------


def test_repair_keeps_the_attempt_that_met_the_most_requirements_not_the_last():
    answers = iter(["cats and dogs", "cats", "nothing"])
    s = Session(Sampler(lambda *_: next(answers)))
    result = s.instruct("Talk.", requirements=[has("cats"), has("dogs"), has("birds")], loop_budget=3,
                        return_sampling_results=True)  # fmt: skip
    assert [a.met_count for a in result.attempts] == [2, 1, 0]
    assert result.result.value == "cats and dogs" and not result.success
    assert result.selection.startswith("no attempt met every requirement; kept attempt 1 of 3, which met 2 of 3")
    assert s.ctx.last_output() is result.result  # the kept turn is the one in the context


def test_repair_never_repeats_an_identical_failed_attempt():
    s = Session(Sampler(lambda prompt, seed, temperature: f"quiet {seed} {temperature}"))
    result = s.instruct("Shout.", requirements=[upper()], loop_budget=3, return_sampling_results=True)
    calls = s.backend.calls
    assert calls[1][0] == calls[2][0]  # the same feedback twice: the same prompt
    assert calls[1][1:] == (None, None) and calls[2][1:] == (0, 0.7)  # so attempt 3 was sampled, seeded
    assert result.attempts[2].varied.startswith("the same inputs as attempt 2 (which failed)")


def test_an_attempt_that_would_repeat_a_failed_one_is_not_generated_when_nothing_can_vary(install):
    install("gencomp-echo-backend")
    s = start_session("echo", script=["quiet", "still quiet", "never asked"])  # the echo backend cannot sample
    result = s.instruct("Shout.", requirements=[upper()], loop_budget=3, return_sampling_results=True)
    assert len(s.backend.prompts) == 2 and len(result.attempts) == 3
    assert isinstance(result.attempts[2].error, IdenticalAttemptError) and result.attempts[2].output is None
    assert result.result.value == "still quiet" and [o.value for o in result.sample_generations] == [
        "quiet",
        "still quiet",
    ]


class Window(Sampler):
    """Refuses prompts longer than ``limit`` characters, as a model's context window does."""

    def __init__(self, answer: Answer, limit: int) -> None:
        super().__init__(answer)
        self.limit = limit

    def generate(self, request: GenerationRequest) -> Generation:
        prompt = "\n".join(m["content"] for m in request.messages or [])
        if len(prompt) > self.limit:
            raise ContextWindowError(f"{len(prompt)} characters do not fit", len(prompt), 0, self.limit)
        return super().generate(request)


def test_a_retry_that_fails_to_generate_keeps_the_attempts_already_made():
    s = Session(Window(lambda *_: "cats", limit=150))
    result = s.instruct("Talk about animals.", requirements=[has("cats"), has("dogs")], loop_budget=3,
                        return_sampling_results=True)  # fmt: skip
    assert result.result.value == "cats" and result.attempts[0].met_count == 1
    assert isinstance(result.attempts[1].error, ContextWindowError) and len(result.attempts) == 2
    assert "kept attempt 1 of 2" in result.selection and len(s.ctx) == 2


def test_a_first_attempt_that_fails_to_generate_raises():
    s = Session(Window(lambda *_: "cats", limit=5))
    with pytest.raises(ContextWindowError):
        s.instruct("Talk about animals.", requirements=[has("cats")])
    assert len(s.ctx) == 0


def test_the_cost_counts_every_attempt():
    answers = iter(["one two three", "cats four five six"])
    s = Session(Sampler(lambda *_: next(answers)))
    result = s.instruct("Talk.", requirements=[has("cats")], return_sampling_results=True)
    assert result.cost.attempts == 2 and result.cost.generated_tokens == 7
    assert result.cost.seconds >= result.cost.generation_seconds > 0 and result.cost.model_checks == 0


# -- rejection, best-of-n, majority --------------------------------------------------------------


def test_rejection_resamples_without_feedback_with_consecutive_seeds_and_is_reproducible():
    answers = {0: "no", 1: "no again", 2: "cats"}
    runs = []
    for _ in range(2):
        s = Session(Sampler(by_seed(answers)), strategy="rejection")
        result = s.instruct("Talk.", requirements=[has("cats")], loop_budget=3, return_sampling_results=True)
        runs.append([(a.seed, a.temperature, a.text) for a in result.attempts])
        assert all("failed these requirements" not in prompt for prompt, _, _ in s.backend.calls)
    assert runs[0] == runs[1] == [(0, 0.7, "no"), (1, 0.7, "no again"), (2, 0.7, "cats")]


def test_the_calls_own_seed_and_temperature_win_over_the_strategys():
    s = Session(Sampler(by_seed({5: "cats"})), strategy=Rejection(temperature=0.9))
    result = s.instruct("Talk.", requirements=[has("cats")], model_options={ModelOption.SEED: 5, "temperature": 0.2},
                        return_sampling_results=True)  # fmt: skip
    assert (result.attempts[0].seed, result.attempts[0].temperature) == (5, 0.2) and result.success


def test_best_of_n_generates_n_candidates_and_keeps_all_passed_then_most_met_then_highest_p_yes():
    answers = {0: "cats", 1: "cats and dogs", 2: "dogs", 3: "cats and dogs!"}
    s = Session(Sampler(by_seed(answers)), strategy="best-of-n")
    result = s.instruct("Talk.", requirements=[has("cats"), has("dogs")], return_sampling_results=True)
    assert [a.text for a in result.attempts] == ["cats", "cats and dogs", "dogs", "cats and dogs!"]
    assert result.success and result.result.value == "cats and dogs!"  # two passed: the tie goes to the later
    assert result.selection == "attempt 4: 2 of 4 met every requirement; kept"
    assert len(s.ctx) == 2 and result.cost.attempts == 4


def test_best_of_n_breaks_ties_by_the_model_checks_p_yes():
    class Judge(Sampler):
        def generate(self, request: GenerationRequest) -> Generation:
            if request.check is not None:  # p(yes) from the answer under test
                return Generation("Yes", meta={"p_yes": 0.9 if "purr" in (request.check.output or "") else 0.6})
            return super().generate(request)

    s = Session(Judge(by_seed({0: "cats purr", 1: "cats meow", 2: "cats hiss"})), strategy="best-of-n")
    result = s.instruct("Talk.", requirements=[has("cats"), "Is about cats."], loop_budget=3,
                        return_sampling_results=True)  # fmt: skip
    assert result.result.value == "cats purr" and "highest mean p(yes), 0.90" in result.selection


def test_majority_keeps_the_most_common_normalised_answer():
    answers = {0: "**Answer:** Paris.", 1: "Lyon", 2: "paris", 3: "Answer: PARIS", 4: "Lyon"}
    s = Session(Sampler(by_seed(answers)), strategy="majority")
    result = s.instruct("Capital of France?", return_sampling_results=True)
    assert normalise_answer(result.result.value or "") == "paris" and len(result.attempts) == 5
    assert result.selection.startswith("majority: 3 of 5 answers agree on 'paris'")


def test_majority_breaks_a_tie_by_the_checks_and_takes_any_normaliser():
    answers = {0: "twelve", 1: "12 apples", 2: "12", 3: "eleven"}
    numbers = Majority(normaliser=lambda text: "".join(c for c in text if c.isdigit()) or text)
    s = Session(Sampler(by_seed(answers)), strategy=numbers)
    result = s.instruct("How many?", requirements=[has("apples")], loop_budget=4, return_sampling_results=True)
    assert result.result.value == "12 apples" and "2 of 4 answers agree on '12'" in result.selection
    first_word = Majority(normaliser=lambda text: text.split()[0])
    tie = Session(Sampler(by_seed({0: "a", 1: "b apples", 2: "a", 3: "b"})), strategy=first_word)
    result = tie.instruct("?", requirements=[has("apples")], loop_budget=4, return_sampling_results=True)
    assert result.result.value == "b apples" and "a tie of 2 answers, broken by the checks" in result.selection


def test_strategy_options_are_checked():
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        BestOfN(temperature=0)
    with pytest.raises(ValueError, match="normaliser must be a function"):
        Majority(normaliser="lower")  # type: ignore[arg-type]


# -- the protocol's guard rails -------------------------------------------------------------------


def test_a_strategy_that_overspends_its_budget_is_stopped_with_a_clear_error():
    class Greedy(Strategy):
        name = "greedy"

        def sample(self, call):
            attempts = yield call.generate(call.budget + 1)
            return call.best(attempts)

    with pytest.raises(StrategyError, match="asked for attempt 3 with a budget of 2"):
        Session(Sampler(by_seed({None: "x"}))).instruct("Talk.", strategy=Greedy())


def test_a_strategy_must_return_a_selection_of_its_own_attempts():
    class Lost(Strategy):
        def sample(self, call):
            yield call.generate()
            return "the first one"

    with pytest.raises(StrategyError, match="must return a Selection"):
        Session(Sampler(by_seed({None: "x"}))).instruct("Talk.", strategy=Lost())


def test_one_strategy_object_serves_concurrent_calls_on_many_sessions():
    strategy = BestOfN()
    backend = Sampler(lambda prompt, seed, t: f"{prompt} {seed}")

    async def main():
        sessions = [Session(backend, strategy=strategy) for _ in range(4)]
        return await asyncio.gather(*(s.ainstruct(f"Say {i:04d}.", return_sampling_results=True)
                                      for i, s in enumerate(sessions)))  # fmt: skip

    results = asyncio.run(main())
    assert [len(r.attempts) for r in results] == [4, 4, 4, 4]
    assert [f"Say {i:04d}." in r.result.value for i, r in enumerate(results)] == [True] * 4


# -- async equals sync ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["repair", "rejection", "best-of-n", "majority"])
def test_a_strategy_gives_the_same_attempts_sync_and_async(strategy):
    def answer(prompt: str, seed: int | None, temperature: float | None) -> str:
        return f"cats {seed}" if (seed or 0) % 2 else f"dogs {len(prompt)}"

    def run(result):
        return [(a.text, a.seed, a.temperature, [v.result for _, v in a.verdicts or []]) for a in result.attempts]

    sync = Session(Sampler(answer)).instruct("Talk.", requirements=[has("cats")], strategy=strategy, loop_budget=3,
                                             return_sampling_results=True)  # fmt: skip
    s = Session(Sampler(answer))
    asynced = asyncio.run(s.ainstruct("Talk.", requirements=[has("cats")], strategy=strategy, loop_budget=3,
                                      return_sampling_results=True))  # fmt: skip
    assert run(sync) == run(asynced) and sync.selection == asynced.selection


def test_instruction_repair_is_shown_only_to_instructions():
    answers = iter(["a", "b"])
    s = Session(Sampler(lambda *_: next(answers)))
    s.act(Instruction("Shout."), requirements=[upper()], loop_budget=2)
    assert "failed these requirements" in s.backend.calls[1][0]


def test_an_uncertain_verdict_counts_as_unmet_unless_trusted():
    from gencomp.verdicts import CheckVerdict

    def unsure(ctx):
        return ValidationResult(True, verdict=CheckVerdict(True, 0.52, "test", state="uncertain",
                                                           uncertain_reason="p(yes) near 0.5"))  # fmt: skip

    req = Requirement("Is good.", unsure)
    s = Session(Sampler(lambda prompt, seed, t: f"answer {seed}"))
    result = s.instruct("Talk.", requirements=[req], loop_budget=2, return_sampling_results=True)
    assert not result.success and len(result.attempts) == 2  # repaired, then kept as not met
    trusted = s.instruct("Talk.", requirements=[req], uncertain="trust", return_sampling_results=True)
    assert trusted.success and len(trusted.attempts) == 1
    with pytest.raises(ValueError, match="uncertain must be 'unmet' or 'trust'"):
        s.instruct("Talk.", requirements=[req], uncertain="maybe")


# -- fan-out: cancellation, batched checks, spans --------------------------------------------------


class AsyncSlow(Backend):
    """A natively async backend whose answers take long: records which candidates started and were cancelled."""

    generate_keys = frozenset({"temperature"})

    def __init__(self) -> None:
        super().__init__("async-slow")
        self.started: list[int | None] = []
        self.cancelled: list[int | None] = []

    async def agenerate(self, request: GenerationRequest) -> Generation:
        self.started.append(request.options.seed)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.append(request.options.seed)
            raise
        return Generation("late")


def test_cancelling_a_fanned_out_call_cancels_every_candidate():
    backend = AsyncSlow()
    s = Session(backend)

    async def main() -> None:
        task = asyncio.create_task(s.ainstruct("Talk.", strategy="best-of-n", loop_budget=4))
        while len(backend.started) < 4 and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sorted(backend.started) == sorted(backend.cancelled) == [0, 1, 2, 3] and len(s.ctx) == 0


class BatchChecker:
    """A plugin that answers the model-judged checks of all candidates at once (``gencomp_check_candidates``)."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    @hookimpl
    def gencomp_check_candidates(self, backend, requirements, ctxs, model_options, generate_logs):
        from gencomp import ModelOutputThunk
        from gencomp.verdicts import CheckVerdict, label

        self.batches.append(len(ctxs))
        answers = []
        for ctx in ctxs:
            text = ctx.last_output().value
            answers.append(
                [label(ModelOutputThunk("Y"), CheckVerdict("cats" in text, 0.9, "batch:test")) for _ in requirements]
            )
        return answers


def test_the_model_checks_of_all_candidates_go_to_the_batch_hook_at_once():
    checker = BatchChecker()
    plugins.register_plugin(checker, name="batch-checker")
    try:
        s = Session(Sampler(by_seed({0: "dogs", 1: "cats", 2: "birds"})), strategy="best-of-n")
        result = s.instruct("Talk.", requirements=["Mentions cats.", has("s")], loop_budget=3,
                            return_sampling_results=True)  # fmt: skip
    finally:
        plugins.unregister_plugin(name="batch-checker")
    assert checker.batches == [3] and result.result.value == "cats"
    assert [v.check_path for _, v in result.selected.verdicts] == ["batch:test", None]


class Spans:
    """An observer of spans (``gencomp_span_started``/``gencomp_span_ended``), as a tracing plugin is."""

    def __init__(self) -> None:
        self.started: list[object] = []
        self.ended: list[object] = []

    @hookimpl
    def gencomp_span_started(self, span):
        self.started.append(span)

    @hookimpl
    def gencomp_span_ended(self, span):
        self.ended.append(span)


def test_a_call_is_one_tree_of_spans_call_attempt_generation_check():
    spans = Spans()
    plugins.register_plugin(spans, name="spans")
    try:
        answers = iter(["quiet", "LOUD"])
        s = Session(Sampler(lambda *_: next(answers)))
        s.instruct("Shout.", requirements=[upper()], loop_budget=2)
    finally:
        plugins.unregister_plugin(name="spans")
    assert {id(x) for x in spans.started} == {id(x) for x in spans.ended}
    (call,) = [x for x in spans.ended if x.kind == "call"]
    attempts = [x for x in spans.ended if x.kind == "attempt"]
    generations = [x for x in spans.ended if x.kind == "generation"]
    checks = [x for x in spans.ended if x.kind == "check"]
    assert [a.parent for a in attempts] == [call, call] and [a.attributes["gencomp.attempt"] for a in attempts] == [
        1,
        2,
    ]
    assert [g.parent for g in generations] == attempts and [c.parent for c in checks] == attempts
    assert call.attributes["gencomp.strategy"] == "repair" and call.attributes["gencomp.success"] is True
    assert call.attributes["gencomp.selected"] == 2 and call.attributes["gencomp.generated_tokens"] == 2
    assert [c.attributes["gencomp.passed"] for c in checks] == [False, True]
    assert generations[0].attributes["gencomp.output_tokens"] == 1 and call.end_ns >= attempts[-1].end_ns


def test_a_cancelled_call_ends_its_spans_as_cancelled():
    spans = Spans()
    plugins.register_plugin(spans, name="spans")
    backend = AsyncSlow()
    try:

        async def main() -> None:
            task = asyncio.create_task(Session(backend).ainstruct("Talk.", strategy="best-of-n", loop_budget=2))
            while len(backend.started) < 2 and not task.done():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
    finally:
        plugins.unregister_plugin(name="spans")
    assert {x.kind for x in spans.ended} == {"call", "attempt", "generation"}
    assert all(x.cancelled and x.end_ns is not None for x in spans.ended)


def test_no_span_is_made_when_nobody_observes_them(monkeypatch):
    from gencomp import tracing

    monkeypatch.setenv("GENCOMP_DISABLE_PLUGINS", "otel")  # gencomp-otel, when installed, observes spans
    plugins.reset()
    try:
        assert not tracing.observed()
        with tracing.span("call", "nothing") as s:
            assert s is None
    finally:
        monkeypatch.undo()
        plugins.reset()


# -- checks decided by another backend --------------------------------------------------------------


class Judge(Sampler):
    """Answers every requirement check with ``Yes`` at p(yes) 0.8, and records what it was asked."""

    def __init__(self) -> None:
        super().__init__(lambda *_: "Yes")
        self.checked: list[str] = []

    def generate(self, request: GenerationRequest) -> Generation:
        assert request.check is not None, "the check backend only decides checks"
        self.checked.append(request.check.output or "")
        return Generation("Yes", meta={"p_yes": 0.8})


def test_model_checks_run_on_the_check_backend_and_say_so():
    generator = Sampler(lambda *_: "cats")
    judge = Judge()
    s = Session(generator, check_backend=judge)
    result = s.instruct("Talk.", requirements=["Is about cats.", has("cats")], return_sampling_results=True)
    (model, _), (code, _) = ((v, r) for r, v in result.selected.verdicts)
    assert judge.checked == ["cats"] and len(generator.calls) == 1  # the generator judged nothing
    assert model.verdict.decided_by == "Judge(sampler)" and model.result and code.verdict is None
    (again,) = s.validate("Is about cats.")
    assert again.verdict.decided_by == "Judge(sampler)" and judge.checked == ["cats", "cats"]


def test_the_check_backend_comes_from_start_session_or_gencomp_toml(install, tmp_path):
    install("gencomp-echo-backend")
    s = start_session("echo", script=["cats"], check_backend="echo", check_options={"script": ["Yes"]})
    (verdict,) = s.validate("Is about cats.", output="cats")
    assert s.check_backend is not s.backend and verdict.result
    assert verdict.verdict.decided_by == "EchoBackend(echo)" and not s.backend.prompts
    toml = '[check]\nbackend = "parrot"\n[check.backend_options]\nscript = ["No"]\n'
    (tmp_path / "gencomp.toml").write_text(toml)
    s = start_session("echo", script=["cats"])
    (verdict,) = s.validate("Is about cats.", output="cats")
    assert not verdict.result and verdict.verdict.decided_by == "EchoBackend(echo)" and not s.backend.prompts
    (tmp_path / "gencomp.toml").write_text('[check]\nbackend = "ecco"\n')
    with pytest.raises(gencomp_errors.UnknownBackendError, match=r"\[check\] backend in .*gencomp.toml.*'echo'"):
        start_session("echo", script=["cats"])
