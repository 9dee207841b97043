"""Batched verdict scoring that computes a shared conversation prefix once.

Examples on the same conversation share its tokens: the prefix runs once through the base model
(no adapter, no gradient), its KV cache is repeated over the group, and only each example's own
suffix (the requirement turn and the generation prompt) runs with the adapter. With an aLoRA this
is exact: the adapter is inactive before its invocation, so the prefix's states are the base model's.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gencomp_hf_backend.compat import output_cache, with_cache

__all__ = ["Group", "encode_groups", "group_logits"]


@dataclass
class Group:
    """Token ids of examples that share ``prefix``; ``suffixes[i]`` completes example ``indices[i]``."""

    prefix: list[int]
    suffixes: list[list[int]]
    indices: list[int]


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode_groups(
    items: Sequence[tuple[Sequence[int], Sequence[int]]], *, share_prefix: bool = True, max_group: int = 16
) -> list[Group]:
    """Group ``(conversation ids, full prompt ids)`` pairs by conversation (at most ``max_group`` per group).

    The shared part is the longest common prefix of the conversation ids and every full prompt of
    the group, less one token so every suffix keeps at least one; ``share_prefix=False`` shares nothing.
    """
    by_prefix: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, (prefix, _) in enumerate(items):
        by_prefix[tuple(prefix) if share_prefix else (-1 - i,)].append(i)
    groups: list[Group] = []
    for key, members in by_prefix.items():
        prefix_ids = list(key) if share_prefix else []
        for start in range(0, len(members), max_group):
            chunk = members[start : start + max_group]
            fulls = [list(items[i][1]) for i in chunk]
            shared = min([_common_length(prefix_ids, f) for f in fulls] + [min(len(f) for f in fulls) - 1])
            shared = max(shared, 0)
            groups.append(Group(fulls[0][:shared], [f[shared:] for f in fulls], chunk))
    return groups


def _no_adapter(model: Any) -> contextlib.AbstractContextManager[Any]:
    disable = getattr(model, "disable_adapter", None)
    return disable() if callable(disable) else contextlib.nullcontext()


def group_logits(model: Any, group: Group, *, use_adapter: bool = True, pad_id: int = 0) -> torch.Tensor:
    """Next-token logits after each suffix of ``group``, shape ``[len(suffixes), vocab]``.

    Gradients flow through the suffix pass when grad mode is on; the prefix pass never has any.
    """
    device = next(model.parameters()).device
    k = len(group.suffixes)
    p = len(group.prefix)
    cache = None
    if p:
        with torch.no_grad(), _no_adapter(model):
            out = model(input_ids=torch.tensor([group.prefix], device=device), use_cache=True)
        cache = output_cache(out)
        if k > 1:
            cache.batch_repeat_interleave(k)
    lengths = [len(s) for s in group.suffixes]
    width = max(lengths)
    ids = torch.full((k, width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((k, p + width), dtype=torch.long, device=device)
    mask[:, :p] = 1
    for row, suffix in enumerate(group.suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix, device=device)
        mask[row, p : p + len(suffix)] = 1
    positions = torch.arange(p, p + width, device=device).unsqueeze(0).expand(k, -1)
    ctx = contextlib.nullcontext() if use_adapter else _no_adapter(model)
    with ctx:
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            **with_cache(cache),
            use_cache=cache is not None,
        )
    last = torch.tensor([n - 1 for n in lengths], device=device)
    return out.logits[torch.arange(k, device=device), last]
