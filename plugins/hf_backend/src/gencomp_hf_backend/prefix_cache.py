"""The prefix cache: stored KV-cache entries that a later prompt extending their ids reuses."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from gencomp_hf_backend.kv import KVCacheEntry, KVCacheGroup, clone_cache, common_prefix_length

if TYPE_CHECKING:
    import torch

    from gencomp.cache import Cache

__all__ = ["PrefixCache", "check_entry"]


class PrefixCache:
    """An index over a backend's :class:`~gencomp.Cache` of :class:`KVCacheEntry` values, for prefix reuse.

    ``cache`` holds the entries (``None``: caching is off, nothing is stored). The index keeps weak
    references, so an entry the cache drops leaves it. Not locked: the backend holds its lock.
    """

    def __init__(self, cache: Cache | None) -> None:
        self.cache = cache
        self._index: dict[str, weakref.ref[KVCacheEntry]] = {}

    def get(self, key: str) -> KVCacheEntry | None:
        """The entry under ``key`` (``"<group key>/<i>"`` for a candidate of a group) while it has its KV cache."""
        if self.cache is None:
            return None
        group_key, _, row = key.partition("/")
        info = self.cache.get(group_key if row else key)
        if isinstance(info, KVCacheGroup):
            if not row.isdigit() or int(row) >= len(info.entries):
                return None
            info = info.entries[int(row)]
        return info if info is None or info.kv_cache is not None else None

    def put(self, key: str, entry: KVCacheEntry) -> None:
        """Store ``entry`` (validated by :func:`check_entry`) under ``key`` and index it."""
        if self.cache is None:
            return
        check_entry(entry)
        self._index[key] = weakref.ref(entry)
        self.cache.put(key, entry)

    def put_group(self, key: str, entries: list[KVCacheEntry]) -> list[str]:
        """Store the candidates of one batched generation under ``key``; returns each one's key (``"<key>/<i>"``)."""
        if self.cache is None:
            return []
        for entry in entries:
            check_entry(entry)
        keys = [f"{key}/{i}" for i in range(len(entries))]
        for k, entry in zip(keys, entries, strict=True):
            self._index[k] = weakref.ref(entry)
        self.cache.put(key, KVCacheGroup(entries))
        return keys

    def release(self, key: str, value: Any) -> None:
        """Eviction callback: forget ``key`` and drop the entry's KV tensors so their memory is freed."""
        members = value.entries if isinstance(value, KVCacheGroup) else [value]
        keys = [f"{key}/{i}" for i in range(len(members))] if isinstance(value, KVCacheGroup) else [key]
        for k, member in zip(keys, members, strict=True):
            ref = self._index.get(k)
            if ref is not None and ref() in (member, None):  # not a newer entry put under the same key
                self._index.pop(k, None)
            if isinstance(member, KVCacheEntry):
                member.kv_cache = None

    def keys(self) -> list[str]:
        """The keys of the entries that are candidates for prefix reuse."""
        return list(self._index)

    def longest_prefix(self, ids: torch.Tensor) -> tuple[KVCacheEntry | None, int]:
        """The entry sharing the longest reusable prefix with ``ids`` (1-D), and that length.

        At least one token of ``ids`` is always left to feed the model.
        """
        best: KVCacheEntry | None = None
        best_key, best_len = None, 0
        limit = ids.shape[0] - 1
        for key, ref in list(self._index.items()):
            info = ref()
            if info is None or info.kv_cache is None:
                self._index.pop(key, None)
                continue
            try:
                kv_len = info.kv_cache.get_seq_length()
                n = min(common_prefix_length(info.merged_token_ids[0, :kv_len], ids), limit)
            except (AttributeError, IndexError, RuntimeError, TypeError):  # changed after put: skip it
                continue
            if n > best_len:
                best, best_key, best_len = info, key, n
        if best_key is not None:
            self.get(best_key)  # mark it recently used
        return best, best_len

    def reusable(self, ids: torch.Tensor) -> tuple[Any, int]:
        """A private copy of the best stored cache cut to the shared prefix of ``ids`` (1-D), and its length.

        ``(None, 0)`` when nothing can be reused. The stored entry is never changed.
        """
        if self.cache is None:
            return None, 0
        info, reused = self.longest_prefix(ids)
        if info is None or info.kv_cache is None:
            return None, 0
        past = clone_cache(info.kv_cache)
        extra = past.get_seq_length() - reused
        if extra > 0:
            try:
                past.crop(-extra)
            except (RuntimeError, ValueError):  # e.g. a sliding-window layer past its window
                return None, 0
        return past, reused


def check_entry(v: Any) -> None:
    """Validate an entry for prefix reuse, reshaping 1-D id and attention tensors to ``(1, n)``."""
    import torch

    if not isinstance(v, KVCacheEntry):
        raise TypeError(f"cache_put takes a KVCacheEntry (the seed's HFAloraCacheInfo), got {type(v).__name__}")
    if v.kv_cache is not None and not callable(getattr(v.kv_cache, "get_seq_length", None)):
        raise TypeError(
            f"KVCacheEntry.kv_cache must be a transformers Cache (such as DynamicCache) or None, "
            f"got {type(v.kv_cache).__name__}"
        )
    for name in ("merged_token_ids", "merged_attention"):
        t = getattr(v, name)
        if not isinstance(t, torch.Tensor) or t.dim() not in (1, 2) or (t.dim() == 2 and t.shape[0] != 1):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"KVCacheEntry.{name} must be a tensor of shape (1, n) or (n,), got {shape}")
        if t.dim() == 1:
            setattr(v, name, t.unsqueeze(0))
    n = v.merged_token_ids.shape[1]
    kv_len = v.kv_cache.get_seq_length() if v.kv_cache is not None else 0
    if kv_len > n:
        raise ValueError(f"KVCacheEntry.kv_cache covers {kv_len} positions but merged_token_ids has only {n}")
