"""KV-cache entries of the HF backend, and how to share a cache without letting a reader change it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import DynamicCache

__all__ = ["HFAloraCacheInfo", "KVCacheEntry", "KVCacheGroup", "clone_cache", "common_prefix_length", "row_cache"]


@dataclass(eq=False)
class KVCacheEntry:
    """A KV cache and the token ids it belongs to, stored per output under ``thunk.meta["hf_cache_key"]``.

    ``kv_cache`` covers ``merged_token_ids[:, :kv_cache.get_seq_length()]`` (usually all but the last
    generated token); it is ``None`` once the entry was evicted. ``merged_token_ids`` are the exact
    prompt ids followed by the generated ids, shape ``(1, n)``; ``merged_attention`` is their
    attention mask; ``q_end`` is the number of prompt tokens. Entries are never mutated after they
    are stored: readers work on :func:`clone_cache` copies.
    """

    kv_cache: DynamicCache | None
    merged_token_ids: torch.Tensor
    merged_attention: torch.Tensor
    q_end: int


HFAloraCacheInfo = KVCacheEntry
"""The seed's name of :class:`KVCacheEntry`."""


@dataclass(eq=False)
class KVCacheGroup:
    """The entries of the candidates one batched generation produced, stored under one cache key.

    Candidate ``i``'s entry is found under ``"<key>/<i>"``; its KV cache is a view of its row of the
    batch's cache, so the group costs one batch's memory and one slot of the backend's cache.
    """

    entries: list[KVCacheEntry]


def _shallow_safe(cache: object) -> bool:
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    return all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in getattr(cache, "layers", []))


def clone_cache(cache: DynamicCache) -> DynamicCache:
    """A copy of ``cache`` that can be extended (``generate``, forward, ``crop(-k)``) without changing ``cache``.

    For dynamic layers this is O(layers): the new layers reference the same key/value tensors, and
    ``DynamicLayer.update`` concatenates into new tensors while ``crop`` slices, so the original's
    tensors are never written. Other layer types (static, linear attention) are deep-copied.
    """
    if not _shallow_safe(cache):
        return copy.deepcopy(cache)
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    return new


def row_cache(cache: DynamicCache, row: int, length: int) -> DynamicCache:
    """Row ``row`` of a batched cache, cut to its first ``length`` positions, as a cache of batch 1 (views, no copy)."""
    new = clone_cache(cache)
    for layer in new.layers:
        keys: Any = getattr(layer, "keys", None)
        values: Any = getattr(layer, "values", None)
        if keys is not None and values is not None and keys.numel():
            layer.keys = keys[row : row + 1, :, :length]  # type: ignore[union-attr]
            layer.values = values[row : row + 1, :, :length]  # type: ignore[union-attr]
    return new


def common_prefix_length(a: torch.Tensor, b: torch.Tensor) -> int:
    """How many leading ids two 1-D id tensors share."""
    n = min(a.shape[0], b.shape[0])
    if n == 0:
        return 0
    diff = (a[:n] != b[:n]).nonzero()
    return int(diff[0, 0]) if diff.shape[0] else n
