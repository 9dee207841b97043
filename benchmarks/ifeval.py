"""Inference-time strategies on IFEval: how much each makes the embedded model follow instructions, and at what cost.

Runs IFEval's prompts (``--data``: ``input_data.jsonl`` or its folder; the development half is in
``../shared/ifeval/``) on the embedded SmolLM2-135M-Instruct, on two sides:

- ``llama``: a real ``llama-server`` on the embedded GGUF with the shipped constraint aLoRA
  (``--parallel`` slots, at least the largest N of best-of-n), through gencomp's ``openai`` backend;
- ``hf``: in-process, gencomp's ``hf`` backend, torch pinned to one thread.

Each prompt's verifiable instructions are given as plain-text requirements, the way a user would
write them: IFEval's official description of each instruction (``ifeval_data.description``). The
prompt itself is sent as IFEval wrote it. Strategies (``--strategies``):

=====================  ==========================================================================
``none``               one plain generation: the same instruction (requirements shown in the prompt), greedy,
                       nothing checked
``repair``             gencomp's ``repair``, ``--budget`` attempts
``rejection``          gencomp's ``rejection`` (seeded sampling at temperature 0.7), ``--budget`` attempts
``best-of-4``/``-8``   gencomp's ``best-of-n`` with N = 4 / 8 (candidates at once)
``majority``           gencomp's ``majority``, N = ``--majority-n``
``enforce``            gencomp's ``enforce``: requirements with a grammar enforced while decoding, the rest
                       repaired, ``--budget`` attempts; the report adds how often the first attempt followed
                       the instructions whose kind has a grammar
``enforce-best-of-4``  gencomp's ``enforce-best-of-n``, N = 4: 4 enforced candidates at once, the best kept
``mellea-rejection``   mellea 0.8.0's ``RejectionSamplingStrategy``, ``--budget`` attempts (peer venv)
``mellea-majority``    mellea 0.8.0's ``MBRDRougeLStrategy`` (majority voting on text), N = ``--majority-n``
=====================  ==========================================================================

mellea runs in its own venv (``benchmarks/setup_peer.sh``) against the same ``llama-server``
through its OpenAI-compatible backend (side ``llama``), or in-process on the same model folder
(side ``hf``). Every variant has the same ``--max-new-tokens``.

Scoring is gencomp's code checks built from each instruction's id and kwargs
(``ifeval_data.score``), never from what the recogniser made of the description: prompt-level and
instruction-level strict accuracy. Cost per prompt: wall time of the call, generated tokens,
attempts. Results are appended per prompt to ``<out>/<run>/<side>/<variant>.jsonl`` (a rerun skips the
prompts already there; each session's settings, wall time and server counters go to ``sessions.jsonl``
beside them). Prompts run in a seeded random order (an interrupted run has done a random sample), every
variant on a prompt before the next prompt, in an order that rotates; one prompt at a time, or
``--concurrency K`` prompts at once (llama side only: each prompt in flight has its own backend, its own
mellea worker when a mellea variant runs, and its own llama-server with ``--parallel`` 8 slots;
llama-server batches only requests with the same adapter setting and serves generating slots first, so
on one server shared by several prompts an aLoRA check waits until no other prompt is generating, up to
its deadline). Under concurrency a call's wall time is not its latency: the report takes the wall-time
columns from the one-at-a-time run (``--run sample``). ``--report`` (or the end of a run) writes each
variant's responses in IFEval's response format (``<variant>.responses.jsonl``, for the official
``evaluation_main``), the tables of every run into ``benchmarks/RESULTS.md`` (between the ``ifeval``
markers) and the plot ``benchmarks/ifeval-accuracy-cost.svg``.

    .venv/bin/python benchmarks/ifeval.py --data ../shared/ifeval [--sides llama,hf] [--strategies ...]
        [--limit N | --sample N] [--max-new-tokens 192] [--budget 3] [--run NAME] [--concurrency K]
        [--server-threads T] [--report]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ifeval_data  # noqa: E402
from _common import scatter_svg, write_section  # noqa: E402

START, END = "<!-- ifeval:start -->", "<!-- ifeval:end -->"
OUT = HERE / "ifeval"
PLOT = HERE / "ifeval-accuracy-cost.svg"
BENCH_LOGS = HERE.parent / ".bench" / "logs"
SIDES = ("llama", "hf")
GENCOMP = ("none", "repair", "rejection", "best-of-4", "best-of-8", "majority", "enforce", "enforce-best-of-4")
PEER = ("mellea-rejection", "mellea-majority")
VARIANTS = GENCOMP + PEER
ORDER_SEED = 20
"""Prompts run in a seeded random order, so that the prompts done so far are a random sample."""
SLOT_CONTEXT = 2048
"""Context tokens of each llama-server slot (the longest prompt with its requirements and answer fits)."""
CONNECTIONS = 10
"""Connections of each backend: best-of-8's candidates and two more."""


