"""Caches for backends: the interface and a thread-safe LRU with an eviction callback."""

from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["Cache", "LRUCache"]


class Cache(abc.ABC):
    """A key-value store a backend keeps its per-output state in."""

    @abc.abstractmethod
    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None``."""

    @abc.abstractmethod
    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""

    def clear(self) -> None:  # noqa: B027 - optional for subclasses
        """Drop every entry."""


class LRUCache(Cache):
    """Keeps the ``capacity`` most recently used entries; calls ``on_evict(key, value)`` for each one dropped.

    A capacity of 0 stores nothing (every value is handed to ``on_evict`` at once). Safe to share
    between threads.
    """

    def __init__(self, capacity: int = 3, on_evict: Callable[[str, Any], None] | None = None) -> None:
        if capacity < 0:
            raise ValueError(f"LRUCache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.on_evict = on_evict
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: str, value: Any) -> None:
        evicted: list[tuple[str, Any]] = []
        with self._lock:
            if self.capacity == 0:
                evicted.append((key, value))
            else:
                old = self._data.pop(key, None)
                if old is not None and old is not value:
                    evicted.append((key, old))
                self._data[key] = value
                while len(self._data) > self.capacity:
                    evicted.append(self._data.popitem(last=False))
        for k, v in evicted:
            if self.on_evict is not None:
                self.on_evict(k, v)

    def clear(self) -> None:
        with self._lock:
            items = list(self._data.items())
            self._data.clear()
        for k, v in items:
            if self.on_evict is not None:
                self.on_evict(k, v)

    def keys(self) -> list[str]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data
