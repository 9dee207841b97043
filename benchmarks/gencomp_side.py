"""gencomp's side of the benchmarks (runs in ``.venv`` inside ``_worker.py``); also the raw-transformers baselines.

Each operation returns a dict; timings (``seconds``) cover only the measured work, after warm-up.
An operation whose gencomp part is not installed yet raises ``Skip("not available yet: ...")``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from _common import (
    CHAT_TURN,
    GROUNDING,
    PROMPT,
    RAW_PROMPTS,
    REQUIREMENTS,
    Skip,
    filler_text,
    rss_mb,
    torch_pinned,
)

S: dict[str, Any] = {}


def _need(what: str, fn: Any) -> Any:
    try:
        return fn()
    except (ImportError, AttributeError) as exc:
        raise Skip(f"not available yet: {what} ({type(exc).__name__}: {exc})") from exc


def skip_reason(exc: BaseException) -> str | None:
    """A failure that means a gencomp part is not installed yet (no formatter or backend plugin), or ``None``."""
    from gencomp import GencompError, UnknownBackendError

    if isinstance(exc, UnknownBackendError) or (isinstance(exc, GencompError) and "pip install" in str(exc)):
        return f"not available yet: {exc}"
    return None


def _hf_backend_cls() -> Any:
    def load() -> Any:
        from gencomp_hf_backend import LocalHFBackend

        return LocalHFBackend

    return _need("gencomp_hf_backend.LocalHFBackend", load)


def _backend(model_dir: str, **kwargs: Any) -> Any:
    torch_pinned()
    return _hf_backend_cls()(model_dir, **kwargs)


def _opts(max_new_tokens: int) -> dict[str, Any]:
    from gencomp import ModelOption

    return {ModelOption.MAX_NEW_TOKENS: max_new_tokens}


def _ids_of(backend: Any, thunk: Any) -> tuple[list[int], list[int]]:
    """(prompt ids, generated ids) of a standard generation, from its cache entry or its log."""
    key = (thunk.meta or {}).get("hf_cache_key")
    info = backend.cache_get(key) if key else None
    if info is not None:
        merged = [int(t) for t in info.merged_token_ids[0].tolist()]
        return merged[: info.q_end], merged[info.q_end :]
    log = thunk.generate_log
    prompt_ids = backend.tokenizer(log.prompt, add_special_tokens=False)["input_ids"]
    gen = log.model_output.tolist() if hasattr(log.model_output, "tolist") else []
    return list(prompt_ids), [int(t) for t in gen]


def _raw_generate(model: Any, ids: list[int], max_new_tokens: int) -> tuple[float, list[int]]:
    torch = torch_pinned()
    x = torch.tensor([ids])
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model.generate(
            input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens, do_sample=False
        )
        dt = time.perf_counter() - t0
    return dt, [int(t) for t in out[0, len(ids) :].tolist()]


def _clean_model(model_dir: str) -> Any:
    """A separate copy of the model, loaded with plain transformers (no adapter layers ever injected)."""
    torch = torch_pinned()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _time_generate(model: Any) -> None:
    """Make ``model.generate`` add its wall time to ``S["generate_seconds"]`` (to split a call's time)."""
    original = model.generate
    S["generate_seconds"] = 0.0

    def generate(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            S["generate_seconds"] += time.perf_counter() - t0

    model.generate = generate


# -- instruct ---------------------------------------------------------------------------------------


def instruct_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    from gencomp import Session

    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens)
    out = Session(backend).instruct(PROMPT, loop_budget=1, model_options=_opts(max_new_tokens))
    prompt_ids, gen_ids = _ids_of(backend, out)
    S["prompt_ids"] = prompt_ids
    S["raw_model"] = _clean_model(model_dir)
    _raw_generate(S["raw_model"], prompt_ids, max_new_tokens)
    _time_generate(backend.model)
    return {
        "torch_threads": __import__("torch").get_num_threads(),  # as the libraries left it
        "prompt_tokens": len(prompt_ids),
        "text": out.value,
        "generated_ids": gen_ids,
        "aloras": [a.name for a in backend.get_aloras()],
    }


def instruct_run(empty_cache: bool = True) -> dict[str, Any]:
    """One instruct in a fresh session; ``empty_cache`` first drops the backend's KV-cache entries (untimed),
    so the call cannot reuse the previous call's prompt and does the same work as raw ``generate``."""
    from gencomp import Session

    backend = S["backend"]
    if empty_cache and backend.cache is not None:
        backend.cache.clear()
    session = Session(backend)
    S["generate_seconds"] = 0.0
    t0 = time.perf_counter()
    out = session.instruct(PROMPT, loop_budget=1, model_options=_opts(S["n"]))
    dt = time.perf_counter() - t0
    prompt_ids, gen_ids = _ids_of(backend, out)
    return {
        "seconds": dt,
        "generate_seconds": S["generate_seconds"],
        "text": out.value,
        "prompt_ids": prompt_ids,
        "generated_ids": gen_ids,
    }


def raw_instruct_run() -> dict[str, Any]:
    backend = S["backend"]
    dt, gen = _raw_generate(S["raw_model"], S["prompt_ids"], S["n"])
    return {"seconds": dt, "generated_ids": gen, "text": backend.tokenizer.decode(gen, skip_special_tokens=True)}


# -- requirement checks -------------------------------------------------------------------------------

CHECK_GENERATION_PROMPT = "<|im_start|>assistant\n"
"""The string between the checked conversation and the verdict; the adapter's invocation tokens."""
CHECK_ALORA = "bench-check"
"""The benchmark adapter's name (not ``constraint``: that one may be the plugin's shipped adapter)."""


def _conversation_for(tokenizer: Any, length: int, max_new_tokens: int) -> tuple[str, dict[str, str]]:
    """An instruction whose conversation is about ``length`` tokens with a ``max_new_tokens`` answer."""
    overhead = 60 + max_new_tokens
    return "Summarize the document in one sentence.", {"document": filler_text(tokenizer, max(length - overhead, 8))}


def check_setup(model_dir: str, adapter_dir: str, lengths: list[int], max_new_tokens: int) -> dict[str, Any]:
    from gencomp import LRUCache, Session

    def hfalora() -> Any:
        from gencomp_alora import HFAlora

        return HFAlora

    hf_alora = _need("gencomp_alora.HFAlora", hfalora)
    # Room for every conversation plus the judge calls' own entries, so no conversation is evicted mid-case.
    backend = _backend(model_dir, cache=LRUCache(32))
    _need("LocalHFBackend.add_alora", lambda: backend.add_alora)
    backend.add_alora(hf_alora(CHECK_ALORA, adapter_dir, CHECK_GENERATION_PROMPT, backend))
    S.update(backend=backend, ctx={}, conv_tokens={})
    for length in lengths:
        desc, grounding = _conversation_for(backend.tokenizer, length, max_new_tokens)
        session = Session(backend)
        out = session.instruct(desc, grounding_context=grounding, loop_budget=1, model_options=_opts(max_new_tokens))
        prompt_ids, gen_ids = _ids_of(backend, out)
        S["ctx"][length] = session.ctx
        S["conv_tokens"][length] = len(prompt_ids) + len(gen_ids)
    first = lengths[0]
    for mode in ("cached", "recompute"):
        check_run(first, mode)
    return {"conversation_tokens": S["conv_tokens"]}


def _detached(ctx: Any) -> Any:
    """A copy of ``ctx`` whose last output carries no cache key (the check must compute the prefix)."""
    from gencomp import ModelOutputThunk

    new = ctx.copy()
    last = new.last_output()
    idx = max(i for i, item in enumerate(new._data) if item is last)
    new._data[idx] = ModelOutputThunk(last.value)
    return new


def check_run(length: int, mode: str) -> dict[str, Any]:
    """One requirement check on the conversation of about ``length`` tokens.

    ``cached``: the aLoRA reuses the instruct call's cache entry; ``recompute``: the aLoRA on a copy of
    the output without one; ``cached3``: three aLoRA checks through ``Session.validate``, as a user
    checks several requirements (one forward pass for the three); ``llmaj``: an ``LLMaJRequirement``,
    judged by the model's own generation of at most 4 tokens (which may reuse the conversation's cached
    prefix).
    """
    from gencomp import ALoraRequirement, LLMaJRequirement, Session

    backend, ctx = S["backend"], S["ctx"][length]
    if mode == "recompute":
        ctx = _detached(ctx)
    descs = REQUIREMENTS[:3] if mode == "cached3" else REQUIREMENTS[:1]
    if mode == "llmaj":
        reqs = [LLMaJRequirement(d) for d in descs]
    else:
        reqs = [ALoraRequirement(d, alora=CHECK_ALORA) for d in descs]
    t0 = time.perf_counter()
    opts = _opts(4) if mode == "llmaj" else None
    if mode == "cached3":
        results = Session(backend, ctx).validate(reqs)
    else:
        results = [r.validate(backend, ctx, model_options=opts) for r in reqs]
    dt = time.perf_counter() - t0
    thunk = results[0].thunk
    meta = dict(thunk.meta) if thunk is not None and thunk.meta else {}
    log = thunk.generate_log if thunk is not None else None
    extra = (log.extra or {}) if log is not None else {}
    computed = extra.get("batch_computed_tokens") or meta.get("computed_tokens")  # a batch: all its positions
    if computed is None and extra.get("prompt_tokens") is not None:
        computed = extra["prompt_tokens"] - (extra.get("reused_tokens") or 0)
    return {
        "seconds": dt,
        "p_yes": results[0].score,
        "path": meta.get("check_path"),
        "reused_tokens": meta.get("reused_tokens", extra.get("reused_tokens")),
        "computed_tokens": computed,
        "conversation_tokens": S["conv_tokens"][length],
    }


def prefill_run(length: int) -> dict[str, Any]:
    """One plain forward pass of the whole conversation on the base model (the cost of one prefill)."""
    torch = torch_pinned()
    backend = S["backend"]
    info = backend.cache_get(S["ctx"][length].last_output().meta["hf_cache_key"])
    ids = info.merged_token_ids
    peft = backend.alora_model
    with torch.no_grad(), peft.disable_adapter() if peft is not None else contextlib.nullcontext():
        t0 = time.perf_counter()
        backend.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        dt = time.perf_counter() - t0
    return {"seconds": dt, "tokens": int(ids.shape[1])}


# -- chat -------------------------------------------------------------------------------------------


def chat_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    from gencomp import Session

    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens)
    Session(backend).chat("Hello!", model_options=_opts(2))
    if backend.cache is None:
        raise Skip("the backend keeps no cache: prefix reuse cannot be switched off and on")
    return {}


