"""What an aLoRA verdict rests on: the adapter's measured accuracy for the kind of requirement it checked.

In the core so that every backend that runs a requirement-check adapter (in process with
``gencomp-alora``, or on a server with ``gencomp-openai``) reports the same measurement; the
``gencomp_alora.validation`` module re-exports it. An adapter folder's ``gencomp_alora.json`` (or,
beside a GGUF file ``name.gguf``, ``name.gencomp_alora.json``) may hold a ``"validation"`` section,
written from measurements on requirements worded by hand (never the training templates)::

    "validation": {
      "families": {"all_capitals": {"accuracy": 0.8, "n": 19, "data": "..."}, ...},
      "unrecognised": [{"name": "semantic checks", "accuracy": 0.7, "n": 50, "data": "..."}, ...]
    }

:func:`validation_for` decides which measurement a requirement text falls under:

- a text that gencomp's recogniser reads as a verifiable kind (it reaches an adapter only as an
  explicit ``ALoraRequirement``) falls under the adapter family of that kind (:data:`KIND_FAMILIES`),
  when the adapter was measured on it; any other kind is an *unvalidated kind*;
- a text the recogniser does not take and that negates (:data:`NEGATION`: "don't", "never",
  "without", "skip"...) falls under the ``"negated"`` measurement, when there is one;
- a text the recogniser does not take and that names one everyday semantic family unambiguously
  (:data:`SEMANTIC_CUES`: "polite", "apologize", "greeting"...) falls under that family's
  measurement, when the adapter was measured on it;
- any other text the recogniser does not take (what the default routing sends to ``"constraint"``)
  falls under the ``"unrecognised"`` measurements: semantic requirements and unrecognised wordings
  of verifiable kinds, all written by hand;
- an adapter without a ``"validation"`` section is unvalidated for everything.

:func:`with_measured_state` turns that into the verdict's state: ``"uncertain"`` when no measurement
covers the text, when the measurement does not show the adapter beats chance on it
(:func:`min_accuracy`), when it is below the accuracy the adapter's decided verdicts must reach
(:func:`decided_target`, the section's ``"calibration"`` ``"target"``), or when ``p_yes`` lies within
the section's ``"uncertain_margin"`` of 0.5 (chosen from the adapter's calibration on hand-written
checks; see ``training/RESULTS.md``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gencomp.verdicts import CheckVerdict

__all__ = [
    "KIND_FAMILIES",
    "NEGATION",
    "SEMANTIC_CUES",
    "Validation",
    "decided_target",
    "min_accuracy",
    "read_validation",
    "semantic_family",
    "uncertain_margin",
    "validation_for",
    "with_measured_state",
]

KIND_FAMILIES: dict[str, str] = {
    "all_capitals": "all_capitals",
    "all_lowercase": "all_lowercase",
    "json_format": "valid_json",
    "contains_number": "contains_number",
    "include_keywords": "mentions_word",
    "forbidden_words": "avoids_word",
    "starts_with": "starts_with_word",
}
"""Recognised kinds (``gencomp.checks``) whose adapter family is the same requirement, whatever its parameters."""

SEMANTIC_CUES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "polite": r"\b(polite\w*|impolite|courteous\w*|respectful\w*|disrespectful|rude\w*|manners|insult\w*)\b",
        "greeting": r"\b(greet\w*|hello|say hi|salutation)\b",
        "apology": r"\b(apolog\w*|sorry|regret)\b",
        "tone": r"\b(tone|upbeat|cheerful|optimistic|pessimistic|enthusiastic|formal|informal|casual|laid-back)\b",
        "person": r"\b(first|second|third)[- ]person\b|\bperspective\b|\bpoint of view\b|\bI and me\b",
        "recommendation": r"\b(recommend\w*|suggest\w*)\b",
        "answers_question": r"\b((?:the|my|your|user's) question|off[- ]topic|on[- ]topic|what (?:I|was) asked)\b",
        "mentions_fact": r"\b(?:mention|mentions|state|states|say|says|note|notes|point out|points out) that\b",
    }.items()
}
"""The words that name an everyday semantic family in a requirement text (a text that names two is none)."""

NEGATION = re.compile(
    r"\b(don't|do not|does not|doesn't|never|avoid|without|skip|not allowed|should not|must not|shouldn't|mustn't|"
    r"leave out)\b|^\W*no\b(?!\s+(?:more|less|fewer)\s+than\b)",
    re.IGNORECASE,
)
"""A requirement that negates ("Don't apologise.", "Skip any greeting.", "No greeting, just the answer.",
"without I or you"): such texts rest on the adapter's measurement on negated requirements (``"negated"``)
when it has one."""


@dataclass(frozen=True)
class Validation:
    """Whether a verdict is covered by a measurement, the accuracy measured, and a line saying so.

    ``accuracy`` is the lowest of the measurements that cover the text when there are several,
    ``n`` the number of checks it was measured on.
    """

    validated: bool
    accuracy: float | None
    text: str
    n: int | None = None


def semantic_family(text: str) -> str | None:
    """The one everyday semantic family ``text`` names (:data:`SEMANTIC_CUES`), else ``None``."""
    named = [name for name, cue in SEMANTIC_CUES.items() if cue.search(text)]
    return named[0] if len(named) == 1 else None


def min_accuracy(n: int, z: float = 1.96) -> float:
    """The lowest accuracy on ``n`` checks whose Wilson interval (95% by default) lies wholly above 0.5.

    A measured accuracy below it does not show that the adapter beats a coin on that kind of requirement.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    for k in range(n + 1):
        p = k / n
        centre = p + z * z / (2 * n)
        spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        if (centre - spread) / (1 + z * z / n) > 0.5:
            return p
    return 1.0 + 1e-9  # no accuracy on so few checks shows it


