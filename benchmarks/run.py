"""Side-by-side benchmarks: gencomp against raw transformers, against recomputation, and against mellea 0.8.0.

Usage: ``.venv/bin/python benchmarks/run.py [--quick] [--cases a,b] [--repeat N] [--threads N]``
(``make bench`` / ``make bench-quick``). Sets up the peer's venv (``benchmarks/setup_peer.sh``) and the
model folders (``benchmarks/assets.py``), pins torch threads identically on both sides, runs every
case with repetitions while interleaving gencomp and the peer (the order rotates every repetition so
machine noise hits both), prints a table per case and writes ``benchmarks/RESULTS.md`` (a full run of every
case; ``--quick`` or a subset of cases writes ``.bench/RESULTS-partial.md`` unless ``--output`` says otherwise).

Each side runs in its own long-lived worker process (``_worker.py``) in its own venv; timings are
taken inside the workers around the measured work only, after warm-up, except cold start, which
times whole processes. See ``benchmarks/README.md`` for what each case measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH = ROOT / ".bench"
LOGS = BENCH / "logs"
GENCOMP_PY = ROOT / ".venv" / "bin" / "python"
PEER_VENV = BENCH / "mellea-venv"
PEER_PY = PEER_VENV / "bin" / "python"
RESULTS = HERE / "RESULTS.md"
OP_TIMEOUT = 900
"""Seconds a worker may take for one operation before it is stopped (the run goes on without it)."""

sys.path.insert(0, str(HERE))
import assets  # noqa: E402

CASES = ["cold_start", "instruct", "checks", "chat", "render", "raw_batch", "memory"]

FULL = {
    "instruct_repeat": 15,
    "cold_repeat": 7,
    "instruct_tokens": 32,
    "check_lengths": [128, 512, 2048],
    "check_repeat": 4,
    "check_tokens": 8,
    "chat_turns": 10,
    "chat_repeat": 3,
    "chat_tokens": 8,
    "render_repeat": 11,
    "render_calls": 200,
    "raw_repeat": 3,
    "raw_tokens": 8,
    "mem_calls": 1000,
    "mem_tokens": 4,
}
QUICK = {
    "instruct_repeat": 3,
    "cold_repeat": 1,
    "instruct_tokens": 16,
    "check_lengths": [128, 512],
    "check_repeat": 2,
    "check_tokens": 4,
    "chat_turns": 10,
    "chat_repeat": 1,
    "chat_tokens": 2,
    "render_repeat": 5,
    "render_calls": 100,
    "raw_repeat": 1,
    "raw_tokens": 2,
    "mem_calls": 100,
    "mem_tokens": 4,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- workers --------------------------------------------------------------------------------------


@dataclass
class Reply:
    """A worker's answer: ``result`` when ``ok``, else ``skip`` (a part is missing) or ``error``."""

    ok: bool
    result: Any = None
    skip: str | None = None
    error: str | None = None

    @property
    def problem(self) -> str:
        return self.skip or self.error or ""


class Worker:
    """One side's long-lived worker process (started lazily, one JSON request and reply per line)."""

    def __init__(self, side: str, python: Path, module: Path, env: dict[str, str], tag: str) -> None:
        self.side, self.python, self.module, self.env, self.tag = side, python, module, env, tag
        self.proc: subprocess.Popen[str] | None = None
        self.dead: str | None = None
        """Why the process cannot serve requests (it could not start or it exited)."""
        self.disabled: str | None = None
        """Why the current case skips this side (its setup failed); reset for every case."""
        self.log_path = LOGS / f"{tag}-{side}.log"

    def start(self) -> None:
        if not self.python.exists():
            self.dead = f"not available: {self.python} does not exist"
            return
        LOGS.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(self.python), str(HERE / "_worker.py"), str(self.module)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("w"),
            text=True,
            env=self.env,
            cwd=str(ROOT),
        )

    def send(self, op: str, **args: Any) -> bool:
        """Send a request; False when the worker is dead (then :meth:`recv` returns why)."""
        if self.proc is None and self.dead is None:
            self.start()
        if self.dead is not None or self.disabled is not None:
            return False
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.dead = f"{self.side} worker exited (see {self.log_path.relative_to(ROOT)}): {self._tail()}"
            return False
        return True

    def recv(self, op: str = "") -> Reply:
        """The reply to the request sent last."""
        if self.dead is not None or self.disabled is not None:
            return Reply(False, skip=self.dead or self.disabled)
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], OP_TIMEOUT)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.dead = f"{self.side} worker gave no answer to {op!r} within {OP_TIMEOUT} s and was stopped"
            return Reply(False, error=self.dead)
        line = self.proc.stdout.readline()
        if not line:
            self.dead = f"{self.side} worker exited (see {self.log_path.relative_to(ROOT)}): {self._tail()}"
            return Reply(False, error=self.dead)
        data = json.loads(line)
        if data.get("ok"):
            return Reply(True, result=data["result"])
        if data.get("skip"):
            return Reply(False, skip=data["skip"])
        return Reply(False, error=f"{op}: {data.get('error')}")

    def call(self, op: str, **args: Any) -> Reply:
        self.send(op, **args)
        return self.recv(op)

    def _tail(self) -> str:
        try:
            lines = [x for x in self.log_path.read_text().splitlines() if x.strip()]
            return lines[-1][:300] if lines else "no output"
        except OSError:
            return "no log"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# -- statistics and tables ---------------------------------------------------------------------------