def chat_run(turns: int, reuse: bool) -> dict[str, Any]:
    """A chat of ``turns`` turns; without ``reuse`` the backend's cache is emptied (untimed) before each turn."""
    from gencomp import Session

    backend = S["backend"]
    backend.cache.clear()
    session = Session(backend)
    times, texts, reused = [], [], []
    for i in range(turns):
        if not reuse:
            backend.cache.clear()
        t0 = time.perf_counter()
        reply = session.chat(f"({i + 1}) {CHAT_TURN}", model_options=_opts(S["n"]))
        times.append(time.perf_counter() - t0)
        texts.append(reply.content)
        log = session.last_logs[-1] if session.last_logs else None
        reused.append((log.extra or {}).get("reused_tokens") if log is not None else None)
    return {"turn_seconds": times, "texts": texts, "reused_tokens": reused}


# -- template rendering -----------------------------------------------------------------------------


def _instruction() -> Any:
    from gencomp import Instruction

    return Instruction(
        "Write a short paragraph about the river town for a travel guide.",
        requirements=list(REQUIREMENTS),
        grounding_context=dict(GROUNDING),
    )


def render_setup(model_id: str) -> dict[str, Any]:
    def formatter_cls() -> Any:
        from gencomp_template_formatter import TemplateFormatter

        return TemplateFormatter

    tf = _need("gencomp_template_formatter.TemplateFormatter", formatter_cls)
    S["formatters"] = {True: tf(model_id, use_template_cache=True), False: tf(model_id, use_template_cache=False)}
    text = S["formatters"][True].print(_instruction())
    for f in S["formatters"].values():
        for _ in range(20):
            f.print(_instruction())
    return {"chars": len(text), "text": text}


