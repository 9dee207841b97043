"""Accuracy of each way of checking a requirement, on hand-written checks, on the embedded default model.

``datasets/handwritten_checks/checks.jsonl``: 110 checks (requirement text, instruction, response,
correct label) written by hand, half verifiable and half semantic, each requirement once with a
response that meets it and once with one that does not. Every check runs through gencomp's real
validation path (``gencomp.session.validate_requirements`` on a context holding the instruction and
the response) on ``start_session()``'s default backend, three ways:

- ``default``: the plain string, as a user passes it: recognised kinds by code, the rest by the
  shipped ``constraint`` aLoRA (the default routing);
- ``alora``: ``ALoraRequirement(text)``, every check by the aLoRA;
- ``judge``: ``LLMaJRequirement(text)``, every check by the model as a judge (its real prompt and
  verdict reading);

and against ``majority`` (the most frequent label). Prints a markdown table; ``--json PATH`` keeps
every verdict.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/checks/paths.py [--json benchmarks/checks/paths.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "datasets" / "handwritten_checks" / "checks.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]

    import gencomp
    from gencomp import ALoraRequirement, Instruction, LinearContext, LLMaJRequirement, ModelOutputThunk
    from gencomp.components import as_requirement
    from gencomp.session import validate_requirements

    session = gencomp.start_session()
    ways = {
        "default": as_requirement,
        "alora": lambda t: ALoraRequirement(t),
        "judge": lambda t: LLMaJRequirement(t),
    }
    records = []
    for i, row in enumerate(rows):
        ctx = LinearContext()
        ctx.insert_turn(Instruction(row["instruction"]), ModelOutputThunk(row["response"]))
        record = {**row}
        for way, make in ways.items():
            (verdict,) = validate_requirements([make(row["requirement"])], session.backend, ctx)
            record[way] = verdict.result
            record[f"{way}_path"] = verdict.check_path
        records.append(record)
        print(i + 1, row["type"], row["label"], {w: record[w] for w in ways}, record["default_path"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")
    print(table(records, list(ways)))


def table(records: list[dict], ways: list[str]) -> str:
    """Accuracy in % per way, for each type of requirement and overall."""
    majority = Counter(r["label"] for r in records).most_common(1)[0][0]
    lines = [
        "| requirements | n | default path (code, else aLoRA) | aLoRA alone | judge alone | majority |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, subset in (
        ("verifiable", [r for r in records if r["type"] == "verifiable"]),
        ("semantic", [r for r in records if r["type"] == "semantic"]),
        ("**all**", records),
    ):
        n = len(subset)
        acc = [100 * sum(r[w] == r["label"] for r in subset) / n for w in ways]
        maj = 100 * sum(r["label"] == majority for r in subset) / n
        lines.append(f"| {name} | {n} | " + " | ".join(f"{a:.1f}" for a in acc) + f" | {maj:.1f} |")
    paths = Counter(str(r["default_path"]).split(":")[0] for r in records)
    lines.append("")
    lines.append("Default path taken: " + ", ".join(f"{k} {v}" for k, v in sorted(paths.items())) + ".")
    same = {w: sum(r[w] for r in records) for w in ways}
    lines.append(
        "Verdicts 'met' per way (of " + str(len(records)) + "): " + ", ".join(f"{k} {v}" for k, v in same.items()) + "."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
