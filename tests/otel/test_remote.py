"""gencomp-otel on the remote backend against a real llama.cpp ``llama-server``: CLIENT spans, streams, retries.

The server (built by ``make llama-server``) runs the embedded SmolLM2 GGUF. A transient failure
(503) is added in front of the real server by a wrapping transport: a real server cannot be made to
fail once on demand; every other answer is the server's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.trace import SpanKind

from gencomp import ModelOption, Session

pytestmark = pytest.mark.embedded  # the server runs the embedded default model's GGUF


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from gencomp import GencompError
    from gencomp_hf_backend.default_model import gguf_path
    from gencomp_openai.llama_cpp import LlamaServer

    try:
        # --no-repack: llama-server crashes at start-up (SIGSEGV) repacking weights for AMX on this CPU
        with LlamaServer(Path(gguf_path()), context=2048, parallel=2, extra_args=["--no-repack"]) as running:
            yield running
    except GencompError as exc:  # no built server: say what to run, never skip
        pytest.fail(str(exc))


class FailsFirst(httpx2.BaseTransport):
    """The real HTTP transport, except that the first generation request gets a 503."""

    def __init__(self) -> None:
        self.real = httpx2.HTTPTransport()
        self.failed = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and not self.failed:
            self.failed += 1
            return httpx2.Response(503, json={"error": {"message": "loading model", "code": 503}})
        return self.real.handle_request(request)

    def close(self) -> None:
        self.real.close()


def backend(server: Any, **kwargs: Any) -> Any:
    from gencomp_openai import OpenAIBackend

    with pytest.warns(UserWarning, match="serves one model"):  # asked for "smollm2": the server says what answered
        return OpenAIBackend(
            "smollm2", base_url=server.base_url, model_options={ModelOption.MAX_NEW_TOKENS: 8}, **kwargs
        )


def test_a_remote_generation_is_a_client_span_naming_the_server_and_the_model_that_answered(server, telemetry):
    with backend(server) as b:
        out = Session(b).instruct("Say hello.", model_options={ModelOption.SEED: 3, ModelOption.TEMPERATURE: 0.0})
    (gen,) = telemetry.named("chat ")
    assert gen.name == "chat smollm2" and gen.kind is SpanKind.CLIENT
    a = gen.attributes
    assert a["gen_ai.provider.name"] == "llama.cpp"  # what the backend's probe found
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", server.port)
    assert a["gen_ai.response.model"] == out.generate_log.extra["response_model"]  # the server's word
    assert a["gen_ai.request.seed"] == 3 and a["gen_ai.request.temperature"] == 0.0
    assert a["gen_ai.usage.input_tokens"] == out.generate_log.extra["prompt_tokens"] > 0
    assert a["gen_ai.usage.output_tokens"] == out.generate_log.extra["new_tokens"] > 0
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["server.address"] == "127.0.0.1"
    assert duration.attributes["server.port"] == server.port
    assert duration.attributes["gen_ai.provider.name"] == "llama.cpp"


def test_a_remote_stream_records_the_time_its_first_chunk_arrived(server, telemetry):
    with backend(server) as b:
        chunks = list(Session(b).instruct_stream("Count to five."))
    assert len([c for c in chunks if c.text]) > 1  # the server streamed it in pieces
    (gen,) = telemetry.named("chat ")
    first = gen.attributes["gen_ai.response.time_to_first_chunk"]
    assert gen.attributes["gen_ai.request.stream"] is True
    assert 0 < first < (gen.end_time - gen.start_time) / 1e9
    (point,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert point.sum == pytest.approx(first)


def test_a_retried_request_is_an_event_on_its_generation_span(server, telemetry):
    transport = FailsFirst()
    with backend(server, transport=transport) as b:
        out = Session(b).instruct("Say hello.")
    assert transport.failed == 1 and out.value
    (gen,) = telemetry.named("chat ")
    (retry,) = [e for e in gen.events if e.name == "gencomp.retry"]
    assert retry.attributes["gencomp.retry"] == 1
    assert retry.attributes["error.type"] == "ServerInternalError"
    assert retry.attributes["gencomp.delay_s"] >= 0
    assert gen.start_time <= retry.timestamp <= gen.end_time
    assert "error.type" not in gen.attributes  # the retry succeeded: the generation did not fail
