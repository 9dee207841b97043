"""Reading requirement-check examples from JSONL, with every bad line reported by its number.

A line is a JSON object with ``requirement`` (text), ``label`` (true/false, or ``"Y"``/``"N"``,
``"yes"``/``"no"``, 1/0) and the checked conversation: either ``instruction`` and ``response``
(texts), or ``messages`` (a list of ``{"role", "content"}`` ending with the assistant's turn; the
first user turn is the instruction). ``family`` (else ``type``) is optional (used for per-family accuracy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gencomp.errors import GencompError

__all__ = ["DataError", "Example", "load_examples"]

_TRUE = {"y", "yes", "true", "1", "pass"}
_FALSE = {"n", "no", "false", "0", "fail"}


class DataError(GencompError, ValueError):
    """A data file has bad lines; the message lists each with its line number."""


@dataclass(frozen=True)
class Example:
    """One requirement check: the conversation, the requirement, the expected verdict."""

    instruction: str
    response: str
    requirement: str
    label: bool
    family: str = ""
    line: int = 0


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"'label' must be true/false, Y/N, yes/no or 1/0, got {value!r}")


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _conversation(obj: dict[str, Any]) -> tuple[str, str]:
    if "messages" in obj:
        msgs = obj["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise ValueError("'messages' must be a list of {'role', 'content'} objects")
        users = [m.get("content") for m in msgs if m.get("role") == "user"]
        if not msgs or msgs[-1].get("role") != "assistant" or not users:
            raise ValueError("'messages' must hold a user turn and end with the assistant's turn")
        instruction, response = users[0], msgs[-1].get("content")
        if not isinstance(instruction, str) or not isinstance(response, str):
            raise ValueError("message contents must be strings")
        return instruction, response
    return _text(obj, "instruction"), _text(obj, "response")


def parse_line(text: str, line: int) -> Example:
    """One example from one JSONL line; raises ``ValueError`` saying what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("requirement", "label") if k not in obj]
    if "messages" not in obj:
        missing += [k for k in ("instruction", "response") if k not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(repr(k) for k in missing)}")
    instruction, response = _conversation(obj)
    family = obj.get("family") or obj.get("type", "")
    return Example(instruction, response, _text(obj, "requirement"), _label(obj["label"]), str(family or ""), line)


def load_examples(path: str | Path, *, max_errors: int = 20) -> list[Example]:
    """Read every example of a JSONL file; raises :class:`DataError` listing bad lines by number (blank lines skip)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {p}")
    examples: list[Example] = []
    errors: list[str] = []
    with p.open(encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                examples.append(parse_line(raw, number))
            except ValueError as exc:
                errors.append(f"{p}:{number}: {exc}")
    if errors:
        shown = "\n".join(errors[:max_errors])
        more = f"\n... and {len(errors) - max_errors} more bad lines" if len(errors) > max_errors else ""
        raise DataError(
            f"{len(errors)} bad line(s) in {p} (each line must be a JSON object with 'instruction', 'response', "
            f"'requirement', 'label'):\n{shown}{more}"
        )
    if not examples:
        raise DataError(f"{p} holds no examples")
    return examples
