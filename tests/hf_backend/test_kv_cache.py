"""KV-cache entries: the HFAloraCacheInfo contract, unique keys, eviction, flat memory, prefix reuse."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from transformers import DynamicCache

from gencomp import LinearContext, LRUCache, Message, SimpleContext, hookimpl, plugins
from gencomp_hf_backend import HFAloraCacheInfo, clone_cache
from gencomp_hf_backend.compat import output_cache, with_cache


def _ask(backend, text: str, ctx=None, n: int = 4, logs=None):
    return backend.generate_from_context(
        Message("user", text),
        ctx if ctx is not None else SimpleContext(),
        model_options={"max_new_tokens": n},
        generate_logs=logs,
    )


def test_every_generation_stores_an_entry_with_the_exact_prompt_and_output_ids(backend) -> None:
    logs = []
    out = _ask(backend, "What is the capital of France?", n=5, logs=logs)
    key = out.meta["hf_cache_key"]
    info = backend.cache_get(key)
    assert isinstance(info, HFAloraCacheInfo) and isinstance(info.kv_cache, DynamicCache)
    prompt_ids = backend.tokenizer(logs[-1].prompt, add_special_tokens=False).input_ids
    assert info.q_end == len(prompt_ids)
    assert info.merged_token_ids[0, : info.q_end].tolist() == prompt_ids
    assert info.merged_token_ids[0, info.q_end :].tolist() == logs[-1].model_output.tolist()
    assert info.merged_attention.shape == info.merged_token_ids.shape and bool(info.merged_attention.all())
    assert info.kv_cache.get_seq_length() == info.merged_token_ids.shape[1] - 1


def test_cached_keys_and_values_equal_a_fresh_forward_pass(backend) -> None:
    info = backend.cache_get(_ask(backend, "Hello there", n=3).meta["hf_cache_key"])
    kv_len = info.kv_cache.get_seq_length()
    with torch.no_grad():
        fresh = output_cache(backend.model(input_ids=info.merged_token_ids[:, :kv_len], use_cache=True))
    for cached, recomputed in zip(info.kv_cache.layers, fresh.layers, strict=True):
        torch.testing.assert_close(cached.keys, recomputed.keys, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(cached.values, recomputed.values, rtol=1e-4, atol=1e-5)


def test_two_calls_with_the_same_output_text_get_different_entries(backend) -> None:
    a = _ask(backend, "yes or no?", n=1)
    b = _ask(backend, "yes or no?", n=1)
    assert a.value == b.value
    assert a.meta["hf_cache_key"] != b.meta["hf_cache_key"]
    assert backend.cache_get(a.meta["hf_cache_key"]) is not backend.cache_get(b.meta["hf_cache_key"])


def test_cache_put_reshapes_a_one_dimensional_entry_and_later_generations_reuse_it(backend) -> None:
    first = backend.cache_get(_ask(backend, "Hello there", n=3).meta["hf_cache_key"])
    flat = HFAloraCacheInfo(
        clone_cache(first.kv_cache), first.merged_token_ids[0].clone(), first.merged_attention[0].clone(), first.q_end
    )
    backend.cache_put("mellea-style", flat)
    assert backend.cache_get("mellea-style").merged_token_ids.shape == first.merged_token_ids.shape
    logs = []
    _ask(backend, "Hello there again", n=2, logs=logs)
    assert logs[-1].extra["reused_tokens"] > 0


def test_cache_put_refuses_an_entry_whose_kv_cache_is_no_cache(backend) -> None:
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(TypeError, match="kv_cache must be a transformers Cache"):
        backend.cache_put("bad", HFAloraCacheInfo([(ids, ids)], ids, torch.ones_like(ids), 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(1, n\) or \(n,\), got \(2, 3\)"):
        backend.cache_put("bad", HFAloraCacheInfo(None, ids.repeat(2, 1), torch.ones(2, 3), 2))
    assert backend.cache_get("bad") is None


def test_prefix_lookup_skips_an_entry_broken_after_it_was_stored(backend) -> None:
    info = backend.cache_get(_ask(backend, "Hello there", n=3).meta["hf_cache_key"])
    info.merged_token_ids = info.merged_token_ids[0]  # a caller changed the stored entry in place
    out = _ask(backend, "Hello there", n=3)
    assert out.value is not None


def test_use_caches_false_stores_nothing(make_backend) -> None:
    b = make_backend(use_caches=False, cache=LRUCache(5))
    out = _ask(b, "hi")
    assert "hf_cache_key" not in out.meta and b.cache is None


def test_cache_comes_from_the_make_cache_hook_and_defaults_to_lru_3(make_backend) -> None:
    assert isinstance(make_backend().cache, LRUCache) and make_backend().cache.capacity == 3
    mine = LRUCache(7)

    class CachePlugin:
        @hookimpl
        def gencomp_make_cache(self, backend):
            return mine

    p = CachePlugin()
    plugins.register_plugin(p, name="test-cache-plugin")
    try:
        assert make_backend().cache is mine
    finally:
        plugins.unregister_plugin(p)
    given = LRUCache(2)
    assert make_backend(cache=given).cache is given


def test_eviction_releases_the_kv_tensors(make_backend) -> None:
    b = make_backend(cache=LRUCache(2))
    first = _ask(b, "one")
    info = b.cache.get(first.meta["hf_cache_key"])
    kv_ref = weakref.ref(info.kv_cache)
    keys_ref = weakref.ref(info.kv_cache.layers[0].keys)
    _ask(b, "two")
    _ask(b, "three")
    assert b.cache_get(first.meta["hf_cache_key"]) is None
    assert info.kv_cache is None
    gc.collect()
    assert kv_ref() is None and keys_ref() is None


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def _tensor_bytes() -> int:
    gc.collect()
    return sum(o.untyped_storage().nbytes() for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))


@pytest.mark.slow
def test_memory_stays_flat_over_1000_calls(backend) -> None:
    counts = []
    for i in range(1000):
        if i % 4 == 0:  # short conversations, so that the caller keeps a bounded history
            ctx = LinearContext()
        out = _ask(backend, f"question {i % 7}", ctx=ctx, n=1)
        ctx.insert_turn(Message("user", f"question {i % 7}"), out)
        if i in (99, 999):
            counts.append((_live(DynamicCache), _live(HFAloraCacheInfo), len(backend.cached_keys()), _tensor_bytes()))
    assert counts[0][:3] == counts[1][:3]
    caches, infos, indexed, _ = counts[1]
    assert caches <= 3 and infos <= 3 and indexed <= 3
    assert counts[1][3] <= counts[0][3] * 1.05


def test_clone_cache_shares_tensors_and_extending_the_clone_leaves_the_original_intact(backend) -> None:
    info = backend.cache_get(_ask(backend, "Tell me about Paris", n=3).meta["hf_cache_key"])
    original = info.kv_cache
    snapshot = [(layer.keys.clone(), layer.values.clone()) for layer in original.layers]
    length = original.get_seq_length()
    clone = clone_cache(original)
    assert clone is not original
    assert all(c.keys is o.keys for c, o in zip(clone.layers, original.layers, strict=True))
    more = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        backend.model(input_ids=more, **with_cache(clone), use_cache=True)
    assert clone.get_seq_length() == length + 3
    clone.crop(-5)
    assert original.get_seq_length() == length
    for layer, (k, v) in zip(original.layers, snapshot, strict=True):
        assert torch.equal(layer.keys, k) and torch.equal(layer.values, v)


def test_growing_chat_reuses_the_prefix_and_matches_recomputation_exactly(make_backend) -> None:
    cached, fresh = make_backend(), make_backend(use_caches=False)
    ctx_a, ctx_b = LinearContext(), LinearContext()
    reused = []
    for turn in ["What is the capital of France?", "And of Italy?", "And of Spain?", "Thanks!"]:
        logs, fresh_logs = [], []
        a = _ask(cached, turn, ctx=ctx_a, n=8, logs=logs)
        b = _ask(fresh, turn, ctx=ctx_b, n=8, logs=fresh_logs)
        assert logs[-1].prompt == fresh_logs[-1].prompt
        assert logs[-1].model_output.tolist() == fresh_logs[-1].model_output.tolist()
        assert a.value == b.value
        reused.append(logs[-1].extra["reused_tokens"])
        ctx_a.insert_turn(Message("user", turn), a)
        ctx_b.insert_turn(Message("user", turn), b)
    assert reused[0] == 0 and all(r > 30 for r in reused[1:])


def test_prefix_reuse_never_mutates_the_entry_it_reads(backend) -> None:
    ctx = LinearContext()
    first = _ask(backend, "What is the capital of France?", ctx=ctx, n=6)
    info = backend.cache_get(first.meta["hf_cache_key"])
    snapshot = [layer.keys.clone() for layer in info.kv_cache.layers]
    ids = info.merged_token_ids.clone()
    length = info.kv_cache.get_seq_length()
    ctx.insert_turn(Message("user", "What is the capital of France?"), first)
    logs = []
    _ask(backend, "And of Italy?", ctx=ctx, n=6, logs=logs)
    assert logs[-1].extra["reused_tokens"] > 0
    assert info.kv_cache.get_seq_length() == length and torch.equal(info.merged_token_ids, ids)
    assert all(torch.equal(layer.keys, k) for layer, k in zip(info.kv_cache.layers, snapshot, strict=True))


def test_repeating_a_prompt_reuses_all_but_its_last_token(backend) -> None:
    logs = []
    a = _ask(backend, "Same prompt", n=5, logs=logs)
    b = _ask(backend, "Same prompt", n=5, logs=logs)
    assert a.value == b.value
    assert logs[1].extra["reused_tokens"] == logs[1].extra["prompt_tokens"] - 1


def test_putting_a_new_entry_under_an_existing_key_releases_the_old_one_and_keeps_the_new(backend) -> None:
    key = _ask(backend, "first", n=2).meta["hf_cache_key"]
    old = backend.cache_get(key)
    other = backend.cache_get(_ask(backend, "second", n=2).meta["hf_cache_key"])
    new = HFAloraCacheInfo(clone_cache(other.kv_cache), other.merged_token_ids, other.merged_attention, other.q_end)
    backend.cache_put(key, new)
    assert old.kv_cache is None and backend.cache_get(key) is new
    assert key in backend.cached_keys()
