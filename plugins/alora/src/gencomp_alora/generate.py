"""Requirement checks with an aLoRA adapter, reusing the base model's KV cache of the checked conversation.

A check is one forward pass: the prompt is the conversation under test, the requirement turn and the
adapter's generation prompt (:mod:`gencomp_alora.prompt`); the verdict compares the logits of the
adapter's yes and no tokens at the last position. Before its invocation tokens an aLoRA adapter is
exactly the base model, so the positions up to the invocation come from the base model: from the
cache the backend stored with the output under test when there is one (read-only, never past the
invocation start), else computed with every adapter off (:func:`gencomp_alora.forward.base_forward`).

Several checks of one output with one adapter run in a single forward pass (:func:`score_batch`):
their own tokens follow the shared prefix in one row, with position ids and a 4D attention mask
that give each check exactly the view it has alone. So do the checks of several outputs of one
prompt (the candidates of a best-of-n call, :func:`score_candidates`): the prompt's cached
positions are read once, each output's own cached positions from its own cache. The adapter runs
without PEFT's per-call hooks (:mod:`gencomp_alora.forward`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gencomp import CheckVerdict, GenerateLog, ModelOutputThunk
from gencomp.base import backend_name
from gencomp.verdicts import label
from gencomp_alora.errors import AloraError
from gencomp_alora.prompt import check_prompt_ids, check_suffix_ids, find_last
from gencomp_alora.registry import registry
from gencomp_alora.validation import validation_for, with_measured_state
from gencomp_hf_backend.compat import with_cache

if TYPE_CHECKING:
    from gencomp import CBlock, Component, Context
    from gencomp_alora.alora import HFAlora

__all__ = [
    "CheckResult",
    "batch_visibility",
    "check_candidates",
    "check_requirement",
    "check_requirements",
    "checked_items",
    "generate_candidate_checks_alora",
    "generate_checks_alora",
    "output_visibility",
    "score_batch",
    "score_candidates",
    "score_ids",
]


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
    batch_size: int = 1
    """Checks scored in the same forward pass as this one."""
    batch_computed_tokens: int | None = None
    """With ``batch_size > 1``: the positions the batch's forward passes ran in all (shared ones once)."""


def _base_past(base_cache: Any, limit: int, config: Any) -> tuple[Any, int]:
    """A read-only view of at most ``limit`` positions of ``base_cache`` (else an empty cache), and its length."""
    from transformers import DynamicCache

    from gencomp_alora.kv import prefix_view

    if base_cache is None or base_cache.get_seq_length() == 0:
        return DynamicCache(config=config), 0
    reused = min(base_cache.get_seq_length(), limit)
    return prefix_view(base_cache, reused, config), reused


def _cached_length(cache: Any) -> int:
    return 0 if cache is None else int(cache.get_seq_length())


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

    from gencomp_alora.forward import adapted_forward, base_forward, output_columns

    ids = list(ids)
    start = find_last(ids, invocation_tokens)
    if start < 0:
        raise AloraError(f"the check prompt does not contain the invocation tokens {list(invocation_tokens)}")
    device = next(model.parameters()).device
    past, reused = _base_past(base_cache, start, model.get_base_model().config)
    computed = len(ids) - reused
    with torch.inference_mode():
        if reused == 0 and start > 0:
            base_forward(
                model, input_ids=torch.tensor([ids[:start]], device=device), **with_cache(past), use_cache=True
            )
            reused_here = start
        else:
            reused_here = reused
        out = adapted_forward(
            model,
            adapter_name,
            len(ids) - start,
            input_ids=torch.tensor([ids[reused_here:]], device=device),
            **with_cache(past),
            use_cache=True,
            logits_to_keep=1,
            columns=(yes_id, no_id),
        )
    pair = output_columns(out, (yes_id, no_id))[0, -1].float()
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


def batch_visibility(positions: Any, groups: Any) -> Any:
    """Which new tokens of a check batch each new token attends to: a ``(q, q)`` boolean tensor.

    ``positions`` are the tokens' position ids, ``groups`` the index of their check (``-1`` for
    tokens shared by every check). A token sees the tokens of its own check and the shared ones at
    positions up to its own.
    """
    earlier = positions[None, :] <= positions[:, None]
    related = (groups[None, :] == groups[:, None]) | (groups[None, :] == -1)
    return earlier & related


