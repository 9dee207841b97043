"""The default checking path on everyday requirements, as users pass them: how often right, and when it says so.

``datasets/everyday_checks/<set>.jsonl``: sets of 101 requirements written by hand in everyday
wording, none in the adapter's training data (a test keeps them apart, and apart from each other),
each with one response that meets it and one that does not (202 checks): 50 of the eight everyday
families the shipped adapter was trained on (politeness, greetings, apologies, tone, person,
recommendations, answering the question asked, mentioning a given fact), 31 other semantic
requirements ("Explain why.", "Show empathy.", "Give directions."...) and 20 verifiable ones in
everyday wording ("Keep it under 25 words.", "Include a phone number."...). :data:`SETS` says how
each set was made, and so how far it is a clean measure. Each check is ``Session.validate`` with
the plain string, on a context holding the instruction and the response, on ``start_session()``
(the embedded model and its shipped adapter): recognised kinds by code, the rest by the aLoRA.
Reports accuracy, the share of verdicts reported decided and their accuracy, per set and group, per
path and per category; ``--json`` keeps every verdict, ``--write`` puts the tables into
``benchmarks/checks/RESULTS.md``. ``--adapter DIR`` runs the same with another adapter folder in the
place of the shipped one (for a before/after).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/checks/everyday.py [--set NAME]... [--json PATH] [--write]
        [--adapter DIR]
    .venv/bin/python benchmarks/checks/everyday.py --records PATH [--write]   # tables of a saved run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / "datasets" / "everyday_checks"
SETS = {
    "checks": "written with the adapter's everyday families; its author later read the adapter's failures on it "
    "before widening the training wording",
    "fresh": "written by a writer who saw neither the adapter's verdicts nor its training data; its verifiable "
    "texts the recogniser missed were then read while widening the recogniser, and its accuracy (not its "
    "texts) compared two epochs of the adapter trained since",
    "holdout": "written by another writer who saw neither the adapter's verdicts, its training data, the "
    "recogniser nor the other sets, and read by nobody: run once on each shipped adapter, the clean measure",
}
"""The sets (``DATA/<name>.jsonl``) and how each was made."""
RESULTS = HERE / "RESULTS.md"
START = "## Everyday requirements on the default path (`everyday.py`)"
END = "<!-- end everyday.py -->"

TRAINED = ("polite", "greeting", "apology", "tone", "person", "recommendation", "answers_question", "mentions_fact")
"""The categories of the set that are everyday families the shipped adapter was trained on."""


def group(row: dict[str, Any]) -> str:
    """``trained families``, ``other semantic`` or ``verifiable``."""
    if row["type"] == "verifiable":
        return "verifiable"
    return "trained families" if row["category"] in TRAINED else "other semantic"


def _session(adapter: str | None) -> Any:
    import gencomp

    session = gencomp.start_session()
    if adapter is None:
        return session
    from gencomp_alora import HFAlora
    from gencomp_alora.registry import registry
    from gencomp_alora.training.prompts import read_metadata

    meta = read_metadata(adapter)
    adapters = registry(session.backend)
    adapters.add(
        HFAlora(
            "compared", adapter, meta["generation_prompt"], session.backend, yes_text=meta["yes"], no_text=meta["no"]
        )
    )
    adapters.aloras["constraint"] = adapters.aloras.pop("compared")  # the default routing now reaches this one
    return session


def run(adapter: str | None, sets: list[str]) -> list[dict[str, Any]]:
    """Every check of ``sets`` through ``Session.validate`` with its plain string; one record per check."""
    from gencomp import Instruction, LinearContext, ModelOutputThunk, Session

    rows = [
        {**json.loads(line), "set": name}
        for name in sets
        for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    session = _session(adapter)
    records = []
    for i, row in enumerate(rows, 1):
        ctx = LinearContext()
        ctx.insert_turn(Instruction(row["instruction"]), ModelOutputThunk(row["response"]))
        start = time.perf_counter()
        (verdict,) = Session(session.backend, ctx).validate(row["requirement"])
        records.append(
            {
                **row,
                "group": group(row),
                "passed": verdict.result,
                "p_yes": verdict.score,
                "path": verdict.check_path,
                "state": verdict.state,
                "uncertain_reason": verdict.uncertain_reason,
                "validation": getattr(verdict.verdict, "validation", None),
                "seconds": time.perf_counter() - start,
            }
        )
        r = records[-1]
        print(f"{i:3d} {r['label']!s:5} {r['passed']!s:5} {r['state']:9} {r['path']:22} {r['requirement']}", flush=True)
    return records


def _cells(records: list[dict[str, Any]]) -> str:
    n = len(records)
    right = sum(r["passed"] == r["label"] for r in records)
    decided = [r for r in records if r["state"] == "decided"]
    d_right = sum(r["passed"] == r["label"] for r in decided)
    d_acc = f"{100 * d_right / len(decided):.1f}" if decided else "-"
    return f"{n} | {100 * right / n:.1f} | {len(decided)} ({100 * len(decided) / n:.0f}%) | {d_acc}"


def tables(records: list[dict[str, Any]]) -> str:
    """Markdown: accuracy and decided verdicts per group, per path, per category; pairs answered alike."""
    head = "| {} | checks | accuracy % | decided (share) | accuracy of decided % |\n|---|---:|---:|---:|---:|"
    lines = [head.format("set")]
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_set[r["set"]].append(r)
    for name, subset in by_set.items():
        for group_name in ("trained families", "other semantic", "verifiable"):
            part = [r for r in subset if r["group"] == group_name]
            lines.append(f"| `{name}.jsonl`, {group_name} | {_cells(part)} |")
        lines.append(f"| **`{name}.jsonl`** | {_cells(subset)} |")
    lines += ["", head.format("requirements (all sets)")]
    for name in ("trained families", "other semantic", "verifiable"):
        subset = [r for r in records if r["group"] == name]
        lines.append(f"| {name} | {_cells(subset)} |")
    lines.append(f"| **all** | {_cells(records)} |")
    lines += ["", head.format("decided by")]
    by_path: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_path["code" if str(r["path"]).startswith("code:") else str(r["path"])].append(r)
    lines += [f"| {name} | {_cells(subset)} |" for name, subset in sorted(by_path.items())]
    lines += ["", head.format("category")]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_category[r["category"]].append(r)
    lines += [f"| {name} | {_cells(subset)} |" for name, subset in sorted(by_category.items())]
    pairs: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in records:
        pairs[r["set"], r["requirement"]].append(r["passed"])
    alike = sum(len(set(v)) == 1 for v in pairs.values())
    met = Counter(r["passed"] for r in records)[True]
    lines += [
        "",
        f"Same verdict for the met and the unmet response: {alike} of {len(pairs)} requirements. "
        f"Verdicts 'met': {met} of {len(records)} (half the labels are met).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write every verdict to this file")
    parser.add_argument("--write", action="store_true", help="put the tables into benchmarks/checks/RESULTS.md")
    parser.add_argument("--adapter", help="an adapter folder to use in the place of the shipped one")
    parser.add_argument("--records", type=Path, help="tabulate the verdicts a run wrote with --json (no model runs)")
    parser.add_argument("--set", action="append", choices=sorted(SETS), help="only this set (repeatable; default all)")
    args = parser.parse_args()
    if args.adapter is not None and not (Path(args.adapter) / "adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter!r}: no adapter_config.json there")
    if args.records is not None and not args.records.is_file():
        parser.error(f"--records {str(args.records)!r}: no such file (write one with --json)")
    sets = args.set or list(SETS)
    records = json.loads(args.records.read_text(encoding="utf-8")) if args.records else run(args.adapter, sets)
    for r in records:
        r.setdefault("set", "checks")  # records written before there were several sets
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    text = tables(records)
    print(text)
    if args.write:
        sys.path.insert(0, str(HERE.parent))
        from _common import write_section

        adapter = f"the adapter in `{args.adapter}`" if args.adapter else "the shipped adapter"
        made = "; ".join(f"`{name}.jsonl` {SETS[name]}" for name in sets)
        intro = (
            f"`datasets/everyday_checks/`, {len(records)} checks ({len(records) // 2} requirements, each "
            "with a response that meets it and one that does not), none in the adapter's training data; each one "
            f"`Session.validate(text)` on `start_session()` with {adapter}, one torch thread. A verdict is "
            f"*decided* unless it says it is uncertain (`ValidationResult.state`). The sets: {made}."
        )
        section = f"{START}\n\n{intro}\n\n{text}\n\n{END}"
        write_section(RESULTS, START, END, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
