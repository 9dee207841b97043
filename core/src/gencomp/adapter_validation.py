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
- a text the recogniser does not take (what the default routing sends to ``"constraint"``) falls
  under the ``"unrecognised"`` measurements: semantic requirements and unrecognised wordings of
  verifiable kinds, all written by hand;
- an adapter without a ``"validation"`` section is unvalidated for everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KIND_FAMILIES", "Validation", "read_validation", "validation_for"]

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


@dataclass(frozen=True)
class Validation:
    """Whether a verdict is covered by a measurement, the accuracy measured, and a line saying so.

    ``accuracy`` is the lowest of the measurements that cover the text when there are several.
    """

    validated: bool
    accuracy: float | None
    text: str


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
        return Validation(True, acc, f"measured {_pct(acc)} on {family} worded by hand (n={measured['n']})")
    scopes = [s for s in validation.get("unrecognised", []) if isinstance(s, Mapping) and "accuracy" in s]
    if not scopes:
        return Validation(False, None, "unvalidated kind")
    parts = [f"{_pct(float(s['accuracy']))} on {s['name']} (n={s['n']})" for s in scopes]
    lowest = min(float(s["accuracy"]) for s in scopes)
    return Validation(True, lowest, "measured " + ", ".join(parts))
