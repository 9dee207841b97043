"""LRUCache: capacity, recency, eviction callback, and sharing between threads."""

from __future__ import annotations

import threading

import pytest

from gencomp import LRUCache


def test_lru_cache_evicts_the_least_recently_used_and_reports_it():
    evicted = []
    cache = LRUCache(2, on_evict=lambda k, v: evicted.append((k, v)))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert evicted == [("b", 2)]
    assert cache.keys() == ["a", "c"]
    assert cache.get("b") is None


def test_lru_cache_of_capacity_zero_stores_nothing_and_releases_at_once():
    evicted = []
    cache = LRUCache(0, on_evict=lambda k, v: evicted.append(k))
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0 and evicted == ["a"]


def test_replacing_a_key_releases_the_old_value():
    evicted = []
    cache = LRUCache(2, on_evict=lambda k, v: evicted.append(v))
    cache.put("a", 1)
    cache.put("a", 2)
    assert cache.get("a") == 2 and evicted == [1]


def test_lru_cache_rejects_a_negative_capacity():
    with pytest.raises(ValueError, match=">= 0"):
        LRUCache(-1)


def test_lru_cache_stays_within_capacity_under_concurrent_puts():
    evicted = []
    cache = LRUCache(5, on_evict=lambda k, v: evicted.append(k))

    def work(n: int) -> None:
        for i in range(200):
            cache.put(f"{n}-{i}", i)
            cache.get(f"{n}-{i // 2}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 5
    assert len(evicted) == 8 * 200 - 5
    assert set(evicted).isdisjoint(cache.keys())
