"""The backend base runs every hook a backend is meant to run, in one documented order, for any backend."""

from __future__ import annotations

import threading

import pytest

from gencomp import (
    Backend,
    CBlock,
    CheckVerdict,
    Generation,
    GenerationRequest,
    LinearContext,
    LRUCache,
    Message,
    ModelOption,
    ModelOutputThunk,
    RawRequest,
    Requirement,
    UnknownModelOptionError,
    hookimpl,
    plugins,
)


class Minimal(Backend):
    """A backend written from the docs only: it answers with the last message's content reversed."""

    option_map = {"max_new_tokens": ModelOption.MAX_NEW_TOKENS}
    generate_keys = frozenset({"max_new_tokens"})

    def generate(self, request: GenerationRequest) -> Generation:
        text = request.messages[-1]["content"] if request.messages else request.prompt or ""
        return Generation(text[::-1])

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        return [Generation(p.upper()) for p in request.prompts]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def gencomp_make_cache(self, backend):
        self.calls.append("make_cache")
        return LRUCache(5)

    @hookimpl
    def gencomp_backend_created(self, backend):
        self.calls.append("backend_created")

    @hookimpl
    def gencomp_generate(self, backend, action):
        self.calls.append("generate")

    @hookimpl
    def gencomp_model_option_map(self, backend):
        self.calls.append("option_map")
        return {"tokens": ModelOption.MAX_NEW_TOKENS}

    @hookimpl
    def gencomp_merge_model_options(self, backend, defaults, overrides):
        self.calls.append("merge")

    @hookimpl
    def gencomp_extract_tool_calls(self, backend, tools, text):
        self.calls.append("extract_tool_calls")

    @hookimpl
    def gencomp_after_generate(self, backend, action, result, log):
        self.calls.append("after_generate")


@pytest.fixture
def recorder():
    r = Recorder()
    plugins.register_plugin(r, name="recorder")
    yield r
    plugins.unregister_plugin(r)


def tool(x: str) -> str:
    """A tool."""
    return x


def test_a_third_party_backend_gets_every_hook_in_the_documented_order(recorder) -> None:
    b = Minimal("m", {"max_new_tokens": 3})
    assert recorder.calls == ["make_cache", "backend_created"] and isinstance(b.cache, LRUCache)
    recorder.calls.clear()
    logs: list = []
    out = b.generate_from_context(
        Message("user", "hello"),
        LinearContext(),
        model_options={"tokens": 2, ModelOption.TOOLS: [tool]},
        generate_logs=logs,
        tool_calls=True,
    )
    assert recorder.calls == ["generate", "option_map", "merge", "extract_tool_calls", "after_generate"]
    assert out.value == "olleh" and isinstance(out.parsed_repr, Message)
    assert logs[-1].result is out and out.generate_log is logs[-1]
    assert logs[-1].model_options[ModelOption.MAX_NEW_TOKENS] == 2
    assert logs[-1].prompt == [{"role": "user", "content": "hello"}]


def test_raw_generation_runs_the_option_and_observer_hooks_and_logs_each_output(recorder) -> None:
    b = Minimal("m")
    recorder.calls.clear()
    logs: list = []
    outs = b._generate_from_raw([Message("user", "a"), Message("user", "b")], generate_logs=logs)
    assert [o.value for o in outs] == ["A", "B"] and [log.result for log in logs] == outs
    assert recorder.calls == ["option_map", "after_generate", "after_generate"]
    assert logs[0].extra["batch_size"] == 2


def test_unknown_options_are_rejected_by_the_base() -> None:
    with pytest.raises(UnknownModelOptionError, match="'temprature'"):
        Minimal("m").generate_from_context(Message("user", "x"), LinearContext(), model_options={"temprature": 1})


def test_the_seed_option_names_are_aliases_of_the_one_translation() -> None:
    b = Minimal("m", {ModelOption.MAX_NEW_TOKENS: 9})
    assert b._simplify_and_merge({"max_new_tokens": 4}) == {ModelOption.MAX_NEW_TOKENS: 4}
    assert b._make_backend_specific_and_remove({ModelOption.MAX_NEW_TOKENS: 4, ModelOption.SEED: 1}) == {
        "max_new_tokens": 4
    }


def test_a_backend_without_generation_is_refused_at_construction() -> None:
    class Empty(Backend):
        pass

    with pytest.raises(TypeError, match=r"define generate\(self, request\)"):
        Empty("m")


def test_caching_can_be_turned_off_and_entries_round_trip() -> None:
    assert Minimal("m", use_caches=False).cache is None
    b = Minimal("m")
    b.cache_put("k", 1)
    assert b.cache_get("k") == 1 and b.cache_get("other") is None


