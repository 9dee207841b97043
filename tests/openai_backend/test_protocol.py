"""Options, configuration, formats, tools and routing of the remote backend, on a scripted transport."""

from __future__ import annotations

import json
import warnings

import httpx2
import pydantic
import pytest

import gencomp
from gencomp import (
    ALoraRequirement,
    CBlock,
    Instruction,
    LinearContext,
    LLMaJRequirement,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    UnknownModelOptionError,
    start_session,
)
from gencomp_openai import MalformedResponseError, OpenAIBackend
from gencomp_openai.protocol import p_yes_from_top

from .fakes import ALORA_ENTRY, FakeLlamaServer, ScriptedTransport, chat_answer, check_answer


def backend_on(transport: ScriptedTransport, **kwargs: object) -> OpenAIBackend:
    return OpenAIBackend(base_url="http://fake.test/v1", transport=transport, **kwargs)  # type: ignore[arg-type]


def sent(transport: ScriptedTransport, i: int = -1) -> dict[str, object]:
    return transport.requests[i][2]


def test_gencomp_options_map_to_request_fields() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("hi"))])
    backend = backend_on(transport, model_options={"temperature": 0.2})
    options = {
        ModelOption.MAX_NEW_TOKENS: 12,
        ModelOption.SEED: 7,
        "top_p": 0.9,
        "stop": ["\n"],
        ModelOption.SYSTEM_PROMPT: "Be brief.",
        "extra_body": {"top_k": 5},
    }
    backend.generate_from_context(Instruction("x"), LinearContext(), model_options=options)
    body = sent(transport)
    assert body["max_tokens"] == 12 and body["seed"] == 7 and body["top_p"] == 0.9 and body["stop"] == ["\n"]
    assert body["temperature"] == 0.2 and body["top_k"] == 5
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}  # type: ignore[index]


def test_backend_names_of_options_are_accepted_too() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("hi"))])
    backend_on(transport).generate_from_context(
        Instruction("x"), LinearContext(), model_options={"max_new_tokens": 3, "system": "S"}
    )
    assert sent(transport)["max_tokens"] == 3


def test_an_unknown_option_is_rejected_with_the_core_error_type_and_a_suggestion() -> None:
    backend = backend_on(ScriptedTransport([]))
    with pytest.raises(UnknownModelOptionError, match="'top_pp'.*Did you mean 'top_p'"):
        backend.generate_from_context(Instruction("x"), LinearContext(), model_options={"top_pp": 0.5})
    with pytest.raises(gencomp.UnknownModelOptionError, match="repeat_penalty"):
        backend._generate_from_raw([CBlock("x")], model_options={"repeat_penalty": 1.1})


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"data": [{"id": "m1", "owned_by": "x"}]})

    monkeypatch.setenv("OPENAI_BASE_URL", "http://from-openai-env.test/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k-openai")
    OpenAIBackend(transport=httpx2.MockTransport(handler))
    assert seen[-1].url.host == "from-openai-env.test" and seen[-1].headers["authorization"] == "Bearer k-openai"
    monkeypatch.setenv("GENCOMP_OPENAI_BASE_URL", "http://from-gencomp-env.test")
    monkeypatch.setenv("GENCOMP_OPENAI_API_KEY", "k-gencomp")
    OpenAIBackend(transport=httpx2.MockTransport(handler))
    assert seen[-1].url.host == "from-gencomp-env.test" and seen[-1].headers["authorization"] == "Bearer k-gencomp"
    assert seen[-1].url.path == "/v1/models"


def test_a_missing_base_url_says_where_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "GENCOMP_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(gencomp.GencompError, match="GENCOMP_OPENAI_BASE_URL or OPENAI_BASE_URL"):
        OpenAIBackend()


