"""Requirement checks with an aLoRA adapter, reusing the base model's KV cache of the checked conversation.

A check is one forward pass: the prompt is the conversation under test, the requirement turn and the
adapter's generation prompt (:mod:`gencomp_alora.prompt`); the verdict compares the logits of the
adapter's yes and no tokens at the last position. Before its invocation tokens an aLoRA adapter is
exactly the base model, so the positions up to the invocation come from the base model: from the
cache the backend stored with the output under test when there is one (read-only, never past the
invocation start), else computed under ``disable_adapter()``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gencomp import GenerateLog, ModelOption, ModelOutputThunk
from gencomp.base import backend_name
from gencomp_alora.errors import AloraError
from gencomp_alora.prompt import check_prompt_ids, check_suffix_ids, find_last

if TYPE_CHECKING:
    from gencomp import CBlock, Component, Context
    from gencomp_alora.alora import HFAlora

__all__ = ["CheckResult", "check_requirement", "generate_from_context_alora", "score_ids"]


@dataclass
class CheckResult:
    """One aLoRA verdict and how it was computed."""

    passed: bool
    p_yes: float
    yes_logit: float
    no_logit: float
    prompt_ids: list[int]
    invocation_start: int
    reused_tokens: int
    """Positions read from the stored base-model cache (0 when none was used)."""
    computed_tokens: int
    """Positions this check ran through the model (base prefix and adapter part)."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def score_ids(
    model: Any,
    adapter_name: str,
    ids: Sequence[int],
    invocation_tokens: Sequence[int],
    yes_id: int,
    no_id: int,
    *,
    base_cache: Any = None,
) -> CheckResult:
    """Score ``ids`` (a whole check prompt) with the aLoRA ``adapter_name`` of the PEFT model ``model``.

    ``base_cache`` is a base-model cache whose positions are a prefix of ``ids``; it is only read,
    and at most up to the invocation start. Without it the prefix is computed with the adapter
    disabled. The caller holds the model's lock.
    """
    import torch
    from transformers import DynamicCache

    from gencomp_alora.kv import prefix_view

    ids = list(ids)
    start = find_last(ids, invocation_tokens)
    if start < 0:
        raise AloraError(f"the check prompt does not contain the invocation tokens {list(invocation_tokens)}")
    config = model.get_base_model().config
    device = next(model.parameters()).device
    reused = 0
    if base_cache is not None and base_cache.get_seq_length() > 0:
        reused = min(base_cache.get_seq_length(), start)
        past = prefix_view(base_cache, reused, config)
    else:
        past = DynamicCache(config=config)
    computed = len(ids) - reused
    with torch.inference_mode():
        if reused == 0 and start > 0:
            with model.disable_adapter():
                model(input_ids=torch.tensor([ids[:start]], device=device), past_key_values=past, use_cache=True)
            reused_here = start
        else:
            reused_here = reused
        if model.active_adapter != adapter_name:  # set_adapter walks every module: skip it when already active
            model.set_adapter(adapter_name)
        out = model(
            input_ids=torch.tensor([ids[reused_here:]], device=device),
            past_key_values=past,
            use_cache=True,
            alora_offsets=[len(ids) - start],
            logits_to_keep=1,
        )
    last = out.logits[0, -1].float()
    pair = torch.stack([last[yes_id], last[no_id]])
    p_yes = float(torch.softmax(pair, dim=0)[0])
    yes_logit, no_logit = float(pair[0]), float(pair[1])
    return CheckResult(
        passed=yes_logit > no_logit,
        p_yes=p_yes,
        yes_logit=yes_logit,
        no_logit=no_logit,
        prompt_ids=ids,
        invocation_start=start,
        reused_tokens=reused,
        computed_tokens=computed,
    )


