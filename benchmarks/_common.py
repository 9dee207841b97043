"""Helpers shared by the benchmark workers of both sides (stdlib only: it runs in both venvs)."""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Skip(Exception):
    """Raised by a side operation that cannot run here; the message says what is missing."""


def threads() -> int:
    """The thread count the harness pinned for this run."""
    return int(os.environ.get("BENCH_THREADS", "1"))


def torch_pinned() -> Any:
    """Import torch with its intra-op threads pinned to the harness's count."""
    import torch

    n = threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch


def rss_mb() -> float:
    """This process's resident set size in MiB (after a garbage collection)."""
    gc.collect()
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, result)."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


FILLER = (
    "The river town kept its old stone bridge, a market on Thursdays, and a library that opened late in "
    "summer. Farmers brought apples, cheese and bread; children ran along the quay while boats waited for "
    "the tide. In the evening the bells of the church rang seven times and the lamps were lit one by one. "
)
"""Neutral text used to grow a conversation to a target number of tokens."""


def filler_text(tokenizer: Any, n_tokens: int) -> str:
    """Filler text of about ``n_tokens`` tokens for ``tokenizer`` (whole words, never more)."""
    if n_tokens <= 0:
        return ""
    words = (FILLER * (n_tokens // 20 + 4)).split()
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(tokenizer.encode(" ".join(words[:mid]), add_special_tokens=False)) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


PROMPT = "What is the capital of France?"
"""The question of the instruct case (greedy answer of the embedded model: 'The capital of France is Paris.')."""

REQUIREMENTS = [
    "The answer is written in English.",
    "The answer is at most three sentences long.",
    "The answer names the town's market day.",
    "The answer does not use bullet points.",
    "The answer mentions the stone bridge.",
]
"""Five requirements for the rendering case; the first is the one checked in the requirement-check case."""

GROUNDING = {
    "town": FILLER,
    "notes": "The library opens at ten. The bridge was rebuilt in 1820 after a flood.",
}
"""Grounding context of the rendering case."""

CHAT_TURN = (
    "Here is a note about the town: the market opens on Thursdays, the bridge is old and made of stone, and the "
    "library stays open late in summer. Add one short remark about it."
)
"""The user message of every turn of the chat case."""

RAW_PROMPTS = [f"Item {i}: the river town has {i + 2} bridges and" for i in range(16)]
"""The 16 prompts of the raw-generation case."""


def write_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) into the results file ``path``.

    It replaces the file's block between the same markers, or is appended; the rest of the file stays.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def streaming_table(runs: dict[str, list[Any]], ours: str, bare: str) -> tuple[list[str], float, bool]:
    """Compare streamed runs: each run is (first-chunk seconds, whole-answer seconds, chunks, text, ...).

    Returns the markdown table (header and one row of medians per variant of ``runs``), gencomp's
    overhead per chunk over the bare stream in seconds (median of the paired differences of ``ours``
    and ``bare``, run by run) and whether both streamed the same texts.
    """

    def med(name: str, i: int) -> float:
        return float(statistics.median(run[i] for run in runs[name]))

    rows = [
        "| variant | first chunk | whole answer | first / whole | chunks |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {med(name, 0) * 1000:.0f} ms | {med(name, 1) * 1000:.0f} ms | "
            f"{med(name, 0) / med(name, 1):.3f} | {med(name, 2):.0f} |"
            for name in runs
        ),
    ]
    overhead = statistics.median((g[1] - b[1]) / max(1, g[2]) for g, b in zip(runs[ours], runs[bare], strict=True))
    same = {run[3] for run in runs[ours]} == {run[3] for run in runs[bare]}
    return rows, overhead, same