@dataclass
class Stats:
    median: float
    q1: float
    q3: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, xs: list[float]) -> Stats | None:
        if not xs:
            return None
        if len(xs) >= 2:
            q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
        else:
            q1 = q3 = xs[0]
        return cls(statistics.median(xs), q1, q3, min(xs), max(xs), len(xs))


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    a = abs(s)
    if a >= 1:
        return f"{s:.2f} s"
    if a >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def ratio(a: Stats | None, b: Stats | None) -> float | None:
    """The ratio of two medians (``None`` unless both are positive)."""
    if a is None or b is None or a.median <= 0 or b.median <= 0:
        return None
    return a.median / b.median


@dataclass
class Row:
    label: str
    stats: Stats | None
    vs: str = ""
    note: str = ""
    fmt: Callable[[float | None], str] = fmt_time


def rows_against_first(
    variants: list[tuple[str, Any]], st: dict[str, Stats], problems: dict[str, str], label: str
) -> list[Row]:
    """One row per variant, each after the first with its ratio to the first (called ``label``)."""
    base = st[variants[0][0]]
    return [
        Row(name, st[name], f"{fmt_ratio(ratio(st[name], base))} of {label}" if i else "", problems.get(name, ""))
        for i, (name, _) in enumerate(variants)
    ]