def test_start_session_reads_backend_options_from_gencomp_toml(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "gencomp.toml").write_text(
        'backend = "openai"\n[backend_options]\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\n', encoding="utf-8"
    )
    monkeypatch.setenv("GENCOMP_CONFIG", str(tmp_path / "gencomp.toml"))
    from gencomp_openai import ServerUnreachableError

    with pytest.raises(ServerUnreachableError, match=r"127\.0\.0\.1:9"):
        start_session()


def test_format_sends_the_json_schema_and_validates_the_answer() -> None:
    class City(pydantic.BaseModel):
        name: str
        population: int

    good = json.dumps({"name": "Paris", "population": 2100000})
    transport = ScriptedTransport(
        [httpx2.Response(200, json=chat_answer(good)), httpx2.Response(200, json=chat_answer('{"name": 3'))]
    )
    backend = backend_on(transport)
    out = backend.generate_from_context(Instruction("A city."), LinearContext(), format=City)
    assert City.model_validate_json(out.value or "").name == "Paris"
    fmt = sent(transport)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["name", "population"]  # type: ignore[index]
    with pytest.raises(MalformedResponseError, match="City's JSON schema"):
        backend.generate_from_context(Instruction("A city."), LinearContext(), format=City)


def get_weather(city: str, days: int = 1) -> str:
    """The weather forecast for a city.

    Args:
        city: the city
        days: how many days
    """
    return f"sunny in {city} for {days} days"


def test_native_tool_calls_are_read_from_the_answer() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    answer = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ]
    }
    transport = ScriptedTransport([httpx2.Response(200, json=answer)])
    out = backend_on(transport).generate_from_context(
        Instruction("Weather in Oslo?"),
        LinearContext(),
        model_options={ModelOption.TOOLS: [get_weather]},
        tool_calls=True,
    )
    tool = sent(transport)["tools"][0]  # type: ignore[index]
    assert tool["function"]["name"] == "get_weather" and tool["function"]["parameters"]["required"] == ["city"]
    assert out.tool_calls is not None and out.tool_calls["get_weather"].call_func() == "sunny in Oslo for 1 days"


def test_tool_calls_written_as_text_go_through_the_extraction_hook() -> None:
    text = 'Calling: {"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}'
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer(text))])
    out = backend_on(transport).generate_from_context(
        Instruction("Weather in Rome?"),
        LinearContext(),
        model_options={ModelOption.TOOLS: [get_weather]},
        tool_calls=True,
    )
    assert out.tool_calls is not None and out.tool_calls["get_weather"].call_func() == "sunny in Rome for 2 days"


def test_the_judge_verdict_comes_from_the_first_token_logprobs() -> None:
    logprobs = {
        "content": [
            {
                "token": "No",
                "logprob": -0.4,
                "top_logprobs": [
                    {"token": "No", "logprob": -0.4},
                    {"token": "Yes", "logprob": -1.2},
                    {"token": "The", "logprob": -3.0},
                ],
            }
        ]
    }
    answer = chat_answer("No, it does not.")
    answer["choices"][0]["logprobs"] = logprobs
    transport = ScriptedTransport([httpx2.Response(200, json=answer)])
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Write about the sea."), ModelOutputThunk("The sea is blue."))
    result = Requirement("Mentions a river.").validate(backend_on(transport), ctx)
    assert sent(transport)["logprobs"] is True and sent(transport)["top_logprobs"] == 20
    assert result.result is False and result.thunk is not None
    assert result.thunk.meta["check_path"] == "llm-as-a-judge"
    assert result.score == pytest.approx(1 / (1 + 2.718281828**0.8), rel=1e-6)


def test_p_yes_sums_the_yes_and_no_words_and_bounds_a_missing_side() -> None:
    assert p_yes_from_top({"Yes": -0.1, "yes": -3.0, "No": -2.5}, ("Yes", "yes"), ("No",)) > 0.9
    assert p_yes_from_top({"Y": -0.01, "Z": -5.0}, ("Y",), ("N",)) == pytest.approx(
        1 / (1 + 2.718281828**-4.99), rel=1e-6
    )
    assert p_yes_from_top({"maybe": -0.1}, ("Y",), ("N",)) is None