def log(msg: str) -> None:
    print(f"[ifeval {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- running ----------------------------------------------------------------------------------------


def run_order(prompts: list[ifeval_data.Prompt]) -> list[ifeval_data.Prompt]:
    """The prompts in the seeded random order every run follows (an interrupted run has done a random sample)."""
    order = sorted(prompts, key=lambda p: p.key)
    random.Random(ORDER_SEED).shuffle(order)
    return order


def gencomp_call(session: Any, prompt: ifeval_data.Prompt, variant: str, budget: int, majority_n: int) -> Any:
    """One gencomp call of ``variant`` on ``prompt``; returns its ``SamplingResult``."""
    from gencomp import Instruction

    texts = ifeval_data.requirement_texts(prompt)
    if variant == "none":  # the instruction shows the requirements; the call checks none of them
        return session.act(Instruction(prompt.prompt, requirements=texts), loop_budget=1, return_sampling_results=True)
    strategy, n = {
        "repair": ("repair", budget),
        "rejection": ("rejection", budget),
        "best-of-4": ("best-of-n", 4),
        "best-of-8": ("best-of-n", 8),
        "majority": ("majority", majority_n),
        "enforce": ("enforce", budget),
        "enforce-best-of-4": ("enforce-best-of-n", 4),
    }[variant]
    return session.instruct(
        prompt.prompt, requirements=texts, strategy=strategy, loop_budget=n, return_sampling_results=True
    )


def gencomp_record(prompt: ifeval_data.Prompt, variant: str, result: Any, seconds: float) -> dict[str, Any]:
    """The result line of one gencomp call."""
    cost = result.cost
    first = result.attempts[0]
    paths: list[str] = []
    checked = next((a for a in result.attempts if a.verdicts is not None and a.early_stop is None), None)
    checked = checked or next((a for a in result.attempts if a.verdicts is not None), None)
    if checked is not None:
        for _, v in checked.verdicts:
            path = v.check_path or getattr(v.verdict, "path", None) or ("not run" if not v.ran else "?")
            paths.append(path)
    return {
        "key": prompt.key,
        "response": result.result.value or "",
        "seconds": seconds,
        "attempts": cost.attempts,
        "generated_tokens": cost.generated_tokens,
        "stopped_early": cost.stopped_early,
        "saved_tokens": cost.saved_tokens,
        "model_checks": cost.model_checks,
        "generation_seconds": cost.generation_seconds,
        "check_seconds": cost.check_seconds,
        "believed_passed": bool(result.success) if variant != "none" else None,
        "selected": result.selected.number if result.selected is not None else None,
        "selection": result.selection,
        "passing_attempts": sum(a.passed for a in result.attempts) if variant != "none" else None,
        "check_paths": paths,
        "finish_reason": (result.result.meta or {}).get("finish_reason"),
        "first_response": (first.output.value or "") if first.output is not None else "",
        "enforced": [bool(getattr(v, "enforced", False)) for _, v in first.verdicts or []],
        "first_stopped": first.early_stop.requirement.description if first.early_stop is not None else None,
    }


class Runner:
    """Runs the variants of one side on prompts, one call at a time, appending result lines."""

    def __init__(self, side: str, args: argparse.Namespace) -> None:
        self.side, self.args = side, args
        self.folder = args.out / args.run / side
        self.folder.mkdir(parents=True, exist_ok=True)
        self.backend: Any = None
        self.make_backend: Any = None
        self.thread_backends: list[Any] = []
        self.servers: list[Any] = []
        self.local = threading.local()
        self.lock = threading.Lock()
        self.peer: Any = None
        self.peers: list[Any] = []
        self.peer_error: str | None = None

    def done(self, variant: str) -> set[int]:
        path = self.folder / f"{variant}.jsonl"
        if not path.exists():
            return set()
        return {json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}

    def append(self, variant: str, record: dict[str, Any]) -> None:
        with self.lock, (self.folder / f"{variant}.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def thread_backend(self) -> Any:
        """This thread's backend: one per prompt in flight (its own connections and its own check lock,
        as separate client processes would have; gencomp's prefilled, pinned checks keep their verdicts)."""
        if self.args.concurrency == 1:
            return self.backend
        backend = getattr(self.local, "backend", None)
        if backend is None:
            backend = self.local.backend = self.make_backend()
            with self.lock:
                self.thread_backends.append(backend)
        return backend

    @contextmanager
    def started(self) -> Iterator[None]:
        """The side's backend (and llama-server), and mellea's worker when a peer variant runs."""
        from gencomp import ModelOption

        options = {ModelOption.MAX_NEW_TOKENS: self.args.max_new_tokens, ModelOption.TEMPERATURE: 0.0}
        try:
            if self.side == "llama":
                from gencomp_alora.training.hooks import shipped_adapter_dir
                from gencomp_hf_backend.default_model import ensure_default_model, gguf_path
                from gencomp_openai import OpenAIBackend
                from gencomp_openai.llama_cpp import LlamaServer, convert_alora

                alora = convert_alora(shipped_adapter_dir(), ensure_default_model(), name="constraint")
                BENCH_LOGS.mkdir(parents=True, exist_ok=True)

                def start(log_suffix: str, http_workers: int) -> Any:
                    """A llama-server of this run, started and listed in :attr:`servers` (stopped at the end)."""
                    started = LlamaServer(
                        Path(gguf_path()),
                        loras=[alora],
                        context=SLOT_CONTEXT * self.args.parallel,
                        parallel=self.args.parallel,
                        threads=self.args.server_threads,
                        extra_args=["--metrics", "--threads-http", str(http_workers)],
                        log_path=BENCH_LOGS / f"ifeval-llama-server-{self.args.run}{log_suffix}.log",
                    )
                    with self.lock:
                        self.servers.append(started)
                    started.start()
                    return started

                # each prompt in flight has its own backend, with at most CONNECTIONS connections
                server = start("", self.args.concurrency * CONNECTIONS + 4)
                self.base_url = server.base_url

                def make() -> Any:
                    own = server
                    if self.args.concurrency > 1:  # a server per prompt in flight (see the module docstring)
                        own = start(f"-{len(self.servers)}", CONNECTIONS + 4)
                    self.local.base_url = own.base_url
                    return OpenAIBackend(
                        base_url=own.base_url,
                        model_options={**options, ModelOption.SEED: 0},
                        max_connections=CONNECTIONS,
                    )

                self.make_backend = make
                self.backend = make()
            else:
                import gencomp

                self.backend = gencomp.start_session("hf", threads=1, model_options=options).backend
            yield
        finally:
            for peer in [self.peer, *self.peers]:
                if peer is not None:
                    peer.close()
            for backend in [self.backend, *self.thread_backends]:
                if backend is not None and hasattr(backend, "close"):
                    backend.close()
            for each in self.servers:
                each.stop()
            self.servers.clear()

    def peer_worker(self) -> Any:
        """mellea's worker in the peer venv for this side (``None``, with :attr:`peer_error`, if it cannot run);
        with ``--concurrency`` above 1, one per prompt in flight, on that prompt's server."""
        if self.peer_error is not None:
            return None
        if self.args.concurrency == 1:
            if self.peer is None:
                self.peer = self._start_peer(self.base_url)
            return self.peer
        worker = getattr(self.local, "peer", None)
        if worker is None:
            self.thread_backend()  # this thread's server
            worker = self.local.peer = self._start_peer(self.local.base_url)
            if worker is not None:
                with self.lock:
                    self.peers.append(worker)
        return worker

    def _start_peer(self, base_url: str | None) -> Any:
        from run import PEER_PY, Worker

        if not PEER_PY.exists():
            self.peer_error = f"the peer venv is missing ({PEER_PY}): run benchmarks/setup_peer.sh"
            return None
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BENCH_THREADS": "1"}
        worker = Worker("mellea", PEER_PY, HERE / "peer" / "mellea_ifeval.py", env, f"ifeval-{self.side}")
        if self.side == "llama":
            setup = {"base_url": base_url, "model_id": self.backend.model_id_str}
        else:
            from gencomp_hf_backend.default_model import ensure_default_model

            setup = {"model_dir": str(ensure_default_model())}
        reply = worker.call("setup", max_new_tokens=self.args.max_new_tokens, **setup)
        if not reply.ok:
            self.peer_error = f"mellea's worker could not start: {reply.problem}"
            worker.close()
            return None
        return worker

    def server_counters(self) -> dict[str, float]:
        """The llama-servers' own counters (``/metrics``), summed: tokens decoded and prompt tokens computed so far."""
        if self.side != "llama":
            return {}
        wanted = {"llamacpp:tokens_predicted_total": "server_decoded", "llamacpp:prompt_tokens_total": "server_prompt"}
        out: dict[str, float] = {}
        with self.lock:
            urls = [each.base_url for each in self.servers]
        for url in urls:
            try:
                with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics", timeout=30) as r:
                    text = r.read().decode()
            except OSError:  # a server that has stopped counts nothing more
                continue
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if name in wanted:
                    out[wanted[name]] = out.get(wanted[name], 0.0) + float(value)
        return out

    def run_one(self, prompt: ifeval_data.Prompt, variant: str) -> dict[str, Any] | None:
        if self.args.concurrency > 1:  # the server's counters would count the other prompts' calls too
            record = self._run_one(prompt, variant)
            if record is not None:
                record["concurrency"] = self.args.concurrency
            return record
        before = self.server_counters()
        record = self._run_one(prompt, variant)
        if record is not None:
            after = self.server_counters()
            record.update({k: int(after[k] - before[k]) for k in before if k in after})
        return record

    def _run_one(self, prompt: ifeval_data.Prompt, variant: str) -> dict[str, Any] | None:
        from gencomp import Session

        if variant in PEER:
            worker = self.peer_worker()
            if worker is None:
                return None
            strategy, n = (
                ("rejection", self.args.budget) if variant == "mellea-rejection" else ("mbrd", self.args.majority_n)
            )
            reply = worker.call(
                "run",
                prompt=prompt.prompt,
                requirements=ifeval_data.requirement_texts(prompt),
                strategy=strategy,
                budget=n,
            )
            if not reply.ok:
                return {"key": prompt.key, "response": "", "error": reply.problem, "seconds": None}
            return {"key": prompt.key, **reply.result}
        session = Session(self.thread_backend())
        start = time.perf_counter()
        try:
            result = gencomp_call(session, prompt, variant, self.args.budget, self.args.majority_n)
        except Exception as exc:  # recorded and counted as a failed prompt, never skipped
            return {
                "key": prompt.key,
                "response": "",
                "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start,
            }
        return gencomp_record(prompt, variant, result, time.perf_counter() - start)

    def run_prompt(self, n: int, total: int, prompt: ifeval_data.Prompt, variants: list[str], todo: dict) -> None:
        """Every variant still to run on ``prompt``, one after another, in an order that rotates with the key."""
        shift = prompt.key % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if prompt.key in todo[variant]:
                continue
            record = self.run_one(prompt, variant)
            if record is None:
                continue
            if record.get("response") is not None and not record.get("error"):
                record["followed"] = list(ifeval_data.score(prompt, record["response"]).followed)
            else:
                record["followed"] = [False] * len(prompt.instruction_id_list)
            self.append(variant, record)
            status = "ok" if all(record["followed"]) else "x"
            extra = f" ERROR {record['error'][:80]}" if record.get("error") else ""
            log(f"{self.side} {n}/{total} key={prompt.key} {variant}: {status} "
                f"{record.get('seconds') or 0:.1f}s{extra}")  # fmt: skip

    def run(self, prompts: list[ifeval_data.Prompt], variants: list[str]) -> None:
        todo = {v: self.done(v) for v in variants}
        pending = [p for p in run_order(prompts) if any(p.key not in todo[v] for v in variants)]
        log(f"{self.side}: {len(pending)} of {len(prompts)} prompts still to run for {', '.join(variants)}")
        if not pending:
            return
        with self.started():
            meta: dict[str, Any] = {
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "concurrency": self.args.concurrency,
                "parallel": self.args.parallel if self.side == "llama" else None,
                "servers": max(self.args.concurrency, 1) if self.side == "llama" else None,
                "server_threads": self.args.server_threads if self.side == "llama" else None,
                "max_new_tokens": self.args.max_new_tokens,
                "variants": variants,
                "load_start": os.getloadavg()[0],
            }
            with (self.folder / "sessions.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(meta) + "\n")  # the settings while it runs; a line with its totals at the end
            counters = self.server_counters()
            t0 = time.perf_counter()
            try:
                if self.args.concurrency == 1:
                    for i, prompt in enumerate(pending):
                        self.run_prompt(i + 1, len(pending), prompt, variants, todo)
                else:
                    with ThreadPoolExecutor(self.args.concurrency, thread_name_prefix="ifeval") as pool:
                        futures = [
                            pool.submit(self.run_prompt, i + 1, len(pending), p, variants, todo)
                            for i, p in enumerate(pending)
                        ]
                        for f in futures:
                            f.result()
            finally:
                after = self.server_counters()
                meta.update(
                    finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                    wall_seconds=round(time.perf_counter() - t0, 1),
                    load_end=os.getloadavg()[0],
                    **{k: int(after[k] - counters[k]) for k in counters if k in after},
                )
                with (self.folder / "sessions.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps(meta) + "\n")
                log(f"{self.side}: {len(pending)} prompts in {meta['wall_seconds']:.0f} s")
            if self.peer_error:
                log(f"mellea variants did not run: {self.peer_error}")


# -- reporting --------------------------------------------------------------------------------------


def read(folder: Path, variant: str) -> dict[int, dict[str, Any]]:
    path = folder / f"{variant}.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["key"]: r for r in rows}


def summarise(rows: list[dict[str, Any]], prompts: dict[int, ifeval_data.Prompt]) -> dict[str, Any]:
    """Accuracy and mean cost of one variant's result lines (re-scored from their responses)."""
    followed = [list(ifeval_data.score(prompts[r["key"]], r.get("response") or "").followed) for r in rows]
    for r, f in zip(rows, followed, strict=True):
        if r.get("error"):
            f[:] = [False] * len(f)
    n_instr = sum(len(f) for f in followed)
    paths = [p for r in rows for p in r.get("check_paths") or []]
    answered = [r for r in rows if not r.get("error")]  # a refused call generated nothing: 0 tokens
    tokens = [r["generated_tokens"] for r in answered if isinstance(r.get("generated_tokens"), int)]
    tokens += [0] * (len(rows) - len(answered))
    return {
        "n": len(rows),
        "passed": {r["key"] for r, f in zip(rows, followed, strict=True) if all(f)},
        "prompt": 100 * sum(all(f) for f in followed) / len(rows),
        "instruction": 100 * sum(sum(f) for f in followed) / n_instr,
        "seconds": statistics.mean(r["seconds"] for r in rows if r.get("seconds") is not None),
        "tokens": statistics.mean(tokens) if len(tokens) == len(rows) else None,
        "decoded": statistics.mean(r["server_decoded"] for r in rows)
        if all("server_decoded" in r for r in rows)
        else None,
        "attempts": statistics.mean(r.get("attempts") or 0 for r in rows),
        "stopped": sum(r.get("stopped_early") or 0 for r in rows),
        "saved": None
        if any(r.get("stopped_early") and r.get("saved_tokens") is None for r in rows)
        else sum(r.get("saved_tokens") or 0 for r in rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "contradictions": sum(1 for r in rows if (r.get("error") or "").startswith("ContradictoryRequirementsError")),
        "code_share": 100 * sum(p.startswith("code:") for p in paths) / len(paths) if paths else None,
        "believed": sum(1 for r in rows if r.get("believed_passed")),
        "enforceable_first": enforceable_first(rows, prompts),
        "pass_at_k": pass_at_k(rows),
    }


def pass_at_k(rows: list[dict[str, Any]]) -> list[float] | None:
    """The share of prompts, in %, on which at least one of k candidates meets every requirement by gencomp's
    checks, for k = 1..N, estimated from the N candidates of each call without bias (Chen et al. 2021,
    "Evaluating Large Language Models Trained on Code", eq. 1): ``1 - C(N - c, k) / C(N, k)`` for c passing.
    The most any rule that selects among k candidates can keep. ``None`` unless every call generated the
    same N candidates and recorded how many passed."""
    sizes = {r.get("attempts") for r in rows}
    if len(sizes) != 1 or any(r.get("passing_attempts") is None or r.get("error") for r in rows):
        return None
    (n,) = sizes
    return [
        100 * statistics.mean(1 - math.comb(n - r["passing_attempts"], k) / math.comb(n, k) for r in rows)
        for k in range(1, n + 1)
    ]


def enforceable_first(
    rows: list[dict[str, Any]], prompts: dict[int, ifeval_data.Prompt]
) -> tuple[int, int, int, int, int]:
    """Of the instructions whose whole check has a grammar (their check, built from IFEval's id and kwargs,
    planned alone by ``gencomp.constraints.plan``: enforced and exact), in first attempts that ran to their
    end: how many the first attempt followed, how many there were, how many of them the call enforced (from its
    verdicts) and how many of those it followed; and how many more were in first attempts another
    requirement's check stopped on a prefix (cut answers, not graded: the grammar holds for a whole answer)."""
    from gencomp import constraints

    followed = total = enforced = enforced_ok = stopped = 0
    for r in rows:
        if "first_response" not in r or r.get("error"):
            continue
        prompt = prompts[r["key"]]
        verdicts = ifeval_data.score(prompt, r["first_response"]).followed
        marks = r.get("enforced") or [False] * len(verdicts)
        for (iid, kw), ok, mark in zip(prompt.instructions, verdicts, marks, strict=False):
            check = ifeval_data.scoring_requirement(iid, kw)
            alone = constraints.plan([check], syntaxes={"lark", "gbnf"}, request=prompt.prompt).entries[0]
            if not (alone.enforced and alone.exact):  # a grammar that leaves part of the check to the check
                continue
            if r.get("first_stopped"):
                stopped += 1
                continue
            total += 1
            followed += ok
            enforced += mark
            enforced_ok += mark and ok
    return followed, total, enforced, enforced_ok, stopped


def official(folder: Path, variant: str, keys: list[int], common: list[int]) -> dict[str, float] | None:
    """The official scorer's accuracy on the ``common`` prompts, from the verdicts ``ifeval_official.py`` wrote
    for a variant's responses (one per prompt of ``keys``, in that order), or ``None`` when it has not graded
    the responses file as it is now."""
    path = folder / f"{variant}.official.json"
    if not path.exists():
        return None
    graded = json.loads(path.read_text(encoding="utf-8"))
    responses = folder / f"{variant}.responses.jsonl"
    if graded.get("responses_sha256") != hashlib.sha256(responses.read_bytes()).hexdigest():
        return None  # graded before some responses were added or rerun: grade again
    followed = graded["followed"]
    by_key = dict(zip(keys, followed, strict=True))
    rows = [by_key[k] for k in common]
    return {
        "prompt": 100 * sum(all(f) for f in rows) / len(rows),
        "instruction": 100 * sum(sum(f) for f in rows) / sum(len(f) for f in rows),
    }


def sessions(folder: Path) -> list[dict[str, Any]]:
    """The run sessions recorded in a results folder (settings, wall time, the server's counters)."""
    path = folder / "sessions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _sessions_text(meta: list[dict[str, Any]], side: str) -> str:
    """What the sessions of a run were: when, how many prompts at a time, on what servers, which variants, the load."""
    merged: dict[str, dict[str, Any]] = {}
    for m in meta:  # a session writes a line when it starts and one when it ends
        merged.setdefault(m["started"], {}).update(m)
    parts = []
    for m in merged.values():
        c = m.get("concurrency", 1)
        text = f"{m['started'][:16]} UTC, {c} prompt{'s' if c > 1 else ''} at a time"
        if side == "llama" and m.get("parallel"):
            servers = m.get("servers") or 1
            each = f"{servers} llama-servers (one per prompt in flight), each" if servers > 1 else "one llama-server"
            text += f" on {each} `--parallel {m['parallel']} --threads {m['server_threads']}`"
        text += f", {len(m['variants'])} variants" if len(m["variants"]) > 2 else f", {' and '.join(m['variants'])}"
        if "load_end" in m:
            load = f"{m['load_start']:.1f}-{m['load_end']:.1f}"
        else:
            load = f"{m['load_start']:.1f} at the start" if "load_start" in m else "not recorded"
        if "wall_seconds" in m:
            took = f", {m['wall_seconds'] / 60:.0f} min"
        else:  # a line written by hand for a stopped session may say when it ended
            took = (
                f", stopped at {m['finished'][11:16]} UTC"
                if "finished" in m
                else ", no end recorded (stopped, or running)"
            )
        decoded = f", {m['server_decoded']:,} tokens decoded by the servers" if m.get("server_decoded") else ""
        parts.append(f"{text}{took}{decoded}, load average {load}")
    return f"{len(parts)} session{'s' if len(parts) > 1 else ''}: " + "; ".join(parts)


def block(
    run: str, side: str, folder: Path, prompts: list[ifeval_data.Prompt], timing: dict[str, float] | None
) -> tuple[str, dict[str, dict[str, Any]]] | None:
    """The table of one run on one side, and each variant's summary (``None`` when it has no results)."""
    by_key = {p.key: p for p in prompts}
    results = {v: read(folder, v) for v in VARIANTS}
    results = {v: r for v, r in results.items() if r}
    if not results:
        return None
    common = sorted(set.intersection(*(set(r) for r in results.values())) & set(by_key))
    if not common:
        return None
    for v, r in results.items():  # responses in IFEval's format, every prompt the variant ran
        ifeval_data.write_responses(
            folder / f"{v}.responses.jsonl", [(by_key[k].prompt, r[k].get("response") or "") for k in sorted(r)]
        )
    stats = {v: summarise([r[k] for k in common], by_key) for v, r in results.items()}
    base = stats.get("none")
    meta = sessions(folder)
    concurrency = max(
        [m.get("concurrency", 1) for m in meta]
        + [row.get("concurrency", 1) for r in results.values() for row in r.values()]
    )
    first = {p.key for p in run_order(prompts)[: len(common)]}
    if len(common) == len(prompts):
        sample = "the whole development half"
    elif set(common) == first:
        sample = f"of {len(prompts)}: the first {len(common)} of the seeded run order, a random sample"
    else:
        sample = f"of {len(prompts)}"
    name = "llama-server" if side == "llama" else "in-process HF backend"
    head = (
        f"**{name}, run `{run}`** ({len(common)} prompts {sample}; "
        f"{sum(len(by_key[k].instruction_id_list) for k in common)} instructions; run by every variant"
    )
    if meta:
        head += f"; {_sessions_text(meta, side)}"
    head += ")."
    if concurrency > 1:
        head += (
            " With several prompts in flight at once, a call's wall time is not its latency: the wall-time columns "
            "(in brackets) are the one-at-a-time run's (`sample`) on its prompts, the rest is this run's. Tokens "
            "per prompt here are the answers' tokens as gencomp counts them."
        )
    else:
        per_prompt = sum(s["seconds"] for s in stats.values())
        head += (
            f" All variants together took {per_prompt / 60:.1f} min per prompt here, one prompt at a time, "
            "every variant of a prompt before the next prompt, in an order that rotates."
        )
    lines = [
        head,
        "",
        "| variant | prompt-level strict | instruction-level strict | gain over plain, points (prompts won / lost) "
        "| wall time / prompt | x plain | tokens / prompt | attempts / prompt | stopped early (tokens saved) | "
        "requirements decided by code | official scorer (prompt / instr.) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v, s in stats.items():
        gain = ""
        if base and v != "none":  # with the prompts it won and lost against plain generation: paired, same prompts
            won, lost = len(s["passed"] - base["passed"]), len(base["passed"] - s["passed"])
            gain = f"{s['prompt'] - base['prompt']:+.1f} (+{won} / -{lost})"
        if concurrency > 1:
            sec = (timing or {}).get(v)
            wall = f"({sec:.2f} s)" if sec is not None else "-"
            ratio = f"({sec / timing['none']:.2f})" if sec is not None and timing and "none" in timing else "-"
        else:
            wall = f"{s['seconds']:.2f} s"
            ratio = f"{s['seconds'] / base['seconds']:.2f}" if base else ""
        off = official(folder, v, sorted(results[v]), common)
        count = s["decoded"] if s["decoded"] is not None else s["tokens"]
        tokens = "" if count is None else f"{count:.0f}"
        code = "" if s["code_share"] is None else f"{s['code_share']:.0f}%"
        graded = f"{off['prompt']:.1f}% / {off['instruction']:.1f}%" if off else ""
        errors = f" ({s['errors']} calls failed)" if s["errors"] else ""
        saved = "not counted" if s["saved"] is None else s["saved"]
        lines.append(
            f"| {v}{errors} | {s['prompt']:.1f}% | {s['instruction']:.1f}% | {gain} | {wall} | "
            f"{ratio} | {tokens} | {s['attempts']:.2f} | {s['stopped']} ({saved}) | {code} | {graded} |"
        )
    for v, s in stats.items():
        curve = s["pass_at_k"]
        if v.startswith("best-of") and curve:
            kept = 100 * s["believed"] / s["n"]
            lines.append(
                f"\n`{v}`: of its {len(curve)} candidates per prompt, the share of prompts on which at least one of k "
                "met every requirement by gencomp's checks (pass@k, estimated from all candidates without bias): "
                + ", ".join(f"k = {k}: {p:.1f}%" for k, p in enumerate(curve, 1))
                + f". No rule that selects among {len(curve)} of these candidates keeps a passing answer on more "
                f"prompts; `best-of-n` kept one on {kept:.1f}% (by the same checks)."
            )
    for v, s in stats.items():
        ok, total, enforced, enforced_ok, stopped = s["enforceable_first"]
        if v.startswith("enforce") and total:
            cut = (
                f" {stopped} more were in first attempts that another requirement's check stopped on a prefix "
                "(cut answers, not counted)."
                if stopped
                else ""
            )
            lines.append(
                f"\n`{v}`: of the {total} instructions whose whole check has a grammar, in first attempts that ran "
                f"to their end, the first attempt followed {ok} ({100 * ok / total:.1f}%); {enforced} were enforced, "
                f"and the first attempt followed {enforced_ok} of those (the others were not enforced: the recogniser "
                "did not read the text as that kind, or the grammars of one prompt could not be combined, or the "
                f"prompt's instructions contradict each other: see the verdicts' enforcement notes).{cut}"
            )
            if s["contradictions"]:
                lines[-1] += (
                    f" {s['contradictions']} prompt{'s were' if s['contradictions'] > 1 else ' was'} refused before "
                    f"generation: no answer can follow all of {'their' if s['contradictions'] > 1 else 'its'} "
                    "instructions (`ContradictoryRequirementsError`, "
                    "counted as failed prompts, their instructions not counted here)."
                )
    return "\n".join(lines), stats


def report(args: argparse.Namespace, prompts: list[ifeval_data.Prompt]) -> str:
    """The RESULTS.md section of every run under ``args.out`` (and the plot); writes the responses files."""
    sections = []
    points: dict[str, list[tuple[float, float, str]]] = {}
    names: dict[str, str] = {}
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    runs = sorted((d.name for d in args.out.iterdir() if d.is_dir()), key=lambda r: (r != "sample", r))
    timing: dict[str, dict[str, float]] = {}  # side -> variant -> one-at-a-time wall time per prompt
    for run in runs:
        for side in SIDES:
            folder = args.out / run / side
            if not folder.is_dir():
                continue
            concurrent = any(
                row.get("concurrency", 1) > 1 for v in VARIANTS for row in read(folder, v).values()
            ) or any(m.get("concurrency", 1) > 1 for m in sessions(folder))
            made = block(run, side, folder, prompts, timing.get(side) if concurrent else None)
            if made is None:
                continue
            text, stats = made
            sections.append(text)
            if not concurrent:
                timing.setdefault(side, {v: s["seconds"] for v, s in stats.items()})
            series = f"{run}-{side}"
            names[series] = f"{'llama-server' if side == 'llama' else 'HF'}, {run} ({stats[next(iter(stats))]['n']})"
            for v, s in stats.items():
                x = timing.get(side, {}).get(v) if concurrent else s["seconds"]
                if x is not None:
                    points.setdefault(series, []).append((x, s["prompt"], v))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    table = "\n".join(
        [
            START,
            f"### Strategies on IFEval (development half, embedded SmolLM2-135M; {when})",
            "",
            f"Written by `benchmarks/ifeval.py`. Requirements: each instruction's official IFEval description; "
            f"`--max-new-tokens {args.max_new_tokens}`; repair and rejection (both sides) {args.budget} attempts, "
            f"majority {args.majority_n} samples; sampling at temperature 0.7. Scored by gencomp's code checks from "
            "each instruction's id and kwargs. Wall time per prompt is the whole call (generation and checks). "
            '"Requirements decided by code" is the share of the requirement texts the '
            "recogniser turned into code checks (the rest went to the model's aLoRA). mellea validates plain-text "
            "requirements with the model as a judge. Tokens: in a one-at-a-time run on llama-server the server's "
            "own count (`/metrics`: every answer token, whole or stopped early, and every token a check generated: "
            "one per aLoRA verdict, a whole answer per mellea judge call); otherwise the answers' tokens as gencomp "
            "counts them. The machine's 2 cores were shared with other jobs (load averages given per run); the "
            "variants of a prompt ran back to back, so their wall times compare with each other, not with another "
            "day's.",
            "",
            *(s + "\n" for s in sections),
            END,
        ]
    )
    if points:
        PLOT.write_text(
            scatter_svg(
                points,
                {k: palette[i % len(palette)] for i, k in enumerate(points)},
                names,
                title="IFEval prompt-level strict accuracy against cost (embedded SmolLM2-135M)",
                x_label="wall time per prompt, one prompt at a time (s, log scale)",
                y_label="prompt-level strict accuracy (%)",
                note=f"max_new_tokens {args.max_new_tokens}; {when}",
            ),
            encoding="utf-8",
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="IFEval's input_data.jsonl or its folder")
    parser.add_argument("--sides", default="llama", help="comma-separated: llama, hf")
    parser.add_argument("--strategies", default=",".join(VARIANTS), help="comma-separated variants")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument(
        "--sample", type=int, default=None, help="a random sample: the first N prompts of the seeded run order"
    )
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--budget", type=int, default=3, help="attempts of repair and rejection (both sides)")
    parser.add_argument("--majority-n", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1, help="prompts in flight at once (llama side only)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=8,
        help="each llama-server's slots (a server per prompt in flight; at least 8)",
    )
    parser.add_argument("--server-threads", type=int, default=1, help="llama-server's --threads")
    parser.add_argument("--out", type=Path, default=OUT, help="results folder (a subfolder per run)")
    parser.add_argument("--run", default="sample", help="the run's name: its results go to OUT/RUN/SIDE/")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--report", action="store_true", help="only write the table, responses and plot")
    args = parser.parse_args()

    prompts = ifeval_data.load(args.data)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    variants = [v.strip() for v in args.strategies.split(",") if v.strip()]
    bad = [s for s in sides if s not in SIDES] + [v for v in variants if v not in VARIANTS]
    if bad:
        parser.error(f"unknown side or strategy {bad}; sides: {', '.join(SIDES)}; strategies: {', '.join(VARIANTS)}")
    for name in ("max_new_tokens", "budget", "majority_n", "parallel", "concurrency", "server_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.parallel < 8 and "best-of-8" in variants and "llama" in sides:
        parser.error("--parallel must be at least 8 for best-of-8 (each candidate gets its own slot)")
    if args.concurrency > 1 and "hf" in sides:
        parser.error("--concurrency above 1 runs only on the llama side (the HF backend runs on one thread)")
    if "/" in args.run or args.run in ("", ".", ".."):
        parser.error(f"--run {args.run!r}: give a plain folder name")
    chosen = prompts
    if args.sample is not None:
        chosen = run_order(prompts)[: args.sample]
    if args.limit is not None:
        chosen = chosen[: args.limit]
    if not args.report:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        for side in sides:
            Runner(side, args).run(chosen, variants)
    table = report(args, prompts)
    print(table)
    write_section(args.results, START, END, table)
    log(f"wrote {args.results} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