def output_visibility(owners: Any) -> Any:
    """Which new tokens of a batch over several outputs each new token may attend to: a ``(q, q)`` boolean tensor.

    ``owners`` are the index of each token's output (``-1`` for tokens shared by every output). A
    token may see the shared tokens and those of its own output (:func:`batch_visibility` then
    restricts that to its check and to earlier positions).
    """
    return (owners[None, :] == -1) | (owners[None, :] == owners[:, None])


def _attention_mask(visible: Any, past_visible: Any, config: Any, dtype: Any) -> Any:
    """The ``(1, 1, q, past + q)`` mask of a batch after its cached positions, in the model attention's form.

    ``visible`` is :func:`batch_visibility`'s ``(q, q)`` matrix, ``past_visible`` the ``(q, past)``
    one of the cached positions.
    """
    import torch

    from gencomp_hf_backend.attention import ATTN_IMPLEMENTATION

    full = torch.cat([past_visible, visible], dim=1)[None, None]
    implementation = getattr(config, "_attn_implementation", None)
    if implementation in ("sdpa", ATTN_IMPLEMENTATION):
        return full
    if implementation == "eager":  # eager attention adds the mask to the scores
        return torch.zeros(full.shape, dtype=dtype, device=full.device).masked_fill(~full, torch.finfo(dtype).min)
    raise AloraError(
        f"batched aLoRA checks need an attention implementation that takes a 4D mask (sdpa or eager), "
        f"the model uses {implementation!r}"
    )


def _common_prefix(rows: Sequence[Sequence[int]], limit: int) -> int:
    n = min(limit, *(len(r) for r in rows))
    first = rows[0]
    for k in range(n):
        if any(r[k] != first[k] for r in rows[1:]):
            return k
    return n


def score_batch(
    model: Any,
    adapter_name: str,
    checks: Sequence[Sequence[int]],
    invocation_tokens: Sequence[int],
    yes_id: int,
    no_id: int,
    *,
    base_cache: Any = None,
) -> list[CheckResult]:
    """Score several check prompts of one output with the aLoRA ``adapter_name`` in one forward pass.

    :func:`score_candidates` with one output whose cache is ``base_cache``. Each result equals
    :func:`score_ids`'s within float rounding; a batch of one is :func:`score_ids`. The caller holds
    the model's lock.
    """
    return score_candidates(
        model, adapter_name, checks, [0] * len(checks), [base_cache], invocation_tokens, yes_id, no_id
    )


