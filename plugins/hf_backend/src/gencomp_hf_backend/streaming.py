"""Streaming and cancellation for ``generate``: the current :class:`~gencomp.streaming.GenerationControl` of a call.

:func:`generate_kwargs` gives the extra ``generate()`` arguments: a streamer that hands each new
piece of text to the control as soon as it decodes to whole characters, and a stopping criterion
that ends the generation at the next token once the control asks to stop (cancelled, or a
requirement failed on the prefix). No second generation, no extra forward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from gencomp.streaming import GenerationControl, candidate_controls, current_control

__all__ = ["ControlStopping", "ControlStreamer", "RowsStopping", "RowsStreamer", "generate_kwargs"]


class ControlStreamer(BaseStreamer):
    """Decodes the generated ids of one sequence as they come and pushes the new text to ``control``."""

    def __init__(self, tokenizer: Any, control: GenerationControl) -> None:
        self.tokenizer = tokenizer
        self.control = control
        self.ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() hands the prompt over first
            self.prompt_seen = True
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return
        if len(text) > self.sent:
            new, self.sent = text[self.sent :], len(text)
            self.control.push(new, tokens=len(self.ids))

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) > self.sent:
            new, self.sent = text[self.sent :], len(text)
            self.control.push(new, tokens=len(self.ids))


class ControlStopping(StoppingCriteria):
    """Stops every sequence once ``control`` asks to stop."""

    def __init__(self, control: GenerationControl) -> None:
        self.control = control

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        stop = self.control.stop_requested()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class RowsStreamer(BaseStreamer):
    """Decodes each row of a batch of candidates and pushes its new text to that row's control.

    A row's text ends at its first end-of-sequence id or when its control stopped it; what the
    batch feeds it after that (padding) is not its text.
    """

    def __init__(self, tokenizer: Any, controls: list[GenerationControl], eos_ids: set[int]) -> None:
        self.rows = [ControlStreamer(tokenizer, c) for c in controls]
        self.eos_ids = eos_ids
        self.done = [False] * len(controls)
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for i, token in enumerate(value.reshape(-1).tolist()):
            row = self.rows[i]
            if self.done[i]:
                continue
            if token in self.eos_ids or row.control.stop_requested():
                self.done[i] = True
                row.end()
                continue
            row.ids.append(int(token))
            text = row.tokenizer.decode(row.ids, skip_special_tokens=True)
            if not text.endswith("\ufffd") and len(text) > row.sent:
                new, row.sent = text[row.sent :], len(text)
                row.control.push(new, tokens=len(row.ids))

    def end(self) -> None:
        for i, row in enumerate(self.rows):
            if not self.done[i]:
                row.end()


class RowsStopping(StoppingCriteria):
    """Stops each row of a batch of candidates once its own control asks to stop."""

    def __init__(self, controls: list[GenerationControl]) -> None:
        self.controls = controls

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        stops = [c.stop_requested() for c in self.controls]
        return torch.tensor(stops, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


def generate_kwargs(tokenizer: Any, batch_size: int, eos_ids: set[int] | None = None) -> dict[str, Any]:
    """``streamer``/``stopping_criteria`` for ``generate`` under the current control (empty without one).

    A single sequence streams to the current control. A batch streams row by row when its caller
    set one control per row (:func:`gencomp.streaming.candidate_controls`); otherwise a batch is
    only made cancellable.
    """
    rows = candidate_controls()
    if rows is not None and len(rows) == batch_size and batch_size > 1:
        return {
            "stopping_criteria": StoppingCriteriaList([RowsStopping(list(rows))]),
            "streamer": RowsStreamer(tokenizer, list(rows), eos_ids or set()),
        }
    control = current_control()
    if control is None:
        return {}
    extra: dict[str, Any] = {"stopping_criteria": StoppingCriteriaList([ControlStopping(control)])}
    if batch_size == 1:
        extra["streamer"] = ControlStreamer(tokenizer, control)
    return extra