def test_a_lora_served_by_vllm_is_never_used_as_an_alora() -> None:
    models = {
        "data": [
            {"id": "base", "owned_by": "vllm", "parent": None},
            {"id": "constraint", "owned_by": "vllm", "parent": "base", "root": "/adapters/constraint"},
        ]
    }
    judge = chat_answer("Yes")
    transport = ScriptedTransport([httpx2.Response(200, json=judge)], models=models)
    backend = backend_on(transport, model_id="base")
    assert backend.capabilities.kind == "vllm" and backend.capabilities.adapter("constraint") is not None
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Say yes."), ModelOutputThunk("yes"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ALoraRequirement("The answer is yes.").validate(backend, ctx)
    assert result.thunk is not None and result.thunk.meta["check_path"] == "llm-as-a-judge"
    assert "plain LoRA applied to every token" in result.thunk.meta["check_fallback"]
    assert any("plain LoRA" in str(w.message) for w in caught)
    assert [p for _, p, _ in transport.requests] == ["/v1/chat/completions"]


def test_raw_generation_sends_one_batch_and_keeps_prompt_order() -> None:
    answer = {
        "choices": [
            {"index": 1, "text": " two", "finish_reason": "stop"},
            {"index": 0, "text": " one", "finish_reason": "stop"},
        ]
    }
    transport = ScriptedTransport([httpx2.Response(200, json=answer)])
    outs = backend_on(transport)._generate_from_raw([CBlock("first"), CBlock("second")])
    assert [o.value for o in outs] == [" one", " two"]
    assert sent(transport)["prompt"] == ["first", "second"]


def answered_hi() -> LinearContext:
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Say hi."), ModelOutputThunk("hi"))
    return ctx


def test_a_check_the_server_answered_without_the_adapter_falls_back_to_the_judge() -> None:
    def inactive(body: dict[str, object], prefill: tuple[int, int]) -> dict[str, object]:
        answer = check_answer("Extract", 0.6, prompt_n=4, cache_n=prefill[1] - 1)
        answer["completion_probabilities"][0]["top_logprobs"].insert(0, {"token": "Extract", "logprob": -0.4})
        return {**answer, "id_slot": prefill[0]}

    server = FakeLlamaServer(check=inactive)
    backend = backend_on(server)  # type: ignore[arg-type]
    server.requests.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ALoraRequirement("The answer says hi.").validate(backend, answered_hi())
    assert server.paths() == [
        "/lora-adapters",
        "/apply-template",
        "/completion",
        "/completion",
        "/v1/chat/completions",
    ]
    assert result.verdict is not None and result.verdict.path == "llm-as-a-judge"
    assert "did not activate the adapter" in (result.verdict.fallback_reason or "")
    assert any("did not activate" in str(w.message) for w in caught)


def test_a_check_is_a_prefill_then_the_check_pinned_to_its_slot_and_carries_the_servers_counters() -> None:
    server = FakeLlamaServer(p_yes=0.01)
    backend = backend_on(server)  # type: ignore[arg-type]
    server.requests.clear()
    result = ALoraRequirement("The answer is in French.").validate(backend, answered_hi())
    assert result.verdict is not None and result.verdict.path == "alora:constraint" and result.result is False
    assert result.verdict.computed_tokens == 4 and result.verdict.reused_tokens == 51
    prefill, check = server.requests[2][2], server.requests[3][2]
    assert not prefill["prompt"].endswith("<|im_start|>check\n") and prefill["cache_prompt"] is True
    assert check["prompt"] == prefill["prompt"] + "<|im_start|>check\n"
    assert check["id_slot"] == 1 and check["lora"] == [{"id": 0, "scale": 1.0}] and check["n_probs"] == 10


