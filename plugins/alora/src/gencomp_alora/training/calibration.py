"""How far a check's p(yes) can be trusted: expected calibration error, reliability bins, the uncertain margin.

A verdict path is calibrated when, among the checks it gives p(yes) near ``p``, a share ``p`` of the
requirements are really met. :func:`reliability` bins the checks by p(yes) and compares each bin's
mean p(yes) with the share met; :func:`expected_calibration_error` is the mean gap, weighted by the
bins' sizes. :func:`margin_curve` and :func:`choose_margin` give, for each margin around 0.5, the
accuracy and the share of the verdicts left *decided* (p(yes) at least that far from 0.5): the
margin a path publishes is the smallest one whose decided verdicts reach the target accuracy.
:func:`reliability_svg` draws the bins (no plotting library needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

__all__ = [
    "Bin",
    "MarginPoint",
    "choose_margin",
    "expected_calibration_error",
    "margin_curve",
    "reliability",
    "reliability_svg",
    "summary",
]


@dataclass(frozen=True)
class Bin:
    """Checks whose p(yes) lies in ``[low, high)`` (the last bin includes 1): how many, mean p(yes), share met."""

    low: float
    high: float
    n: int
    mean_p_yes: float | None
    share_met: float | None


@dataclass(frozen=True)
class MarginPoint:
    """With this ``margin``: the share of verdicts decided (p(yes) at least ``margin`` from 0.5) and their accuracy."""

    margin: float
    decided: int
    decided_share: float
    decided_accuracy: float | None


def _pairs(p_yes: Sequence[float], labels: Sequence[bool]) -> list[tuple[float, bool]]:
    if len(p_yes) != len(labels):
        raise ValueError(f"{len(p_yes)} p(yes) values for {len(labels)} labels")
    if not p_yes:
        raise ValueError("no checks to calibrate on")
    bad = [p for p in p_yes if not 0 <= p <= 1]
    if bad:
        raise ValueError(f"p(yes) must lie in [0, 1], got {bad[:3]}")
    return list(zip(p_yes, labels, strict=True))


def reliability(p_yes: Sequence[float], labels: Sequence[bool], bins: int = 10) -> list[Bin]:
    """``bins`` equal-width bins of p(yes) over [0, 1], each with its count, mean p(yes) and share of met labels."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    pairs = _pairs(p_yes, labels)
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, label in pairs:
        members[min(int(p * bins), bins - 1)].append((p, label))
    out = []
    for i, group in enumerate(members):
        n = len(group)
        out.append(
            Bin(
                i / bins,
                (i + 1) / bins,
                n,
                sum(p for p, _ in group) / n if n else None,
                sum(label for _, label in group) / n if n else None,
            )
        )
    return out


def expected_calibration_error(p_yes: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Mean |share met - mean p(yes)| over the :func:`reliability` bins, weighted by their sizes (0: calibrated)."""
    total = len(_pairs(p_yes, labels))
    return sum(
        b.n / total * abs(b.share_met - b.mean_p_yes)
        for b in reliability(p_yes, labels, bins)
        if b.n and b.share_met is not None and b.mean_p_yes is not None
    )


def margin_curve(p_yes: Sequence[float], labels: Sequence[bool], step: float = 0.05) -> list[MarginPoint]:
    """For margins 0, ``step``, ... up to 0.5: how many verdicts stay decided and how accurate they are."""
    pairs = _pairs(p_yes, labels)
    points = []
    for k in range(round(0.5 / step) + 1):
        margin = round(k * step, 6)
        kept = [(p, label) for p, label in pairs if abs(p - 0.5) >= margin - 1e-9]  # as gencomp.verdicts decides
        right = sum((p > 0.5) == label for p, label in kept)
        points.append(MarginPoint(margin, len(kept), len(kept) / len(pairs), right / len(kept) if kept else None))
    return points


def choose_margin(
    p_yes: Sequence[float], labels: Sequence[bool], *, target: float = 0.95, step: float = 0.05, min_decided: int = 20
) -> float:
    """The smallest margin whose decided verdicts (at least ``min_decided`` of them) are ``target`` accurate.

    0.5 when no margin reaches it: then every verdict of the path is uncertain.
    """
    for point in margin_curve(p_yes, labels, step):
        if point.decided >= min_decided and point.decided_accuracy is not None and point.decided_accuracy >= target:
            return point.margin
    return 0.5


def summary(p_yes: Sequence[float], labels: Sequence[bool], *, bins: int = 10, target: float = 0.95) -> dict[str, Any]:
    """Accuracy, ECE, reliability bins, the margin curve and the chosen margin, as plain JSON data."""
    pairs = _pairs(p_yes, labels)
    return {
        "n": len(pairs),
        "accuracy": sum((p > 0.5) == label for p, label in pairs) / len(pairs),
        "ece": expected_calibration_error(p_yes, labels, bins),
        "bins": [asdict(b) for b in reliability(p_yes, labels, bins)],
        "margin_curve": [asdict(m) for m in margin_curve(p_yes, labels)],
        "target": target,
        "margin": choose_margin(p_yes, labels, target=target),
    }


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def reliability_svg(series: Mapping[str, Sequence[Bin]], title: str, *, size: int = 420) -> str:
    """A reliability plot: share met against mean p(yes) per bin, one line per series, with the diagonal.

    Each point's area grows with its bin's count; the legend gives each series' name (put its ECE in it).
    """
    pad, legend = 50, 18 * len(series) + 10
    width, height = size + pad + 20, size + pad + 40 + legend
    x0, y0 = pad, 30 + size

    def x(v: float) -> float:
        return x0 + v * size

    def y(v: float) -> float:
        return y0 - v * size

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<rect x="{x0}" y="{y(1)}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" stroke-dasharray="4 4"/>',
    ]
    for k in range(11):
        v = k / 10
        parts.append(f'<line x1="{x(v)}" y1="{y0}" x2="{x(v)}" y2="{y0 + 4}" stroke="#666"/>')
        parts.append(f'<text x="{x(v)}" y="{y0 + 16}" text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<line x1="{x0 - 4}" y1="{y(v)}" x2="{x0}" y2="{y(v)}" stroke="#666"/>')
        parts.append(f'<text x="{x0 - 7}" y="{y(v) + 4}" text-anchor="end">{v:.1f}</text>')
    parts.append(f'<text x="{x(0.5)}" y="{y0 + 32}" text-anchor="middle">mean p(yes) in the bin</text>')
    parts.append(
        f'<text x="14" y="{y(0.5)}" text-anchor="middle" transform="rotate(-90 14 {y(0.5)})">'
        "share of checks whose requirement is met</text>"
    )
    for i, (name, bins) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [(b.mean_p_yes, b.share_met, b.n) for b in bins if b.n and b.mean_p_yes is not None]
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(p):.1f},{y(s or 0):.1f}" for j, (p, s, _) in enumerate(points))
        if path:
            parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for p, s, n in points:
            parts.append(
                f'<circle cx="{x(p):.1f}" cy="{y(s or 0):.1f}" r="{2 + min(n, 100) ** 0.5:.1f}" fill="{colour}" '
                f'fill-opacity="0.6"><title>{escape(name)}: n={n}, mean p(yes)={p:.2f}, met {s:.2f}</title></circle>'
            )
        ly = y0 + 48 + 18 * i
        parts.append(f'<rect x="{x0}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x0 + 18}" y="{ly + 1}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
