"""Requirement families: requirements whose truth on a response a program decides.

Each :class:`Family` has a checker ``check(response, param) -> bool`` and several phrasings of the
requirement (declarative and imperative), so the labels of generated data are computed, not guessed.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FAMILIES", "HELD_OUT_FAMILIES", "TRAINED_FAMILIES", "Family", "get_family", "words"]

_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")
_BULLET_RE = re.compile(r"^\s*[-*•+]\s+\S")
_NUMBERED_RE = re.compile(r"^\s*\d+[.)]\s+\S")
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"')\]]*(?:\s+|$)")


def words(text: str) -> list[str]:
    """The words of ``text`` (letters, digits and inner apostrophes), in order."""
    return _WORD_RE.findall(text)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def mentions_word(text: str, word: str) -> bool:
    """True when ``word`` occurs in ``text`` as a whole word (case-insensitive)."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


def avoids_word(text: str, word: str) -> bool:
    """True when ``word`` does not occur in ``text`` as a whole word (case-insensitive)."""
    return not mentions_word(text, word)


def all_capitals(text: str, _: object = None) -> bool:
    """True when ``text`` has letters and none of them is lowercase."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and not any(c.islower() for c in letters)


def all_lowercase(text: str, _: object = None) -> bool:
    """True when ``text`` has letters and none of them is uppercase."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and not any(c.isupper() for c in letters)


def _is_list(text: str, item: re.Pattern[str]) -> bool:
    lines = _lines(text)
    if lines and not item.match(lines[0]) and lines[0].rstrip().endswith(":"):
        lines = lines[1:]  # one introducing line ("Here are three facts:") is allowed
    return len(lines) >= 2 and all(item.match(line) for line in lines)


def bulleted_list(text: str, _: object = None) -> bool:
    """True when ``text`` is two or more lines starting with a bullet (-, *, •, +), after at most one ``...:`` line."""
    return _is_list(text, _BULLET_RE)


def numbered_list(text: str, _: object = None) -> bool:
    """True when ``text`` is two or more lines starting with ``1.`` or ``1)``, after at most one ``...:`` line."""
    return _is_list(text, _NUMBERED_RE)


def valid_json(text: str, _: object = None) -> bool:
    """True when the whole of ``text`` (stripped, one surrounding code fence allowed) is a JSON object or array."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*\n(.*)\n\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return isinstance(value, dict | list)


def starts_with_word(text: str, word: str) -> bool:
    """True when the first word of ``text`` is ``word`` (case-insensitive)."""
    ws = words(text)
    return bool(ws) and ws[0].lower() == word.lower()


def contains_number(text: str, _: object = None) -> bool:
    """True when ``text`` contains a digit."""
    return re.search(r"\d", text) is not None


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences at ``.``, ``!``, ``?`` followed by space or end, and at line breaks."""
    out: list[str] = []
    for line in _lines(text):
        out.extend(part for part in _SENTENCE_END_RE.split(line.strip()) if words(part))
    return out


def single_sentence(text: str, _: object = None) -> bool:
    """True when ``text`` is one line holding exactly one sentence."""
    return len(_lines(text)) == 1 and len(sentences(text)) == 1


def shorter_than(text: str, n: int) -> bool:
    """True when ``text`` has fewer than ``n`` words."""
    return len(words(text)) < int(n)


def at_least_words(text: str, n: int) -> bool:
    """True when ``text`` has at least ``n`` words."""
    return len(words(text)) >= int(n)


def ends_with_question(text: str, _: object = None) -> bool:
    """True when ``text`` (stripped) ends with a question mark."""
    return text.strip().endswith("?")


