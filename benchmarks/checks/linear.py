"""How the time of every code check grows with the length of the text, on degenerate texts.

For each built-in kind and each text pattern below, the check runs on the pattern repeated to 0.4,
0.8 and 1.6 million characters (best of 3 runs, the sizes interleaved); the table gives the time at
400,000 characters and how much the time grows when the text doubles, ``(t(1.6M) / t(400k)) ** 0.5``: 2 is linear, 4
quadratic. (Texts under a few hundred thousand characters still fit the processor's caches, and a
doubling there can look 3 to 4 times slower without being quadratic: ``include_keywords`` on ``[``
took 2.6 ms at 50,000 characters, 9.3 ms at 100,000, then 20.9, 41.3, 98 and 205 ms up to 1.6 million.)
Before this change, ``number_sentences`` on 40 KB of ``"A. "`` took 39 s and ``json_format`` on
``"[" * 5000 + "]" * 5000`` raised ``RecursionError``.

    .venv/bin/python benchmarks/checks/linear.py [--write]

``--write`` puts the table into ``benchmarks/checks/RESULTS.md``. No model is involved; one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import write_section  # noqa: E402

from gencomp import checks  # noqa: E402
from gencomp.checks import _evaluation  # noqa: E402

RESULTS = HERE / "RESULTS.md"
START = "<!-- linear.py: start -->"
END = "<!-- linear.py: end -->"
SIZES = (400_000, 800_000, 1_600_000)
PATTERNS = {
    "initials `A. `": "A. ",
    "brackets `[[[`": "[",
    "nested `[]`": None,  # "[" * n + "]" * n
    "asterisks": "*",
    "newlines": "\n",
    "`@a.`": "@a.",
    "digits `1-`": "1-",
    "prose": "The river, which runs past the mill, is about 3.5 km long. Is it? Dr. Smith said so!\n\n",
}
KINDS = {name: req for name, req in _evaluation.examples().items() if name in checks.BUILTIN_KINDS}


def text_of(pattern: str | None, n: int) -> str:
    if pattern is None:
        return "[" * (n // 2) + "]" * (n // 2)
    return (pattern * (n // len(pattern) + 1))[:n]


def best(fn, arg: str, repeat: int = 2) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    sentences = checks.code_check(checks.number_sentences(3))
    assert sentences is not None
    before_sentences = best(sentences.check_text, "A. " * (40_000 // 3), repeat=3)
    json_check = checks.code_check(checks.json_format())
    assert json_check is not None
    nested = json_check.check_text("[" * 5000 + "]" * 5000)
    growths: list[tuple[float, str, str]] = []
    for kind, req in KINDS.items():
        check = checks.code_check(req)
        assert check is not None
        cells = []
        for name, pattern in PATTERNS.items():
            texts = [text_of(pattern, n) for n in SIZES]
            times = [float("inf")] * len(SIZES)
            for _ in range(3):  # sizes interleaved, so that a busy moment does not fall on one size only
                times = [min(t, best(check.check_text, text, repeat=1)) for t, text in zip(times, texts, strict=True)]
            ratio = (times[-1] / max(times[0], 1e-6)) ** 0.5
            if times[0] > 0.005:
                growths.append((ratio, kind, name))
            cells.append(f"{times[0] * 1000:.1f} ms ({ratio:.1f}x)")
        rows.append(f"| `{kind}` | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    lines = [
        START,
        "## Every check is linear in the length of the text (`linear.py`)",
        "",
        "Time of each check on a degenerate text of 400,000 characters (best of 3, one core), and in brackets how",
        "much its time grows when the text doubles (from 0.4 to 1.6 million characters): 2 is linear, 4 would be",
        "quadratic (checks under 2 ms are noise). Before this change `number_sentences` on 40 KB of `A. ` took 39 s;",
        f"now {before_sentences:.2f} s. `json_format` on `[` * 5000 + `]` * 5000 raised `RecursionError` out of",
        f'`instruct`; now it fails with the reason "{nested.reason}".',
        "",
        "| kind | " + " | ".join(PATTERNS) + " |",
        "|---|" + "---:|" * len(PATTERNS),
        *rows,
        "",
        f"Growth per doubling of the {len(growths)} checks taking over 5 ms at 400,000 characters: median "
        f"{statistics.median(g for g, _, _ in growths):.1f}x, largest {max(growths)[0]:.1f}x (`{max(growths)[1]}` on "
        f"{max(growths)[2]}); "
        f"measured at a load average of {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, where the times of",
        "checks under a few milliseconds swing by several times.",
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(RESULTS, START, END, text)


if __name__ == "__main__":
    main()