def render_run(calls: int, cache: bool = True) -> dict[str, Any]:
    formatter = S["formatters"][cache]
    components = [_instruction() for _ in range(calls)]  # distinct objects: nothing cached on a component
    t0 = time.perf_counter()
    for component in components:
        formatter.print(component)
    return {"seconds": (time.perf_counter() - t0) / calls}


# -- raw generation ---------------------------------------------------------------------------------


def raw_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    from gencomp import CBlock

    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens)
    backend._generate_from_raw([CBlock(RAW_PROMPTS[0])], model_options=_opts(2))
    backend._generate_from_raw([CBlock(p) for p in RAW_PROMPTS[:2]], model_options=_opts(2))
    return {}


def raw_run(batched: bool) -> dict[str, Any]:
    from gencomp import CBlock

    backend = S["backend"]
    opts = _opts(S["n"])
    t0 = time.perf_counter()
    if batched:
        outs = backend._generate_from_raw([CBlock(p) for p in RAW_PROMPTS], model_options=opts)
    else:
        outs = [backend._generate_from_raw([CBlock(p)], model_options=opts)[0] for p in RAW_PROMPTS]
    return {"seconds": time.perf_counter() - t0, "texts": [o.value for o in outs]}


# -- memory -----------------------------------------------------------------------------------------


def mem_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    from gencomp import Session

    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens, session=Session(backend))
    _mem_calls(10)
    return {"rss_mb": rss_mb()}


def _mem_calls(calls: int) -> None:
    session = S["session"]
    opts = _opts(S["n"])
    for i in range(calls):
        session.instruct(f"Say something about the number {i}.", loop_budget=1, model_options=opts)
        session.reset()


def mem_run(calls: int) -> dict[str, Any]:
    before = rss_mb()
    t0 = time.perf_counter()
    _mem_calls(calls)
    dt = time.perf_counter() - t0
    after = rss_mb()
    return {"rss_before_mb": before, "rss_after_mb": after, "seconds": dt / calls, "calls": calls}


def versions() -> dict[str, Any]:
    import importlib.metadata as md

    out = {}
    for dist in (
        "gencomp",
        "gencomp-hf-backend",
        "gencomp-template-formatter",
        "gencomp-alora",
        "torch",
        "transformers",
        "peft",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


OPS = {
    fn.__name__: fn
    for fn in (
        instruct_setup,
        instruct_run,
        raw_instruct_run,
        check_setup,
        check_run,
        prefill_run,
        chat_setup,
        chat_run,
        render_setup,
        render_run,
        raw_setup,
        raw_run,
        mem_setup,
        mem_run,
        versions,
    )
}