def test_a_check_whose_prefix_another_request_replaced_is_sent_again_then_left_to_the_judge() -> None:
    def replaced(body: dict[str, object], prefill: tuple[int, int]) -> dict[str, object]:
        # the slot held another prompt when the check came: the server computed the conversation again
        return {**check_answer("Y", 0.9, prompt_n=prefill[1] + 3, cache_n=0), "id_slot": prefill[0]}

    server = FakeLlamaServer(check=replaced)
    backend = backend_on(server)  # type: ignore[arg-type]
    server.requests.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ALoraRequirement("The answer says hi.").validate(backend, answered_hi())
    assert server.paths().count("/completion") == 2 * 3  # prefill and check, three times
    assert result.verdict is not None and result.verdict.path == "llm-as-a-judge"
    assert "another request took the slot" in (result.verdict.fallback_reason or "")
    assert any("another request took the slot" in str(w.message) for w in caught)


def test_a_check_whose_prefix_was_replaced_once_is_trusted_on_the_next_try() -> None:
    tries: list[int] = []

    def once(body: dict[str, object], prefill: tuple[int, int]) -> dict[str, object]:
        tries.append(1)
        reused = 0 if len(tries) == 1 else prefill[1] - 1
        return {**check_answer("N", 0.05, prompt_n=prefill[1] + 3 - reused, cache_n=reused), "id_slot": prefill[0]}

    server = FakeLlamaServer(check=once)
    result = ALoraRequirement("The answer is in French.").validate(backend_on(server), answered_hi())  # type: ignore[arg-type]
    assert len(tries) == 2 and result.verdict is not None and result.verdict.path == "alora:constraint"
    assert result.verdict.reused_tokens == 51 and result.result is False


@pytest.mark.parametrize("p_yes", [0.55, 0.4])
def test_an_adapter_verdict_near_one_half_is_uncertain_and_says_why(p_yes: float) -> None:
    server = FakeLlamaServer(p_yes=p_yes)
    result = ALoraRequirement("The answer is polite.").validate(backend_on(server), answered_hi())  # type: ignore[arg-type]
    verdict = result.verdict
    assert verdict is not None and verdict.path == "alora:constraint" and verdict.uncertain
    assert f"p(yes)={p_yes:.2f}" in (verdict.uncertain_reason or "") and "0.15 of 0.5" in (
        verdict.uncertain_reason or ""
    )
    sure = ALoraRequirement("The answer is polite.").validate(
        backend_on(FakeLlamaServer(p_yes=0.9)),  # type: ignore[arg-type]
        answered_hi(),
    )
    assert sure.verdict is not None and sure.verdict.state == "decided" and sure.verdict.uncertain_reason is None


MEASURED = {
    "yes": "Y",
    "no": "N",
    "generation_prompt": "<|im_start|>check\n",
    "validation": {
        "families": {"all_capitals": {"accuracy": 0.95, "n": 19, "data": "hand-written"}},
        "unrecognised": [{"name": "semantic checks", "accuracy": 0.7, "n": 50, "data": "benchmarks/checks"}],
    },
}


def test_a_remote_adapter_verdict_carries_the_measured_accuracy_of_its_gencomp_alora_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gencomp_openai.llama_cpp import metadata_path

    gguf = tmp_path / "constraint.gguf"
    metadata_path(gguf).write_text(json.dumps(MEASURED), encoding="utf-8")
    beside = FakeLlamaServer(adapters=[{**ALORA_ENTRY, "path": str(gguf)}])
    result = Requirement("The answer is polite.").validate(backend_on(beside), answered_hi())  # type: ignore[arg-type]
    verdict = result.verdict
    assert verdict is not None and verdict.path == "alora:constraint"
    assert verdict.validated is True and verdict.accuracy == 0.7
    assert verdict.validation == "measured 70% on semantic checks (n=50)"
    assert result.thunk is not None and result.thunk.meta["validation"] == verdict.validation
    # a server elsewhere: the file is named by alora_metadata
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "gencomp_alora.json").write_text(json.dumps(MEASURED), encoding="utf-8")
    remote = backend_on(FakeLlamaServer(), alora_metadata={"constraint": tmp_path / "elsewhere"})  # type: ignore[arg-type]
    capitals = ALoraRequirement("Use only capital letters.").validate(remote, answered_hi())
    assert (
        capitals.verdict is not None
        and capitals.verdict.validation == "measured 95% on all_capitals worded by hand (n=19)"
    )
    unknown = Requirement("The answer is polite.").validate(backend_on(FakeLlamaServer()), answered_hi())  # type: ignore[arg-type]
    assert unknown.verdict is not None and unknown.verdict.validated is False
    assert "unvalidated" in (unknown.verdict.validation or "")


