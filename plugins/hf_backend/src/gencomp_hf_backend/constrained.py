"""``format=`` constrained decoding with llguidance.

Why llguidance: it is maintained (guidance-ai, Microsoft; used by vLLM, SGLang and llama.cpp), it
compiles a JSON schema straight into a grammar with no model-specific preprocessing beyond a
tokenizer wrapper built once per backend, it computes a token mask in tens of microseconds per step
in Rust, and it needs neither ``torch.compile`` nor a C compiler at run time. (xgrammar, the other
candidate, precompiles per-vocabulary tables that take seconds to build and relies on compiled
kernels for masking.) The mask is applied here with plain tensor ops.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from transformers import LogitsProcessor

from gencomp import GencompError

__all__ = ["FinishWithin", "GrammarLogitsProcessor", "json_schema_grammar", "make_ll_tokenizer"]


STEP_LEXER_FUEL = 2_000_000
"""llguidance's fuel for one token's mask (about 14k units per ms; its default is 200,000). An intersected grammar
(JSON and a forbidden word, say) is one lexeme whose regex derivatives need more: at the default its matcher
stops mid-answer with "too many expressions constructed"."""


INITIAL_LEXER_FUEL = 20_000_000
"""llguidance's fuel for building a grammar's lexer (about 50k units per ms; its default is 1,000,000). Paragraphs
of several lines intersected with highlights and a word count (IFEval's key 1342) need ~10x the default: at it the
matcher refuses the grammar ("lexer precomputation failed")."""


def matcher_limits() -> Any:
    """gencomp's matchers' :class:`llguidance.LLParserLimits`: :data:`STEP_LEXER_FUEL`, :data:`INITIAL_LEXER_FUEL`."""
    from llguidance import LLParserLimits

    return LLParserLimits(step_lexer_fuel=STEP_LEXER_FUEL, initial_lexer_fuel=INITIAL_LEXER_FUEL)


def make_ll_tokenizer(tokenizer: Any, n_vocab: int) -> Any:
    """llguidance's view of a fast HF tokenizer (about a second for a 50k vocabulary: build it once)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab)


_JSON_STYLE: Any = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
"""One JSON layout, the one models see most (``json.dumps``'s): no free whitespace to ramble in."""


def json_schema_grammar(format: type[Any]) -> str:
    """The llguidance grammar of ``format``'s JSON schema (a pydantic model class)."""
    from llguidance import LLMatcher

    schema = _closed(format.model_json_schema())
    grammar = LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=_JSON_STYLE)
    is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar)
    if is_error:
        raise GencompError(
            f"format={format.__name__}: its JSON schema cannot be enforced ({'; '.join(messages)}); "
            f"simplify the pydantic model (for example use a nested model instead of a dict with constrained keys)"
        )
    return grammar


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties and says nothing.

    pydantic ignores unknown keys anyway; forbidding them keeps the model from spending its token
    budget on keys that are dropped.
    """
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def closing_token_classes(ll_tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Two vocabulary masks: tokens that only close (``"``, ``}``, ``]``), and those that also separate (``,:``).

    Whitespace around the characters is allowed. Used to steer a grammar to its end when the token
    budget runs out (about 25 ms for a 50k vocabulary; computed once per backend).
    """
    n = ll_tokenizer.vocab_size
    closers = torch.zeros(n, dtype=torch.bool)
    separators = torch.zeros(n, dtype=torch.bool)
    for i in range(n):
        text = ll_tokenizer.decode_bytes([i]).strip()
        if not text:
            continue
        if all(c in b'"}]' for c in text):
            closers[i] = True
        elif all(c in b'"}],:' for c in text):
            separators[i] = True
    return closers, separators


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks, at each step and for each row of the batch, every token the row's grammar does not allow.

    ``prompt_len`` is the (padded) prompt width: tokens after it are the generated ones each matcher
    consumes. When a row's grammar is complete only EOS stays allowed. From step ``close_from`` on
    (set when the token budget nears its end), the row is steered to finish: EOS when allowed, else
    tokens that close a string, object or array, else separators, else whatever the grammar allows;
    the model still chooses within that set. So outputs parse even when the model would ramble.
    """

    def __init__(
        self,
        ll_tokenizer: Any,
        grammar: str | Any,
        batch_size: int,
        prompt_len: int,
        *,
        close_from: int | None = None,
        classes: tuple[torch.Tensor, torch.Tensor] | None = None,
        finish: FinishWithin | None = None,
    ) -> None:
        from llguidance import LLMatcher

        if isinstance(grammar, str):
            self.matchers = [
                LLMatcher(ll_tokenizer, grammar, log_level=0, limits=matcher_limits()) for _ in range(batch_size)
            ]
        else:  # a compiled matcher to copy, one per row
            self.matchers = [grammar.deep_copy() for _ in range(batch_size)]
        for m in self.matchers:
            if m.is_error():
                raise ValueError(f"format= grammar is invalid: {m.get_error()}")
        self.prompt_len = prompt_len
        self.eos = ll_tokenizer.eos_token
        self.close_from = close_from
        self.classes = classes
        self.finish = finish
        self.errors: dict[int, str] = {}
        """Rows whose matcher failed mid-answer, with llguidance's message (the row ends there)."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        closing = self.close_from is not None and self.classes is not None and step >= self.close_from
        allowed = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        for row, matcher in enumerate(self.matchers):
            if step > 0 and not matcher.is_stopped():
                matcher.consume_token(int(input_ids[row, -1]))
            if matcher.is_error() or matcher.is_stopped():
                if matcher.is_error() and row not in self.errors:
                    self.errors[row] = matcher.get_error().split("\n", 1)[0]
                allowed[row, self.eos] = True
                continue
            bias = torch.frombuffer(bytearray(matcher.compute_logit_bias()), dtype=torch.uint8)
            n = min(bias.shape[0], scores.shape[1])
            mask = bias[:n] > 0
            if closing:
                mask = self._steer_to_end(mask)
            elif self.finish is not None:
                mask = self.finish.steer(input_ids[row, self.prompt_len :].tolist(), mask, scores[row, :n])
            allowed[row, :n] = mask.to(scores.device)
        return scores.masked_fill(~allowed, float("-inf"))  # type: ignore[return-value]

    def _steer_to_end(self, mask: torch.Tensor) -> torch.Tensor:
        assert self.classes is not None
        if self.eos < mask.shape[0] and mask[self.eos]:
            only = torch.zeros_like(mask)
            only[self.eos] = True
            return only
        for cls in self.classes:
            narrowed = mask & cls[: mask.shape[0]]
            if narrowed.any():
                return narrowed
        return mask