@dataclass(frozen=True)
class Family:
    """A requirement family: a checker and phrasings; ``param`` is ``"word"``, ``"number"`` or ``None``."""

    name: str
    check: Callable[[str, object], bool]
    phrasings: tuple[str, ...]
    param: str | None = None
    held_out: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def requirement(self, value: object, rng: random.Random) -> str:
        """One phrasing of this requirement, chosen with ``rng``, filled with ``value``."""
        return rng.choice(self.phrasings).format(w=value, n=value)

    def label(self, response: str, value: object) -> bool:
        """Whether ``response`` satisfies this requirement with parameter ``value``."""
        return bool(self.check(response, value))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family(
            "mentions_word",
            mentions_word,  # type: ignore[arg-type]
            (
                'The answer mentions the word "{w}".',
                "Mention {w}.",
                'The response must include the word "{w}".',
                "Use the word {w} in the answer.",
                'The text contains the word "{w}".',
            ),
            param="word",
        ),
        Family(
            "avoids_word",
            avoids_word,  # type: ignore[arg-type]
            (
                'The answer does not use the word "{w}".',
                "Do not mention {w}.",
                'Avoid the word "{w}".',
                'The response must not contain the word "{w}".',
                "Never use the word {w}.",
            ),
            param="word",
        ),
        Family(
            "all_capitals",
            all_capitals,
            (
                "The answer is written entirely in capital letters.",
                "Write in all caps.",
                "Use only uppercase letters.",
                "The response must be in capital letters only.",
                "ANSWER IN CAPITAL LETTERS.",
            ),
        ),
        Family(
            "bulleted_list",
            bulleted_list,
            (
                "The answer is a bulleted list.",
                "Format the answer as a bulleted list.",
                "Answer with bullet points only.",
                "The response must be a list of bullet points.",
                "Use a bulleted list.",
            ),
        ),
        Family(
            "numbered_list",
            numbered_list,
            (
                "The answer is a numbered list.",
                "Format the answer as a numbered list.",
                "Answer with a numbered list of items.",
                "The response must be a list numbered 1, 2, 3.",
                "Use a numbered list.",
            ),
        ),
        Family(
            "valid_json",
            valid_json,
            (
                "The answer is valid JSON.",
                "Reply in JSON format.",
                "The response must be a valid JSON object.",
                "Output only JSON.",
                "Answer with valid JSON and nothing else.",
            ),
        ),
        Family(
            "starts_with_word",
            starts_with_word,  # type: ignore[arg-type]
            (
                'The answer starts with the word "{w}".',
                "Begin your answer with {w}.",
                'The first word of the response must be "{w}".',
                'Start with the word "{w}".',
                "The response begins with {w}.",
            ),
            param="word",
        ),
        Family(
            "contains_number",
            contains_number,
            (
                "The answer contains a number.",
                "Include at least one number.",
                "The response must mention a number written in digits.",
                "Use a number in the answer.",
                "The answer includes a numeral.",
            ),
        ),
        Family(
            "single_sentence",
            single_sentence,
            (
                "The answer is a single sentence.",
                "Answer in one sentence.",
                "The response must be exactly one sentence.",
                "Reply with a single sentence only.",
                "Keep it to one sentence.",
            ),
        ),
        Family(
            "shorter_than",
            shorter_than,  # type: ignore[arg-type]
            (
                "The answer is shorter than {n} words.",
                "Use fewer than {n} words.",
                "The response must have less than {n} words.",
                "Keep the answer under {n} words.",
                "Answer in fewer than {n} words.",
            ),
            param="number",
        ),
        Family(
            "all_lowercase",
            all_lowercase,
            (
                "The answer is written entirely in lowercase letters.",
                "Write in lowercase only.",
                "Use no capital letters.",
                "The response must be all lowercase.",
            ),
            held_out=True,
        ),
        Family(
            "ends_with_question",
            ends_with_question,
            (
                "The answer ends with a question mark.",
                "End your answer with a question.",
                "The response must end with a question.",
                "Finish with a question mark.",
            ),
            held_out=True,
        ),
        Family(
            "at_least_words",
            at_least_words,  # type: ignore[arg-type]
            (
                "The answer is at least {n} words long.",
                "Use at least {n} words.",
                "The response must have {n} words or more.",
                "Write no fewer than {n} words.",
            ),
            param="number",
            held_out=True,
        ),
    ]
}
"""Every family, by name."""

TRAINED_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if not f.held_out)
HELD_OUT_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if f.held_out)


def get_family(name: str) -> Family:
    """The family called ``name``; raises ``KeyError`` naming the known families."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown requirement family {name!r}; known: {', '.join(FAMILIES)}") from None
