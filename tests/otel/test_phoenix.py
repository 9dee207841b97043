"""A real trace viewer: Arize Phoenix receives the trace of an unchanged program over OTLP, and its API shows it.

Phoenix is installed once into the user cache folder (``make phoenix``, part of ``make test``); when
it is missing these tests fail with the command to run, never skip. The program runs the embedded
model with a code check, an aLoRA check and a retry, configured only by ``OTEL_*`` variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .viewer import Phoenix, PhoenixMissing

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

PROGRAM = Path(__file__).with_name("program.py")


@pytest.fixture(scope="module")
def phoenix() -> Iterator[Phoenix]:
    try:
        with Phoenix() as server:
            yield server
    except PhoenixMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def traced_run(phoenix: Phoenix) -> dict[str, Any]:
    """The program's own report, after it ran with its trace sent to Phoenix (and nothing else configured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.url,  # OTLP over HTTP: <url>/v1/traces
        "OTEL_METRICS_EXPORTER": "none",  # Phoenix takes traces only
        "OTEL_SERVICE_NAME": "gencomp-viewer-test",
    }
    done = subprocess.run([sys.executable, str(PROGRAM)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_phoenix_shows_the_program_as_one_trace_call_attempts_generations_checks(phoenix, traced_run):
    spans = phoenix.spans()
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    by_id = {s["context"]["span_id"]: s for s in spans}

    def children(span: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted((s for s in spans if s["parent_id"] == span["context"]["span_id"]), key=lambda s: s["start_time"])

    (call,) = [s for s in spans if s["parent_id"] is None]
    assert call["name"] == "instruct repair"
    assert call["attributes"]["gencomp.success"] is traced_run["success"]
    attempts = children(call)
    assert len(traced_run["attempts"]) == 2  # the first answer has no number (README): the retry happened
    assert [a["name"] for a in attempts] == ["attempt 1", "attempt 2"]
    for attempt, seen in zip(attempts, traced_run["attempts"], strict=True):
        kids = children(attempt)
        (gen,) = [k for k in kids if k["name"].startswith("chat ")]
        assert gen["name"] == f"chat {traced_run['model']}"
        assert gen["span_kind"] == "LLM"  # Phoenix's own reading of the gen_ai.* attributes
        assert gen["attributes"]["gen_ai.operation.name"] == "chat"
        assert gen["attributes"]["gen_ai.provider.name"] == "huggingface"
        assert gen["attributes"]["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.input.messages" not in gen["attributes"]  # content is off unless asked for
        checks = {
            k["attributes"]["gencomp.requirement"]: k["attributes"] for k in kids if k["name"].startswith("check ")
        }
        assert set(checks) == {v["requirement"] for v in seen["verdicts"]}
        for verdict in seen["verdicts"]:
            shown = checks[verdict["requirement"]]
            assert shown["gencomp.check_path"] == verdict["path"]
            assert shown["gencomp.passed"] is verdict["passed"]
            if verdict["p_yes"] is not None:
                assert shown["gencomp.p_yes"] == pytest.approx(verdict["p_yes"])
                assert shown["gencomp.computed_tokens"] == verdict["computed_tokens"]
    paths = {v["path"] for a in traced_run["attempts"] for v in a["verdicts"]}
    assert paths == {"code:contains_number", "alora:constraint"}
    assert all(by_id[s["parent_id"]] for s in spans if s["parent_id"])  # no orphan