def test_metadata_written_for_another_invocation_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "gencomp_alora.json").write_text(json.dumps({**MEASURED, "generation_prompt": "<check>"}), "utf-8")
    backend = backend_on(FakeLlamaServer(), alora_metadata={"constraint": tmp_path})  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Requirement("The answer is polite.").validate(backend, answered_hi())
    assert result.verdict is not None and result.verdict.path == "llm-as-a-judge"
    assert "describes another adapter" in (result.verdict.fallback_reason or "")
    assert caught


def test_a_server_restarted_with_a_plain_lora_under_the_same_name_is_probed_again_before_a_check() -> None:
    server = FakeLlamaServer()
    backend = backend_on(server)  # type: ignore[arg-type]
    first = Requirement("The answer is polite.").validate(backend, answered_hi())
    assert first.verdict is not None and first.verdict.path == "alora:constraint"
    server.adapters = [{"id": 0, "path": "/adapters/constraint.gguf", "scale": 1.0}]  # restarted: a plain LoRA
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = Requirement("The answer is polite.").validate(backend, answered_hi())
    assert second.verdict is not None and second.verdict.path == "llm-as-a-judge"
    assert not backend.capabilities.adapters[0].is_alora
    assert any("changed" in str(w.message) and "adapters" in str(w.message) for w in caught)
    assert server.requests[-1][2]["lora"] == [{"id": 0, "scale": 0.0}]  # the judge does not run through it


def test_every_generation_on_llama_server_states_every_adapter_at_scale_0() -> None:
    plain = {"id": 1, "path": "/adapters/style.gguf", "scale": 1.0}
    server = FakeLlamaServer(
        adapters=[dict(ALORA_ENTRY), plain],
        chat=lambda body: chat_answer("Yes") if "stream" not in body else {},
    )
    backend = backend_on(server)  # type: ignore[arg-type]
    server.requests.clear()
    backend.generate_from_context(Instruction("Say hi."), LinearContext())
    LLMaJRequirement("The answer says hi.").validate(backend, answered_hi())
    off = [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]
    assert [b["lora"] for m, p, b in server.requests if p == "/v1/chat/completions"] == [off, off]


def test_a_generation_on_llama_server_with_no_adapter_still_names_one_at_scale_0() -> None:
    server = FakeLlamaServer(adapters=[])
    backend = backend_on(server)  # type: ignore[arg-type]
    backend.generate_from_context(Instruction("Say hi."), LinearContext())
    assert server.requests[-1][2]["lora"] == [{"id": 0, "scale": 0.0}]  # an empty list would mean "server defaults"


def test_other_servers_get_no_adapter_field() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("hi"))])
    backend_on(transport).generate_from_context(Instruction("Say hi."), LinearContext())
    assert "lora" not in sent(transport)


def test_an_unknown_model_on_llama_server_warns_and_the_logs_name_the_model_that_answered() -> None:
    server = FakeLlamaServer()
    with pytest.warns(UserWarning, match=r"serves one model, '/models/smol.gguf', under any name: 'gpt-4o-x'"):
        backend = backend_on(server, model_id="gpt-4o-x")  # type: ignore[arg-type]
    logs: list[gencomp.GenerateLog] = []
    backend.generate_from_context(Instruction("Say hi."), LinearContext(), generate_logs=logs)
    assert logs[-1].extra["model"] == "/models/smol.gguf"