def read_validation(folder: str | Path) -> dict[str, Any] | None:
    """The ``"validation"`` section of ``folder``'s ``gencomp_alora.json`` (``folder`` may also be that JSON
    file itself), or ``None`` (no file, no section)."""
    path = Path(folder)
    if not (path.suffix == ".json" and path.is_file()):
        path = path / "gencomp_alora.json"
    if not path.is_file():
        return None
    try:
        section = json.loads(path.read_text(encoding="utf-8")).get("validation")
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a JSON object ({exc}); rewrite it with `gencomp alora train`") from None
    return section if isinstance(section, dict) else None


def _pct(accuracy: float) -> str:
    return f"{100 * accuracy:.0f}%"


def validation_for(validation: Mapping[str, Any] | None, text: str) -> Validation:
    """The measurement an adapter's verdict on requirement ``text`` rests on (see the module docstring)."""
    if not validation:
        return Validation(False, None, "unvalidated: the adapter's metadata lists no measured accuracy")
    from gencomp.checks import recognised_kind

    kind = recognised_kind(text)
    if kind is not None:
        family = KIND_FAMILIES.get(kind)
        measured = validation.get("families", {}).get(family) if family else None
        if not measured:
            return Validation(False, None, f"unvalidated kind ({kind}; exact by code: use the plain text)")
        acc = float(measured["accuracy"])
        n = int(measured["n"])
        return Validation(True, acc, f"measured {_pct(acc)} on {family} worded by hand (n={n})", n)
    negated = validation.get("negated")
    if isinstance(negated, Mapping) and NEGATION.search(text):
        acc, n = float(negated["accuracy"]), int(negated["n"])
        return Validation(True, acc, f"measured {_pct(acc)} on negated requirements worded by hand (n={n})", n)
    semantic = semantic_family(text)
    measured = validation.get("families", {}).get(semantic) if semantic else None
    if measured:
        acc, n = float(measured["accuracy"]), int(measured["n"])
        return Validation(True, acc, f"measured {_pct(acc)} on {semantic} requirements worded by hand (n={n})", n)
    scopes = [s for s in validation.get("unrecognised", []) if isinstance(s, Mapping) and "accuracy" in s]
    if not scopes:
        return Validation(False, None, "unvalidated kind")
    parts = [f"{_pct(float(s['accuracy']))} on {s['name']} (n={s['n']})" for s in scopes]
    lowest = min(scopes, key=lambda s: float(s["accuracy"]))
    return Validation(True, float(lowest["accuracy"]), "measured " + ", ".join(parts), int(lowest["n"]))


def uncertain_margin(validation: Mapping[str, Any] | None) -> float:
    """The section's ``"uncertain_margin"``: a verdict whose p(yes) lies this close to 0.5 is uncertain (0: none)."""
    margin = float((validation or {}).get("uncertain_margin", 0.0))
    if not 0 <= margin <= 0.5:
        raise ValueError(f"'uncertain_margin' must be between 0 and 0.5, got {margin}")
    return margin


def decided_target(validation: Mapping[str, Any] | None) -> float | None:
    """The accuracy a decided verdict of the adapter must be measured at: the section's ``"calibration"``
    ``"target"`` (the same target chose its ``uncertain_margin``), or ``None`` when it has none.

    A verdict whose kind of requirement was measured below it is uncertain, whatever its p(yes).
    """
    calibration = (validation or {}).get("calibration")
    target = calibration.get("target") if isinstance(calibration, Mapping) else None
    if target is None:
        return None
    if not 0.5 <= float(target) <= 1:
        raise ValueError(f"'calibration.target' must be between 0.5 and 1, got {target}")
    return float(target)


def with_measured_state(
    verdict: CheckVerdict, validation: Mapping[str, Any] | None, measured: Validation
) -> CheckVerdict:
    """``verdict`` (which rests on ``measured``) with its state: ``"uncertain"`` when no measurement covers it,
    when the measurement does not show the adapter beats chance (:func:`min_accuracy`) or is below
    :func:`decided_target`, or when its p(yes) lies within :func:`uncertain_margin` of 0.5
    (``gencomp.verdicts.with_state``)."""
    from gencomp.verdicts import with_state

    floor = min_accuracy(measured.n) if measured.n else None
    return with_state(
        verdict, margin=uncertain_margin(validation), min_accuracy=floor, target=decided_target(validation)
    )
