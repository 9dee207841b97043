"""Prompt building: chat messages through the tokenizer's chat template, with the offered tools' schemas."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from gencomp import GencompError
from gencomp_hf_backend.guards import check_no_special_tokens, special_token_texts

__all__ = ["MEMO_SIZE", "PromptBuilder", "tool_schema"]

MEMO_SIZE = 128
"""At most this many tool schemas (and compiled grammars) are kept per backend."""


def tool_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema a chat template lists for a tool: from its docstring, else from its signature."""
    from transformers.utils import get_json_schema

    try:
        return get_json_schema(func)
    except Exception:  # no Google-style docstring or untyped arguments: describe the signature
        props = {
            name: {"type": "string"}
            for name, p in inspect.signature(func).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        return {
            "type": "function",
            "function": {
                "name": func.__name__,
                "description": inspect.getdoc(func) or "",
                "parameters": {"type": "object", "properties": props, "required": list(props)},
            },
        }


class PromptBuilder:
    """Renders chat messages into the text prompt the model continues, with the tokenizer's chat template.

    Special-token text (``<|im_start|>``...) in a message is refused: in the prompt it would act as a
    real role marker.
    """

    def __init__(self, tokenizer: Any, model_name: str) -> None:
        self.tokenizer = tokenizer
        self.model_name = model_name
        self._schemas: dict[Callable[..., Any], dict[str, Any]] = {}
        self._specials: frozenset[str] | None = None

    def chat_prompt(
        self,
        messages: list[dict[str, Any]],
        tools: Mapping[str, Callable[..., Any]] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> str:
        """``messages`` and the generation prompt; ``tools`` go in as schemas, ``variables`` as template variables."""
        if not self.tokenizer.chat_template:
            raise GencompError(
                f"model {self.model_name!r} has no chat template, so it cannot run a chat context; "
                f"use a non-chat context (LinearContext(is_chat_context=False)) or a chat model"
            )
        if self._specials is None:
            self._specials = special_token_texts(self.tokenizer)
        check_no_special_tokens(messages, self._specials)
        return str(
            self.tokenizer.apply_chat_template(
                messages,
                tools=[self.schema(t) for t in (tools or {}).values()] or None,
                add_generation_prompt=True,
                tokenize=False,
                **(variables or {}),
            )
        )

    def schema(self, func: Callable[..., Any]) -> dict[str, Any]:
        """``func``'s tool schema (:func:`tool_schema`), memoized."""
        schema = self._schemas.get(func)
        if schema is None:
            if len(self._schemas) >= MEMO_SIZE:
                self._schemas.clear()
            schema = self._schemas[func] = tool_schema(func)
        return schema