def test_checking_one_requirement_object_from_two_threads_at_once_is_safe() -> None:
    """Each check renders its own RequirementCheck: the shared requirement is never changed."""

    class Judge(Minimal):
        def generate(self, request: GenerationRequest) -> Generation:
            output = request.check.output
            return Generation("Yes" if output.startswith("good") else "No")

    b = Judge("m")
    requirement = Requirement("The answer is good.")
    state = dict(vars(requirement))
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def run(text: str, expected: bool) -> None:
        ctx = LinearContext()
        ctx.insert_turn(Message("user", "q"), ModelOutputThunk(text))
        barrier.wait()
        for _ in range(200):
            result = requirement.validate(b, ctx)
            if result.result is not expected or not isinstance(result.verdict, CheckVerdict):
                failures.append(text)

    threads = [threading.Thread(target=run, args=a) for a in (("good answer", True), ("bad answer", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and vars(requirement) == state


def test_a_plugin_adds_an_attribute_to_backends_and_missing_ones_say_so() -> None:
    from gencomp.backend import BackendAttribute

    class Adds:
        @hookimpl
        def gencomp_backend_attribute(self, backend, name):
            if name == "shout":
                return BackendAttribute(lambda text: text.upper())
            if name == "nothing_yet":
                return BackendAttribute(None)
            return None

    b = Minimal("m")
    with pytest.raises(AttributeError, match="'shout', and no installed plugin adds one"):
        b.shout  # noqa: B018
    plugin = Adds()
    plugins.register_plugin(plugin, name="adds")
    try:
        assert b.shout("hi") == "HI" and b.nothing_yet is None
        with pytest.raises(AttributeError):
            b._private_never_asked  # noqa: B018
    finally:
        plugins.unregister_plugin(plugin)


def test_generate_returning_a_string_is_refused_with_the_fix() -> None:
    class Stringly(Backend):
        def generate(self, request: GenerationRequest) -> Generation:
            return "Paris."  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"Stringly.generate returned str 'Paris.', not a Generation: .*Generation\("):
        Stringly("m").generate_from_context(Message("user", "x"), LinearContext())


def test_generate_raw_returning_strings_is_refused_with_the_fix() -> None:
    class Stringly(Minimal):
        def generate_raw(self, request: RawRequest) -> list[Generation]:
            return [p.upper() for p in request.prompts]  # type: ignore[misc]

    with pytest.raises(TypeError, match=r"generate_raw returned str 'A', not a list of Generation, one per prompt"):
        Stringly("m")._generate_from_raw([Message("user", "a")])


def _pre_1_0_backend() -> type[Backend]:
    """A backend written to the contract before 1.0: its own _generate_from_context/_raw, hooks fired by itself."""

    class Old(Backend):
        def __init__(self, model_id: str, model_options: dict | None = None) -> None:
            super().__init__(model_id, model_options)
            self.cache = plugins.hook().gencomp_make_cache(backend=self)
            plugins.hook().gencomp_backend_created(backend=self)

        def _generate_from_context(self, action, ctx, *, format=None, model_options=None, generate_logs=None,
                                   tool_calls=False):  # fmt: skip
            return ModelOutputThunk("old answer")

        def _generate_from_raw(self, actions, format=None, model_options=None, generate_logs=None):
            return [ModelOutputThunk("old raw") for _ in actions]

    return Old


def test_a_pre_1_0_backend_keeps_working_with_one_warning_naming_the_new_methods_and_hooks_fire_once(
    recorder,
) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        old = _pre_1_0_backend()
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    message = str(warning.message)
    assert "implement generate(self, request) -> Generation instead of overriding _generate_from_context" in message
    assert "generate_raw(self, request) -> list[Generation] instead of overriding _generate_from_raw" in message
    assert "remove its own calls of gencomp_make_cache and gencomp_backend_created" in message
    assert warning.filename == __file__  # points at the class statement
    backend = old("m")
    assert recorder.calls == ["make_cache", "backend_created"] and isinstance(backend.cache, LRUCache)
    assert backend.generate_from_context(Message("user", "x"), LinearContext()).value == "old answer"
    assert [o.value for o in backend._generate_from_raw([CBlock("a")])] == ["old raw"]


def test_a_backend_of_the_current_contract_gets_no_deprecation_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Current(Minimal):
            def _generate_from_raw(self, actions, format=None, model_options=None, generate_logs=None):
                return super()._generate_from_raw(actions, format, model_options, generate_logs)

    assert Current("m").generate_from_context(Message("user", "abc"), LinearContext()).value == "cba"
