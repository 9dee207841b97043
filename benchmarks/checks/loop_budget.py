"""How much the instruct-validate-repair loop helps on the embedded default model, decided by code.

Runs ``instructions.jsonl`` (100 instructions, 1 to 3 plain-text verifiable requirements each; every
requirement text is recognised, so the code checks decide them) with ``loop_budget=3`` and greedy
decoding. Greedy decoding makes attempt 1 of that run the whole of a ``loop_budget=1`` run; the
first ``--verify`` instructions are also run with ``loop_budget=1`` to show it. A final answer
"meets its requirements" when every code check passes on it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/checks/loop_budget.py [--limit N] [--verify 5]

Writes ``benchmarks/checks/loop_budget.json`` (every attempt and verdict) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "instructions.jsonl"
OUT = HERE / "loop_budget.json"

TASKS = [
    "Describe {t}.",
    "Explain why {t} matters.",
    "Write a short note about {t}.",
    "Give advice about {t}.",
    "Tell me a fact about {t}.",
]
TOPICS = [
    "a river", "the moon", "coffee", "bicycles", "the ocean", "winter", "libraries", "bees", "volcanoes",
    "the internet", "bread", "trains", "mountains", "music", "gardening", "clouds", "chess", "the desert",
    "owls", "recycling",
]  # fmt: skip
# (group, text): at most one requirement per group, so that no two contradict each other.
REQUIREMENTS = [
    ("length", "Answer in fewer than 30 words."),
    ("length", "Answer in fewer than 15 words."),
    ("length", "Write at least 40 words."),
    ("length", "Answer in one sentence."),
    ("length", "Use at most 2 sentences."),
    ("case", "Use only lowercase letters."),
    ("case", "Answer in all capital letters."),
    ("comma", "Do not use any commas."),
    ("number", "Include a number."),
    ("end", "End your answer with a question."),
    ("start", "Start your answer with the word 'Yes'."),
    ("word", "Include the word 'water'."),
    ("word", "Include the word 'important'."),
    ("avoid", "Do not use the word 'the'."),
    ("avoid", "Do not use the word 'is'."),
    ("wrap", "Wrap your entire response in double quotation marks."),
    ("ps", "Add a postscript starting with P.S."),
    ("title", "Include a title wrapped in double angular brackets, such as <<title>>."),
    ("bullets", "Use exactly 3 bullet points."),
]


def build(n: int = 100, seed: int = 16) -> list[dict[str, object]]:
    """``n`` instructions, each with 1 to 3 requirements from different groups."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        task = TASKS[i % len(TASKS)].format(t=TOPICS[(i * 7) % len(TOPICS)])
        k = 1 + i % 3
        groups = rng.sample(sorted({g for g, _ in REQUIREMENTS}), k)
        reqs = [rng.choice([t for g2, t in REQUIREMENTS if g2 == g]) for g in groups]
        if "end" in groups and "wrap" in groups:  # a quoted answer cannot end with "?"
            reqs = [r for r in reqs if "quotation" not in r]
        rows.append({"instruction": task, "requirements": reqs})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--verify", type=int, default=5, help="instructions also run with loop_budget=1")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    if not DATA.exists():
        DATA.write_text("".join(json.dumps(r) + "\n" for r in build()), encoding="utf-8")
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()][: args.limit]

    import gencomp
    from gencomp import ModelOption, checks

    for row in rows:
        unknown = [r for r in row["requirements"] if checks.recognise(r) is None]
        assert not unknown, f"not recognised, so not decided by code: {unknown}"
    session = gencomp.start_session(
        model_options={ModelOption.MAX_NEW_TOKENS: args.max_new_tokens, ModelOption.TEMPERATURE: 0}
    )
    results, same_first = [], []
    start = time.perf_counter()
    for i, row in enumerate(rows):
        session.reset()
        run = session.instruct(
            row["instruction"], requirements=row["requirements"], loop_budget=3, return_sampling_results=True
        )
        attempts = [
            {"answer": out.value, "verdicts": [(v.result, v.reason, v.check_path) for _, v in checks_]}
            for out, checks_ in zip(run.sample_generations, run.sample_validations, strict=True)
        ]
        if i < args.verify:
            session.reset()
            one = session.instruct(
                row["instruction"], requirements=row["requirements"], loop_budget=1, return_sampling_results=True
            )
            same_first.append(one.result.value == run.sample_generations[0].value)
        results.append({**row, "attempts": attempts})
        ok1 = all(v[0] for v in attempts[0]["verdicts"])
        ok3 = all(v[0] for v in attempts[-1]["verdicts"])
        verdicts = f"budget1={'pass' if ok1 else 'FAIL'} budget3={'pass' if ok3 else 'FAIL'} attempts={len(attempts)}"
        print(f"{i + 1:3d}/{len(rows)} {verdicts} {time.perf_counter() - start:.0f}s", flush=True)
    OUT.write_text(
        json.dumps({"same_first_answer_with_budget_1": same_first, "results": results}, indent=1), encoding="utf-8"
    )
    print(table(results, same_first))


def table(results: list[dict], same_first: list[bool]) -> str:
    """The markdown summary of a run."""
    n = len(results)
    ok1 = sum(all(v[0] for v in r["attempts"][0]["verdicts"]) for r in results)
    ok3 = sum(all(v[0] for v in r["attempts"][-1]["verdicts"]) for r in results)
    req1 = sum(sum(v[0] for v in r["attempts"][0]["verdicts"]) for r in results)
    req3 = sum(sum(v[0] for v in r["attempts"][-1]["verdicts"]) for r in results)
    nreq = sum(len(r["requirements"]) for r in results)
    mean_attempts = sum(len(r["attempts"]) for r in results) / n
    lines = [
        "| loop budget | instructions whose final answer meets all its requirements | requirements met |",
        "|---:|---:|---:|",
        f"| 1 | {ok1} / {n} ({100 * ok1 / n:.0f}%) | {req1} / {nreq} ({100 * req1 / nreq:.0f}%) |",
        f"| 3 | {ok3} / {n} ({100 * ok3 / n:.0f}%) | {req3} / {nreq} ({100 * req3 / nreq:.0f}%) |",
        "",
        f"Mean attempts with budget 3: {mean_attempts:.2f}. Greedy decoding: the loop_budget=1 run gave the same "
        f"first answer as attempt 1 of the budget-3 run on {sum(same_first)} of {len(same_first)} instructions "
        "checked.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