def test_thinking_goes_to_the_chat_template_on_llama_server_and_is_refused_by_name_where_nothing_carries_it() -> None:
    server = FakeLlamaServer()
    backend = backend_on(server)  # type: ignore[arg-type]
    backend.generate_from_context(Instruction("x"), LinearContext(), model_options={ModelOption.THINKING: False})
    assert server.requests[-1][2]["chat_template_kwargs"] == {"enable_thinking": False}
    backend.generate_from_context(Instruction("x"), LinearContext(), model_options={ModelOption.THINKING: "low"})
    assert server.requests[-1][2]["reasoning_effort"] == "low"
    generic = backend_on(ScriptedTransport([]))
    with pytest.raises(UnknownModelOptionError, match="THINKING=True has no request field on a openai-compatible"):
        generic.generate_from_context(Instruction("x"), LinearContext(), model_options={ModelOption.THINKING: True})
    with pytest.raises(UnknownModelOptionError, match="THINKING goes to the server's chat template"):
        backend._generate_from_raw([CBlock("x")], model_options={ModelOption.THINKING: True})


def test_context_window_is_counted_by_llama_server_and_refused_where_it_cannot_be() -> None:
    server = FakeLlamaServer()
    backend = backend_on(server)  # type: ignore[arg-type]
    long = Instruction(" ".join(["word"] * 60))
    with pytest.raises(gencomp.ContextWindowError, match=r"the prompt is \d+ tokens.*window is 50 tokens") as info:
        backend.generate_from_context(long, LinearContext(), model_options={ModelOption.CONTEXT_WINDOW: 50})
    assert info.value.window == 50 and "/v1/chat/completions" not in server.paths()
    with pytest.raises(gencomp.ContextWindowError, match="lower max_new_tokens to at most"):
        backend.generate_from_context(
            Instruction("Say hi."),
            LinearContext(),
            model_options={ModelOption.CONTEXT_WINDOW: 50, ModelOption.MAX_NEW_TOKENS: 49},
        )
    backend.generate_from_context(
        Instruction("Say hi."), LinearContext(), model_options={ModelOption.CONTEXT_WINDOW: 50}
    )
    assert server.paths()[-1] == "/v1/chat/completions"
    generic = backend_on(ScriptedTransport([]))
    with pytest.raises(UnknownModelOptionError, match="CONTEXT_WINDOW cannot be honoured on a openai-compatible"):
        generic.generate_from_context(Instruction("x"), LinearContext(), model_options={ModelOption.CONTEXT_WINDOW: 9})


def test_llama_servers_refusal_of_a_long_prompt_is_a_context_window_error() -> None:
    refusal = {
        "error": {
            "code": 400,
            "message": "request (631 tokens) exceeds the available context size (512 tokens), try increasing it",
            "type": "exceed_context_size_error",
        }
    }
    transport = ScriptedTransport([httpx2.Response(400, json=refusal)])
    with pytest.raises(gencomp.ContextWindowError, match="631 tokens.*context window is 512") as info:
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())
    assert info.value.prompt_tokens == 631 and info.value.window == 512


def test_a_judge_answer_with_neither_yes_nor_no_is_an_uncertain_verdict() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("Perhaps, it depends."))])
    result = LLMaJRequirement("The answer says hi.").validate(backend_on(transport), answered_hi())
    assert result.verdict is not None and result.verdict.uncertain and result.result is False
    assert "'Perhaps, it depends.'" in (result.verdict.uncertain_reason or "")
    clear = ScriptedTransport([httpx2.Response(200, json=chat_answer("No."))])
    no = LLMaJRequirement("The answer says hi.").validate(backend_on(clear), answered_hi())
    assert no.verdict is not None and no.verdict.state == "decided" and no.result is False
