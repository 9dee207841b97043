"""Every built-in strategy on a real llama-server: candidates as parallel requests to its slots, cancelled together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from gencomp import ModelOption, Session, hookimpl, plugins
from gencomp_openai import OpenAIBackend
from gencomp_openai.llama_cpp import LlamaServer

pytestmark = pytest.mark.embedded  # the server runs the embedded default model's GGUF

PROMPT = "Write one sentence about the moon."
REQUIREMENTS = ["Answer in fewer than 12 words.", "Do not use any commas."]
OPTIONS = {ModelOption.MAX_NEW_TOKENS: 24}


@pytest.fixture(scope="module")
def server(smollm2_gguf: Path, alora_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_gguf, loras=[alora_gguf], context=8192, parallel=4, extra_args=["--metrics"]) as s:
        yield s


@pytest.fixture
def backend(server: LlamaServer) -> Iterator[OpenAIBackend]:
    b = OpenAIBackend(base_url=server.base_url)
    yield b
    b.close()


@pytest.mark.parametrize(("strategy", "budget"), [("repair", 3), ("rejection", 3), ("best-of-n", 4), ("majority", 3)])
def test_each_built_in_strategy_keeps_its_rules_on_llama_server(backend, strategy, budget, strategy_result_check):
    s = Session(backend)
    result = s.instruct(PROMPT, requirements=REQUIREMENTS, strategy=strategy, loop_budget=budget, model_options=OPTIONS,
                        return_sampling_results=True)  # fmt: skip
    strategy_result_check(result, strategy, budget)
    assert len(s.ctx) == 2 and s.ctx.last_output() is result.result


class Generations:
    """Records when each generation span started and ended."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    @hookimpl
    def gencomp_span_ended(self, span):
        if span.kind == "generation":
            with self.lock:
                self.spans.append((span.start_ns, span.end_ns))


def test_best_of_n_sends_its_candidates_to_the_servers_slots_at_once(backend):
    seen = Generations()
    plugins.register_plugin(seen, name="generations")
    try:
        result = Session(backend).instruct(PROMPT, requirements=REQUIREMENTS, strategy="best-of-n", loop_budget=4,
                                           model_options={ModelOption.MAX_NEW_TOKENS: 48},
                                           return_sampling_results=True)  # fmt: skip
    finally:
        plugins.unregister_plugin(name="generations")
    assert len(result.attempts) == 4 and len(seen.spans) == 4
    assert max(start for start, _ in seen.spans) < min(end for _, end in seen.spans)  # all four were in flight


def test_rejection_on_the_server_asks_the_same_attempts_sync_and_async(backend):
    """The same attempts with the same seeds, checked alike. Their texts are compared in process
    (``tests/integration``), not here: llama-server's sampled text repeats only as far as its arithmetic
    does, and what a stopped attempt left in its slots changes the next answer's logits in their last bits."""
    never_met = "Include the word zyxwvut."  # every attempt fails, so both calls spend the whole budget
    kwargs = dict(requirements=[*REQUIREMENTS, never_met], strategy="rejection", loop_budget=3,
                  model_options={**OPTIONS, ModelOption.SEED: 5}, return_sampling_results=True)  # fmt: skip
    sync = Session(backend).instruct(PROMPT, **kwargs)
    asynced = asyncio.run(Session(backend).ainstruct(PROMPT, **kwargs))

    def asked(result):
        return [(a.number, a.seed, a.temperature, a.varied, a.error) for a in result.attempts]

    def checked(result):
        return [[str(r.description) for r, _ in a.verdicts or []] for a in result.attempts]

    assert asked(sync) == asked(asynced) == [(n, 5 + n - 1, 0.7, None, None) for n in (1, 2, 3)]
    assert checked(sync) == checked(asynced) == [[*REQUIREMENTS, never_met]] * 3
    assert not sync.success and not asynced.success


def _processing(server: LlamaServer) -> int:
    root = server.base_url.removesuffix("/v1")
    return sum(bool(slot.get("is_processing")) for slot in httpx2.get(root + "/slots").json())


def _predicted_total(server: LlamaServer) -> int:
    root = server.base_url.removesuffix("/v1")
    for line in httpx2.get(root + "/metrics").text.splitlines():
        if line.startswith("llamacpp:tokens_predicted_total"):
            return int(float(line.split()[1]))
    raise AssertionError("llama-server's /metrics has no tokens_predicted_total")


def test_cancelling_a_best_of_n_call_stops_every_candidate_on_the_server(backend, server):
    session = Session(backend)
    start = _predicted_total(server)

    async def run() -> None:
        task = asyncio.create_task(session.ainstruct("Write a long essay about the sea, with many paragraphs.",
                                                     strategy="best-of-n", loop_budget=4,
                                                     model_options={ModelOption.MAX_NEW_TOKENS: 400}))  # fmt: skip
        for _ in range(500):
            if _processing(server) == 4:  # all four candidates are being generated
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(2.0)  # the closed connections reach the server

    asyncio.run(run())
    for _ in range(200):
        if not _processing(server):
            break
        threading.Event().wait(0.05)
    assert _processing(server) == 0 and len(session.ctx) == 0
    assert _predicted_total(server) - start < 4 * 200  # four candidates of up to 400 tokens, each stopped early
