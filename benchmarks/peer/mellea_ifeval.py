"""mellea 0.8.0's sampling strategies on IFEval prompts (``benchmarks/ifeval.py``'s peer side).

Runs inside ``_worker.py`` in the peer's venv (``.bench/mellea-venv``). ``setup`` builds mellea's
OpenAI-compatible backend on the same ``llama-server`` gencomp's side uses (``base_url``), or its
``LocalHFBackend`` on the same model folder (``model_dir``), with the same ``max_new_tokens``.
``run`` calls ``MelleaSession.instruct`` with the prompt, the same plain-text requirements, and
``RejectionSamplingStrategy(loop_budget=budget)`` or ``MBRDRougeLStrategy(number_of_samples=budget)``
(mellea's majority voting for text: each sample validated, the one closest to the others by ROUGE-L
kept). Samples are drawn at temperature 0.7, as gencomp's sampling strategies draw them; mellea
checks plain-text requirements with the model as a judge (its default).
"""

from __future__ import annotations

import time
from typing import Any

from _common import torch_pinned

S: dict[str, Any] = {}
TEMPERATURE = 0.7


def setup(max_new_tokens: int, base_url: str | None = None, model_id: str = "", model_dir: str | None = None) -> dict:
    from mellea.backends import ModelOption

    S["options"] = {ModelOption.MAX_NEW_TOKENS: max_new_tokens, ModelOption.TEMPERATURE: TEMPERATURE}
    if base_url is not None:
        from mellea.backends.openai import OpenAIBackend

        S["backend"] = OpenAIBackend(model_id=model_id or "default", base_url=base_url, api_key="none")
        S["kind"] = "openai"
    else:
        torch_pinned()
        from mellea.backends.huggingface import LocalHFBackend

        S["backend"] = LocalHFBackend(model_id=model_dir)
        S["kind"] = "hf"
    return {"backend": type(S["backend"]).__name__}


def _tokens(thunk: Any) -> int | None:
    """Answer tokens of one generation, as the backend reported them."""
    usage = getattr(getattr(thunk, "generation", None), "usage", None)
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        return int(usage["completion_tokens"])
    raw = getattr(getattr(thunk, "raw", None), "response", None)
    seqs = getattr(raw, "sequences", None)
    prompt = getattr(getattr(thunk, "generation", None), "prompt_tokens", None)
    if seqs is not None and isinstance(prompt, int):
        return int(seqs.shape[-1]) - prompt
    return None


def run(prompt: str, requirements: list[str], strategy: str, budget: int) -> dict:
    from mellea import MelleaSession
    from mellea.stdlib.context import ChatContext
    from mellea.stdlib.sampling import RejectionSamplingStrategy
    from mellea.stdlib.sampling.majority_voting import MBRDRougeLStrategy

    if strategy == "rejection":
        chosen: Any = RejectionSamplingStrategy(loop_budget=budget)
    elif strategy == "mbrd":
        chosen = MBRDRougeLStrategy(number_of_samples=budget, loop_budget=1)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    session = MelleaSession(S["backend"], ctx=ChatContext())
    start = time.perf_counter()
    result = session.instruct(
        prompt,
        requirements=list(requirements),
        strategy=chosen,
        return_sampling_results=True,
        model_options=dict(S["options"]),
    )
    seconds = time.perf_counter() - start
    generations = list(result.sample_generations or [])
    if strategy == "mbrd":  # the winner's own SamplingResult holds one sample; mellea keeps no list of all N
        attempts = budget
        tokens = None
    else:
        attempts = len(generations)
        counts = [_tokens(g) for g in generations]
        tokens = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
    return {
        "response": str(result.result.value if hasattr(result.result, "value") else result.result),
        "seconds": seconds,
        "attempts": attempts,
        "generated_tokens": tokens,
        "believed_passed": bool(result.success),
        "check_paths": ["mellea:" + ("judge" if requirements else "none")] * len(requirements),
    }


OPS = {"setup": setup, "run": run}
