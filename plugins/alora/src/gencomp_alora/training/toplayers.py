"""Training only the top layers of a decoder: precompute the frozen bottom once, then run only the top.

When the adapter touches only the top ``k`` decoder layers, the hidden states entering layer
``n - k`` are the base model's for every position (an aLoRA changes nothing before its invocation,
and nothing below its lowest adapted layer). :func:`precompute` runs the whole base model once per
example group and keeps those states; :func:`top_logits` then runs only the top ``k`` layers (with
the adapter) on each example's own suffix, from those states and the prefix's keys and values of
the top layers (the base model's too), so an epoch costs a small fraction of a forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gencomp_alora.prompt import find_last
from gencomp_alora.training.scoring import Group

__all__ = ["Precomputed", "only_top_layers", "precompute", "top_logits"]


@dataclass
class Precomputed:
    """A group's top-layer prefix keys/values and the suffixes' hidden states ``[k, S, D]`` entering the top layers."""

    group: Group
    prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None
    suffix: torch.Tensor
    offsets: list[int]
    """aLoRA offsets of the suffix rows (positions from the invocation start to the row's padded end)."""


def _decoder(model: Any) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model


@contextlib.contextmanager
def only_top_layers(model: Any, k: int) -> Iterator[None]:
    """Within the block, ``model``'s decoder holds only its top ``k`` layers (renumbered for the KV cache)."""
    inner = _decoder(model)
    full = inner.layers
    n = len(full)
    top = list(full[n - k :])
    old_idx = [layer.self_attn.layer_idx for layer in top]
    config = inner.config
    inner.layers = torch.nn.ModuleList(top)
    config.num_hidden_layers = k
    for i, layer in enumerate(top):
        layer.self_attn.layer_idx = i
    try:
        yield
    finally:
        for layer, idx in zip(top, old_idx, strict=True):
            layer.self_attn.layer_idx = idx
        inner.layers = full
        config.num_hidden_layers = n


def _padded(group: Group, pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    k, width = len(group.suffixes), max(len(s) for s in group.suffixes)
    ids = torch.full((k, width), pad_id, dtype=torch.long, device=device)
    for row, suffix in enumerate(group.suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix, device=device)
    return ids, _mask(group, width, device), [len(s) for s in group.suffixes]


def _mask(group: Group, width: int, device: Any) -> torch.Tensor:
    p = len(group.prefix)
    mask = torch.zeros((len(group.suffixes), p + width), dtype=torch.long, device=device)
    mask[:, :p] = 1
    for row, suffix in enumerate(group.suffixes):
        mask[row, p : p + len(suffix)] = 1
    return mask


def precompute(
    model: Any, groups: Sequence[Group], k: int, invocation: Sequence[int], pad_id: int, *, progress: bool = False
) -> list[Precomputed]:
    """Hidden states entering layer ``n - k`` for every group, from the base model (adapter disabled)."""
    import sys

    from tqdm import tqdm

    device = next(model.parameters()).device
    n = len(_decoder(model).layers)
    disable = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    out: list[Precomputed] = []
    with torch.no_grad(), disable:
        for g in tqdm(groups, desc="precompute", disable=not progress, file=sys.stderr, unit="conversation"):
            p = len(g.prefix)
            cache = None
            prefix_kv = None
            if p:
                res = model(input_ids=torch.tensor([g.prefix], device=device), use_cache=True)
                cache = res.past_key_values
                prefix_kv = [(cache.layers[i].keys.clone(), cache.layers[i].values.clone()) for i in range(n - k, n)]
                if len(g.suffixes) > 1:
                    cache.batch_repeat_interleave(len(g.suffixes))
            ids, mask, lengths = _padded(g, pad_id, device)
            width = ids.shape[1]
            pos = torch.arange(p, p + width, device=device).unsqueeze(0).expand(len(lengths), -1)
            res = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                        use_cache=cache is not None, output_hidden_states=True)  # fmt: skip
            starts = [find_last(s, invocation) for s in g.suffixes]
            offsets = [width - s if s >= 0 else 0 for s in starts]
            out.append(Precomputed(g, prefix_kv, res.hidden_states[n - k], offsets))
    return out


def top_logits(model: Any, item: Precomputed, *, use_adapter: bool = True) -> torch.Tensor:
    """Next-token logits after each suffix, running only the top layers (call inside :func:`only_top_layers`)."""
    g = item.group
    device = item.suffix.device
    p = len(g.prefix)
    kk, width = item.suffix.shape[0], item.suffix.shape[1]
    disable = contextlib.nullcontext() if use_adapter else model.disable_adapter()
    cache = None
    if item.prefix_kv is not None:
        from transformers import DynamicCache

        rows = [(key.expand(kk, -1, -1, -1).contiguous(), val.expand(kk, -1, -1, -1).contiguous())
                for key, val in item.prefix_kv]  # fmt: skip
        cache = DynamicCache(ddp_cache_data=rows)
    pos = torch.arange(p, p + width, device=device).unsqueeze(0).expand(kk, -1)
    with disable:
        res = model(
            inputs_embeds=item.suffix, attention_mask=_mask(g, width, device), position_ids=pos,
            past_key_values=cache, use_cache=cache is not None, alora_offsets=item.offsets if use_adapter else None,
        )  # fmt: skip
    last = torch.tensor([len(s) - 1 for s in g.suffixes], device=device)
    return res.logits[torch.arange(kk, device=device), last]
