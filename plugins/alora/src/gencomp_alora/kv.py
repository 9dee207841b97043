"""Read-only use of stored base-model KV caches: fresh cache objects over (pieces of) their tensors."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["joined_view", "prefix_view"]


def _plain_layers(cache: Any) -> list[Any] | None:
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if layers is not None and all(type(layer) is DynamicLayer for layer in layers):
        return list(layers)
    return None


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
    layers = _plain_layers(cache)
    if layers is not None:
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


def _joined_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class JoinedLayer(DynamicLayer):  # type: ignore[misc]
        """A dynamic layer over several read-only pieces of key/value tensors, joined once, on the first update."""

        def __init__(self, pieces: list[tuple[Any, Any]]) -> None:
            super().__init__()
            self.pieces = pieces
            self.length = sum(int(k.shape[-2]) for k, _ in pieces)
            self.lazy_initialization(pieces[0][0], pieces[0][1])

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            if self.pieces:
                self.keys = torch.cat([*(k for k, _ in self.pieces), key_states], dim=-2)
                self.values = torch.cat([*(v for _, v in self.pieces), value_states], dim=-2)
                self.pieces = []
                return self.keys, self.values
            return super().update(key_states, value_states, *args, **kwargs)

        def get_seq_length(self) -> int:
            return self.length if self.pieces else super().get_seq_length()

    return JoinedLayer


_JOINED: type | None = None


def joined_view(pieces: Sequence[tuple[Any, int, int]], config: Any = None) -> Any:
    """A new ``DynamicCache`` whose positions are, in order, positions ``[start, end)`` of each ``(cache, start, end)``.

    The stored tensors are only read: the first forward pass on the view copies the pieces and its
    own new keys and values into new tensors in one concatenation (what a prefix view's first update
    costs for one piece). Every cache must have plain dynamic layers; a single piece starting at 0 is
    :func:`prefix_view`.
    """
    global _JOINED
    from transformers import DynamicCache

    pieces = [(c, s, e) for c, s, e in pieces if e > s]
    if not pieces:
        return DynamicCache(config=config) if config is not None else DynamicCache()
    if len(pieces) == 1 and pieces[0][1] == 0:
        return prefix_view(pieces[0][0], pieces[0][2], config)
    per_cache = []
    for cache, start, end in pieces:
        length = cache.get_seq_length()
        if not 0 <= start < end <= length:
            raise ValueError(f"cannot take positions [{start}, {end}) of a cache that holds {length}")
        layers = _plain_layers(cache)
        if layers is None:
            raise ValueError("joined_view reads caches of plain dynamic layers only")
        per_cache.append((layers, start, end))
    if _JOINED is None:
        _JOINED = _joined_layer_class()
    view = DynamicCache(config=config) if config is not None else DynamicCache()
    view.layers = [
        _JOINED([(layers[i].keys[..., s:e, :], layers[i].values[..., s:e, :]) for layers, s, e in per_cache])
        for i in range(len(per_cache[0][0]))
    ]
    return view
