"""Entry-point module of the alora plugin (loaded at discovery: keep it light).

Routes requirement checks on a ``LocalHFBackend`` to aLoRA adapters through ``gencomp_generate``:

- an :class:`~gencomp.LLMaJRequirement` never goes to an adapter;
- an :class:`~gencomp.ALoraRequirement` always does (its ``alora``, else ``"constraint"``);
- any other :class:`~gencomp.Requirement` without a ``validation_fn`` goes to the ``"constraint"``
  aLoRA when one is loaded and the backend's ``default_to_constraint_checking_alora`` is true.

When the adapter is missing or fails, a warning is issued and the check is answered by the
backend's standard generation (LLM-as-a-judge); ``thunk.meta["check_path"]`` says which path ran
(``"alora:<name>"`` or ``"llm-as-a-judge"``, with the reason in ``meta["alora_fallback"]``).

Several checks of one output routed to the same loaded adapter are answered together through
``gencomp_check_requirements``, in one forward pass (``meta["batch_size"]``); when that fails, a
warning is issued and they go one by one through the path above.
"""

from __future__ import annotations

import sys
import threading
import warnings
import weakref
from typing import Any

from gencomp import ALoraRequirement, LLMaJRequirement, Requirement, hookimpl
from gencomp_alora.training.hooks import gencomp_backend_created, gencomp_register_commands  # noqa: F401

__all__ = [
    "FALLBACK_PATH",
    "alora_name_for",
    "gencomp_after_generate",
    "gencomp_check_requirements",
    "gencomp_generate",
]

FALLBACK_PATH = "llm-as-a-judge"
"""``meta["check_path"]`` of a requirement check answered by the backend's own generation."""

_fallbacks: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_fallbacks_lock = threading.Lock()


def _is_hf_backend(backend: Any) -> bool:
    # The module defining LocalHFBackend is imported once such a backend exists; never import it (torch) here.
    module = sys.modules.get("gencomp_hf_backend.backend")
    cls = getattr(module, "LocalHFBackend", None) if module is not None else None
    return isinstance(cls, type) and isinstance(backend, cls)


def alora_name_for(backend: Any, action: Any) -> str | None:
    """The aLoRA that should check ``action`` on ``backend``, or ``None`` when the check is not an aLoRA's.

    An ``ALoraRequirement`` names its adapter even when it is not loaded (the caller warns).
    """
    if not isinstance(action, Requirement) or isinstance(action, LLMaJRequirement):
        return None
    if action.validation_fn is not None or not action.description:
        return None
    if isinstance(action, ALoraRequirement):
        return action.alora or "constraint"
    if getattr(backend, "default_to_constraint_checking_alora", False) and backend.get_alora("constraint"):
        return "constraint"
    return None


def _note_fallback(action: Any, reason: str) -> None:
    with _fallbacks_lock:
        _fallbacks[action] = reason


@hookimpl
def gencomp_generate(
    backend: Any,
    action: Any,
    ctx: Any,
    format: Any,
    model_options: dict[str, Any] | None,
    generate_logs: list[Any],
    tool_calls: bool,
) -> Any:
    """Answer a requirement check with an aLoRA adapter, or pass (``None``)."""
    if not _is_hf_backend(backend):
        return None
    name = alora_name_for(backend, action)
    if name is None:
        return None
    if backend.get_alora(name) is None:
        reason = f"no aLoRA named {name!r} is loaded"
        warnings.warn(f"{action!r}: {reason}; checking it with the model as a judge instead", stacklevel=3)
        _note_fallback(action, reason)
        return None
    try:
        return backend._generate_from_context_alora(
            action, ctx, format, model_options=dict(model_options or {}), generate_logs=generate_logs
        )
    except Exception as exc:
        reason = f"aLoRA {name!r} failed: {type(exc).__name__}: {exc}"
    warnings.warn(f"{action!r}: {reason}; checking it with the model as a judge instead", stacklevel=3)
    _note_fallback(action, reason)
    return None  # the backend's own generation answers: the model as a judge


@hookimpl
def gencomp_check_requirements(
    backend: Any,
    requirements: list[Any],
    ctx: Any,
    model_options: dict[str, Any] | None,
    generate_logs: list[Any],
) -> list[Any] | None:
    """Answer the checks routed to the same loaded aLoRA in one forward pass per adapter; leave the rest (``None``).

    An adapter that gets a single check leaves it to ``gencomp_generate``.
    """
    if not _is_hf_backend(backend):
        return None
    groups: dict[str, list[int]] = {}
    for i, requirement in enumerate(requirements):
        name = alora_name_for(backend, requirement)
        if name is not None and backend.get_alora(name) is not None:
            groups.setdefault(name, []).append(i)
    answers: list[Any] = [None] * len(requirements)
    for name, indices in groups.items():
        if len(indices) < 2:
            continue
        from gencomp_alora.generate import generate_checks_alora

        try:
            thunks = generate_checks_alora(
                backend,
                [requirements[i] for i in indices],
                ctx,
                name,
                model_options=dict(model_options or {}),
                generate_logs=generate_logs,
            )
        except Exception as exc:
            warnings.warn(
                f"checking {len(indices)} requirements at once with aLoRA {name!r} failed "
                f"({type(exc).__name__}: {exc}); checking them one by one instead",
                stacklevel=3,
            )
            continue
        for i, thunk in zip(indices, thunks, strict=True):
            answers[i] = thunk
    return answers if any(a is not None for a in answers) else None


@hookimpl
def gencomp_after_generate(backend: Any, action: Any, result: Any, log: Any) -> None:
    """Label requirement checks that the backend itself answered with ``check_path`` (and why)."""
    if not isinstance(action, Requirement) or result is None or not _is_hf_backend(backend):
        return
    with _fallbacks_lock:
        reason = _fallbacks.pop(action, None)
    if "check_path" in result.meta and reason is None:
        return
    result.meta.setdefault("check_path", FALLBACK_PATH)
    if reason is not None:
        result.meta["alora_fallback"] = reason
    if log is not None:
        log.extra.setdefault("check_path", FALLBACK_PATH)
        if reason is not None:
            log.extra["alora_fallback"] = reason
