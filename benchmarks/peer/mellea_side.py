"""The peer's side of the benchmarks: mellea 0.8.0 (``.bench/mellea-venv``), driven like gencomp's side.

Runs inside ``_worker.py`` in the peer's venv; the same operations and return shapes as
``gencomp_side.py``. Greedy runs pass neither a seed nor a temperature (mellea samples when given
either). Instructions run with ``strategy=None`` (one attempt, no validation loop), like gencomp's
``loop_budget=1``.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

from _common import (
    CHAT_TURN,
    GROUNDING,
    PROMPT,
    RAW_PROMPTS,
    REQUIREMENTS,
    filler_text,
    rss_mb,
    torch_pinned,
)

S: dict[str, Any] = {}

CHECK_CONFIG = {
    "model": None,
    "response_format": json.dumps({"type": "string", "enum": ["Y", "N"]}),
    "transformations": [
        {"type": "likelihood", "categories_to_values": {"Y": 1.0, "N": 0.0}, "input_path": []},
        {"type": "nest", "input_path": [], "field_name": "score"},
        {"type": "nest", "input_path": [], "field_name": "requirement_check"},
    ],
    "instruction": "{requirement}",
    "parameters": {"max_completion_tokens": 6},
}
"""io.yaml of the local requirement-check adapter: a Y/N answer turned into a score by its likelihood,
the output contract of mellea's ``requirement-check`` intrinsic."""


def _backend(model_dir: str, **kwargs: Any) -> Any:
    torch_pinned()
    from mellea.backends.huggingface import LocalHFBackend

    return LocalHFBackend(model_id=model_dir, **kwargs)


def _session(backend: Any) -> Any:
    from mellea import MelleaSession
    from mellea.stdlib.context import ChatContext

    return MelleaSession(backend, ctx=ChatContext())


def _opts(max_new_tokens: int) -> dict[str, Any]:
    from mellea.backends import ModelOption

    return {ModelOption.MAX_NEW_TOKENS: max_new_tokens}


def _ids_of(backend: Any, thunk: Any) -> tuple[list[int], list[int]]:
    """(prompt ids, generated ids) of a standard generation, from the generate output mellea keeps."""
    seq = thunk.raw.response.sequences[0].tolist()
    messages = thunk.generate_log.prompt
    prompt = backend._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(prompt, dict) or hasattr(prompt, "keys"):
        prompt = prompt["input_ids"]
    n = len(prompt)
    if seq[:n] != list(prompt):
        raise RuntimeError("mellea's generated sequence does not start with the chat-templated prompt")
    return [int(t) for t in seq[:n]], [int(t) for t in seq[n:]]


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


def _clean_model(model_dir: str) -> Any:
    """A separate copy of the model, loaded with plain transformers."""
    torch = torch_pinned()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


# -- instruct ---------------------------------------------------------------------------------------


def instruct_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens)
    out = _session(backend).instruct(PROMPT, strategy=None, model_options=_opts(max_new_tokens))
    prompt_ids, gen_ids = _ids_of(backend, out)
    S["prompt_ids"] = prompt_ids
    S["raw_model"] = _clean_model(model_dir)
    _raw_generate(S["raw_model"], prompt_ids, max_new_tokens)
    _time_generate(backend._model)
    return {
        "torch_threads": __import__("torch").get_num_threads(),  # as the libraries left it
        "prompt_tokens": len(prompt_ids),
        "text": out.value,
        "generated_ids": gen_ids,
    }


def instruct_run() -> dict[str, Any]:
    backend = S["backend"]
    session = _session(backend)
    S["generate_seconds"] = 0.0
    t0 = time.perf_counter()
    out = session.instruct(PROMPT, strategy=None, model_options=_opts(S["n"]))
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
    return {"seconds": dt, "generated_ids": gen, "text": backend._tokenizer.decode(gen, skip_special_tokens=True)}


# -- requirement checks -------------------------------------------------------------------------------


def _local_adapter(path: str) -> Any:
    from mellea.backends.adapters import AdapterType, IntrinsicAdapter

    class LocalRequirementCheck(IntrinsicAdapter):
        """mellea's requirement-check aLoRA, with weights from a local folder instead of the Hub."""

        def __init__(self) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                super().__init__("requirement-check", AdapterType.ALORA, config_dict=CHECK_CONFIG)

        def get_local_hf_path(self, base_model_name: str) -> str:
            return path

    return LocalRequirementCheck()