def line_chart_svg(
    points: dict[str, list[tuple[float, float]]],
    colors: dict[str, str],
    *,
    title: str,
    x_label: str,
    note: str = "",
    y_log: bool = True,
    y_format: Callable[[float], str] = lambda y: f"{y:g}",
) -> str:
    """An SVG line chart (no plotting library): one line per series, a log2 x axis, log10 or linear y."""
    w, h, left, right, top, bottom = 760, 440, 70, 290, 40, 50
    xs = [x for pts in points.values() for x, _ in pts]
    ys = [y for pts in points.values() for _, y in pts]
    x0, x1 = math.log2(min(xs)) - 0.2, math.log2(max(xs)) + 0.2
    if y_log:
        y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
        ticks = [10.0**e for e in range(y0, y1 + 1)]
    else:
        step = 10 ** math.floor(math.log10(max(ys) / 2))
        step *= 2 if max(ys) / step > 10 else 1
        ticks = [i * step for i in range(int(max(ys) / step) + 2)]
        y0, y1 = 0, ticks[-1]

    def px(x: float) -> float:
        return left + (math.log2(x) - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        v = math.log10(y) if y_log else y
        return h - bottom - (v - y0) / (y1 - y0) * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">']
    out.append(f'<rect width="{w}" height="{h}" fill="white"/>')
    out.append(f'<text x="{left}" y="22" font-size="14">{title}</text>')
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{y_format(t)}</text>')
    last = -math.inf
    for x in sorted(set(xs)):  # close values (512 and 522 tokens) get one label
        if px(x) - last >= 30:
            out.append(f'<text x="{px(x):.1f}" y="{h - bottom + 18}" text-anchor="middle">{x:g}</text>')
            last = px(x)
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">{x_label}</text>')
    out.append(f'<path d="M{left},{top} V{h - bottom} H{w - right}" fill="none" stroke="black"/>')
    for i, (name, pts) in enumerate(points.items()):
        color = colors[name]
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/>' for x, y in pts]
        ly = top + 10 + 20 * i
        key = f'x1="{w - right + 15}" x2="{w - right + 40}" y1="{ly}" y2="{ly}"'
        out.append(f'<line {key} stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{w - right + 46}" y="{ly + 4}">{name}</text>')
    if note:
        out.append(f'<text x="{left}" y="{top - 4}" font-size="10" fill="#555">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def scatter_svg(
    points: dict[str, list[tuple[float, float, str]]],
    colors: dict[str, str],
    names: dict[str, str],
    *,
    title: str,
    x_label: str,
    y_label: str,
    note: str = "",
) -> str:
    """An SVG scatter plot (no plotting library): labelled points ``(x, y, label)`` per series; log10 x, linear y."""
    w, h, left, right, top, bottom = 760, 460, 70, 170, 40, 50
    xs = [x for pts in points.values() for x, _, _ in pts]
    ys = [y for pts in points.values() for _, y, _ in pts]
    x0, x1 = math.floor(math.log10(min(xs)) * 4) / 4, math.ceil(math.log10(max(xs)) * 4) / 4
    if x1 - x0 < 0.5:
        x0, x1 = x0 - 0.25, x1 + 0.25
    step = 5 if max(ys) <= 40 else 10
    y1 = step * (math.floor(max(ys) / step) + 1)

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - y / y1 * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">']
    out.append(f'<rect width="{w}" height="{h}" fill="white"/>')
    out.append(f'<text x="{left}" y="22" font-size="14">{title}</text>')
    for i in range(int(y1 / step) + 1):
        y = py(i * step)
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{i * step:g}</text>')
    ticks = [m * 10.0**e for e in range(math.floor(x0), math.ceil(x1) + 1) for m in (1, 2, 5)]
    for t in ticks:
        if x0 <= math.log10(t) <= x1:
            out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{h - bottom}" stroke="#eee"/>')
            out.append(f'<text x="{px(t):.1f}" y="{h - bottom + 18}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">{x_label}</text>')
    mid = (top + h - bottom) / 2
    out.append(f'<text x="16" y="{mid}" text-anchor="middle" transform="rotate(-90 16 {mid})">{y_label}</text>')
    out.append(f'<path d="M{left},{top} V{h - bottom} H{w - right}" fill="none" stroke="black"/>')
    for i, (series, pts) in enumerate(points.items()):
        color = colors[series]
        for x, y, label in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}"/>')
            out.append(f'<text x="{px(x) + 6:.1f}" y="{py(y) - 5:.1f}" font-size="10" fill="{color}">{label}</text>')
        ly = top + 10 + 20 * i
        out.append(f'<circle cx="{w - right + 25}" cy="{ly}" r="4" fill="{color}"/>')
        out.append(f'<text x="{w - right + 35}" y="{ly + 4}">{names.get(series, series)}</text>')
    if note:
        out.append(f'<text x="{left}" y="{top - 4}" font-size="10" fill="#555">{note}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
