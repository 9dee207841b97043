"""Training an aLoRA from precomputed base-model states: only the invocation tokens run per step.

An aLoRA changes nothing before its invocation, and an adapter on the top ``k`` layers changes
nothing below layer ``n - k``. So for every example, the keys and values of every position before
the invocation (the shared conversation and the example's own requirement turn) and the hidden
states entering layer ``n - k`` at the invocation tokens are the base model's, whatever the adapter
weights. :func:`precompute` computes them once with the base model; :func:`top_logits` then runs only
the invocation tokens through the top ``k`` layers (with the adapter), attending to those stored
keys and values, so a training step costs a few tokens' forward and backward pass.

The stored keys and values are most of the memory training takes (about 46 KB per token of every
checked conversation on the embedded model, in float32); :func:`state_bytes` tells it before any
is computed, and ``dtype`` stores them at half of that (they are cast back for each step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gencomp_alora.prompt import find_last
from gencomp_alora.training.scoring import Group
from gencomp_hf_backend.compat import output_cache, with_cache

__all__ = ["Precomputed", "batches", "merge", "only_top_layers", "precompute", "state_bytes", "top_logits"]

KV = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Precomputed:
    """A group's base-model states, for the top ``k`` layers.

    The cache a row attends to is ``prefix_kv`` (the shared conversation) followed by its row of
    ``rows_kv`` (its own tokens before the invocation, right-padded to a common width); ``mask``
    marks the real positions of that cache and of ``hidden``.
    """

    group: Group
    prefix_kv: KV | None
    """Per top layer, keys and values ``[1, kv_heads, p, head_dim]`` of the shared prefix."""
    rows_kv: KV | None
    """Per top layer, keys and values ``[rows, kv_heads, R, head_dim]`` of each row's tokens before its invocation."""
    hidden: torch.Tensor
    """``[rows, m, hidden]``: the states entering the top layers at each row's invocation tokens (right-padded)."""
    mask: torch.Tensor
    """``[rows, p + R + m]``: 1 on real cache positions and real invocation tokens."""
    positions: torch.Tensor
    """``[rows, m]``: position ids of the invocation tokens."""
    last: list[int]
    """Index in ``hidden`` of each row's last token (where the verdict is read)."""


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