def score_candidates(
    model: Any,
    adapter_name: str,
    checks: Sequence[Sequence[int]],
    owners: Sequence[int],
    caches: Sequence[Any],
    invocation_tokens: Sequence[int],
    yes_id: int,
    no_id: int,
) -> list[CheckResult]:
    """Score the check prompts of several outputs with the aLoRA ``adapter_name`` in one forward pass.

    Check ``j`` checks output ``owners[j]``, whose stored base-model cache is ``caches[owners[j]]``
    (``None``: none), a cache whose positions are a prefix of that output's check prompts; the
    caches are only read, never past an invocation start. The positions all prompts share (the
    prompt the outputs answered) are read once, from the cache that holds most of them (or computed
    once with the adapter disabled when none does); each output's own cached positions (its
    answer) from its own cache. One row then holds the uncached rest: the shared positions no cache
    holds, each output's uncached positions shared by its checks, each check's tokens before its
    invocation, and every check's part from its invocation on (the aLoRA adapts the last positions
    of the row). Position ids and a 4D mask give every token the positions and the context it has
    in its own prompt, so each result equals :func:`score_ids`'s within float rounding. A batch of
    one is :func:`score_ids`. The caller holds the model's lock.
    """
    import torch
    from transformers import DynamicCache

    from gencomp_alora.forward import adapted_forward, base_forward, output_columns
    from gencomp_alora.kv import joined_view

    rows = [list(ids) for ids in checks]
    if len(owners) != len(rows) or any(not 0 <= o < len(caches) for o in owners):
        raise ValueError(
            f"owners must give, for each of the {len(rows)} checks, an index into the {len(caches)} caches"
        )
    if not rows:
        return []
    if len(rows) == 1:
        return [score_ids(model, adapter_name, rows[0], invocation_tokens, yes_id, no_id, base_cache=caches[owners[0]])]
    starts = [find_last(ids, invocation_tokens) for ids in rows]
    if min(starts) < 0:
        raise AloraError(f"a check prompt does not contain the invocation tokens {list(invocation_tokens)}")
    members: dict[int, list[int]] = {}
    for j, c in enumerate(owners):
        members.setdefault(c, []).append(j)
    common = _common_prefix(rows, min(starts))
    own_common = {c: _common_prefix([rows[j] for j in js], min(starts[j] for j in js)) for c, js in members.items()}
    covered = {c: min(_cached_length(caches[c]), own_common[c]) for c in members}
    source = max(members, key=lambda c: min(covered[c], common))
    shared = min(covered[source], common)
    base = model.get_base_model()
    config = base.config
    device = next(model.parameters()).device
    with torch.inference_mode():
        pieces: list[tuple[Any, int, int]] = []
        prefix_computed = 0
        if shared == 0 and common > 0:
            computed_past = DynamicCache(config=config)
            ids_ = torch.tensor([rows[0][:common]], device=device)
            base_forward(model, input_ids=ids_, **with_cache(computed_past), use_cache=True)
            pieces.append((computed_past, 0, common))
            shared = prefix_computed = common
        elif shared > 0:
            pieces.append((caches[source], 0, shared))
        segment_of: dict[int, tuple[int, int]] = {}  # output -> its own cached columns of the past
        width = shared
        for c in members:
            if covered[c] > shared:
                pieces.append((caches[c], shared, covered[c]))
                segment_of[c] = (width, width + covered[c] - shared)
                width += covered[c] - shared
        ids: list[int] = []
        positions: list[int] = []
        groups: list[int] = []
        outputs: list[int] = []

        def add(tokens: Sequence[int], first: int, group: int, output: int) -> None:
            ids.extend(tokens)
            positions.extend(range(first, first + len(tokens)))
            groups.extend([group] * len(tokens))
            outputs.extend([output] * len(tokens))

        add(rows[0][shared:common], shared, -1, -1)
        for c, js in members.items():
            lo = max(common, covered[c])
            add(rows[js[0]][lo : own_common[c]], lo, -1, c)
        for j, (row, start) in enumerate(zip(rows, starts, strict=True)):
            add(row[own_common[owners[j]] : start], own_common[owners[j]], j, owners[j])
        last = []
        for j, (row, start) in enumerate(zip(rows, starts, strict=True)):
            add(row[start:], start, j, owners[j])
            last.append(len(ids) - 1)
        pos = torch.tensor(positions, device=device)
        owner = torch.tensor(outputs, device=device)
        visible = batch_visibility(pos, torch.tensor(groups, device=device)) & output_visibility(owner)
        past_visible = torch.zeros(len(ids), width, dtype=torch.bool, device=device)
        past_visible[:, :shared] = True
        for c, (lo, hi) in segment_of.items():
            past_visible[owner == c, lo:hi] = True
        mask = _attention_mask(visible, past_visible, config, base.dtype)
        out = adapted_forward(
            model,
            adapter_name,
            sum(len(row) - start for row, start in zip(rows, starts, strict=True)),
            input_ids=torch.tensor([ids], device=device),
            position_ids=pos[None],
            attention_mask=mask,
            **with_cache(joined_view(pieces, config)),
            use_cache=True,
            logits_to_keep=torch.tensor(last, device=device),
            columns=(yes_id, no_id),
        )
    pairs = output_columns(out, (yes_id, no_id))[0].float()
    p_yes = torch.softmax(pairs, dim=1)[:, 0].tolist()
    total = len(ids) + prefix_computed
    results = []
    for j, (row, start) in enumerate(zip(rows, starts, strict=True)):
        reused = 0 if prefix_computed else max(shared, covered[owners[j]])
        yes_logit, no_logit = float(pairs[j, 0]), float(pairs[j, 1])
        results.append(
            CheckResult(
                passed=yes_logit > no_logit,
                p_yes=p_yes[j],
                yes_logit=yes_logit,
                no_logit=no_logit,
                prompt_ids=row,
                invocation_start=start,
                reused_tokens=reused,
                computed_tokens=len(row) - reused,
                batch_size=len(rows),
                batch_computed_tokens=total,
            )
        )
    return results


