"""The judge's logit verdict: ``p(yes)`` of a model answering a requirement check, from its first token."""

from __future__ import annotations

from typing import Any

__all__ = ["JUDGE_WORDS", "JudgeScorer"]

JUDGE_WORDS = (("Yes", "yes", "YES"), ("No", "no", "NO"))
"""The first answer tokens compared when the model judges a requirement (yes words, no words)."""


class JudgeScorer:
    """Reads a judge's verdict from the logits of its first answer token: ``Yes`` words against ``No`` words.

    Small models often start a correct verdict with another word ("The answer meets..."), so the
    comparison of the two answers' tokens reads the model's judgement more reliably than its text.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._tokens: tuple[list[int], list[int]] | None = None

    @property
    def tokens(self) -> tuple[list[int], list[int]]:
        """The first token ids of the yes words and of the no words."""
        if self._tokens is None:
            yes, no = (
                sorted({self.tokenizer.encode(w, add_special_tokens=False)[0] for w in words}) for words in JUDGE_WORDS
            )
            self._tokens = (yes, no)
        return self._tokens

    def p_yes(self, first_logits: Any) -> float:
        """``p(yes)`` from the first step's logits (shape ``(1, vocab)``): softmax over the two log-sum-exps."""
        import torch

        yes_ids, no_ids = self.tokens
        row = first_logits[0].float()
        pair = torch.stack([torch.logsumexp(row[yes_ids], 0), torch.logsumexp(row[no_ids], 0)])
        return float(torch.softmax(pair, 0)[0])