def _padded(group: Group, pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    k, width, p = len(group.suffixes), max(len(s) for s in group.suffixes), len(group.prefix)
    ids = torch.full((k, width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((k, p + width), dtype=torch.long, device=device)
    mask[:, :p] = 1
    for row, suffix in enumerate(group.suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix, device=device)
        mask[row, p : p + len(suffix)] = 1
    return ids, mask


def _layer_kv(cache: Any, i: int, dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Copies of the keys and values of a dynamic cache's layer ``i``, as ``dtype`` (``None``: as they are)."""
    layer = cache.layers[i]
    return _stored(layer.keys, dtype), _stored(layer.values, dtype)


def _starts(g: Group, invocation: Sequence[int]) -> list[int]:
    starts = [find_last(s, invocation) for s in g.suffixes]
    if min(starts) < 0:
        raise ValueError(f"a check prompt of this group lacks the invocation tokens {list(invocation)}")
    return starts


def state_bytes(config: Any, groups: Sequence[Group], k: int, invocation: Sequence[int], dtype: torch.dtype) -> int:
    """Bytes :func:`precompute` holds for ``groups`` of a model with ``config``, keys and values stored as ``dtype``."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_position = 2 * k * config.num_key_value_heads * head_dim * torch.empty((), dtype=dtype).element_size()
    total = 0
    for g in groups:
        starts = _starts(g, invocation)
        rows, p, width_r = len(starts), len(g.prefix), max(starts)
        m = max(len(s) - st for s, st in zip(g.suffixes, starts, strict=True))
        total += per_position * (p + rows * width_r)
        total += rows * m * config.hidden_size * 4 + rows * (p + width_r + 2 * m) * 8  # hidden, mask, positions
    return total


def _stored(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is None or dtype == tensor.dtype:
        return tensor.clone()
    out = tensor.to(dtype)
    if not torch.isfinite(out).all():
        raise OverflowError(
            f"the base model's keys or values exceed {dtype}'s range; store them as float32 or bfloat16"
        )
    return out


def _precompute_group(
    model: Any, g: Group, n: int, k: int, invocation: Sequence[int], pad_id: int, dtype: torch.dtype | None = None
) -> Precomputed:
    from transformers import DynamicCache

    device = next(model.parameters()).device
    rows, p = len(g.suffixes), len(g.prefix)
    starts = _starts(g, invocation)
    cache = DynamicCache(config=model.config)
    prefix_kv = None
    if p:
        model(input_ids=torch.tensor([g.prefix], device=device), **with_cache(cache), use_cache=True)
        prefix_kv = [_layer_kv(cache, i, dtype) for i in range(n - k, n)]
        if rows > 1:
            cache.batch_repeat_interleave(rows)
    ids, mask = _padded(g, pad_id, device)
    pos = torch.arange(p, p + ids.shape[1], device=device).unsqueeze(0).expand(rows, -1)
    res = model(input_ids=ids, attention_mask=mask, position_ids=pos, **with_cache(cache), use_cache=True,
                output_hidden_states=True)  # fmt: skip
    width_r = max(starts)
    rows_kv = None
    if width_r:
        layers = output_cache(res).layers
        rows_kv = [(_stored(layers[i].keys[:, :, p : p + width_r], dtype),
                    _stored(layers[i].values[:, :, p : p + width_r], dtype)) for i in range(n - k, n)]  # fmt: skip
    lengths = [len(s) - st for s, st in zip(g.suffixes, starts, strict=True)]
    m = max(lengths)
    entering = res.hidden_states[n - k]
    hidden = entering.new_zeros((rows, m, entering.shape[-1]))
    out_mask = torch.zeros((rows, p + width_r + m), dtype=torch.long, device=device)
    out_mask[:, :p] = 1
    positions = torch.empty((rows, m), dtype=torch.long, device=device)
    for r, (st, length) in enumerate(zip(starts, lengths, strict=True)):
        hidden[r, :length] = entering[r, st : st + length]
        out_mask[r, p : p + st] = 1
        out_mask[r, p + width_r : p + width_r + length] = 1
        positions[r] = torch.arange(p + st, p + st + m, device=device)
    return Precomputed(g, prefix_kv, rows_kv, hidden, out_mask, positions, [length - 1 for length in lengths])


def precompute(
    model: Any,
    groups: Sequence[Group],
    k: int,
    invocation: Sequence[int],
    pad_id: int,
    *,
    progress: bool = False,
    dtype: torch.dtype | None = None,
) -> list[Precomputed]:
    """The base model's states of every group for training the top ``k`` layers (adapter disabled).

    ``dtype`` stores the keys and values in that dtype (``None``: the model's); :class:`OverflowError`
    if one does not fit its range.
    """
    import sys

    from tqdm import tqdm

    n = len(_decoder(model).layers)
    disable = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    with torch.no_grad(), disable:
        bar = tqdm(groups, desc="precompute", disable=not progress, file=sys.stderr, unit="conversation")
        return [_precompute_group(model, g, n, k, invocation, pad_id, dtype) for g in bar]


def merge(items: Sequence[Precomputed]) -> Precomputed:
    """The rows of several groups as one batch, each row's cache right-padded to the longest.

    A step reads every weight of the top layers once, whatever the number of rows, so batching
    the rows of several conversations costs little more than one.
    """
    if len(items) == 1:
        return items[0]
    if len({_n_layers(x) for x in items}) != 1 or not _n_layers(items[0]):
        raise ValueError("only groups with cached states of the same layers can be merged")
    caches = [[_cat_layers(x, layer) for layer in range(_n_layers(x))] for x in items]
    lengths = [x.mask.shape[1] - x.hidden.shape[1] for x in items]
    width, m = max(lengths), max(x.hidden.shape[1] for x in items)
    rows = sum(x.hidden.shape[0] for x in items)
    first = items[0].hidden
    hidden = first.new_zeros((rows, m, first.shape[-1]))
    mask = torch.zeros((rows, width + m), dtype=torch.long, device=first.device)
    positions = torch.zeros((rows, m), dtype=torch.long, device=first.device)
    kv = []
    for layer in range(len(caches[0])):
        key0 = caches[0][layer][0]
        keys = key0.new_zeros((rows, key0.shape[1], width, key0.shape[3]))
        values = torch.zeros_like(keys)
        row = 0
        for x, cache in zip(items, caches, strict=True):
            k = x.hidden.shape[0]
            keys[row : row + k, :, : cache[layer][0].shape[2]] = cache[layer][0]
            values[row : row + k, :, : cache[layer][1].shape[2]] = cache[layer][1]
            row += k
        kv.append((keys, values))
    row = 0
    for x, length in zip(items, lengths, strict=True):
        k, mx = x.hidden.shape[0], x.hidden.shape[1]
        hidden[row : row + k, :mx] = x.hidden
        mask[row : row + k, :length] = x.mask[:, :length]
        mask[row : row + k, width : width + mx] = x.mask[:, length:]
        positions[row : row + k, :mx] = x.positions
        row += k
    group = Group([], [s for x in items for s in x.group.suffixes], [i for x in items for i in x.group.indices])
    last = [i for x in items for i in x.last]
    return Precomputed(group, None, kv if width else None, hidden, mask, positions, last)


def batches(items: Sequence[Precomputed], order: Iterable[int], rows: int) -> Iterator[Precomputed]:
    """``items`` in ``order``, merged (lazily) into batches of at least ``rows`` rows (the last may have fewer)."""
    pending: list[Precomputed] = []
    count = 0
    for i in order:
        pending.append(items[i])
        count += items[i].hidden.shape[0]
        if count >= rows:
            yield merge(pending)
            pending, count = [], 0
    if pending:
        yield merge(pending)


def _n_layers(item: Precomputed) -> int:
    kv = item.prefix_kv if item.prefix_kv is not None else item.rows_kv
    return len(kv) if kv is not None else 0


def _cat_layers(item: Precomputed, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer ``layer``'s whole cache of every row of ``item``: the prefix then the row's own part."""
    rows, dtype = item.hidden.shape[0], item.hidden.dtype
    parts = [kv[layer] for kv in (item.prefix_kv, item.rows_kv) if kv is not None]
    keys = torch.cat([key.expand(rows, -1, -1, -1).to(dtype) for key, _ in parts], dim=2)
    values = torch.cat([value.expand(rows, -1, -1, -1).to(dtype) for _, value in parts], dim=2)
    return keys, values


def _cache(item: Precomputed) -> Any:
    from transformers import DynamicCache

    n = _n_layers(item)
    return DynamicCache(ddp_cache_data=[_cat_layers(item, layer) for layer in range(n)]) if n else None


def top_logits(model: Any, item: Precomputed, *, use_adapter: bool = True) -> torch.Tensor:
    """Next-token logits after each row's last token, running only the top layers (inside :func:`only_top_layers`)."""
    rows, m = item.hidden.shape[0], item.hidden.shape[1]
    cache = _cache(item)
    disable = contextlib.nullcontext() if use_adapter else model.disable_adapter()
    with disable:
        res = model(
            inputs_embeds=item.hidden, attention_mask=item.mask, position_ids=item.positions,
            **with_cache(cache), use_cache=cache is not None,
            alora_offsets=[m] * rows,  # also without the adapter: PEFT warns when it cannot compute them
            logits_to_keep=0,  # a sliced last position makes lm_head a batched matmul over copies of its weight
        )  # fmt: skip
    return res.logits[torch.arange(rows, device=item.hidden.device), torch.tensor(item.last, device=item.hidden.device)]
