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

import math
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERIES = {
    "HF, KV cache reused": "#1f77b4",
    "HF, recomputed": "#aec7e8",
    "llama-server, prompt cache reused": "#2ca02c",
    "llama-server, cache off": "#98df8a",
    "mellea 0.8.0 aLoRA path": "#d62728",
}
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 440, 70, 250, 40, 50


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
    xs = [x for pts in points.values() for x, _ in pts]
    ys = [y for pts in points.values() for _, y in pts]
    x0, x1 = math.log2(min(xs)) - 0.2, math.log2(max(xs)) + 0.2
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))

    def px(x: float) -> float:
        return LEFT + (math.log2(x) - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def py(y: float) -> float:
        return H - BOTTOM - (math.log10(y) - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">']
    out.append(f'<rect width="{W}" height="{H}" fill="white"/>')
    out.append(f'<text x="{LEFT}" y="22" font-size="14">Requirement check time vs conversation length (log-log)</text>')
    for e in range(y0, y1 + 1):
        y = py(10.0**e)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{10.0**e:g} s" if e >= 0 else f"{10.0**e * 1000:g} ms"
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{x:g}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">conversation tokens</text>')
    axes = f"M{LEFT},{TOP} V{H - BOTTOM} H{W - RIGHT}"
    out.append(f'<path d="{axes}" fill="none" stroke="black"/>')
    for i, (name, pts) in enumerate(points.items()):
        color = SERIES[name]
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/>' for x, y in pts]
        ly = TOP + 10 + 20 * i
        key = f'x1="{W - RIGHT + 15}" x2="{W - RIGHT + 40}" y1="{ly}" y2="{ly}"'
        out.append(f'<line {key} stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W - RIGHT + 46}" y="{ly + 4}">{name}</text>')
    note = "HF and mellea: RESULTS.md (float32, bench adapter); server: RESULTS-remote.md (Q4_1 GGUF, shipped adapter)"
    out.append(f'<text x="{LEFT}" y="{TOP - 4}" font-size="10" fill="#555">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


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
