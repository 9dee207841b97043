"""What gencomp-otel costs: the same calls without the plugin, with it and nothing configured, and exporting.

Three modes, interleaved in every repetition, in one process:

- ``no plugin``: gencomp-otel disabled (``GENCOMP_DISABLE_PLUGINS=otel``): the core makes no span at all;
- ``plugin, nothing configured``: installed, no tracer or meter provider and no ``OTEL_*`` variable;
- ``plugin, exporting``: the SDK's tracer provider with a ``BatchSpanProcessor`` and the OTLP/HTTP
  exporter, sending to a local sink process that answers every export with 200 (a stand-in for a
  collector: the cost measured is the application's side), and a meter provider with a reader.

Measured: one span alone (``gencomp.tracing.span`` around nothing, thousands of times: the hook
path per span), an ``instruct`` with one model-judged requirement on the tiny model (4 spans: call,
attempt, generation, check; plus the judge's generation: 5), and the same ``instruct`` on the
embedded model (the cost next to a real generation). Prints a table and writes it into
``benchmarks/RESULTS.md`` between the ``otel`` markers.

    .venv/bin/python benchmarks/otel.py [--repeat N] [--calls N] [--embedded-repeat N] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import write_section

HERE = Path(__file__).resolve().parent
START, END = "<!-- otel:start -->", "<!-- otel:end -->"
MODES = ("no plugin", "plugin, nothing configured", "plugin, exporting")

SINK = r"""
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Modes:
    """Switches between the three modes in this process."""

    def __init__(self, sink_url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{sink_url}/v1/traces")))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def use(self, mode: str) -> None:
        import gencomp_otel
        from gencomp import plugins

        if mode == "no plugin":
            os.environ["GENCOMP_DISABLE_PLUGINS"] = "otel"
        else:
            os.environ.pop("GENCOMP_DISABLE_PLUGINS", None)
        plugins.reset()
        plugins.registry()  # rediscover now, not inside the timed call
        if mode == "plugin, exporting":
            gencomp_otel.configure(self.tracer_provider, self.meter_provider)
        else:
            gencomp_otel.configure()

    def flush(self) -> None:
        self.tracer_provider.force_flush()


Sample = tuple[float, float]
"""Seconds of one measurement: wall clock, and CPU time of this process, all its threads (blind to other processes)."""


def one_span(n: int, flush: Callable[[], None]) -> Sample:
    """Seconds per span, both clocks, the exporter's flush of these spans included."""
    from gencomp import tracing

    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        with tracing.span("call", "bench", {"gencomp.call": "instruct"}):
            pass
    flush()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def interleaved(modes: Modes, repeat: int, measure: Callable[[], Sample]) -> dict[str, list[Sample]]:
    runs: dict[str, list[Sample]] = {m: [] for m in MODES}
    for r in range(repeat):
        order = MODES[r % 3 :] + MODES[: r % 3]
        for mode in order:
            modes.use(mode)
            runs[mode].append(measure())
    return runs


def paired(runs: dict[str, list[Sample]], mode: str, i: int) -> float:
    """Median over repetitions of ``mode`` minus ``no plugin`` in the same repetition (``i``: 0 wall, 1 CPU)."""
    return statistics.median(a[i] - b[i] for a, b in zip(runs[mode], runs["no plugin"], strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="interleaved repetitions of the tiny-model calls")
    parser.add_argument("--calls", type=int, default=10, help="instruct calls per repetition and mode")
    parser.add_argument("--spans", type=int, default=2000, help="spans per repetition of the one-span case")
    parser.add_argument("--embedded-repeat", type=int, default=5, help="repetitions on the embedded model (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]

    import torch

    torch.set_num_threads(args.threads)
    import gencomp
    from gencomp_hf_backend import LocalHFBackend
    from gencomp_hf_backend.testing import build_tiny_model

    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        modes = Modes(f"http://127.0.0.1:{sink.stdout.readline().strip()}")
        judged = [gencomp.LLMaJRequirement("The answer is polite.")]

        def instruct_on(backend: Any, calls: int) -> Callable[[], Sample]:
            """Per call: the median wall time (the caller's wait), and the mean process CPU time with the
            exporter's flush of the calls' spans (all the work they caused, wherever it ran)."""

            def measure() -> Sample:
                walls = []
                cpu = time.process_time()
                for _ in range(calls):
                    session = gencomp.Session(backend)
                    wall = time.perf_counter()
                    session.instruct("Say hello.", requirements=judged, loop_budget=1)
                    walls.append(time.perf_counter() - wall)
                modes.flush()
                return statistics.median(walls), (time.process_time() - cpu) / calls

            return measure

        span_runs = interleaved(modes, args.repeat, lambda: one_span(args.spans, modes.flush))
        print("one span: done", file=sys.stderr)
        with tempfile.TemporaryDirectory() as folder:
            tiny = LocalHFBackend(build_tiny_model(folder), model_options={gencomp.ModelOption.MAX_NEW_TOKENS: 8})
            instruct_on(tiny, 3)()  # warm-up
            tiny_runs = interleaved(modes, args.repeat, instruct_on(tiny, args.calls))
        print("tiny model: done", file=sys.stderr)
        embedded_runs: dict[str, list[Sample]] = {}
        if args.embedded_repeat:
            embedded = gencomp.start_session().backend
            options = {gencomp.ModelOption.MAX_NEW_TOKENS: 16}
            embedded.model_options.update(options)
            instruct_on(embedded, 1)()
            embedded_runs = interleaved(modes, args.embedded_repeat, instruct_on(embedded, 1))
            print("embedded model: done", file=sys.stderr)
    finally:
        sink.terminate()
        sink.wait()

    spans_per_call = 5  # call, attempt, answer generation, judge generation, check
    rows = [
        "| case | mode | median wall ms | its CPU ms | added wall per span, ms | added CPU per span, ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    cases = [("one span", span_runs, 1), ("instruct, tiny model (5 spans)", tiny_runs, spans_per_call)]
    if embedded_runs:
        cases.append(("instruct, embedded model, 16 tokens (5 spans)", embedded_runs, spans_per_call))
    per_span: dict[tuple[str, str], tuple[float, float]] = {}
    for case, runs, spans in cases:
        for mode in MODES:
            wall = statistics.median(w for w, _ in runs[mode])
            cpu = statistics.median(c for _, c in runs[mode])
            added = (paired(runs, mode, 0) * 1000 / spans, paired(runs, mode, 1) * 1000 / spans)
            per_span[case, mode] = added
            rows.append(
                f"| {case} | {mode} | {wall * 1000:.4g} | {cpu * 1000:.4g} | {added[0]:+.4f} | {added[1]:+.4f} |"
            )
    tiny = "instruct, tiny model (5 spans)"
    exporting, idle = per_span[tiny, "plugin, exporting"], per_span[tiny, "plugin, nothing configured"]
    one = per_span["one span", "plugin, exporting"]
    load = os.getloadavg()[0]
    table = "\n".join(
        [
            START,
            f"### gencomp-otel overhead ({args.threads} thread, {args.repeat} interleaved repetitions of {args.calls} "
            f"tiny-model calls and of {args.spans} spans, {args.embedded_repeat} of one embedded-model call, "
            f"load average {load:.1f} at the end, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            *rows,
            "",
            "Added: the median over repetitions of the difference to `no plugin` in the same repetition; CPU: this "
            "process's CPU time, its batch exporter's work on these spans included (other processes are not in it). "
            f"Exporting (SDK batch processor, OTLP/HTTP to a local sink) adds {exporting[0]:.3f} ms wall and "
            f"{exporting[1]:.3f} ms CPU per span to a tiny-model `instruct` (goal: under 0.5 ms); a span alone costs "
            f"{one[0]:.3f} ms wall, {one[1]:.3f} ms CPU. Installed with nothing configured: {idle[0]:+.3f} ms wall, "
            f"{idle[1]:+.3f} ms CPU per span. With OpenTelemetry never imported and no OTLP variable set the "
            "plugin's hooks return before importing it; this run imports it (for the exporting mode), the dearer "
            "case.",
            END,
        ]
    )
    print(table)
    write_section(args.output, START, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
