"""Generation on chat and raw contexts: prompts, seeds, format=, tools, logs and batched raw generation."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest
import torch

from gencomp import (
    CBlock,
    GencompError,
    LinearContext,
    Message,
    ModelOption,
    Requirement,
    SimpleContext,
    TemplateRepresentation,
)


def _raw_greedy(backend, prompt_text: str, n: int, special: bool = False) -> list[int]:
    ids = backend.tokenizer(prompt_text, add_special_tokens=special, return_tensors="pt").input_ids
    out = backend.model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False, pad_token_id=3
    )
    return out[0, ids.shape[1] :].tolist()


def test_greedy_chat_output_equals_raw_generate_on_the_chat_template_prompt(backend) -> None:
    logs = []
    backend.generate_from_context(
        Message("user", "What is the capital of France?"),
        LinearContext(),
        model_options={"max_new_tokens": 12},
        generate_logs=logs,
    )
    log = logs[-1]
    expected = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    assert log.prompt == expected
    assert log.model_output.tolist() == _raw_greedy(backend, expected, 12)


def test_generate_log_records_prompt_options_backend_action_result_and_timing(backend) -> None:
    logs = []
    action = Message("user", "hi")
    out = backend.generate_from_context(
        action, LinearContext(), model_options={"max_new_tokens": 3}, generate_logs=logs
    )
    assert len(logs) == 1
    log = logs[0]
    assert log.action is action and log.result is out and out.generate_log is log
    assert log.backend.startswith("LocalHFBackend(")
    assert log.model_options == {ModelOption.MAX_NEW_TOKENS: 3}
    assert log.extra["prompt_tokens"] > 0 and log.extra["new_tokens"] <= 3 and log.extra["seconds"] > 0


def test_thunk_is_parsed_by_the_formatter(backend) -> None:
    out = backend.generate_from_context(Message("user", "hi"), LinearContext(), model_options={"max_new_tokens": 3})
    assert out.parsed_repr == Message("assistant", out.value)


def test_chat_history_is_rendered_before_the_action(backend) -> None:
    ctx = LinearContext()
    first = backend.generate_from_context(Message("user", "First question"), ctx, model_options={"max_new_tokens": 3})
    ctx.insert_turn(Message("user", "First question"), first)
    logs = []
    backend.generate_from_context(
        Message("user", "Second"), ctx, model_options={"max_new_tokens": 3}, generate_logs=logs
    )
    prompt = logs[-1].prompt
    assert "<|im_start|>user\nFirst question<|im_end|>" in prompt
    assert f"<|im_start|>assistant\n{first.value}<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>user\nSecond<|im_end|>\n<|im_start|>assistant\n")


def test_same_seed_reproduces_sampling_and_leaves_the_global_rng_alone(backend) -> None:
    opts = {"temperature": 1.5, "max_new_tokens": 12}
    state = torch.random.get_rng_state()

    def sample(seed: int) -> str:
        return backend.generate_from_context(
            Message("user", "Tell me a story"), SimpleContext(), model_options={**opts, ModelOption.SEED: seed}
        ).value

    a, b = sample(1), sample(1)
    assert a == b
    assert len({sample(s) for s in (2, 3, 4)} | {a}) > 1
    assert torch.equal(torch.random.get_rng_state(), state)


def test_temperature_zero_means_greedy(backend) -> None:
    greedy = backend.generate_from_context(Message("user", "x"), SimpleContext(), model_options={"max_new_tokens": 8})
    zero = backend.generate_from_context(
        Message("user", "x"), SimpleContext(), model_options={"max_new_tokens": 8, "temperature": 0}
    )
    assert zero.value == greedy.value


class Person(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=12)
    mood: Literal["happy", "sad"]
    ok: bool


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_format_output_always_validates_even_when_sampling_from_a_random_model(backend, seed: int) -> None:
    out = backend.generate_from_context(
        Message("user", "Describe a person in JSON."),
        SimpleContext(),
        format=Person,
        model_options={"max_new_tokens": 60, "temperature": 1.0, ModelOption.SEED: seed},
    )
    assert isinstance(Person.model_validate_json(out.value), Person)


class Inner(pydantic.BaseModel):
    text: str
    values: list[float]


class Unbounded(pydantic.BaseModel):
    title: str
    score: float
    inner: Inner
    tags: list[str]


@pytest.mark.parametrize("budget", [8, 20, 40])
def test_format_output_validates_even_with_unbounded_fields_and_a_small_budget(backend, budget: int) -> None:
    for seed in range(3):
        logs = []
        out = backend.generate_from_context(
            Message("user", "JSON please."),
            SimpleContext(),
            format=Unbounded,
            model_options={"max_new_tokens": budget, "temperature": 1.0, ModelOption.SEED: seed},
            generate_logs=logs,
        )
        assert isinstance(Unbounded.model_validate_json(out.value), Unbounded)
        assert logs[-1].extra["new_tokens"] <= budget + 64


def get_weather(city: str) -> str:
    """Get the weather of a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def get_time(zone: str) -> str:
    return f"noon in {zone}"


class CityArgs(pydantic.BaseModel):
    city: Literal["Paris"]


class WeatherCall(pydantic.BaseModel):
    name: Literal["get_weather"]
    arguments: CityArgs


class WithTool:
    """A component that offers a tool, like a component with a tools-bearing template representation."""

    def parts(self):
        return []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(obj=self, args={"content": "What time is it?"}, tools={"get_time": get_time})


