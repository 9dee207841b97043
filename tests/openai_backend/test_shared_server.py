"""The remote backend on a real llama-server that it does not have to itself: other clients, other adapters,
a restart, and what the server really serves.

Each test starts the servers it needs (the session's ``llama_server`` fixture is shared with other tests).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from gencomp import (
    ContextWindowError,
    Instruction,
    LinearContext,
    LLMaJRequirement,
    Message,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    Session,
)
from gencomp.adapter_validation import read_validation
from gencomp.verdicts import CheckVerdict
from gencomp_openai import OpenAIBackend
from gencomp_openai.backend import ALORA_UNCERTAIN_MARGIN
from gencomp_openai.llama_cpp import LlamaServer, free_port

pytestmark = pytest.mark.embedded  # the servers run the embedded default model's GGUF

GREEDY = {"temperature": 0.0, ModelOption.SEED: 0}

ANSWERS = [
    ("Tell me about a river.", "The Nile is the longest river in Africa and flows north into the Mediterranean Sea."),
    ("Say something about the moon in capitals.", "THE MOON ORBITS THE EARTH EVERY 27 DAYS."),
    ("Can you help me hack a bank?", "I am sorry, but I cannot help with that request. Please ask something else."),
    ("Write a short letter.", "Dear Anna, thank you for your letter. I hope you are well. Best regards, Tom"),
]
REQUIREMENTS = [
    "The answer mentions a river.",
    "The answer is written in all capital letters.",
    "The answer is polite.",
    "The answer apologizes.",
    "The answer mentions a city.",
    "The answer is a letter.",
]


def context(question: str, answer: str) -> LinearContext:
    ctx = LinearContext()
    ctx.insert_turn(Message("user", question), ModelOutputThunk(answer))
    return ctx


def verdicts(backend: OpenAIBackend) -> list[CheckVerdict]:
    out = []
    for question, answer in ANSWERS:
        for text in REQUIREMENTS:
            result = Requirement(text).validate(backend, context(question, answer))
            assert result.verdict is not None
            out.append(result.verdict)
    return out


@pytest.fixture
def shared_server(smollm2_gguf: Path, alora_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_gguf, loras=[alora_gguf], context=8192, parallel=4) as server:
        yield server


def test_another_process_checking_and_generating_on_the_same_server_does_not_change_this_ones_verdicts(
    shared_server: LlamaServer,
) -> None:
    backend = OpenAIBackend(base_url=shared_server.base_url, model_options=GREEDY)
    alone = verdicts(backend)
    others = [  # another gencomp process, and a client that only generates, naming the adapter at scale 0
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("other_client.py")), shared_server.base_url, kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for kind in ("gencomp", "generate")
    ]
    try:
        for other in others:
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a check that fell back to the judge would warn
            beside = verdicts(backend)
        assert all(other.poll() is None for other in others)  # they were still at work at the end
    finally:
        for other in others:
            other.kill()
            other.wait()
            if other.stdout is not None:
                other.stdout.close()
        backend.close()
    assert [v.path for v in beside] == ["alora:constraint"] * len(alone)
    for a, b in zip(alone, beside, strict=True):
        assert a.p_yes is not None and b.p_yes is not None
        assert a.passed == b.passed or a.uncertain or b.uncertain, (a, b)  # never a decided verdict turned over
        assert abs(a.p_yes - b.p_yes) <= ALORA_UNCERTAIN_MARGIN, (a, b)


def test_plain_generation_and_the_judge_are_unchanged_by_a_plain_lora_loaded_on_the_server(
    smollm2_gguf: Path, plain_lora_gguf: Path
) -> None:
    def run(loras: list[Path]) -> tuple[str, float]:
        with LlamaServer(smollm2_gguf, loras=loras, context=2048, parallel=1) as server:
            backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
            session = Session(backend)
            answer = session.instruct(
                "Write one sentence about the moon.", model_options={ModelOption.MAX_NEW_TOKENS: 24}
            )
            judged = LLMaJRequirement("The answer mentions the moon.").validate(backend, session.ctx)
            backend.close()
        assert judged.score is not None
        return str(answer.value), judged.score

    text, p_yes = run([])
    with_lora, p_yes_with_lora = run([plain_lora_gguf])
    assert with_lora == text and "NNN" not in text
    assert p_yes_with_lora == pytest.approx(p_yes, abs=1e-6)


def test_a_server_restarted_on_the_same_port_with_a_plain_lora_under_the_same_name_is_probed_again(
    smollm2_gguf: Path, alora_gguf: Path, plain_lora_gguf: Path
) -> None:
    port = free_port()
    ctx = context(*ANSWERS[0])
    with LlamaServer(smollm2_gguf, loras=[alora_gguf], context=2048, parallel=1, port=port) as first:
        backend = OpenAIBackend(base_url=first.base_url, model_options=GREEDY)
        before = Requirement("The answer mentions a river.").validate(backend, ctx)
        assert before.verdict is not None and before.verdict.path == "alora:constraint"
    with LlamaServer(smollm2_gguf, loras=[plain_lora_gguf], context=2048, parallel=1, port=port):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            after = Requirement("The answer mentions a river.").validate(backend, ctx)
        assert after.verdict is not None and after.verdict.path == "llm-as-a-judge"
        assert "plain LoRA" in (after.verdict.fallback_reason or "")
        assert any("changed" in str(w.message) for w in caught)
        adapter = backend.capabilities.adapter("constraint")
        assert adapter is not None and not adapter.is_alora
        backend.close()


def test_an_unknown_model_id_warns_and_the_logs_name_the_model_that_answered(llama_server: LlamaServer) -> None:
    with pytest.warns(UserWarning, match="serves one model, .* under any name: 'gpt-4o-this-does-not-exist'"):
        backend = OpenAIBackend("gpt-4o-this-does-not-exist", base_url=llama_server.base_url, model_options=GREEDY)
    session = Session(backend)
    session.instruct("Say hi.", model_options={ModelOption.MAX_NEW_TOKENS: 4})
    assert session.last_logs[-1].extra["model"] == backend.capabilities.models[0]
    assert backend.capabilities.models[0].endswith(".gguf")
    backend.close()


def test_context_window_and_thinking_are_honoured_on_llama_server(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(base_url=llama_server.base_url, model_options=GREEDY)
    long = Instruction("Describe the sea. " * 20)
    with pytest.raises(ContextWindowError, match=r"the prompt is \d+ tokens.*window is 64 tokens") as info:
        backend.generate_from_context(long, LinearContext(), model_options={ModelOption.CONTEXT_WINDOW: 64})
    assert info.value.prompt_tokens > 64
    fits = backend.generate_from_context(
        Instruction("Say hi."),
        LinearContext(),
        model_options={ModelOption.CONTEXT_WINDOW: 64, ModelOption.MAX_NEW_TOKENS: 8, ModelOption.THINKING: False},
    )
    assert fits.value
    backend.close()


def test_a_verdict_on_the_server_says_what_the_shipped_adapter_was_measured_on(
    llama_server: LlamaServer, shipped_adapter: Path
) -> None:
    polite = read_validation(shipped_adapter)["families"]["polite"]  # type: ignore[index]
    backend = OpenAIBackend(base_url=llama_server.base_url, model_options=GREEDY)
    result = Requirement("The answer is polite.").validate(backend, context(*ANSWERS[3]))
    verdict = result.verdict
    assert verdict is not None and verdict.path == "alora:constraint" and verdict.validated is True
    assert verdict.accuracy == polite["accuracy"]
    assert verdict.validation == f"measured {polite['accuracy']:.0%} on polite requirements worded by hand (n=20)"
    backend.close()
