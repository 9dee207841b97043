"""Concurrent calls on one backend give the sequential outputs and leave consistent cache entries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gencomp import LRUCache, Message, SimpleContext


def test_concurrent_calls_match_sequential_outputs_and_keep_caches_consistent(make_backend) -> None:
    prompts = [f"Question number {i}: what is {i} plus {i}?" for i in range(8)]

    def ask(b, p):
        logs = []
        out = b.generate_from_context(
            Message("user", p), SimpleContext(), model_options={"max_new_tokens": 6}, generate_logs=logs
        )
        return out, logs[-1]

    sequential = [ask(make_backend(use_caches=False), p)[0].value for p in prompts]
    shared = make_backend(cache=LRUCache(16))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: ask(shared, p), prompts * 2))
    assert [out.value for out, _ in results] == sequential * 2
    keys = {out.meta["hf_cache_key"] for out, _ in results}
    assert len(keys) == len(results)
    for out, log in results:
        info = shared.cache_get(out.meta["hf_cache_key"])
        prompt_ids = shared.tokenizer(log.prompt, add_special_tokens=False).input_ids
        assert info.merged_token_ids[0, : info.q_end].tolist() == prompt_ids
        assert info.merged_token_ids[0, info.q_end :].tolist() == log.model_output.tolist()
        assert info.kv_cache.get_seq_length() == info.merged_token_ids.shape[1] - 1
