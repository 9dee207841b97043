"""Precision and per-kind recall of the plain-text recogniser on a labelled set of requirement texts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gencomp.checks import CodeCheck, code_check, make, recognise
from gencomp.components import Requirement

SETS = {
    "paraphrases": "the paraphrase set, written with the recogniser (its phrasings were tuned on it)",
    "heldout": "the held-out set, written after an earlier recogniser was frozen (5 of its phrasings were added to "
    "the recogniser in issue 21, so it is held out no longer)",
    "everyday": "everyday requirements as people type them, written by a writer who saw neither the recogniser nor "
    "these sets, then read while widening the recogniser (recall 58% before): a development set",
    "everyday-blind": "more of them, by another writer who saw neither the recogniser nor the other sets, and not "
    "read while widening it (two wrong readings on it were looked at and fixed): recall 40% before the widening",
}


@dataclass
class RecognitionReport:
    """How the recogniser did: each recognised text is right (kind and parameters) or a false positive."""

    total: int = 0
    recognised: int = 0
    correct: int = 0
    wrong: list[tuple[str, str | None, str, dict[str, Any]]] = field(default_factory=list)
    per_kind: dict[str, tuple[int, int]] = field(default_factory=dict)
    negatives: int = 0

    @property
    def precision(self) -> float:
        """Correct recognitions over all recognitions."""
        return self.correct / self.recognised if self.recognised else 1.0

    def table(self) -> str:
        """The per-kind recall table in markdown."""
        lines = ["| kind | recognised / phrasings | recall |", "|---|---:|---:|"]
        for kind, (hit, n) in sorted(self.per_kind.items()):
            lines.append(f"| `{kind}` | {hit} / {n} | {100 * hit / n:.0f}% |")
        hits = sum(h for h, _ in self.per_kind.values())
        n = sum(n for _, n in self.per_kind.values())
        lines.append(f"| **all kinds** | **{hits} / {n}** | **{100 * hits / n:.0f}%** |")
        return "\n".join(lines)


def load(path: str | Path) -> list[dict[str, Any]]:
    """The labelled texts: ``{"text", "kind" (None for texts that must not be recognised), "params", "group"}``."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def examples() -> dict[str, Requirement]:
    """One requirement of each built-in kind with typical parameters, and a few variants, by name.

    The language kinds are left out when py3langid is not installed. ``tests/core/test_checks_safety.py``
    fuzzes them and ``benchmarks/checks/linear.py`` times them.
    """
    from gencomp import checks
    from gencomp.checks import _language

    out = {
        "include_keywords": checks.include_keywords(["river", "salt and pepper"]),
        "include_keywords_substring": checks.include_keywords(["war"], match="substring"),
        "keyword_frequency": checks.keyword_frequency("the", 2, "at most"),
        "forbidden_words": checks.forbidden_words(["very", "[x]"]),
        "letter_frequency": checks.letter_frequency("#", 3),
        "number_sentences": checks.number_sentences(3, "less than"),
        "number_paragraphs": checks.number_paragraphs(2),
        "number_paragraphs_blank": checks.number_paragraphs(2, "\n\n", "at least"),
        "number_words": checks.number_words(20, "at most"),
        "word_range": checks.word_range(5, 50),
        "nth_paragraph_first_word": checks.nth_paragraph_first_word(2, 1, "the"),
        "number_placeholders": checks.number_placeholders(2),
        "postscript": checks.postscript("P.P.S"),
        "number_bullet_lists": checks.number_bullet_lists(3),
        "constrained_response": checks.constrained_response(),
        "number_highlighted_sections": checks.number_highlighted_sections(2),
        "multiple_sections": checks.multiple_sections(2, "SECTION"),
        "json_format": checks.json_format(),
        "title": checks.title(),
        "two_responses": checks.two_responses(),
        "repeat_prompt": checks.repeat_prompt("Describe a river."),
        "end_phrase": checks.end_phrase("Any other questions?"),
        "capital_word_frequency": checks.capital_word_frequency(2),
        "all_capitals": checks.all_capitals(english=False),
        "all_lowercase": checks.all_lowercase(english=False),
        "no_comma": checks.no_comma(),
        "quotation": checks.quotation(),
        "starts_with": checks.starts_with("Dear Sir"),
        "contains_url": checks.contains_url(),
        "contains_number": checks.contains_number(),
        "contains_email": checks.contains_email(),
        "contains_phone_number": checks.contains_phone_number(),
        "ends_with_question": checks.ends_with_question(),
        "all_of": checks.all_of([checks.no_comma(), checks.max_words(10)]),
    }
    if _language.available():
        out["response_language"] = checks.response_language("fr")
        out["all_capitals_english"] = checks.all_capitals()
    return out


def normalised(kind: str | None, params: dict[str, Any]) -> dict[str, Any] | None:
    """``params`` as the kind's constructor keeps them (its defaults filled in), or ``None`` for no kind.

    An ``all_of`` label lists its parts as ``{"kind", "params"}``; they are kept as (kind, params) pairs.
    """
    if kind is None:
        return None
    if kind == "all_of":
        return {"parts": [(part["kind"], normalised(part["kind"], part["params"])) for part in params["parts"]]}
    check = code_check(make(kind, **params))
    return check.params if check is not None else params


def _read(check: CodeCheck) -> dict[str, Any]:
    """A recognised check's parameters as :func:`normalised` writes a label's."""
    if check.kind == "all_of":
        return {"parts": [(part.kind, part.params) for part in check.params["parts"]]}
    return dict(check.params)


def evaluate(rows: list[dict[str, Any]]) -> RecognitionReport:
    """Recognise every text; a recognition is correct when its kind and parameters equal the label's.

    The label's parameters are compared as the kind's constructor keeps them, defaults included.
    """
    report = RecognitionReport(total=len(rows))
    counts: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for row in rows:
        want_kind, want_params = row["kind"], row["params"]
        if want_kind is None:
            report.negatives += 1
        else:
            counts[want_kind] += 1
        req = recognise(row["text"])
        check = code_check(req) if req is not None else None
        if check is None:
            continue
        report.recognised += 1
        if check.kind == want_kind and _read(check) == normalised(want_kind, want_params):
            report.correct += 1
            hits[want_kind] += 1
        else:
            report.wrong.append((row["text"], want_kind, check.kind, check.params))
    report.per_kind = {k: (hits[k], n) for k, n in counts.items()}
    return report


def write_results(data_dir: str | Path, out: str | Path) -> str:
    """Evaluate every set in ``data_dir`` and write the markdown results to ``out``; returns the text."""
    parts = [
        "# Recognising plain-text requirements: measured",
        "",
        "Written by `python -m gencomp.checks._evaluation datasets/requirement_texts "
        "core/src/gencomp/checks/RESULTS.md`; `tests/core/test_checks_recognition.py` fails when it is stale.",
        "A recognition is correct when both the kind and every parameter equal the label; a text labelled",
        "with no kind (a near-miss or a semantic requirement) that is recognised counts against precision.",
    ]
    for name, about in SETS.items():
        rows = load(Path(data_dir) / f"{name}.jsonl")
        r = evaluate(rows)
        parts += [
            "",
            f"## `{name}.jsonl`: {about}",
            "",
            f"{r.total} texts ({r.total - r.negatives} phrasings of a kind, {r.negatives} near-misses and semantic "
            f"requirements): precision {100 * r.precision:.1f}% ({r.correct} of {r.recognised} recognitions right).",
            "",
            r.table(),
        ]
    text = "\n".join(parts) + "\n"
    Path(out).write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    import sys

    print(write_results(sys.argv[1], sys.argv[2]))
