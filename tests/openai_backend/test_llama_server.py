"""The remote backend against a real llama.cpp ``llama-server`` (started by the ``llama_server`` fixture)."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pydantic
import pytest

from gencomp import (
    ALoraRequirement,
    CBlock,
    Instruction,
    LinearContext,
    LLMaJRequirement,
    ModelOption,
    ModelOutputThunk,
    Session,
    start_session,
)
from gencomp.testing import BackendConformance
from gencomp_openai import OpenAIBackend
from gencomp_openai.llama_cpp import LlamaServer

pytestmark = pytest.mark.embedded  # the server runs the embedded default model's GGUF

GREEDY = {"temperature": 0.0, ModelOption.SEED: 0}


@pytest.fixture
def backend(llama_server: LlamaServer) -> Iterator[OpenAIBackend]:
    b = OpenAIBackend(base_url=llama_server.base_url, model_options=GREEDY)
    yield b
    b.close()


@pytest.fixture
def named_session(llama_server: LlamaServer) -> Iterator[Session]:
    """A session whose backend is selected by name, as an application configured at runtime does."""
    session = start_session(backend="openai", base_url=llama_server.base_url, model_options=GREEDY)
    yield session
    session.backend.close()  # type: ignore[attr-defined]


def moon_context(backend: OpenAIBackend, words: int = 40) -> LinearContext:
    ctx = LinearContext()
    action = Instruction("Write two sentences about the moon.")
    out = backend.generate_from_context(action, ctx, model_options={ModelOption.MAX_NEW_TOKENS: words})
    ctx.insert_turn(action, out)
    return ctx


def test_the_probe_finds_llama_server_and_the_alora_with_its_invocation_tokens(
    backend: OpenAIBackend, shipped_adapter: Path
) -> None:
    caps = backend.capabilities
    assert caps.kind == "llama.cpp" and caps.alora and caps.models
    adapter = caps.adapter("constraint")
    assert adapter is not None and adapter.is_alora
    trained = json.loads((shipped_adapter / "adapter_config.json").read_text())["alora_invocation_tokens"]
    assert list(adapter.invocation_tokens or ()) == trained
    assert adapter.invocation_string == "<|im_start|>check\n"


def test_instruct_with_a_requirement_runs_end_to_end_and_the_check_computes_only_its_own_tokens(
    named_session: Session,
) -> None:
    session = named_session
    out = session.instruct(
        "Write one sentence about the moon.",
        requirements=["The answer mentions the moon."],
        loop_budget=1,
        model_options={ModelOption.MAX_NEW_TOKENS: 40},
    )
    assert isinstance(out, ModelOutputThunk) and out.value
    checks = [log for log in session.last_logs if log.extra.get("check_path", "").startswith("alora:")]
    assert len(checks) == 1
    check = checks[0].result
    assert check is not None and check.meta["check_path"] == "alora:constraint"
    assert 0.0 <= check.meta["p_yes"] <= 1.0 and check.meta["verdict"] == (check.meta["p_yes"] > 0.5)
    timings = check.meta["timings"]
    generation = session.last_logs[0]
    whole_prompt = timings["prompt_n"] + timings["cache_n"]
    assert timings["cache_n"] >= generation.extra["prompt_tokens"]  # the conversation's keys and values were reused
    assert timings["prompt_n"] < 40  # only the requirement turn and the invocation were computed
    assert whole_prompt > timings["prompt_n"] * 2
    assert session.backend.route_check(ALoraRequirement("x")) == ("constraint", None)  # type: ignore[attr-defined]


def test_a_check_with_the_prompt_cache_off_recomputes_the_whole_conversation(backend: OpenAIBackend) -> None:
    ctx = moon_context(backend)
    cached = backend.check_with_alora("The answer mentions the moon.", ctx)
    uncached = backend.check_with_alora("The answer mentions the moon.", ctx, cache_prompt=False)
    assert uncached.meta["timings"]["prompt_n"] > cached.meta["timings"]["prompt_n"]
    assert uncached.meta["timings"]["cache_n"] == 0
    assert uncached.meta["verdict"] == cached.meta["verdict"]
    assert uncached.meta["p_yes"] == pytest.approx(cached.meta["p_yes"], abs=0.05)


def test_the_adapter_tells_a_met_requirement_from_an_unmet_one(backend: OpenAIBackend) -> None:
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Name a river."), ModelOutputThunk("The Nile is the longest river in Africa."))
    met = backend.check_with_alora("The answer mentions a river.", ctx)
    unmet = backend.check_with_alora("The answer is written in all capital letters.", ctx)
    assert met.meta["p_yes"] > unmet.meta["p_yes"]
    assert met.meta["verdict"] is True and unmet.meta["verdict"] is False


def test_a_judge_requirement_gets_its_verdict_from_the_yes_no_logprobs(backend: OpenAIBackend) -> None:
    ctx = moon_context(backend)
    result = LLMaJRequirement("The answer mentions the moon.").validate(backend, ctx)
    assert result.thunk is not None
    meta = result.thunk.meta
    assert meta["check_path"] == "llm-as-a-judge"
    assert 0.0 <= meta["p_yes"] <= 1.0 and result.result == (meta["p_yes"] > 0.5)


def test_chat_turns_carry_the_conversation(named_session: Session) -> None:
    session = named_session
    first = session.chat("What is the capital of France?", model_options={ModelOption.MAX_NEW_TOKENS: 24})
    assert first.content
    second = session.chat("And of Italy?", model_options={ModelOption.MAX_NEW_TOKENS: 24})
    sent = session.last_logs[-1].prompt
    assert isinstance(sent, list) and [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == first.content and second.content
    assert len(session.ctx.render_for_generation()) == 4


def test_raw_generation_is_one_batch_matching_single_prompts(backend: OpenAIBackend) -> None:
    prompts = [CBlock("The capital of France is"), CBlock("1, 2, 3, 4,")]
    options = {ModelOption.MAX_NEW_TOKENS: 8}
    batch = backend._generate_from_raw(prompts, model_options=options)
    single = [backend._generate_from_raw([p], model_options=options)[0] for p in prompts]
    assert [o.value for o in batch] == [o.value for o in single]
    assert batch[0].value != batch[1].value


def test_format_returns_json_that_validates(backend: OpenAIBackend) -> None:
    class City(pydantic.BaseModel):
        name: str
        country: str

    out = backend.generate_from_context(
        Instruction("Give the capital of France as JSON."),
        LinearContext(),
        format=City,
        model_options={ModelOption.MAX_NEW_TOKENS: 60},
    )
    city = City.model_validate_json(out.value or "")
    assert city.name


def test_the_server_accepts_native_tools(backend: OpenAIBackend) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    out = backend.generate_from_context(
        Instruction("What is the weather in Paris? Use the tool."),
        LinearContext(),
        model_options={ModelOption.TOOLS: [get_weather], ModelOption.MAX_NEW_TOKENS: 60},
        tool_calls=True,
    )
    assert out.value is not None
    if out.tool_calls:
        assert set(out.tool_calls) == {"get_weather"}


def test_one_backend_serves_many_threads_over_one_pool(backend: OpenAIBackend) -> None:
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out = backend.generate_from_context(
                Instruction(f"Write the number {i} in words."),
                LinearContext(),
                model_options={ModelOption.MAX_NEW_TOKENS: 8},
            )
            results[i] = out.value or ""
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 8 and all(results.values())


def test_an_adapter_loaded_as_a_plain_lora_is_never_routed(smollm2_gguf: Path, plain_lora_gguf: Path) -> None:
    with LlamaServer(smollm2_gguf, loras=[plain_lora_gguf], context=2048, parallel=1) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        adapter = backend.capabilities.adapter("constraint")
        assert adapter is not None and not adapter.is_alora
        ctx = moon_context(backend, words=16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = ALoraRequirement("The answer mentions the moon.").validate(backend, ctx)
        assert result.thunk is not None and result.thunk.meta["check_path"] == "llm-as-a-judge"
        assert "plain LoRA" in result.thunk.meta["check_fallback"]
        assert any("plain LoRA" in str(w.message) for w in caught)
        backend.close()


class TestConformanceOnLlamaServer(BackendConformance):
    """gencomp's conformance kit against the real server (its aLoRA routing off: the kit tests the judge path)."""

    backend_name = "openai"
    options: ClassVar[dict[str, Any]] = {ModelOption.MAX_NEW_TOKENS: 8, "temperature": 0.0}
    batch_invariant = False  # llama-server batches concurrent requests: greedy answers may differ from solo runs

    @pytest.fixture(autouse=True)
    def _server(self, llama_server: LlamaServer) -> None:
        self.base_url = llama_server.base_url

    def make_backend(self, **kwargs: Any) -> Any:
        return OpenAIBackend(base_url=self.base_url, default_to_constraint_checking_alora=False, **kwargs)

    def discovery_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "default_to_constraint_checking_alora": False}

    def make_unreachable_backend(self) -> Any:
        import socket

        with socket.socket() as s:  # a port where nothing listens
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)


def test_concurrent_checks_and_generations_all_get_the_adapters_verdict(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(base_url=llama_server.base_url, model_options=GREEDY)
    paths: list[str] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            session = Session(backend)  # every thread shares the one backend
            session.instruct(
                f"Write one sentence about river number {i}.",
                requirements=["The answer mentions a river."],
                loop_budget=1,
                model_options={ModelOption.MAX_NEW_TOKENS: 16},
            )
            paths.extend(str(log.extra.get("check_path")) for log in session.last_logs[1:])
        except BaseException as exc:
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the judge would warn
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not errors and paths == ["alora:constraint"] * 6
    backend.close()
