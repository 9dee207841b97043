"""gencomp-otel on the HF backend (a tiny real model): span tree, GenAI attributes and metrics, content opt-in."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import gencomp_otel
from gencomp import LLMaJRequirement, ModelOption, Session, UnknownModelOptionError, checks, hookimpl, plugins
from gencomp.streaming import GenerationCancelled

from .telemetry import make_telemetry

NEVER_MET = "The answer has at least 50 words."  # 8 new tokens cannot make 50 words: every attempt fails


def run_instruct_with_a_retry(backend, **kwargs):
    return Session(backend).instruct(
        "Say hello.",
        requirements=[checks.min_words(50, description=NEVER_MET), LLMaJRequirement("The answer is polite.")],
        loop_budget=2,
        return_sampling_results=True,
        **kwargs,
    )


def test_an_instruct_with_a_retry_is_one_trace_of_call_attempts_generations_and_checks(tiny_backend, telemetry):
    result = run_instruct_with_a_retry(tiny_backend)
    spans = telemetry.spans()
    assert len({s.context.trace_id for s in spans}) == 1
    (call,) = [s for s in spans if s.parent is None]
    assert call.name == "instruct repair" and call.kind is SpanKind.INTERNAL
    assert call.attributes["gencomp.call"] == "instruct" and call.attributes["gencomp.strategy"] == "repair"
    assert call.attributes["gencomp.success"] is False and call.attributes["gencomp.attempts"] == 2
    attempts = telemetry.children(call)
    assert [a.name for a in attempts] == ["attempt 1", "attempt 2"]
    assert [a.attributes["gencomp.attempt"] for a in attempts] == [1, 2]
    for number, attempt in enumerate(attempts, start=1):
        kids = telemetry.children(attempt)
        answers = [k for k in kids if k.name.startswith("chat ") and not k.attributes.get("gencomp.check")]
        judges = [k for k in kids if k.attributes.get("gencomp.check")]
        checks_ = sorted((k for k in kids if k.name.startswith("check ")), key=lambda k: k.name)
        assert len(answers) == 1 and len(judges) == 1  # the answer, and the model judging "polite"
        assert [c.name for c in checks_] == [f"check {NEVER_MET}", "check The answer is polite."]
        code, judged = checks_
        assert code.attributes["gencomp.check_path"] == "code:number_words"
        assert code.attributes["gencomp.passed"] is False and code.attributes["gencomp.candidate"] == number
        assert judged.attributes["gencomp.check_path"] == "llm-as-a-judge"
        verdict = result.attempts[number - 1].verdicts[1][1]
        assert judged.attributes["gencomp.p_yes"] == pytest.approx(verdict.verdict.p_yes)
        assert judged.attributes["gencomp.passed"] is verdict.result
        for child in kids:
            assert attempt.start_time <= child.start_time and child.end_time <= attempt.end_time
    assert all(s.end_time is not None for s in spans)


def test_a_generation_span_follows_the_genai_inference_conventions(tiny_backend, tiny_model_path, telemetry):
    options = {ModelOption.TEMPERATURE: 0.7, ModelOption.SEED: 11, "top_p": 0.9, ModelOption.MAX_NEW_TOKENS: 6}
    out = Session(tiny_backend).instruct("Say hello.", model_options=options)
    (gen,) = telemetry.named("chat ")
    assert gen.name == f"chat {tiny_model_path}"  # {gen_ai.operation.name} {gen_ai.request.model}
    assert gen.kind is SpanKind.INTERNAL  # the model runs in this process
    a = gen.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "huggingface"
    assert a["gen_ai.request.model"] == tiny_model_path and a["gen_ai.response.model"] == tiny_model_path
    assert a["gen_ai.request.temperature"] == 0.7 and a["gen_ai.request.seed"] == 11
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.request.max_tokens"] == 6
    log = out.generate_log
    assert a["gen_ai.usage.input_tokens"] == log.extra["prompt_tokens"]
    assert a["gen_ai.usage.output_tokens"] == log.extra["new_tokens"] <= 6
    assert a["gen_ai.response.finish_reasons"] == (out.meta["finish_reason"],)
    assert "gen_ai.request.stream" not in a and "server.address" not in a
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_a_raw_batch_is_one_text_completion_span_with_every_prompts_tokens(tiny_backend, telemetry):
    from gencomp import CBlock

    outs = tiny_backend._generate_from_raw([CBlock("one"), CBlock("two two two")])
    (gen,) = telemetry.spans()
    assert gen.name.startswith("text_completion ") and gen.attributes["gen_ai.request.choice.count"] == 2
    logs = [o.generate_log for o in outs]
    assert gen.attributes["gen_ai.usage.input_tokens"] == sum(log.extra["prompt_tokens"] for log in logs)
    # the HF backend counts no new tokens of a raw batch: none are reported rather than a wrong count
    assert ("gen_ai.usage.output_tokens" in gen.attributes) == all("new_tokens" in log.extra for log in logs)


def test_messages_and_check_reasons_are_not_recorded_by_default(tiny_backend, telemetry):
    run_instruct_with_a_retry(tiny_backend)
    for s in telemetry.spans():
        assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gencomp.reason"} & set(s.attributes)


def test_messages_and_reasons_are_recorded_when_the_conventions_switch_is_on(tiny_backend, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    telemetry = make_telemetry(capture_content=None)  # None: as the variable says
    try:
        result = Session(tiny_backend).instruct(
            "Say hello.",
            requirements=[checks.min_words(50, description=NEVER_MET)],
            loop_budget=1,
            return_sampling_results=True,
        )
    finally:
        gencomp_otel.configure()
    out = result.result
    (gen,) = telemetry.named("chat ")
    inputs = json.loads(gen.attributes["gen_ai.input.messages"])
    assert inputs[-1]["role"] == "user" and inputs[-1]["parts"][0]["type"] == "text"
    assert "Say hello." in inputs[-1]["parts"][0]["content"]
    outputs = json.loads(gen.attributes["gen_ai.output.messages"])
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": out.value}] if out.value else [],
            "finish_reason": out.meta["finish_reason"],
        }
    ]
    (check,) = telemetry.named("check ")
    reason = result.attempts[0].verdicts[0][1].reason
    assert reason and check.attributes["gencomp.reason"] == reason


def test_an_unknown_value_of_the_content_switch_is_refused_with_a_warning(monkeypatch):
    from gencomp_otel.bridge import Observer

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "everything")
    with pytest.warns(RuntimeWarning, match="CAPTURE_MESSAGE_CONTENT='everything' is not understood"):
        observer = Observer()
    assert observer.capture_content is False


def test_generations_feed_the_genai_duration_and_token_usage_metrics(tiny_backend, tiny_model_path, telemetry):
    out = Session(tiny_backend).instruct("Say hello.")
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "huggingface",
        "gen_ai.request.model": tiny_model_path,
        "gen_ai.response.model": tiny_model_path,
    }
    (gen,) = telemetry.named("chat ")
    assert duration.sum == pytest.approx((gen.end_time - gen.start_time) / 1e9)
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]  # the conventions' advised buckets
    tokens = {p.attributes["gen_ai.token.type"]: p for p in telemetry.points("gen_ai.client.token.usage")}
    assert tokens["input"].sum == out.generate_log.extra["prompt_tokens"]
    assert tokens["output"].sum == out.generate_log.extra["new_tokens"]
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []  # not a stream


def test_a_streamed_call_records_its_time_to_first_chunk(tiny_backend, telemetry):
    stream = Session(tiny_backend).instruct_stream("Say hello.")
    pieces = list(stream)
    assert pieces
    (gen,) = telemetry.named("chat ")
    assert gen.attributes["gen_ai.request.stream"] is True
    first = gen.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < first <= (gen.end_time - gen.start_time) / 1e9
    (point,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert point.count == 1 and point.sum == pytest.approx(first)


def test_a_stream_left_early_ends_every_span_with_the_cancellation_recorded(tiny_backend, telemetry):
    stream = Session(tiny_backend).instruct_stream(
        "Say hello.", requirements=[checks.min_words(50, description=NEVER_MET)], loop_budget=2
    )
    for _ in stream:
        break
    stream.close()
    spans = telemetry.spans()
    (call,) = [s for s in spans if s.parent is None]
    assert call.attributes["gencomp.cancelled"] is True
    assert call.attributes["error.type"] == GenerationCancelled.__qualname__
    assert call.status.status_code is StatusCode.ERROR
    assert [e.name for e in call.events] == ["exception"]
    assert {s.context.trace_id for s in spans} == {call.context.trace_id}


def test_an_async_stream_closed_early_ends_its_call_span_as_cancelled_in_one_trace(tiny_backend, telemetry):
    async def main() -> None:
        async with Session(tiny_backend).ainstruct_stream(
            "Say hello.", requirements=[checks.min_words(50, description=NEVER_MET)], loop_budget=2
        ) as stream:
            async for _ in stream:
                break

    asyncio.run(main())
    spans = telemetry.spans()
    (call,) = [s for s in spans if s.parent is None]
    assert call.attributes["gencomp.cancelled"] is True and call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] in ("GenerationCancelled", "CancelledError")
    assert {s.context.trace_id for s in spans} == {call.context.trace_id}
    assert all(s.end_time >= s.start_time for s in spans)


def test_a_failed_generation_gets_error_type_and_error_status(tiny_backend, telemetry):
    with pytest.raises(UnknownModelOptionError):
        Session(tiny_backend).instruct("Say hello.", model_options={"no_such_option": 1})
    (gen,) = telemetry.named("chat ")
    assert gen.attributes["error.type"] == "UnknownModelOptionError"
    assert gen.status.status_code is StatusCode.ERROR and "no_such_option" in gen.status.description
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "UnknownModelOptionError"
    assert telemetry.points("gen_ai.client.token.usage") == []


def test_calls_awaited_together_are_separate_traces_whatever_ran_their_parts(tiny_backend, telemetry):
    async def both() -> None:
        await asyncio.gather(
            Session(tiny_backend).ainstruct(
                "Say hello.", requirements=[LLMaJRequirement("It is polite.")], loop_budget=1
            ),
            Session(tiny_backend).ainstruct("Say bye.", requirements=[LLMaJRequirement("It is short.")], loop_budget=1),
        )

    asyncio.run(both())
    spans = telemetry.spans()
    calls = [s for s in spans if s.parent is None]
    assert len(calls) == 2 and len({c.context.trace_id for c in calls}) == 2
    by_id = {s.context.span_id: s for s in spans}
    for s in spans:
        root = s
        while root.parent is not None:
            root = by_id[root.parent.span_id]
        assert root in calls and s.context.trace_id == root.context.trace_id
    for call in calls:
        in_trace = [s for s in spans if s.context.trace_id == call.context.trace_id]
        requirement = "It is polite." if "polite" in str([s.name for s in in_trace]) else "It is short."
        assert sorted(s.name for s in in_trace if s.name.startswith("check ")) == [f"check {requirement}"]
        assert len([s for s in in_trace if s.name.startswith("chat ")]) == 2  # the answer and its judge


def test_a_call_made_under_an_application_span_is_its_child(tiny_backend, telemetry):
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as request:
        Session(tiny_backend).instruct("Say hello.")
    spans = telemetry.spans()
    (call,) = [s for s in spans if s.name == "instruct repair"]
    assert call.parent is not None and call.parent.span_id == request.get_span_context().span_id
    assert {s.context.trace_id for s in spans} == {request.get_span_context().trace_id}


def test_spans_made_inside_a_generation_are_its_children(tiny_backend, telemetry):
    inside: list[trace.Span] = []

    class Probe:
        @hookimpl
        def gencomp_after_generate(self, backend, action, result, log):
            inside.append(trace.get_current_span())

    probe = Probe()
    plugins.register_plugin(probe, name="probe")
    try:
        Session(tiny_backend).instruct("Say hello.")
    finally:
        plugins.unregister_plugin(probe)
    (gen,) = telemetry.named("chat ")
    assert [s.get_span_context().span_id for s in inside] == [gen.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached once the generation ended


def test_without_any_provider_nothing_is_made_and_nothing_is_kept(tiny_backend, monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    seen = []

    class Keep:
        @hookimpl
        def gencomp_span_ended(self, span):
            seen.append(span)

    keep = Keep()
    gencomp_otel.configure()
    plugins.register_plugin(keep, name="keep")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Session(tiny_backend).instruct("Say hello.", requirements=[LLMaJRequirement("It is polite.")])
    finally:
        plugins.unregister_plugin(keep)
    assert {s.kind for s in seen} == {"call", "attempt", "generation", "check"}
    assert all("gencomp_otel" not in s.state for s in seen)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_plugin_is_found_through_its_entry_point_with_both_span_hooks():
    plugins.reset()
    (record,) = [p for p in plugins.plugin_records() if p.name == "otel"]
    assert record.distribution == "gencomp-otel" and record.status == "loaded"
    assert {"gencomp_span_started", "gencomp_span_ended"} == set(record.hooks)


def test_a_program_that_never_uses_opentelemetry_does_not_import_it(tiny_model_path):
    code = (
        "import sys, gencomp\n"
        "from gencomp_hf_backend import LocalHFBackend\n"
        "backend = LocalHFBackend(sys.argv[1], model_options={gencomp.ModelOption.MAX_NEW_TOKENS: 4})\n"
        "gencomp.Session(backend).instruct('Hi.', requirements=[gencomp.LLMaJRequirement('Polite.')], loop_budget=1)\n"
        "from gencomp import plugins, tracing\n"
        "loaded = [r.name for r in plugins.plugin_records() if r.status == 'loaded']\n"
        "print('otel' in loaded, tracing.observed(), 'opentelemetry' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", code, tiny_model_path], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "False"]  # installed, observing spans, OpenTelemetry untouched