def test_tools_from_options_context_and_action_reach_the_chat_template(backend) -> None:
    ctx = LinearContext()
    ctx.insert(WithTool())
    logs = []
    backend.generate_from_context(
        Message("user", "Weather in Paris?"),
        ctx,
        model_options={ModelOption.TOOLS: [get_weather], "max_new_tokens": 2},
        tool_calls=True,
        generate_logs=logs,
    )
    prompt = logs[-1].prompt
    assert '"name": "get_weather"' in prompt and "The city's name." in prompt
    assert '"name": "get_time"' in prompt


def test_tools_in_default_options_are_offered_only_to_calls_that_ask_for_tool_calls(make_backend) -> None:
    b = make_backend(model_options={ModelOption.TOOLS: [get_weather], "max_new_tokens": 2})
    logs = []
    b.generate_from_context(Message("user", "Weather in Paris?"), SimpleContext(), generate_logs=logs)
    b.generate_from_context(Requirement("Mentions Paris."), SimpleContext(), generate_logs=logs)
    assert all("get_weather" not in log.prompt for log in logs)
    b.generate_from_context(Message("user", "Weather?"), SimpleContext(), tool_calls=True, generate_logs=logs)
    assert '"name": "get_weather"' in logs[-1].prompt


def test_tool_calls_are_extracted_from_the_output(backend) -> None:
    out = backend.generate_from_context(
        Message("user", "Weather in Paris?"),
        SimpleContext(),
        format=WeatherCall,
        model_options={ModelOption.TOOLS: {"get_weather": get_weather}, "max_new_tokens": 40},
        tool_calls=True,
    )
    assert out.tool_calls is not None and set(out.tool_calls) == {"get_weather"}
    assert out.tool_calls["get_weather"].call_func() == "sunny in Paris"


def test_format_with_a_schema_llguidance_cannot_enforce_is_a_clear_error(backend) -> None:
    class Keys(pydantic.BaseModel):
        m: dict[Literal["a"], int]

    with pytest.raises(GencompError, match="format=Keys"):
        backend.generate_from_context(Message("user", "x"), SimpleContext(), format=Keys)


def test_no_tools_means_no_tool_calls(backend) -> None:
    out = backend.generate_from_context(Message("user", "x"), SimpleContext(), model_options={"max_new_tokens": 2})
    assert out.tool_calls is None


def test_non_chat_context_renders_the_context_then_the_action_as_raw_text(backend) -> None:
    ctx = LinearContext(is_chat_context=False)
    ctx.insert(CBlock("The capital of France is Paris."))
    logs = []
    backend.generate_from_context(
        CBlock("The capital of Italy is"), ctx, model_options={"max_new_tokens": 5}, generate_logs=logs
    )
    prompt = logs[-1].prompt
    assert prompt == "The capital of France is Paris.\nThe capital of Italy is"
    assert logs[-1].model_output.tolist() == _raw_greedy(backend, prompt, 5, special=True)


def test_generate_from_raw_is_one_left_padded_batch_matching_single_prompts(backend) -> None:
    actions = [CBlock("Hello"), CBlock("The capital of France is Paris and the capital of Italy is")]
    logs = []
    outs = backend._generate_from_raw(actions, model_options={"max_new_tokens": 6}, generate_logs=logs)
    assert len(outs) == 2 and len(logs) == 2
    assert [log.prompt for log in logs] == ["Hello", actions[1].value]
    assert all(log.extra["batch_size"] == 2 for log in logs)
    for action, out, log in zip(actions, outs, logs, strict=True):
        single = _raw_greedy(backend, action.value, 6, special=True)
        produced = log.model_output.tolist()
        assert produced and produced == single[: len(produced)]
        assert out.value == backend.tokenizer.decode(produced, skip_special_tokens=True)


def test_generate_from_raw_with_format_validates_every_output(backend) -> None:
    outs = backend._generate_from_raw(
        [CBlock("A person:"), CBlock("Another person, in JSON:")],
        format=Person,
        model_options={"max_new_tokens": 60, "temperature": 1.0, "seed": 5},
    )
    assert [type(Person.model_validate_json(o.value)) for o in outs] == [Person, Person]


def test_generate_from_raw_with_no_actions_returns_nothing(backend) -> None:
    assert backend._generate_from_raw([]) == []


def test_chat_context_on_a_model_without_chat_template_is_a_clear_error(tmp_path, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend
    from gencomp_hf_backend.testing import build_tiny_model

    b = LocalHFBackend(build_tiny_model(tmp_path / "base", chat_template=False), formatter=formatter)
    with pytest.raises(GencompError, match="no chat template"):
        b.generate_from_context(Message("user", "hi"), LinearContext())
    out = b.generate_from_context(
        CBlock("Once upon a time"), LinearContext(is_chat_context=False), model_options={"max_new_tokens": 3}
    )
    assert out.value is not None


def test_a_requirement_judged_by_the_model_gets_its_verdict_from_the_yes_and_no_logits(backend):
    import torch

    from gencomp import Instruction, LinearContext, ModelOutputThunk, Requirement

    ctx = LinearContext()
    ctx.insert_turn(Instruction("Name a city."), ModelOutputThunk("Paris"))
    logs: list = []
    result = Requirement("The answer names a city.").validate(backend, ctx, generate_logs=logs)
    thunk = result.thunk
    assert thunk.meta["check_path"] == "llm-as-a-judge"
    ids = backend.tokenizer(logs[-1].prompt, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        last = backend.model(input_ids=ids).logits[0, -1]
    yes_ids, no_ids = backend.judge.tokens
    pair = torch.stack([torch.logsumexp(last[yes_ids], 0), torch.logsumexp(last[no_ids], 0)])
    expected = float(torch.softmax(pair, 0)[0])
    assert abs(result.score - expected) < 1e-4
    assert result.result is (expected > 0.5) is thunk.meta["verdict"]