class FinishWithin:
    """Steers a constrained answer to an accepted end: when the model wants to stop, and within its budget.

    A grammar may forbid stopping (a closing quote, an end phrase, the Nth bullet still to come). When
    the model's best token is EOS but the grammar does not allow it yet, and once the budget left is no
    more than the tokens of the shortest text that completes the answer
    (:meth:`gencomp.constraints.Constraint.completion`), each step keeps only tokens that begin that text
    (the model's best of them); at the budget's end, with the answer complete, only EOS. So a constrained
    answer ends accepted, at most ``FORMAT_SLACK_TOKENS`` past the budget. Otherwise nothing changes: an
    answer the grammar allows token by token, EOS included, is the one the model chose.
    """

    def __init__(self, constraint: Any, ll_tokenizer: Any, tokenizer: Any, budget: int, window: int = 96) -> None:
        self.constraint = constraint
        self.ll_tokenizer = ll_tokenizer
        self.tokenizer = tokenizer
        self.budget = budget
        self.window = window
        self.eos = ll_tokenizer.eos_token

    def steer(self, generated: list[int], mask: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        eos_allowed = self.eos < mask.shape[0] and bool(mask[self.eos])
        wants_end = not eos_allowed and self.eos < scores.shape[0] and int(torch.argmax(scores)) == self.eos
        left = self.budget - len(generated)
        if not wants_end and left > self.window:
            return mask
        try:
            text = self.ll_tokenizer.decode_bytes(generated).decode("utf-8")
        except UnicodeDecodeError:  # in the middle of a character: decide at the next token
            return mask
        rest = self.constraint.completion(text)
        if rest is None:
            return mask
        if rest == "":
            return self._only(mask, self.eos) if left <= 0 and eos_allowed else mask
        if not wants_end and left > len(self.tokenizer.encode(rest, add_special_tokens=False)):
            return mask
        target = rest.encode("utf-8")
        ranked = torch.argsort(scores.masked_fill(~mask.to(scores.device), float("-inf")), descending=True)
        for t in ranked[:64].tolist():
            if not mask[t]:
                break
            piece = self.ll_tokenizer.decode_bytes([t])
            if piece and target.startswith(piece):
                return self._only(mask, t)
        first = self.tokenizer.encode(rest, add_special_tokens=False)[:1]
        if first and first[0] < mask.shape[0] and mask[first[0]]:
            return self._only(mask, first[0])
        return mask

    @staticmethod
    def _only(mask: torch.Tensor, token: int) -> torch.Tensor:
        only = torch.zeros_like(mask)
        only[token] = True
        return only