def check_setup(model_dir: str, adapter_dir: str, lengths: list[int], max_new_tokens: int) -> dict[str, Any]:
    backend = _backend(model_dir)
    backend.add_adapter(_local_adapter(adapter_dir))
    S.update(backend=backend, sessions={}, conv_tokens={})
    for length in lengths:
        overhead = 60 + max_new_tokens
        grounding = {"document": filler_text(backend._tokenizer, max(length - overhead, 8))}
        session = _session(backend)
        out = session.instruct(
            "Summarize the document in one sentence.",
            grounding_context=grounding,
            strategy=None,
            model_options=_opts(max_new_tokens),
        )
        prompt_ids, gen_ids = _ids_of(backend, out)
        S["sessions"][length] = session
        S["conv_tokens"][length] = len(prompt_ids) + len(gen_ids)
    for mode in ("alora", "llmaj"):
        check_run(lengths[0], mode)
    return {"conversation_tokens": S["conv_tokens"], "adapters": backend.list_adapters()}


def check_run(length: int, mode: str) -> dict[str, Any]:
    """One requirement check (``alora``: routed to the local requirement-check aLoRA; ``llmaj``: judged by
    the model, at most 4 new tokens) or three (``alora3``)."""
    from mellea.core import Requirement
    from mellea.stdlib.requirements import LLMaJRequirement

    session = S["sessions"][length]
    descs = REQUIREMENTS[:3] if mode == "alora3" else REQUIREMENTS[:1]
    if mode == "llmaj":
        reqs = [LLMaJRequirement(d) for d in descs]
        opts = _opts(4)
    else:
        reqs = [Requirement(d) for d in descs]
        opts = None
    t0 = time.perf_counter()
    results = session.validate(reqs, model_options=opts)
    dt = time.perf_counter() - t0
    first = results[0]
    thunk = first.thunk
    value = thunk.value if thunk is not None else None
    path = "alora" if value and "requirement_check" in str(value) else "llm-as-a-judge"
    return {
        "seconds": dt,
        "value": value,
        "path": path,
        "error": repr(first.error) if getattr(first, "error", None) else None,
        "conversation_tokens": S["conv_tokens"][length],
    }


# -- chat -------------------------------------------------------------------------------------------


def chat_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens)
    _session(backend).chat("Hello!", model_options=_opts(2))
    return {}


def chat_run(turns: int, reuse: bool = False) -> dict[str, Any]:
    session = _session(S["backend"])
    times, texts = [], []
    for i in range(turns):
        t0 = time.perf_counter()
        reply = session.chat(f"({i + 1}) {CHAT_TURN}", model_options=_opts(S["n"]))
        times.append(time.perf_counter() - t0)
        texts.append(reply.content)
    return {"turn_seconds": times, "texts": texts}


# -- template rendering -----------------------------------------------------------------------------


def _instruction() -> Any:
    from mellea.stdlib.components.instruction import Instruction

    return Instruction(
        "Write a short paragraph about the river town for a travel guide.",
        requirements=list(REQUIREMENTS),
        grounding_context=dict(GROUNDING),
    )


def render_setup(model_id: str) -> dict[str, Any]:
    from mellea.formatters import TemplateFormatter

    S["formatters"] = {
        True: TemplateFormatter(model_id, use_template_cache=True),
        False: TemplateFormatter(model_id, use_template_cache=False),
    }
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


def _raw(actions: list[Any], max_new_tokens: int) -> list[Any]:
    from mellea.helpers import _run_async_in_thread
    from mellea.stdlib.context import SimpleContext

    results, _ = _run_async_in_thread(
        S["backend"]._generate_from_raw(actions, SimpleContext(), model_options=_opts(max_new_tokens))
    )
    return results


def raw_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    from mellea.core import CBlock

    S.update(backend=_backend(model_dir), n=max_new_tokens)
    _raw([CBlock(RAW_PROMPTS[0])], 2)
    _raw([CBlock(p) for p in RAW_PROMPTS[:2]], 2)
    return {}


def raw_run(batched: bool) -> dict[str, Any]:
    from mellea.core import CBlock

    n = S["n"]
    t0 = time.perf_counter()
    if batched:
        outs = _raw([CBlock(p) for p in RAW_PROMPTS], n)
    else:
        outs = [_raw([CBlock(p)], n)[0] for p in RAW_PROMPTS]
    return {"seconds": time.perf_counter() - t0, "texts": [o.value for o in outs]}


# -- memory -----------------------------------------------------------------------------------------


def mem_setup(model_dir: str, max_new_tokens: int) -> dict[str, Any]:
    backend = _backend(model_dir)
    S.update(backend=backend, n=max_new_tokens, session=_session(backend))
    _mem_calls(10)
    return {"rss_mb": rss_mb()}


def _mem_calls(calls: int) -> None:
    session = S["session"]
    opts = _opts(S["n"])
    for i in range(calls):
        session.instruct(f"Say something about the number {i}.", strategy=None, model_options=opts)
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
    for dist in ("mellea", "torch", "transformers", "peft"):
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
