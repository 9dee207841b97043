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
    ModelOption,
    ModelOutputThunk,
    Requirement,
    UnknownModelOptionError,
    start_session,
)
from gencomp_openai import MalformedResponseError, OpenAIBackend
from gencomp_openai.protocol import p_yes_from_top

from .fakes import ScriptedTransport, chat_answer


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


def llama_server_script(completion: dict[str, object]) -> ScriptedTransport:
    models = {"data": [{"id": "smol", "owned_by": "llamacpp"}]}
    adapters = [
        {
            "id": 0,
            "path": "/c/constraint.gguf",
            "scale": 0.0,
            "alora_invocation_tokens": [1, 5875, 198],
            "alora_invocation_string": "<|im_start|>check\n",
        }
    ]
    judge = chat_answer("Yes")
    return ScriptedTransport(
        [
            httpx2.Response(200, json={}),
            httpx2.Response(200, json=adapters),
            httpx2.Response(200, json={"prompt": "<|im_start|>user\nhi<|im_end|>\n"}),
            httpx2.Response(200, json=completion),
            httpx2.Response(200, json=judge),
        ],
        models=models,
    )


def test_a_check_the_server_answered_without_the_adapter_falls_back_to_the_judge() -> None:
    inactive = {
        "content": "Extract",
        "completion_probabilities": [
            {
                "top_logprobs": [
                    {"token": "Extract", "logprob": -0.4},
                    {"token": "Y", "logprob": -2.0},
                    {"token": "N", "logprob": -3.0},
                ]
            }
        ],
        "timings": {"prompt_n": 12, "cache_n": 40},
    }
    transport = llama_server_script(inactive)
    backend = backend_on(transport)
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Say hi."), ModelOutputThunk("hi"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ALoraRequirement("The answer says hi.").validate(backend, ctx)
    assert [p for _, p, _ in transport.requests] == [
        "/props",
        "/lora-adapters",
        "/apply-template",
        "/completion",
        "/v1/chat/completions",
    ]
    assert result.verdict is not None and result.verdict.path == "llm-as-a-judge"
    assert "did not activate the adapter" in (result.verdict.fallback_reason or "")
    assert any("did not activate" in str(w.message) for w in caught)


def test_a_check_the_adapter_answered_carries_the_servers_counters() -> None:
    active = {
        "content": "N",
        "completion_probabilities": [
            {"top_logprobs": [{"token": "N", "logprob": -0.01}, {"token": "Y", "logprob": -4.6}]}
        ],
        "timings": {"prompt_n": 12, "cache_n": 40},
    }
    transport = llama_server_script(active)
    backend = backend_on(transport)
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Say hi."), ModelOutputThunk("hi"))
    result = ALoraRequirement("The answer is in French.").validate(backend, ctx)
    assert result.verdict is not None and result.verdict.path == "alora:constraint" and result.result is False
    assert result.verdict.computed_tokens == 12 and result.verdict.reused_tokens == 40
    body = transport.requests[3][2]
    assert body["lora"] == [{"id": 0, "scale": 1.0}] and body["cache_prompt"] is True and body["n_probs"] == 10
    assert body["prompt"].endswith("<|im_start|>check\n")
