"""IFEval's prompts, their instructions as a user would write them, and gencomp's scoring of responses.

IFEval ("Instruction-Following Evaluation for Large Language Models", Zhou et al. 2023, Apache-2.0)
is not part of gencomp: its input lines are read from a path (``input_data.jsonl``, or a folder
holding it). This module gives, for any benchmark that needs them:

- :func:`load`: the prompts (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``);
- :func:`description`: an instruction's official description text, as IFEval's own
  ``build_description`` writes it from the instruction's kwargs (the patterns in
  :data:`TEMPLATES` are written out here from google-research ``instruction_following_eval/
  instructions.py``; IFEval's code is not used). These are the plain-text requirements a user
  would write, and what gencomp's recogniser has to read;
- :func:`scoring_requirement` and :func:`score`: each instruction checked by gencomp's code
  checks from its id and kwargs (``gencomp.checks.make``), never from what the recogniser made of
  the text;
- :func:`write_responses`: responses in IFEval's response format (``{"prompt", "response"}`` per
  line), which IFEval's official ``evaluation_main`` grades.

Only the scoring functions import gencomp; the rest is standard library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gencomp import Requirement

__all__ = [
    "CONSTRAINED_RESPONSE_OPTIONS",
    "TEMPLATES",
    "Prompt",
    "Score",
    "description",
    "kind_of",
    "load",
    "requirement_texts",
    "score",
    "scoring_requirement",
    "write_responses",
]

CONSTRAINED_RESPONSE_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
"""The options of ``detectable_format:constrained_response`` (IFEval shows them as a Python tuple)."""

TEMPLATES: dict[str, str] = {
    "keywords:existence": "Include keywords {keywords} in the response.",
    "keywords:frequency": "In your response, the word {keyword} should appear {relation} {frequency} times.",
    "keywords:forbidden_words": "Do not include keywords {forbidden_words} in the response.",
    "keywords:letter_frequency": "In your response, the letter {letter} should appear {let_relation} "
    "{let_frequency} times.",
    "language:response_language": "Your ENTIRE response should be in {language} language, no other language is "
    "allowed.",
    "length_constraints:number_sentences": "Your response should contain {relation} {num_sentences} sentences.",
    "length_constraints:number_paragraphs": "There should be {num_paragraphs} paragraphs. Paragraphs are separated "
    "with the markdown divider: ***",
    "length_constraints:number_words": "Answer with {relation} {num_words} words.",
    "length_constraints:nth_paragraph_first_word": "There should be {num_paragraphs} paragraphs. Paragraphs and only "
    "paragraphs are separated with each other by two new lines as if it was '\\n\\n' in python. Paragraph "
    "{nth_paragraph} must start with word {first_word}.",
    "detectable_content:number_placeholders": "The response must contain at least {num_placeholders} placeholders "
    "represented by square brackets, such as [address].",
    "detectable_content:postscript": "At the end of your response, please explicitly add a postscript starting with "
    "{postscript_marker}",
    "detectable_format:number_bullet_lists": "Your answer must contain exactly {num_bullets} bullet points. Use the "
    "markdown bullet points such as:\n* This is point 1. \n* This is point 2",
    "detectable_format:constrained_response": "Answer with one of the following options: {response_options}",
    "detectable_format:number_highlighted_sections": "Highlight at least {num_highlights} sections in your answer "
    "with markdown, i.e. *highlighted section*.",
    "detectable_format:multiple_sections": "Your response must have {num_sections} sections. Mark the beginning of "
    "each section with {section_spliter} X, such as:\n{section_spliter} 1\n[content of section 1]\n"
    "{section_spliter} 2\n[content of section 2]",
    "detectable_format:json_format": "Entire output should be wrapped in JSON format. You can use markdown ticks such "
    "as ```.",
    "detectable_format:title": "Your answer must contain a title, wrapped in double angular brackets, such as "
    "<<poem of joy>>.",
    "combination:two_responses": "Give two different responses. Responses and only responses should be separated by "
    "6 asterisk symbols: ******.",
    "combination:repeat_prompt": "First repeat the request word for word without change, then give your answer (1. "
    "do not say any words or characters before repeating the request; 2. the request you need to repeat does not "
    "include this sentence)",
    "startend:end_checker": "Finish your response with this exact phrase {end_phrase}. No other words should follow "
    "this phrase.",
    "startend:quotation": "Wrap your entire response with double quotation marks.",
    "change_case:capital_word_frequency": "In your response, words with all capital letters should appear "
    "{capital_relation} {capital_frequency} times.",
    "change_case:english_capital": "Your entire response should be in English, and in all capital letters.",
    "change_case:english_lowercase": "Your entire response should be in English, and in all lowercase letters. No "
    "capital letters are allowed.",
    "punctuation:no_comma": "In your entire response, refrain from the use of any commas.",
}
"""IFEval's description pattern of each of its 25 instruction ids (its ``build_description``)."""