def table(rows: list[Row]) -> str:
    out = ["| variant | median | IQR | min .. max | n | ratio | note |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        s, f = r.stats, r.fmt
        if s is None:
            out.append(f"| {r.label} | - | - | - | 0 | {r.vs} | {r.note} |")
        else:
            out.append(
                f"| {r.label} | {f(s.median)} | {f(s.q1)} .. {f(s.q3)} | {f(s.lo)} .. {f(s.hi)} | {s.n} "
                f"| {r.vs} | {r.note} |"
            )
    return "\n".join(out)


@dataclass
class CaseResult:
    name: str
    title: str
    what: str
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", self.what, ""]
        for s in self.sections:
            parts += [s, ""]
        parts += [f"- {n}" for n in self.notes]
        parts += ["", f"_Case time: {self.seconds:.0f} s._", ""]
        return "\n".join(parts)


def interleave(
    reps: int, variants: list[tuple[str, Callable[[], Reply]]]
) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Run every variant ``reps`` times, rotating the order each repetition; skip a variant after a failure."""
    results: dict[str, list[Any]] = {name: [] for name, _ in variants}
    problems: dict[str, str] = {}
    k = len(variants)
    for r in range(reps):
        order = variants[r % k :] + variants[: r % k] if k else []
        for name, fn in order:
            if name in problems:
                continue
            reply = fn()
            if reply.ok:
                results[name].append(reply.result)
            else:
                problems[name] = reply.problem
    return results, problems


def secs(results: list[Any], key: str = "seconds") -> list[float]:
    return [float(x[key]) for x in results]


# -- the harness ----------------------------------------------------------------------------------


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.p = dict(QUICK if args.quick else FULL)
        if args.repeat:
            for k in self.p:
                if k.endswith("repeat"):
                    self.p[k] = args.repeat
        self.threads = args.threads
        self.env = self._env()
        self.peer_problem: str | None = None
        self.model_dir: Path | None = None
        self.model_source = ""
        self.results: list[CaseResult] = []
        self.versions: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()
        self.setup_seconds = 0.0
        self.shared: tuple[Worker, Worker] | None = None
        complete = not args.quick and args.cases == CASES and not args.repeat
        self.output = Path(args.output) if args.output else RESULTS if complete else BENCH / "RESULTS-partial.md"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        n = str(self.args.threads)
        env.update(
            OMP_NUM_THREADS=n,
            MKL_NUM_THREADS=n,
            OPENBLAS_NUM_THREADS=n,
            BENCH_THREADS=n,
            TOKENIZERS_PARALLELISM="false",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            TRANSFORMERS_VERBOSITY="error",
            PYTHONWARNINGS="ignore",
            TQDM_DISABLE="1",
        )
        env.pop("PYTHONPATH", None)
        return env

    def workers(self, tag: str, fresh: bool = False) -> tuple[Worker, Worker]:
        """A gencomp and a peer worker for one case: new ones, or in ``--quick`` one shared pair (unless ``fresh``)."""
        if self.args.quick and not fresh:
            if self.shared is None:
                self.shared = self._new_workers("shared")
            pair = self.shared
        else:
            pair = self._new_workers(tag)
        for w in pair:
            w.disabled = None
        return pair

    def _new_workers(self, tag: str) -> tuple[Worker, Worker]:
        g = Worker("gencomp", GENCOMP_PY, HERE / "gencomp_side.py", self.env, tag)
        p = Worker("mellea", PEER_PY, HERE / "peer" / "mellea_side.py", self.env, tag)
        if self.peer_problem:
            p.dead = self.peer_problem
        return g, p

    def release(self, g: Worker, p: Worker) -> None:
        """Stop a case's workers (the shared pair stays up until the end of the run)."""
        if self.shared is not None and g is self.shared[0]:
            return
        g.close()
        p.close()

    @staticmethod
    def setup_both(res: CaseResult, workers: tuple[Worker, Worker], op: str, **args: Any) -> dict[str, Reply]:
        """Run an (untimed) setup operation on both workers at once; a side that fails is disabled for the case."""
        for w in workers:
            w.send(op, **args)
        replies = {w.side: w.recv(op) for w in workers}
        for w in workers:
            r = replies[w.side]
            if not r.ok:
                w.disabled = r.problem
                res.notes.append(f"{w.side}: {r.problem}")
        return replies

    # -- setup ----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Set up the peer's venv (in the background) while the model folders are located or built."""
        t0 = time.perf_counter()
        BENCH.mkdir(exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        log("setting up the peer venv in the background (.bench/mellea-venv; first run about 2 minutes)")
        with (LOGS / "setup_peer.log").open("w") as f:
            peer = subprocess.Popen([str(HERE / "setup_peer.sh")], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        if set(self.args.cases) & {"instruct", "checks", "chat", "raw_batch"}:
            log("locating the embedded default model")
            try:
                self.model_dir, self.model_source = assets.embedded_model_dir()
                log(f"model: {self.model_dir} ({self.model_source})")
            except Exception as exc:
                self.model_source = f"not available: no embedded model folder ({type(exc).__name__}: {exc})"
                log(self.model_source)
        if "memory" in self.args.cases:
            try:
                assets.tiny_model_dir()
            except ImportError as exc:
                log(f"tiny model not available yet: {exc}")
        rc = peer.wait()
        if rc != 0:
            self.peer_problem = f"not available: setup_peer.sh failed (exit {rc}, see .bench/logs/setup_peer.log)"
            log(self.peer_problem)
        self.setup_seconds = time.perf_counter() - t0

    def collect_versions(self) -> None:
        g, p = self.workers("versions")
        for w in (g, p):
            w.send("versions")
        for w in (g, p):
            r = w.recv("versions")
            self.versions[w.side] = r.result if r.ok else {"error": r.problem}
        self.release(g, p)

    # -- cases ----------------------------------------------------------------------------------

    def case_cold_start(self) -> CaseResult:
        res = CaseResult(
            "cold_start",
            "Cold start: import and plugin discovery (whole processes)",
            "Each command runs as a fresh process, timed from spawn to exit (after one unmeasured run "
            "that warms the file cache and writes bytecode). gencomp's commands load every installed "
            "plugin's entry point; the peer's import its package and its HF backend module.",
        )
        gencomp_cli = ROOT / ".venv" / "bin" / "gencomp"
        cmds: list[tuple[str, list[str]]] = [
            ("gencomp: python -c pass (interpreter only)", [str(GENCOMP_PY), "-c", "pass"]),
            (
                "gencomp: import gencomp; registry()",
                [str(GENCOMP_PY), "-c", "import gencomp; gencomp.plugins.registry()"],
            ),
            ("gencomp: `gencomp plugins --json`", [str(gencomp_cli), "plugins", "--json"]),
            ("mellea: python -c pass (interpreter only)", [str(PEER_PY), "-c", "pass"]),
            ("mellea: import mellea", [str(PEER_PY), "-c", "import mellea"]),
            (
                "mellea: import mellea + its HF backend",
                [str(PEER_PY), "-c", "import mellea; import mellea.backends.huggingface"],
            ),
            ("gencomp: import gencomp (no discovery)", [str(GENCOMP_PY), "-c", "import gencomp"]),
        ]
        outputs: dict[str, str] = {}

        def runner(name: str, cmd: list[str]) -> Callable[[], Reply]:
            def run() -> Reply:
                if name.startswith("mellea") and self.peer_problem:
                    return Reply(False, skip=self.peer_problem)
                if not Path(cmd[0]).exists():
                    return Reply(False, skip=f"not available: {cmd[0]} does not exist")
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=ROOT)
                elapsed = time.perf_counter() - t0
                if proc.returncode != 0:
                    return Reply(False, error=f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}")
                outputs[name] = proc.stdout
                return Reply(True, result={"seconds": elapsed})

            return run

        variants = [(name, runner(name, cmd)) for name, cmd in cmds]
        for _, fn in variants:
            fn()  # warm-up
        results, problems = interleave(self.p["cold_repeat"], variants)
        st = {name: Stats.of(secs(results[name])) for name, _ in variants}
        g_imp, g_cli = st[cmds[1][0]], st[cmds[2][0]]
        m_imp, m_hf = st[cmds[4][0]], st[cmds[5][0]]
        rows = []
        for name, _ in variants:
            vs = ""
            if name == cmds[4][0]:
                vs = f"{fmt_ratio(ratio(m_imp, g_imp))} of gencomp import+registry"
            if name == cmds[5][0]:
                vs = f"{fmt_ratio(ratio(m_hf, g_imp))} of gencomp import+registry"
            rows.append(Row(name, st[name], vs, problems.get(name, "")))
        res.sections.append(table(rows))
        bare, interp = st[cmds[6][0]], st[cmds[0][0]]
        if bare is not None and interp is not None:
            res.notes.append(
                f"`import gencomp` alone: best {fmt_time(bare.lo)}, median {fmt_time(bare.median)} "
                f"(bar: best under 100 ms on a quiet machine; the interpreter alone: best {fmt_time(interp.lo)})."
            )
        try:
            plugins = json.loads(outputs.get(cmds[2][0], "[]"))
            if isinstance(plugins, dict):
                plugins = plugins.get("plugins", [])
            loaded = [p.get("name") for p in plugins if p.get("status") == "loaded"]
            res.notes.append(
                f"`gencomp plugins --json` reported loaded plugins: {', '.join(map(str, loaded)) or 'none'}."
            )
        except (ValueError, AttributeError):
            res.notes.append("`gencomp plugins --json` output was not the expected JSON list.")
        r = ratio(m_hf, g_imp)
        if r is not None:
            res.headline.append(
                f"Cold start: gencomp import + plugin discovery {fmt_time(g_imp.median if g_imp else None)} vs "
                f"mellea import with its HF backend {fmt_time(m_hf.median if m_hf else None)} "
                f"(mellea takes {r:.1f}x as long)."
            )
        if g_cli is not None:
            res.notes.append(f"`gencomp plugins --json` as a whole process: {fmt_time(g_cli.median)} (median).")
        return res

    def case_instruct(self) -> CaseResult:
        n = self.p["instruct_tokens"]
        res = CaseResult(
            "instruct",
            "One `instruct` on the embedded model, against raw `model.generate`",
            f"`instruct({json.dumps('What is the capital of France?')})` on SmolLM2-135M-Instruct "
            f"({self.model_source}), "
            f"greedy, at most {n} new tokens, a fresh context each call (gencomp `loop_budget=1`, mellea "
            "`strategy=None`). Raw = `model.generate(input_ids=<the exact prompt ids that side used>, "
            "do_sample=False)` on a separate plain copy of the same model folder, in the same process. "
            "Overhead = instruct time minus raw time of the same repetition (paired), so each side is compared "
            "with raw transformers in its own venv; "
            "since that difference is noisy on a shared machine, each call also measures the time it spent inside "
            "`model.generate` (a timing wrapper on the model), and overhead outside it is instruct minus that. "
            "gencomp's backend cache is emptied (untimed) before each measured call, so the call cannot reuse "
            "the previous call's identical prompt; the last row shows the same call when it can.",
        )
        if self.model_dir is None:
            res.notes.append(self.model_source)
            return res
        g, p = self.workers("instruct")
        try:
            setup = self.setup_both(res, (g, p), "instruct_setup", model_dir=str(self.model_dir), max_new_tokens=n)
            threads = {s: r.result.get("torch_threads") for s, r in setup.items() if r.ok}
            res.notes.append(f"torch threads in the workers after loading the model: {threads}.")
            if setup["gencomp"].ok:
                loaded = setup["gencomp"].result.get("aloras") or []
                res.notes.append(
                    "gencomp's backend on this model had these aLoRA adapters loaded by plugins at creation: "
                    + (", ".join(loaded) if loaded else "none")
                    + "."
                )
            variants = [
                ("gencomp instruct", lambda: g.call("instruct_run", empty_cache=True)),
                ("raw generate (gencomp venv)", lambda: g.call("raw_instruct_run")),
                ("mellea instruct", lambda: p.call("instruct_run")),
                ("raw generate (mellea venv)", lambda: p.call("raw_instruct_run")),
                ("gencomp instruct, same prompt cached", lambda: g.call("instruct_run", empty_cache=False)),
            ]
            results, problems = interleave(self.p["instruct_repeat"], variants)
        finally:
            self.release(g, p)
        st = {name: Stats.of(secs(v)) for name, v in results.items()}
        over: dict[str, Stats | None] = {}
        for side, inst, raw in (
            ("gencomp", "gencomp instruct", "raw generate (gencomp venv)"),
            ("mellea", "mellea instruct", "raw generate (mellea venv)"),
        ):
            a, b = results.get(inst, []), results.get(raw, [])
            diffs = [x["seconds"] - y["seconds"] for x, y in zip(a, b, strict=False)]
            over[side] = Stats.of(diffs)
            if a and b:
                same = all(x["generated_ids"] == y["generated_ids"] for x, y in zip(a, b, strict=False))
                res.notes.append(
                    f"{side}: same tokens as raw generate on its prompt ids in every repetition: "
                    f"{'yes' if same else 'NO'} ({len(a[0]['generated_ids'])} new tokens, "
                    f"{len(a[0]['prompt_ids'])} prompt tokens; answer {a[0]['text']!r})."
                )
        ga, ma = results.get("gencomp instruct", []), results.get("mellea instruct", [])
        if ga and ma:
            res.notes.append(
                "gencomp and mellea: same prompt ids: "
                f"{'yes' if ga[0]['prompt_ids'] == ma[0]['prompt_ids'] else 'no'}; same generated ids: "
                f"{'yes' if ga[0]['generated_ids'] == ma[0]['generated_ids'] else 'no'}."
            )
        rows = [Row(name, st.get(name), note=problems.get(name, "")) for name, _ in variants]
        inside: dict[str, Stats | None] = {}
        for side in ("gencomp", "mellea"):
            xs = results.get(f"{side} instruct", [])
            inside[side] = Stats.of([x["seconds"] - x["generate_seconds"] for x in xs if "generate_seconds" in x])
        rows += [
            Row("gencomp overhead outside `model.generate` (same call)", inside["gencomp"]),
            Row(
                "mellea overhead outside `model.generate` (same call)",
                inside["mellea"],
                vs=f"{fmt_ratio(ratio(inside['mellea'], inside['gencomp']))} of gencomp's"
                if ratio(inside["mellea"], inside["gencomp"])
                else "",
            ),
            Row("gencomp overhead (instruct - raw, paired)", over["gencomp"]),
            Row(
                "mellea overhead (instruct - raw, paired)",
                over["mellea"],
                vs=f"{fmt_ratio(ratio(over['mellea'], over['gencomp']))} of gencomp's"
                if ratio(over["mellea"], over["gencomp"])
                else "",
            ),
        ]
        res.sections.append(table(rows))
        gi, mi, go, mo = inside["gencomp"], inside["mellea"], over["gencomp"], over["mellea"]
        if gi is not None:
            line = f"Instruct overhead (time outside `model.generate` in the same call): gencomp {fmt_time(gi.median)}"
            line += " (bar < 10 ms: " + ("met" if gi.median < 0.010 else "NOT met") + ")"
            if mi is not None:
                line += f", mellea {fmt_time(mi.median)}"
                line += " (gencomp smaller: " + ("yes" if gi.median < mi.median else "NO") + ")"
            if go is not None:
                line += f"; instruct minus a separate raw `generate`, paired: gencomp {fmt_time(go.median)}"
                line += f" (IQR {fmt_time(go.q1)} .. {fmt_time(go.q3)})"
                if mo is not None:
                    line += f", mellea {fmt_time(mo.median)} (IQR {fmt_time(mo.q1)} .. {fmt_time(mo.q3)})"
            res.headline.append(line + ".")
        return res

    def case_checks(self) -> CaseResult:
        lengths, n = self.p["check_lengths"], self.p["check_tokens"]
        res = CaseResult(
            "checks",
            "Requirement checks after an `instruct`, by conversation length",
            "An instruction with a grounding document sized so that the conversation (prompt + answer of at "
            f"most {n} tokens) is about 128 / 512 / 2048 tokens, then a requirement is validated on it. "
            "gencomp: a random non-zero PEFT aLoRA adapter (rank 8 on q/k/v, invoked by "
            "`<|im_start|>assistant\\n`) loaded as the aLoRA `bench-check` and checked with "
            "`ALoraRequirement(..., alora='bench-check')`, one forward pass per check; "
            "*cached* reuses the instruct call's KV cache, *recompute* checks a copy of the output with no "
            "cache entry (the same adapter computes the prefix). mellea: the same adapter files loaded as its "
            "`requirement-check` intrinsic from the local folder (an `IntrinsicAdapter` whose weights path is "
            "the folder, with an io.yaml config for a Y/N answer scored by its likelihood), so its aLoRA path "
            "runs. Full runs also time both sides' LLM-as-a-judge path (`LLMaJRequirement`, at most 4 new tokens; "
            "gencomp's judge call can reuse the conversation's cached prefix like any other generation). "
            "*prefill* is one plain forward pass of the whole conversation on the base model.",
        )
        if self.model_dir is None:
            res.notes.append(self.model_source)
            return res
        adapter = assets.alora_adapter_dir(self.model_dir.resolve(), "<|im_start|>assistant\n")
        g, p = self.workers("checks")
        table_rows: list[Row] = []
        summary: dict[int, dict[str, Stats | None]] = {}
        try:
            replies = self.setup_both(
                res,
                (g, p),
                "check_setup",
                model_dir=str(self.model_dir),
                adapter_dir=str(adapter),
                lengths=lengths,
                max_new_tokens=n,
            )
            for side, r in replies.items():
                if r.ok:
                    res.notes.append(
                        f"{side}: conversation tokens per target length: {r.result['conversation_tokens']}."
                    )
            for length in lengths:
                variants = [
                    ("gencomp aLoRA, cached", lambda L=length: g.call("check_run", length=L, mode="cached")),
                    ("gencomp aLoRA, recompute", lambda L=length: g.call("check_run", length=L, mode="recompute")),
                    ("gencomp aLoRA, 3 checks cached", lambda L=length: g.call("check_run", length=L, mode="cached3")),
                    ("base-model prefill of the conversation", lambda L=length: g.call("prefill_run", length=L)),
                    ("mellea aLoRA path", lambda L=length: p.call("check_run", length=L, mode="alora")),
                ]
                if not self.args.quick:
                    variants += [
                        ("gencomp LLM-as-a-judge", lambda L=length: g.call("check_run", length=L, mode="llmaj")),
                        ("mellea LLM-as-a-judge", lambda L=length: p.call("check_run", length=L, mode="llmaj")),
                    ]
                results, problems = interleave(self.p["check_repeat"], variants)
                st = {name: Stats.of(secs(v)) for name, v in results.items()}
                summary[length] = st
                cached = st["gencomp aLoRA, cached"]
                for name, _ in variants:
                    vs = ""
                    if name != "gencomp aLoRA, cached" and cached is not None and st[name] is not None:
                        vs = f"{fmt_ratio(ratio(st[name], cached))} of cached"
                    note = problems.get(name, "")
                    rs = results[name]
                    if rs and "path" in rs[0]:
                        note = note or f"path: {rs[0]['path']}"
                        if rs[0].get("reused_tokens") is not None:
                            note += f"; reused {rs[0]['reused_tokens']}, computed {rs[0]['computed_tokens']} tokens"
                    table_rows.append(Row(f"{length}: {name}", st[name], vs, note))
                gc, gr = results["gencomp aLoRA, cached"], results["gencomp aLoRA, recompute"]
                if gc and gr and gc[0].get("p_yes") is not None and gr[0].get("p_yes") is not None:
                    d = abs(gc[0]["p_yes"] - gr[0]["p_yes"])
                    res.notes.append(
                        f"{length}: |p_yes cached - p_yes recompute| = {d:.2e} (p_yes {gc[0]['p_yes']:.4f})."
                    )
                mp = results["mellea aLoRA path"]
                if mp:
                    res.notes.append(f"{length}: mellea's check output: {mp[0]['value']!r} (path: {mp[0]['path']}).")
        finally:
            self.release(g, p)
        res.sections.append(table(table_rows))
        bars = {512: 5.0, 2048: 20.0}
        for length, st in summary.items():
            c, r = st.get("gencomp aLoRA, cached"), st.get("gencomp aLoRA, recompute")
            x = ratio(r, c)
            if x is None:
                continue
            line = f"aLoRA check at {length} tokens: cache reuse {fmt_time(c.median)} vs recompute "
            line += f"{fmt_time(r.median)} ({x:.1f}x"
            if length in bars:
                line += f"; bar >= {bars[length]:.0f}x: {'met' if x >= bars[length] else 'NOT met'}"
            line += ")"
            m = ratio(st.get("mellea aLoRA path"), c)
            if m is not None:
                line += f"; mellea's aLoRA check takes {m:.1f}x gencomp's cached check"
            gj, mj = st.get("gencomp LLM-as-a-judge"), st.get("mellea LLM-as-a-judge")
            if gj is not None and mj is not None:
                line += f"; LLM-as-a-judge: gencomp {fmt_time(gj.median)} vs mellea {fmt_time(mj.median)}"
            three, pre = st.get("gencomp aLoRA, 3 checks cached"), st.get("base-model prefill of the conversation")
            if three is not None and pre is not None:
                line += f"; 3 cached checks = {three.median / pre.median:.2f} of one prefill"
            res.headline.append(line + ".")
        first, last = lengths[0], lengths[-1]
        c0, c1 = summary.get(first, {}).get("gencomp aLoRA, cached"), summary.get(last, {}).get("gencomp aLoRA, cached")
        if c0 is not None and c1 is not None:
            res.notes.append(
                f"Cached check time at {last} vs {first} tokens: {c1.median / c0.median:.2f}x (flat is 1)."
            )
        return res

    def case_chat(self) -> CaseResult:
        turns, n = self.p["chat_turns"], self.p["chat_tokens"]
        res = CaseResult(
            "chat",
            f"A {turns}-turn chat: latency per turn",
            f"`chat(...)` {turns} times in one session, each user turn about 45 tokens and each answer at most "
            f"{n} new tokens (greedy). gencomp with prefix reuse (the default: the next prompt extends the cached "
            "ids of the previous turn) and without (the same backend, its cache emptied, untimed, before each turn); "
            "mellea with its defaults. Medians per turn over the repetitions.",
        )
        if self.model_dir is None:
            res.notes.append(self.model_source)
            return res
        g, p = self.workers("chat")
        try:
            self.setup_both(res, (g, p), "chat_setup", model_dir=str(self.model_dir), max_new_tokens=n)
            variants = [
                ("gencomp, prefix reuse", lambda: g.call("chat_run", turns=turns, reuse=True)),
                ("gencomp, no reuse", lambda: g.call("chat_run", turns=turns, reuse=False)),
                ("mellea", lambda: p.call("chat_run", turns=turns)),
            ]
            results, problems = interleave(self.p["chat_repeat"], variants)
        finally:
            self.release(g, p)
        names = [v[0] for v in variants]
        per_turn = {
            name: [
                statistics.median(r["turn_seconds"][t] for r in results[name]) if results[name] else None
                for t in range(turns)
            ]
            for name in names
        }
        lines = ["| turn | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        for t in range(turns):
            lines.append(f"| {t + 1} | " + " | ".join(fmt_time(per_turn[name][t]) for name in names) + " |")
        ratios = {}
        for name in names:
            a, b = per_turn[name][-1], per_turn[name][1] if turns > 1 else None
            ratios[name] = a / b if a is not None and b else None
        lines.append("| turn 10 / turn 2 | " + " | ".join(fmt_ratio(ratios[name]) for name in names) + " |")
        res.sections.append("\n".join(lines))
        for name, prob in problems.items():
            res.notes.append(f"{name}: {prob}")
        a, b = results["gencomp, prefix reuse"], results["gencomp, no reuse"]
        if a and b:
            same = a[0]["texts"] == b[0]["texts"]
            res.notes.append(f"gencomp answers identical with and without prefix reuse: {'yes' if same else 'NO'}.")
            res.notes.append(f"gencomp reused prompt tokens per turn (with reuse): {a[0].get('reused_tokens')}.")
        r = ratios.get("gencomp, prefix reuse")
        if r is not None:
            verdict = "met" if r < 1.5 else "NOT met"
            line = f"Chat turn 10 / turn 2: gencomp with prefix reuse {r:.2f}x (bar < 1.5x: {verdict})"
            if ratios.get("gencomp, no reuse") is not None:
                line += f", without reuse {ratios['gencomp, no reuse']:.2f}x"
            if ratios.get("mellea") is not None:
                line += f", mellea {ratios['mellea']:.2f}x"
            res.headline.append(line + ".")
        return res

    def case_render(self) -> CaseResult:
        calls = self.p["render_calls"]
        model_id = "HuggingFaceTB/SmolLM2-135M-Instruct"
        res = CaseResult(
            "render",
            "Template rendering: an `Instruction` with five requirements and grounding context",
            f"`TemplateFormatter({model_id!r}).print(instruction)` with each side's own `Instruction` and "
            f"default templates; per-call time from batches of {calls} calls.",
        )
        g, p = self.workers("render")
        try:
            for side, r in self.setup_both(res, (g, p), "render_setup", model_id=model_id).items():
                if r.ok:
                    res.notes.append(f"{side}: rendered {r.result['chars']} characters.")
            variants = [
                ("gencomp, template cache on", lambda: g.call("render_run", calls=calls, cache=True)),
                ("gencomp, template cache off", lambda: g.call("render_run", calls=calls, cache=False)),
                ("mellea, template cache on", lambda: p.call("render_run", calls=calls, cache=True)),
                ("mellea, template cache off", lambda: p.call("render_run", calls=calls, cache=False)),
            ]
            results, problems = interleave(self.p["render_repeat"], variants)
        finally:
            self.release(g, p)
        st = {name: Stats.of(secs(v)) for name, v in results.items()}
        base = st["gencomp, template cache on"]
        rows = rows_against_first(variants, st, problems, "gencomp cached")
        res.sections.append(table(rows))
        x = ratio(st["mellea, template cache on"], base)
        if x is not None:
            res.headline.append(
                f"Rendering an Instruction (5 requirements + grounding), cache on: gencomp {fmt_time(base.median)} vs "
                f"mellea {fmt_time(st['mellea, template cache on'].median)}: {x:.1f}x faster "
                f"(bar >= 2x: {'met' if x >= 2 else 'NOT met'})."
            )
        return res

    def case_raw_batch(self) -> CaseResult:
        n = self.p["raw_tokens"]
        res = CaseResult(
            "raw_batch",
            "`_generate_from_raw`: 16 prompts in one batch vs 16 single calls",
            f"16 short completion prompts (no chat template), greedy, {n} new tokens each; batched = one call "
            "with all 16 (left-padded), single = 16 calls with one prompt each. Same for mellea's "
            "`_generate_from_raw`.",
        )
        if self.model_dir is None:
            res.notes.append(self.model_source)
            return res
        g, p = self.workers("raw")
        try:
            self.setup_both(res, (g, p), "raw_setup", model_dir=str(self.model_dir), max_new_tokens=n)
            variants = [
                ("gencomp, 1 batched call", lambda: g.call("raw_run", batched=True)),
                ("gencomp, 16 single calls", lambda: g.call("raw_run", batched=False)),
                ("mellea, 1 batched call", lambda: p.call("raw_run", batched=True)),
                ("mellea, 16 single calls", lambda: p.call("raw_run", batched=False)),
            ]
            results, problems = interleave(self.p["raw_repeat"], variants)
        finally:
            self.release(g, p)
        st = {name: Stats.of(secs(v)) for name, v in results.items()}
        base = st["gencomp, 1 batched call"]
        rows = rows_against_first(variants, st, problems, "gencomp batched")
        res.sections.append(table(rows))
        for side in ("gencomp", "mellea"):
            b, s = results[f"{side}, 1 batched call"], results[f"{side}, 16 single calls"]
            if b and s:
                same = sum(x == y for x, y in zip(b[0]["texts"], s[0]["texts"], strict=False))
                res.notes.append(f"{side}: batched outputs equal to single-call outputs for {same}/16 prompts.")
        x = ratio(st["gencomp, 16 single calls"], base)
        if x is not None:
            line = f"`_generate_from_raw` over 16 prompts: one batched call is {x:.1f}x faster than 16 single calls"
            m = ratio(st["mellea, 1 batched call"], base)
            if m is not None:
                line += f"; mellea's batched call takes {m:.2f}x gencomp's"
            res.headline.append(line + ".")
        return res

    def case_memory(self) -> CaseResult:
        calls, n = self.p["mem_calls"], self.p["mem_tokens"]
        res = CaseResult(
            "memory",
            f"Memory: resident set size over {calls} calls on a tiny model",
            f"A tiny random Llama chat model (`gencomp_hf_backend.testing.build_tiny_model`, saved once and "
            f"loaded by both sides from the same folder). Each call: `instruct` with at most {n} new tokens, then "
            "the session is reset; each side with its backend's default cache. RSS (VmRSS, after `gc.collect()`) "
            "after 10 warm-up calls and after each fifth of the calls; the two sides alternate chunks.",
        )
        try:
            tiny = assets.tiny_model_dir()
        except ImportError as exc:
            res.notes.append(f"not available yet: gencomp_hf_backend.testing.build_tiny_model ({exc})")
            return res
        g, p = self.workers("memory", fresh=True)
        chunks = 5
        curve: dict[str, list[float]] = {"gencomp": [], "mellea": []}
        per_call: dict[str, list[float]] = {"gencomp": [], "mellea": []}
        try:
            for side, r in self.setup_both(res, (g, p), "mem_setup", model_dir=str(tiny), max_new_tokens=n).items():
                if r.ok:
                    curve[side].append(r.result["rss_mb"])
            for i in range(chunks):
                for w in (g, p) if i % 2 == 0 else (p, g):
                    if w.dead or w.disabled:
                        continue
                    r = w.call("mem_run", calls=calls // chunks)
                    if not r.ok:
                        w.disabled = r.problem
                        res.notes.append(f"{w.side}: {r.problem}")
                        continue
                    curve[w.side].append(r.result["rss_after_mb"])
                    per_call[w.side].append(r.result["seconds"])
        finally:
            self.release(g, p)
        lines = [
            "| side | RSS after warm-up | "
            + " | ".join(f"after {calls * (i + 1) // chunks}" for i in range(chunks))
            + " | growth | time per call |",
            "|---|" + "---:|" * (chunks + 3),
        ]
        for side, pts in curve.items():
            if not pts:
                lines.append(f"| {side} | - |" + " - |" * (chunks + 2))
                continue
            cells = [f"{x:.0f} MB" for x in pts] + ["-"] * (chunks + 1 - len(pts))
            growth = f"{pts[-1] - pts[0]:+.1f} MB" if len(pts) > 1 else "-"
            tpc = fmt_time(statistics.median(per_call[side])) if per_call[side] else "-"
            lines.append(f"| {side} | " + " | ".join(cells) + f" | {growth} | {tpc} |")
        res.sections.append("\n".join(lines))
        gp, mp = curve["gencomp"], curve["mellea"]
        if len(gp) > 1:
            line = f"Memory over {calls} calls (tiny model): gencomp RSS {gp[0]:.0f} -> {gp[-1]:.0f} MB "
            line += f"({gp[-1] - gp[0]:+.1f} MB)"
            if len(mp) > 1:
                line += f", mellea {mp[0]:.0f} -> {mp[-1]:.0f} MB ({mp[-1] - mp[0]:+.1f} MB)"
            if per_call["gencomp"] and per_call["mellea"]:
                gt, mt = statistics.median(per_call["gencomp"]), statistics.median(per_call["mellea"])
                line += f"; time per call {fmt_time(gt)} vs {fmt_time(mt)}"
            res.headline.append(line + ".")
        return res

    # -- reporting ------------------------------------------------------------------------------

    def machine(self) -> dict[str, str]:
        cpu = platform.processor() or "unknown"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = ""
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        except OSError:
            pass
        load = ""
        if hasattr(os, "getloadavg"):
            load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        return {
            "cpu": cpu,
            "cores": str(os.cpu_count()),
            "memory": mem,
            "os": f"{platform.system()} {platform.release()}",
            "load": load,
        }

    def _write(self, text: str) -> None:
        """Write ``text`` to the output, keeping the sections other scripts wrote there.

        Those are the "Threads" section of ``threads.py`` and every ``<!-- name:start -->`` ...
        ``<!-- name:end -->`` block (``streaming.py`` and the others).
        """
        import threads

        old = self.output.read_text(encoding="utf-8") if self.output.is_file() else ""
        marked = re.compile(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", re.S)
        blocks = {m.group(1): m.group(0) for m in marked.finditer(old)}  # one per name
        # the threads section runs to the next "## " heading: without the blocks it cannot take them along
        kept = threads.split_section(marked.sub("", old))[1]
        text = threads.with_section(text, kept.rstrip() + "\n") if kept else text
        text = "\n\n".join([text.rstrip(), *blocks.values()]) + "\n" if blocks else text
        self.output.write_text(text, encoding="utf-8")

    def report(self, final: bool) -> str:
        m = self.machine()
        gv, pv = self.versions.get("gencomp", {}), self.versions.get("mellea", {})
        total = time.perf_counter() - self.started
        mode = "quick (`--quick`)" if self.args.quick else "full"
        lines = [
            "# Benchmark results",
            "",
            f"Generated by `benchmarks/run.py` ({mode}) on {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
            + ("" if final else " — partial, the run was still going"),
            "",
            f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; load average at the end "
            f"{m['load']} (other work was running: compare ratios, not absolute times).",
            f"- Threads: torch and OpenMP pinned to {self.threads} on both sides.",
            f"- Python {platform.python_version()}; gencomp venv: torch {gv.get('torch', '?')}, transformers "
            f"{gv.get('transformers', '?')}, peft {gv.get('peft', '?')}; gencomp {gv.get('gencomp', '?')} "
            f"(hf-backend {gv.get('gencomp-hf-backend', '?')}, template-formatter "
            f"{gv.get('gencomp-template-formatter', '?')}, alora {gv.get('gencomp-alora', '?')}).",
            f"- Peer: mellea {pv.get('mellea', '?')} in `.bench/mellea-venv`: torch {pv.get('torch', '?')}, "
            f"transformers {pv.get('transformers', '?')}, peft {pv.get('peft', '?')}"
            + (f" ({self.peer_problem})" if self.peer_problem else "")
            + ".",
            f"- Model: {self.model_dir} ({self.model_source})." if self.model_dir else "- Model: not used.",
            f"- Repetitions: {', '.join(f'{k}={v}' for k, v in self.p.items() if 'repeat' in k)}; the order of "
            "the variants rotates every repetition.",
            f"- Whole run: {total / 60:.1f} min (setup, peer venv and model folders included: "
            f"{self.setup_seconds:.0f} s).",
            "",
            "## Headline",
            "",
        ]
        heads = [h for r in self.results for h in r.headline]
        lines += [f"- {h}" for h in heads] or ["- (no case produced a headline)"]
        lines += ["", "## Cases", ""]
        lines += [r.markdown() for r in self.results]
        return "\n".join(lines) + "\n"

    def run(self) -> int:
        self.setup()
        self.collect_versions()
        for name in self.args.cases:
            log(f"case {name}")
            t0 = time.perf_counter()
            try:
                res = getattr(self, f"case_{name}")()
            except Exception as exc:  # one broken case must not lose the others
                import traceback

                traceback.print_exc()
                res = CaseResult(name, name, "", notes=[f"the case failed: {type(exc).__name__}: {exc}"])
            res.seconds = time.perf_counter() - t0
            self.results.append(res)
            print(res.markdown(), flush=True)
            self._write(self.report(final=False))
        if self.shared is not None:
            for w in self.shared:
                w.close()
        self._write(self.report(final=True))
        print("\n## Headline\n")
        for r in self.results:
            for h in r.headline:
                print(f"- {h}")
        log(f"done in {(time.perf_counter() - self.started) / 60:.1f} min; wrote {self.output}")
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer repetitions, fewer tokens, shorter lengths")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of: {', '.join(CASES)}")
    ap.add_argument("--repeat", type=int, default=0, help="repetitions per variant (overrides the mode's defaults)")
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads on both sides (default 1)")
    ap.add_argument(
        "--output",
        help="where to write the results (default: benchmarks/RESULTS.md for a full run of every case, "
        "else .bench/RESULTS-partial.md)",
    )
    args = ap.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; pick from {', '.join(CASES)}")
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    # This process builds model folders and adapters (assets.py): keep transformers quiet and offline.
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    if not GENCOMP_PY.exists():
        ap.error(f"{GENCOMP_PY} is missing: run `make bootstrap` first")
    return Harness(args).run()


if __name__ == "__main__":
    sys.exit(main())
