"""Read-only use of a stored base-model KV cache: a fresh cache object over a prefix of its tensors."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["prefix_view"]


def prefix_view(cache: Any, n: int, config: Any = None) -> Any:
    """A new ``DynamicCache`` holding the first ``n`` positions of ``cache``, leaving ``cache`` untouched.

    For plain dynamic layers this costs O(layers): the new layers point at (slices of) the stored
    tensors, and ``DynamicLayer.update`` concatenates into new tensors, so running a model on the
    view never writes into the stored cache. Other layer kinds are deep-copied and cropped.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    length = cache.get_seq_length()
    if not 0 <= n <= length:
        raise ValueError(f"cannot take {n} positions of a cache that holds {length}")
    layers = getattr(cache, "layers", None)
    if layers is not None and all(type(layer) is DynamicLayer for layer in layers):
        view = DynamicCache(config=config) if config is not None else DynamicCache()
        new_layers: list[Any] = [DynamicLayer() for _ in layers]
        for src, dst in zip(layers, new_layers, strict=True):
            if not src.is_initialized or src.keys is None:
                continue
            dst.lazy_initialization(src.keys, src.values)
            dst.keys = src.keys[..., :n, :]
            dst.values = src.values[..., :n, :]
        view.layers = new_layers
        return view
    clone = copy.deepcopy(cache)
    if n < length:
        clone.crop(n - length)
    return clone
