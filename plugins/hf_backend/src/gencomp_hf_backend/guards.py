"""Checks the HF backend makes before generating: the context window and special-token text in messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gencomp import ContextWindowError, GencompError

__all__ = ["check_fits", "check_no_special_tokens", "context_window", "special_token_texts"]


def context_window(model: Any, asked: int | None) -> int | None:
    """The tokens a prompt and its answer may take: the model's positions, lowered to ``asked``.

    ``asked`` is the call's ``ModelOption.CONTEXT_WINDOW``; ``None`` when neither says.
    """
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    limits = [int(x) for x in (positions, asked) if isinstance(x, int) and x > 0]
    return min(limits) if limits else None


def check_fits(prompt_tokens: int, max_new_tokens: int, window: int | None, model: str) -> None:
    """Raise :class:`~gencomp.ContextWindowError` when the prompt and the answer's budget exceed ``window``."""
    if window is None or prompt_tokens + max_new_tokens <= window:
        return
    if prompt_tokens >= window:
        fix = "shorten the prompt, the grounding or the conversation (Session.reset(), or a LinearContext window)"
    else:
        fix = f"lower max_new_tokens to at most {window - prompt_tokens}, or shorten the prompt"
    raise ContextWindowError(
        f"the prompt is {prompt_tokens} tokens and may be followed by up to {max_new_tokens} new tokens, but "
        f"model {model!r} has a context window of {window} tokens: {fix}. Nothing was generated.",
        prompt_tokens,
        max_new_tokens,
        window,
    )


def special_token_texts(tokenizer: Any) -> frozenset[str]:
    """The text forms of ``tokenizer``'s special tokens (``<|im_start|>``...)."""
    texts = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            texts.add(str(token.content))
    return frozenset(t for t in texts if t)


def check_no_special_tokens(messages: Iterable[Mapping[str, Any]], specials: frozenset[str]) -> None:
    """Refuse a message whose text contains a special token: in a prompt it would become a real marker."""
    for i, m in enumerate(messages, 1):
        content = m.get("content")
        if not isinstance(content, str):
            continue
        found = sorted(t for t in specials if t in content)
        if found:
            raise GencompError(
                f"message {i} ({m.get('role')}) contains {', '.join(repr(t) for t in found)}, the text of a special "
                "token of this model; in the prompt it would act as a real role or turn marker. gencomp refuses "
                "such text rather than guess an escape: remove or rewrite it (e.g. '< |im_start| >')."
            )