def checked_items(ctx: Context) -> list[Component | CBlock]:
    """What a check of the last output in ``ctx`` renders: the context up to that output, always with it.

    When the context renders without the output under test or the action it answered
    (``SimpleContext``, ``LinearContext(window_size=0 or 1)``...), the checked turn is taken from its
    history instead: the action and its output. Raises :class:`AloraError` when there is no output to check.
    """
    last = ctx.last_output()
    if last is None:
        raise AloraError("the context has no model output to check")
    history = ctx.full_history()
    k = max(i for i, item in enumerate(history) if item is last)
    turn: list[Component | CBlock] = [last]
    if k > 0 and not isinstance(history[k - 1], ModelOutputThunk):
        turn.insert(0, history[k - 1])
    items = ctx.render_for_generation()
    shown = {id(item): i for i, item in enumerate(items)}
    if all(id(item) in shown for item in turn):
        return items[: shown[id(last)] + 1]
    return turn


def _conversation(backend: Any, ctx: Context, model_options: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The checked conversation as chat messages, rendered the way the backend renders its prompts."""
    system = backend.translate_options(model_options).system_prompt
    return list(backend.chat_messages(checked_items(ctx), system))


def _adapter(backend: Any, alora: str | HFAlora) -> HFAlora:
    adapter = registry(backend).get(alora) if isinstance(alora, str) else alora
    if adapter is None:
        raise AloraError(f"no aLoRA named {alora!r} is loaded; add one with backend.add_alora(HFAlora(...))")
    return adapter


def _cache_entry(backend: Any, ctx: Context, notes: list[str]) -> Any:
    """The backend's cache entry of the last output in ``ctx`` when its ids can be extended, else ``None``."""
    last = ctx.last_output()
    if last is None:
        raise AloraError("the context has no model output to check")
    info = backend.cache_entry(last)
    if info is not None and not ctx.is_chat_context:
        notes.append("cached ids not used: the context is not a chat context")
        return None
    if info is None and last.meta.get("hf_cache_key") is not None:
        notes.append("cache entry of the output is gone (evicted); prefix recomputed")
    return info


def _check_ids(
    tokenizer: Any, conv: list[dict[str, Any]], info: Any, requirement: str, generation_prompt: str, notes: list[str]
) -> tuple[list[int], bool]:
    """A check's prompt ids, and whether they extend the exact ids of the cache entry ``info``."""
    if info is not None:
        merged = [int(t) for t in info.merged_token_ids[0].tolist()]
        try:
            suffix = check_suffix_ids(tokenizer, conv, requirement, generation_prompt, merged[info.q_end :])
        except ValueError as exc:
            notes.append(f"cached ids not used: {exc}")
        else:
            return merged + suffix, True
    return check_prompt_ids(tokenizer, conv, requirement, generation_prompt), False


def check_requirement(
    backend: Any,
    requirement: str,
    ctx: Context,
    *,
    alora: str | HFAlora = "constraint",
    reuse_cache: bool = True,
    model_options: dict[str, Any] | None = None,
) -> CheckResult:
    """Check ``requirement`` against the last output in ``ctx`` with an aLoRA of ``backend`` (a batch of one).

    When the output was produced by ``backend`` and its cache entry is still there, the check
    extends the exact cached token ids; with ``reuse_cache`` it also reuses the cached keys and
    values (with ``reuse_cache=False`` it recomputes them, for comparison). Otherwise the
    conversation is rendered with the chat template and computed.
    """
    return check_requirements(
        backend, [requirement], ctx, alora=alora, reuse_cache=reuse_cache, model_options=model_options
    )[0]


def _prompts(
    backend: Any, adapter: HFAlora, requirements: Sequence[str], ctx: Context, model_options: dict[str, Any] | None
) -> tuple[list[list[int]], Any, list[str]]:
    """Check prompts of ``requirements`` on the output of ``ctx``, the cache entry they extend (or ``None``), notes."""
    conv = _conversation(backend, ctx, model_options)
    notes: list[str] = []
    info = _cache_entry(backend, ctx, notes)
    tokenizer, prompt = backend.tokenizer, adapter.generation_prompt
    prompts = [_check_ids(tokenizer, conv, info, r, prompt, notes) for r in requirements]
    if info is not None and not all(extends for _, extends in prompts):  # the entry serves every check or none
        info = None
        prompts = [_check_ids(tokenizer, conv, None, r, prompt, notes) for r in requirements]
    return [ids for ids, _ in prompts], info, notes


def _finish(
    results: list[CheckResult],
    batch: list[CheckResult],
    outputs: int,
    adapter: HFAlora,
    seconds: float,
    notes: list[str],
) -> None:
    """Give ``results`` (part of the forward pass ``batch``, over ``outputs`` outputs) their time and notes."""
    notes = list(dict.fromkeys(notes))
    if len(batch) > 1:
        of = f" of {outputs} outputs" if outputs > 1 else ""
        notes.append(
            f"batched: {len(batch)} checks{of} with aLoRA {adapter.name!r} in one forward pass "
            f"({batch[0].batch_computed_tokens} positions computed in all)"
        )
    for result in results:
        result.seconds = seconds
        result.notes = list(notes)


def check_requirements(
    backend: Any,
    requirements: Sequence[str],
    ctx: Context,
    *,
    alora: str | HFAlora = "constraint",
    reuse_cache: bool = True,
    model_options: dict[str, Any] | None = None,
) -> list[CheckResult]:
    """Check several requirements against the last output in ``ctx`` with one aLoRA, in one forward pass.

    The prompts are :func:`check_requirement`'s and so are the results, within float rounding;
    they are scored together by :func:`score_batch`. ``seconds`` is the whole batch's time.
    The conversation is the context up to its last output (:func:`checked_items`).
    """
    adapter = _adapter(backend, alora)
    if not requirements or not all(requirements):
        raise AloraError("aLoRA checks need the requirements' descriptions")
    t0 = time.perf_counter()
    prompts, info, notes = _prompts(backend, adapter, requirements, ctx, model_options)
    with backend.lock:
        base_cache = info.kv_cache if info is not None and reuse_cache else None
        results = score_batch(
            registry(backend).model,
            adapter.name,
            prompts,
            adapter.invocation_tokens,
            adapter.yes_id,
            adapter.no_id,
            base_cache=base_cache,
        )
    _finish(results, results, 1, adapter, time.perf_counter() - t0, notes)
    return results


def check_candidates(
    backend: Any,
    requirements: Sequence[str],
    ctxs: Sequence[Context],
    *,
    alora: str | HFAlora = "constraint",
    reuse_cache: bool = True,
    model_options: dict[str, Any] | None = None,
) -> list[list[CheckResult]]:
    """Check ``requirements`` against the last output of each context in ``ctxs`` with one aLoRA, in one forward pass.

    For the candidates of one call (outputs of the same prompt): their checks share the prompt's
    cached positions, read once (:func:`score_candidates`). Returns one list per context, each equal
    to :func:`check_requirements` on that context within float rounding. ``seconds`` is the whole
    batch's time.
    """
    adapter = _adapter(backend, alora)
    if not requirements or not all(requirements):
        raise AloraError("aLoRA checks need the requirements' descriptions")
    if not ctxs:
        return []
    t0 = time.perf_counter()
    per_output = [_prompts(backend, adapter, requirements, ctx, model_options) for ctx in ctxs]
    with backend.lock:
        caches = [info.kv_cache if info is not None and reuse_cache else None for _, info, _ in per_output]
        results = score_candidates(
            registry(backend).model,
            adapter.name,
            [ids for prompts, _, _ in per_output for ids in prompts],
            [c for c, (prompts, _, _) in enumerate(per_output) for _ in prompts],
            caches,
            adapter.invocation_tokens,
            adapter.yes_id,
            adapter.no_id,
        )
    seconds = time.perf_counter() - t0
    n = len(requirements)
    grouped = [results[c * n : (c + 1) * n] for c in range(len(ctxs))]
    for group, (_, _, notes) in zip(grouped, per_output, strict=True):
        _finish(group, results, len(ctxs), adapter, seconds, notes)
    return grouped


def _answer(
    backend: Any,
    action: Any,
    adapter: HFAlora,
    result: CheckResult,
    model_options: dict[str, Any] | None,
    generate_logs: list[GenerateLog] | None,
) -> ModelOutputThunk:
    """The output (and log) of one aLoRA verdict, labelled with its :class:`~gencomp.CheckVerdict`."""
    path = f"alora:{adapter.name}"
    meta: dict[str, Any] = {
        "alora": adapter.name,
        "yes_logit": result.yes_logit,
        "no_logit": result.no_logit,
        "reused_tokens": result.reused_tokens,
        "computed_tokens": result.computed_tokens,
    }
    extra: dict[str, Any] = {
        "check_path": path,
        "alora": adapter.name,
        "invocation_start": result.invocation_start,
        "reused_tokens": result.reused_tokens,
        "computed_tokens": result.computed_tokens,
        "seconds": result.seconds,
        "notes": list(result.notes),
    }
    if result.batch_size > 1:
        meta["batch_size"] = extra["batch_size"] = result.batch_size
        extra["batch_computed_tokens"] = result.batch_computed_tokens
    thunk = ModelOutputThunk(adapter.yes_text if result.passed else adapter.no_text, meta=meta)
    log = GenerateLog(
        prompt=backend.tokenizer.decode(result.prompt_ids),
        backend=backend_name(backend),
        model_options=dict(model_options or {}),
        model_output={"yes_logit": result.yes_logit, "no_logit": result.no_logit, "p_yes": result.p_yes},
        action=action,
        result=thunk,
        is_final_result=True,
        extra=extra,
    )
    thunk.generate_log = log
    measured = validation_for(adapter.validation, _description(action))
    verdict = CheckVerdict(
        result.passed,
        result.p_yes,
        path,
        reused_tokens=result.reused_tokens,
        computed_tokens=result.computed_tokens,
        validated=measured.validated,
        accuracy=measured.accuracy,
        validation=measured.text,
    )
    label(thunk, with_measured_state(verdict, adapter.validation, measured))
    if generate_logs is not None:
        generate_logs.append(log)
    return thunk


def _description(action: Any) -> str:
    description = getattr(action, "description", None)
    if not isinstance(description, str):
        raise AloraError(f"{action!r} is not a requirement with a description; aLoRA adapters check requirements")
    return description


def generate_checks_alora(
    backend: Any,
    actions: Sequence[Component | CBlock],
    ctx: Context,
    alora: str,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[ModelOutputThunk]:
    """Answer requirement checks with the aLoRA ``alora`` in one forward pass (:func:`check_requirements`).

    Returns one output per action, in order: its value is the adapter's yes or no text, ``meta["check"]``
    its :class:`~gencomp.CheckVerdict` (path ``"alora:<name>"``, tokens reused and computed), with
    ``meta["batch_size"]`` for a batch of several; a ``GenerateLog`` per output goes to ``generate_logs``.
    """
    adapter = _adapter(backend, alora)
    descriptions = [_description(a) for a in actions]
    results = check_requirements(backend, descriptions, ctx, alora=adapter, model_options=model_options)
    return [
        _answer(backend, action, adapter, result, model_options, generate_logs)
        for action, result in zip(actions, results, strict=True)
    ]


def generate_candidate_checks_alora(
    backend: Any,
    actions: Sequence[Component | CBlock],
    ctxs: Sequence[Context],
    alora: str,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[list[ModelOutputThunk]]:
    """Answer the same requirement checks of several outputs with the aLoRA ``alora`` in one forward pass.

    :func:`generate_checks_alora` for the last output of each context (:func:`check_candidates`):
    one list of outputs per context, in order; the logs go to ``generate_logs`` context by context.
    """
    adapter = _adapter(backend, alora)
    descriptions = [_description(a) for a in actions]
    results = check_candidates(backend, descriptions, ctxs, alora=adapter, model_options=model_options)
    return [
        [
            _answer(backend, action, adapter, result, model_options, generate_logs)
            for action, result in zip(actions, group, strict=True)
        ]
        for group in results
    ]
