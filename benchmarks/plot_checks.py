"""Plot requirement-check time against conversation length from the published benchmark tables.

Reads the check rows of ``benchmarks/RESULTS.md`` (``run.py``: the HF backend with its KV cache
reused and recomputed, and mellea 0.8.0's aLoRA path) and of ``benchmarks/RESULTS-remote.md``
(``remote.py``: llama-server with its prompt cache reused and disabled), and writes
``benchmarks/check-time.svg`` (log-log axes, no plotting library needed). Rerun it after either
benchmark; the two tables come from different runs and models (float32 HF model with a random
bench adapter; the Q4_1 GGUF with the shipped adapter on the server), as the figure says.

    .venv/bin/python benchmarks/plot_checks.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from _common import line_chart_svg

HERE = Path(__file__).resolve().parent
SERIES = {
    "HF, KV cache reused": "#1f77b4",
    "HF, recomputed": "#aec7e8",
    "llama-server, prompt cache reused": "#2ca02c",
    "llama-server, cache off": "#98df8a",
    "mellea 0.8.0 aLoRA path": "#d62728",
}


def _seconds(text: str) -> float:
    value, unit = text.split()
    return float(value) / (1000 if unit == "ms" else 1)


def read_points() -> dict[str, list[tuple[float, float]]]:
    """``{series: [(conversation tokens, seconds), ...]}`` from the two results files."""
    points: dict[str, list[tuple[float, float]]] = {name: [] for name in SERIES}
    local = (HERE / "RESULTS.md").read_text(encoding="utf-8")
    rows = {
        "gencomp aLoRA, cached": "HF, KV cache reused",
        "gencomp aLoRA, recompute": "HF, recomputed",
        "mellea aLoRA path": "mellea 0.8.0 aLoRA path",
    }
    for n, label, time in re.findall(r"^\| (\d+): ([^|]+?) \| ([\d.]+ m?s) \|", local, re.M):
        if label in rows:
            points[rows[label]].append((float(n), _seconds(time)))
    remote = (HERE / "RESULTS-remote.md").read_text(encoding="utf-8")
    for n, cached, uncached in re.findall(r"^\| ~(\d+) tokens \| ([\d.]+) ms [^|]*\| \d+ \| ([\d.]+) ms", remote, re.M):
        points["llama-server, prompt cache reused"].append((float(n), float(cached) / 1000))
        points["llama-server, cache off"].append((float(n), float(uncached) / 1000))
    return {k: sorted(v) for k, v in points.items() if v}


def svg(points: dict[str, list[tuple[float, float]]]) -> str:
    return line_chart_svg(
        points,
        SERIES,
        title="Requirement check time vs conversation length (log-log)",
        x_label="conversation tokens",
        note="HF and mellea: RESULTS.md (float32, bench adapter); "
        "server: RESULTS-remote.md (Q4_1 GGUF, shipped adapter)",
        y_format=lambda y: f"{y:g} s" if y >= 1 else f"{y * 1000:g} ms",
    )


def main() -> int:
    points = read_points()
    if not points:
        print("no check rows found in benchmarks/RESULTS.md or RESULTS-remote.md", file=sys.stderr)
        return 1
    for name, pts in points.items():
        print(f"{name}: " + ", ".join(f"{x:g} tokens {y:.3g} s" for x, y in pts))
    (HERE / "check-time.svg").write_text(svg(points), encoding="utf-8")
    print("wrote benchmarks/check-time.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