def _conversation(backend: Any, ctx: Context, model_options: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The checked conversation as chat messages, rendered the way the backend renders its prompts."""
    msgs = backend.formatter.to_chat_messages(ctx.render_for_generation())
    to_dict = getattr(backend, "_message_dict", None) or (lambda m: {"role": m.role, "content": m.content})
    conv = [to_dict(m) for m in msgs]
    merge = getattr(backend, "_simplify_and_merge", None)
    options = merge(model_options) if merge is not None else dict(model_options or {})
    system = options.get(ModelOption.SYSTEM_PROMPT)
    if system:
        conv.insert(0, {"role": "system", "content": str(system)})
    return conv


def check_requirement(
    backend: Any,
    requirement: str,
    ctx: Context,
    *,
    alora: str | HFAlora = "constraint",
    reuse_cache: bool = True,
    model_options: dict[str, Any] | None = None,
) -> CheckResult:
    """Check ``requirement`` against the last output in ``ctx`` with an aLoRA of ``backend``.

    When the output was produced by ``backend`` and its cache entry is still there, the check
    extends the exact cached token ids; with ``reuse_cache`` it also reuses the cached keys and
    values (with ``reuse_cache=False`` it recomputes them, for comparison). Otherwise the
    conversation is rendered with the chat template and computed.
    """
    adapter = backend.get_alora(alora) if isinstance(alora, str) else alora
    if adapter is None:
        raise AloraError(f"no aLoRA named {alora!r} is loaded; add one with backend.add_alora(HFAlora(...))")
    if not requirement:
        raise AloraError("an aLoRA check needs the requirement's description")
    last = ctx.last_output()
    if last is None:
        raise AloraError("the context has no model output to check")
    tokenizer = backend._tokenizer
    conv = _conversation(backend, ctx, model_options)
    notes: list[str] = []
    ids: list[int] | None = None
    base_cache = None
    t0 = time.perf_counter()
    key = last.meta.get("hf_cache_key") if last.meta else None
    info = backend.cache_get(key) if key is not None else None
    if info is not None and not ctx.is_chat_context:
        notes.append("cached ids not used: the context is not a chat context")
    elif info is not None:
        merged = [int(t) for t in info.merged_token_ids[0].tolist()]
        try:
            suffix = check_suffix_ids(tokenizer, conv, requirement, adapter.generation_prompt, merged[info.q_end :])
        except ValueError as exc:
            notes.append(f"cached ids not used: {exc}")
        else:
            ids = merged + suffix
            base_cache = info.kv_cache if reuse_cache else None
    elif key is not None:
        notes.append("cache entry of the output is gone (evicted); prefix recomputed")
    if ids is None:
        ids = check_prompt_ids(tokenizer, conv, requirement, adapter.generation_prompt)
    with backend._lock:
        result = score_ids(
            backend.alora_model,
            adapter.name,
            ids,
            adapter.invocation_tokens,
            adapter.yes_id,
            adapter.no_id,
            base_cache=base_cache,
        )
    result.seconds = time.perf_counter() - t0
    result.notes = notes
    return result


def generate_from_context_alora(
    backend: Any,
    action: Component | CBlock,
    ctx: Context,
    format: type[Any] | None = None,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> ModelOutputThunk:
    """Answer a requirement check with the aLoRA it routes to (``ALoraRequirement.alora``, else ``"constraint"``).

    Returns a thunk whose value is the adapter's yes or no text, with ``meta["verdict"]`` (bool),
    ``meta["p_yes"]`` (softmax over the yes and no logits) and ``meta["check_path"]``
    (``"alora:<name>"``); appends a ``GenerateLog`` to ``generate_logs``.
    """
    if format is not None:
        raise AloraError("aLoRA requirement checks produce a yes/no verdict; they do not support format=")
    name = getattr(action, "alora", None) or "constraint"
    description = getattr(action, "description", None)
    if not isinstance(description, str):
        raise AloraError(f"{action!r} is not a requirement with a description; aLoRA adapters check requirements")
    adapter = backend.get_alora(name)
    if adapter is None:
        raise AloraError(f"no aLoRA named {name!r} is loaded; add one with backend.add_alora(HFAlora(...))")
    result = check_requirement(backend, description, ctx, alora=adapter, model_options=model_options)
    path = f"alora:{name}"
    thunk = ModelOutputThunk(
        adapter.yes_text if result.passed else adapter.no_text,
        meta={
            "verdict": result.passed,
            "p_yes": result.p_yes,
            "check_path": path,
            "alora": name,
            "yes_logit": result.yes_logit,
            "no_logit": result.no_logit,
            "reused_tokens": result.reused_tokens,
            "computed_tokens": result.computed_tokens,
        },
    )
    log = GenerateLog(
        prompt=backend._tokenizer.decode(result.prompt_ids),
        backend=backend_name(backend),
        model_options=dict(model_options or {}),
        model_output={"yes_logit": result.yes_logit, "no_logit": result.no_logit, "p_yes": result.p_yes},
        action=action,
        result=thunk,
        is_final_result=True,
        extra={
            "check_path": path,
            "alora": name,
            "invocation_start": result.invocation_start,
            "reused_tokens": result.reused_tokens,
            "computed_tokens": result.computed_tokens,
            "seconds": result.seconds,
            "notes": list(result.notes),
        },
    )
    thunk.generate_log = log
    if generate_logs is not None:
        generate_logs.append(log)
    return thunk