@dataclass(frozen=True)
class Prompt:
    """One IFEval input line."""

    key: int
    prompt: str
    instruction_id_list: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...]

    @property
    def instructions(self) -> list[tuple[str, dict[str, Any]]]:
        """(instruction id, its kwargs without the ``None`` entries) of each instruction."""
        return [(i, _given(k)) for i, k in zip(self.instruction_id_list, self.kwargs, strict=True)]


def _given(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def load(path: str | Path) -> list[Prompt]:
    """The prompts of IFEval's ``input_data.jsonl`` at ``path`` (the file, or a folder that holds it).

    Raises ``FileNotFoundError`` naming what is missing, and ``ValueError`` for a line that is not an
    IFEval input line or an instruction id that IFEval does not define.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "input_data.jsonl"
    if not p.is_file():
        raise FileNotFoundError(f"no IFEval input file at {p}: give input_data.jsonl or the folder that holds it")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = Prompt(int(row["key"]), row["prompt"], tuple(row["instruction_id_list"]), tuple(row["kwargs"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{p}:{n}: not an IFEval input line ({exc})") from exc
        unknown = [i for i in item.instruction_id_list if i not in TEMPLATES]
        if unknown or len(item.instruction_id_list) != len(item.kwargs):
            raise ValueError(f"{p}:{n}: unknown instruction ids {unknown} or kwargs of the wrong length")
        out.append(item)
    return out


def description(instruction_id: str, kwargs: Mapping[str, Any]) -> str:
    """The official description of an instruction with its kwargs, as IFEval's ``build_description`` writes it.

    As there: keyword lists are sorted (forbidden words also de-duplicated) and shown as Python
    lists, the constrained options as a tuple, the first word and the letter lowercased, phrases
    and markers stripped, the language by its English name.
    """
    if instruction_id not in TEMPLATES:
        raise ValueError(f"unknown IFEval instruction id {instruction_id!r}; known: {', '.join(sorted(TEMPLATES))}")
    kw = _given(kwargs)
    if instruction_id == "language:response_language":
        from gencomp import checks

        kw["language"] = checks.LANGUAGES[kw["language"]]  # IFEval's 30 languages, the same English names
    elif instruction_id == "keywords:existence":
        kw["keywords"] = sorted(kw["keywords"])
    elif instruction_id == "keywords:forbidden_words":
        kw["forbidden_words"] = sorted(set(kw["forbidden_words"]))
    elif instruction_id == "detectable_format:constrained_response":
        kw["response_options"] = CONSTRAINED_RESPONSE_OPTIONS
    elif instruction_id == "length_constraints:nth_paragraph_first_word":
        kw["first_word"] = str(kw["first_word"]).lower()
    elif instruction_id == "keywords:letter_frequency":
        kw["letter"] = str(kw["letter"]).strip().lower()
    for key in ("keyword", "end_phrase", "postscript_marker", "section_spliter"):
        if isinstance(kw.get(key), str):
            kw[key] = kw[key].strip()
    try:
        return TEMPLATES[instruction_id].format(**kw)
    except KeyError as exc:
        raise ValueError(f"{instruction_id}: kwargs {sorted(kw)} lack {exc}") from exc


def requirement_texts(prompt: Prompt) -> list[str]:
    """The official description of each of ``prompt``'s instructions, in order."""
    return [description(i, k) for i, k in prompt.instructions]


def kind_of(instruction_id: str) -> str:
    """gencomp's requirement kind for an IFEval instruction id (``checks.IFEVAL_IDS`` read backwards)."""
    from gencomp import checks

    for kind, iid in checks.IFEVAL_IDS.items():
        if iid == instruction_id:
            return kind
    raise ValueError(f"gencomp has no kind for IFEval's {instruction_id!r}")


def scoring_requirement(instruction_id: str, kwargs: Mapping[str, Any]) -> Requirement:
    """gencomp's code check of an instruction, built from its id and kwargs (``checks.make``), not from any text."""
    from gencomp import checks

    return checks.make(kind_of(instruction_id), **_given(kwargs))


@dataclass(frozen=True)
class Score:
    """How one response did: a verdict per instruction, and the reasons of the failed ones."""

    followed: tuple[bool, ...]
    reasons: tuple[str, ...]

    @property
    def all_followed(self) -> bool:
        """Prompt-level strict: every instruction followed."""
        return all(self.followed)


def score(prompt: Prompt, response: str) -> Score:
    """Per-instruction verdicts on ``response`` to ``prompt`` by gencomp's code checks (strict: the response as is)."""
    from gencomp import checks

    followed, reasons = [], []
    for iid, kw in prompt.instructions:
        check = checks.code_check(scoring_requirement(iid, kw))
        if check is None:
            raise RuntimeError(f"{iid}: gencomp's kind is not a code check")
        result = check.check_text(response)
        followed.append(bool(result.result))
        reasons.append("" if result.result else f"{iid}: {result.reason}")
    return Score(tuple(followed), tuple(reasons))


def write_responses(path: str | Path, pairs: Iterable[tuple[str, str]]) -> int:
    """Write ``(prompt, response)`` pairs in IFEval's response format; returns how many were written."""
    lines = [json.dumps({"prompt": p, "response": r}, ensure_ascii=False) for p, r in pairs]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
