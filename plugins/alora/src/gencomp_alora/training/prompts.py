"""Prompts of requirement checks for training and evaluation, and the adapter folder's metadata.

The aLoRA check prompt is exactly the one used at inference (:func:`gencomp_alora.prompt.check_prompt_ids`):
the checked conversation (the instruction as a user turn, the output as an assistant turn) and the
requirement as a new user turn, rendered with the chat template, then the tokens of the generation
prompt (the aLoRA's invocation string). The verdict is the next token: ``Y`` (the requirement
holds) or ``N``; their logits are compared.

The LLM-as-a-judge baseline asks the base model the question of the default ``Requirement``
template (the core's judge path) as a user turn after the conversation and compares the logits of
``Yes`` and ``No`` as the first token of its answer.

An adapter folder written by ``gencomp alora train`` holds ``gencomp_alora.json`` with the
generation prompt and the verdict tokens (:func:`read_metadata`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gencomp_alora.prompt import check_prompt_ids, text_ids

__all__ = [
    "DEFAULT_GENERATION_PROMPT",
    "JUDGE_NO",
    "JUDGE_TEMPLATE",
    "JUDGE_YES",
    "METADATA_FILE",
    "NO",
    "STATE_DTYPES",
    "STORE_DTYPES",
    "YES",
    "check_ids",
    "conversation",
    "conversation_ids",
    "judge_ids",
    "read_metadata",
    "write_metadata",
]

DEFAULT_GENERATION_PROMPT = "<|im_start|>check\n"
"""Invocation string of the shipped adapter: a ChatML turn of role ``check``."""

YES = "Y"
"""Verdict token of the adapter: the requirement holds."""

NO = "N"
"""Verdict token of the adapter: the requirement does not hold."""

JUDGE_YES = "Yes"
JUDGE_NO = "No"

METADATA_FILE = "gencomp_alora.json"
"""File in an adapter folder with its generation prompt and verdict tokens."""

STORE_DTYPES = ("float32", "float16", "bfloat16")
"""The dtypes an adapter's weights can be stored in (``--store-dtype``, the metadata's ``stored_dtype``;
training itself runs in float32)."""

STATE_DTYPES = ("auto", "float32", "float16", "bfloat16")
"""How training may hold an aLoRA's precomputed base-model keys and values (``--state-dtype``; ``auto``:
float32 where it fits the available memory, else float16)."""

JUDGE_TEMPLATE = (
    'Does the previous answer meet this requirement?\nRequirement: {requirement}\nReply with "Yes" or "No" first, '
    "then give a short reason."
)
"""User turn of the LLM-as-a-judge baseline (the default ``Requirement`` template without the output)."""


def conversation(instruction: str, response: str) -> list[dict[str, str]]:
    """The checked conversation: the instruction and the output."""
    return [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]


def conversation_ids(tokenizer: Any, instruction: str, response: str) -> list[int]:
    """Token ids of the rendered checked conversation (a prefix of the check prompt, up to tokenization)."""
    text = tokenizer.apply_chat_template(conversation(instruction, response), tokenize=False)
    return text_ids(tokenizer, str(text))


def check_ids(
    tokenizer: Any,
    instruction: str,
    response: str,
    requirement: str,
    generation_prompt: str = DEFAULT_GENERATION_PROMPT,
) -> list[int]:
    """Token ids of the aLoRA check prompt (the inference format); the verdict token comes next."""
    return check_prompt_ids(tokenizer, conversation(instruction, response), requirement, generation_prompt)


def judge_ids(tokenizer: Any, instruction: str, response: str, requirement: str) -> list[int]:
    """Token ids of the LLM-as-a-judge prompt, ending with the assistant's generation prompt."""
    messages = [
        *conversation(instruction, response),
        {"role": "user", "content": JUDGE_TEMPLATE.format(requirement=requirement)},
    ]
    return text_ids(tokenizer, str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)))


def write_metadata(folder: str | Path, **fields: Any) -> None:
    """Write ``gencomp_alora.json`` in ``folder`` (generation prompt, verdict tokens, training facts)."""
    data = {"generation_prompt": DEFAULT_GENERATION_PROMPT, "yes": YES, "no": NO, **fields}
    Path(folder, METADATA_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """Read ``gencomp_alora.json`` from an adapter folder; defaults when the file is missing."""
    path = Path(folder, METADATA_FILE)
    data: dict[str, Any] = {"generation_prompt": DEFAULT_GENERATION_PROMPT, "yes": YES, "no": NO}
    if path.is_file():
        data.update(json.loads(path.read_text(encoding="utf-8")))
    return data
