"""Generation and decoding: one ``model.generate`` call with grammar constraints, a call-local seed and guards."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from gencomp_hf_backend.compat import with_cache
from gencomp_hf_backend.prompts import MEMO_SIZE
from gencomp_hf_backend.streaming import generate_kwargs

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "FORMAT_SLACK_TOKENS", "Generator"]

DEFAULT_MAX_NEW_TOKENS = 256
"""``max_new_tokens`` when neither the options nor the model's generation config set a limit."""

FORMAT_SLACK_TOKENS = 64
"""With ``format=`` or a constraint, how many tokens past ``max_new_tokens`` may be spent completing the answer
so that it parses (closing the JSON) or is accepted (the shortest completion of its grammar)."""


class Generator:
    """Runs ``model.generate`` for a backend: ``format=`` grammars, seeds, guards and end-of-sequence trimming.

    ``lock`` is held around every call; ``guards()`` is entered around it (the backend's base-model
    guards). ``eos_ids`` end an output; ``pad_id`` pads batches.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: Any,
        lock: Any,
        guards: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.lock = lock
        self.guards = guards
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (min(self.eos_ids) if self.eos_ids else 0)
        self._ll_tok: Any = None
        self._closing: Any = None
        self._grammars: dict[type, str] = {}
        self._matchers: dict[Any, Any] = {}

    def arguments(self, generate: dict[str, Any]) -> dict[str, Any]:
        """``generate``'s keyword arguments completed: sampling follows ``temperature``, a default budget, padding."""
        gen = dict(generate)
        temperature = gen.get("temperature")
        if temperature is not None and temperature <= 0:
            del gen["temperature"]
            gen.setdefault("do_sample", False)
        elif temperature is not None:
            gen.setdefault("do_sample", True)
        if "max_new_tokens" not in gen and "max_length" not in gen:
            gen["max_new_tokens"] = self.model.generation_config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        gen.setdefault("pad_token_id", self.pad_id)
        return gen

    def run(
        self,
        ids: Any,
        attention: Any,
        gen: dict[str, Any],
        format: type[Any] | None = None,
        seed: Any = None,
        past: Any = None,
        constraint: Any = None,
    ) -> Any:
        """One ``generate(return_dict_in_generate=True)`` call after ``ids``, continuing ``past`` when given.

        ``format`` (a pydantic class) and ``constraint`` (a :class:`gencomp.constraints.Constraint`, its Lark
        grammar) constrain the answer; a JSON-only constraint with ``format`` is met by the schema.
        """
        import torch
        from transformers import LogitsProcessorList

        processors = LogitsProcessorList()
        if constraint is not None and format is not None and not constraint.json:
            from gencomp import GencompError

            raise GencompError(
                f"format={format.__name__} and the constraint {constraint!r} cannot be enforced together: a JSON "
                "schema and another grammar do not join into one"
            )
        if constraint is not None and format is None:
            from gencomp_hf_backend.constrained import FinishWithin, GrammarLogitsProcessor

            budget = gen.get("max_new_tokens")
            finish = None
            if budget is not None:
                finish = FinishWithin(constraint, self._ll_tokenizer(), self.tokenizer, budget)
                gen = {**gen, "max_new_tokens": budget + FORMAT_SLACK_TOKENS}
            processors.append(
                GrammarLogitsProcessor(self._ll_tokenizer(), self._matcher(constraint), *ids.shape, finish=finish)
            )
        if format is not None:
            from gencomp_hf_backend.constrained import GrammarLogitsProcessor

            budget = gen.get("max_new_tokens")
            close_from = None
            if budget is not None:
                # Steer to the grammar's end over the budget's last tokens, with some slack past it,
                # so that a format= output always parses.
                close_from = max(0, budget - max(1, min(16, budget // 4)))
                gen = {**gen, "max_new_tokens": budget + FORMAT_SLACK_TOKENS}
            processors.append(
                GrammarLogitsProcessor(
                    self._ll_tokenizer(),
                    self._grammar(format),
                    *ids.shape,
                    close_from=close_from,
                    classes=self._closing_classes(),
                )
            )
        if gen.get("stop_strings"):
            gen = {**gen, "tokenizer": self.tokenizer}  # generate needs it to match the strings
        with self.lock, torch.no_grad(), self._seeded(seed), self.guards():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=attention,
                **with_cache(past),
                logits_processor=processors,
                return_dict_in_generate=True,
                use_cache=True,
                **generate_kwargs(self.tokenizer, ids.shape[0], self.eos_ids),  # streaming and cancellation
                **gen,
            )
        for processor in processors:
            for row, error in sorted(getattr(processor, "errors", {}).items()):
                from gencomp.constraints import EnforcementBugWarning

                warnings.warn(
                    f"the constraint's matcher failed in answer {row + 1} and ended it there (llguidance: {error})",
                    EnforcementBugWarning,
                    stacklevel=2,
                )
        return out

    def until_eos(self, row: list[int]) -> list[int]:
        """``row`` up to its first end-of-sequence id."""
        for i, t in enumerate(row):
            if t in self.eos_ids:
                return row[:i]
        return row

    @contextlib.contextmanager
    def _seeded(self, seed: Any) -> Iterator[None]:
        """Seed torch's RNG for one call, leaving the global RNG state as it was."""
        if seed is None:
            yield
            return
        import torch

        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            yield

    def _ll_tokenizer(self) -> Any:
        if self._ll_tok is None:
            from gencomp_hf_backend.constrained import make_ll_tokenizer

            n_vocab = self.model.get_output_embeddings().weight.shape[0]
            self._ll_tok = make_ll_tokenizer(self.tokenizer, n_vocab)
        return self._ll_tok

    def _closing_classes(self) -> Any:
        if self._closing is None:
            from gencomp_hf_backend.constrained import closing_token_classes

            self._closing = closing_token_classes(self._ll_tokenizer())
        return self._closing

    def _matcher(self, constraint: Any) -> Any:
        """A compiled llguidance matcher of ``constraint``'s Lark grammar (kept: rows and calls copy it)."""
        matcher = self._matchers.get(constraint)
        if matcher is None:
            from llguidance import LLMatcher

            from gencomp.errors import ConstraintRefusedError
            from gencomp_hf_backend.constrained import matcher_limits

            matcher = LLMatcher(self._ll_tokenizer(), constraint.lark(), log_level=0, limits=matcher_limits())
            if matcher.is_error():
                raise ConstraintRefusedError(f"llguidance refused the grammar of {constraint!r}: {matcher.get_error()}")
            if len(self._matchers) >= MEMO_SIZE:
                self._matchers.clear()
            self._matchers[constraint] = matcher
        return matcher

    def _grammar(self, format: type[Any]) -> str:
        grammar = self._grammars.get(format)
        if grammar is None:
            from gencomp_hf_backend.constrained import json_schema_grammar

            if not hasattr(format, "model_json_schema"):
                raise TypeError(f"format= must be a pydantic BaseModel subclass, got {format!r}")
            if len(self._grammars) >= MEMO_SIZE:  # classes made on the fly must not pile up
                self._grammars.clear()
            grammar = self._grammars[format] = json_schema_grammar(format)
        return grammar
