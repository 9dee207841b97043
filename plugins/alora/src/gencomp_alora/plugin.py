"""Entry-point module of the alora plugin (loaded at discovery: keep it light).

Answers requirement checks on a ``LocalHFBackend`` with aLoRA adapters, through the one batch hook
``gencomp_check_requirements`` (checks of one output routed to the same adapter run in one forward
pass; a batch of one is a batch):

- an :class:`~gencomp.LLMaJRequirement` never goes to an adapter;
- an :class:`~gencomp.ALoraRequirement` always does (its ``alora``, else ``"constraint"``);
- any other :class:`~gencomp.Requirement` without a ``validation_fn`` goes to the ``"constraint"``
  aLoRA when one is loaded and the backend's ``default_to_constraint_checking_alora`` option
  (a constructor keyword, default true) is true.

Every adapter verdict says what it rests on (``CheckVerdict.validated``/``accuracy``/``validation``,
from the adapter's measured accuracy, :mod:`gencomp_alora.validation`): a plain requirement that
code does not recognise rests on the adapter's measurements on such requirements, written by hand;
an adapter without measurements gives ``unvalidated`` verdicts.

When the adapter is missing or fails, a warning is issued here and the check is answered with
:class:`~gencomp.CheckFallback`: the model judges it, and its verdict carries the reason
(``CheckVerdict.fallback_reason``). The plugin also adds ``add_alora``/``get_alora``/``get_aloras``/
``alora_model`` to ``LocalHFBackend`` (``gencomp_backend_attribute``).
"""

from __future__ import annotations

import warnings
from typing import Any

from gencomp import ALoraRequirement, CheckFallback, LLMaJRequirement, Requirement, hookimpl
from gencomp.backend import BackendAttribute
from gencomp_alora.registry import is_hf_backend, registry
from gencomp_alora.training.hooks import gencomp_backend_created, gencomp_register_commands  # noqa: F401

__all__ = [
    "BACKEND_ATTRIBUTES",
    "alora_name_for",
    "gencomp_backend_attribute",
    "gencomp_check_candidates",
    "gencomp_check_requirements",
]

CONSTRAINT_OPTION = "default_to_constraint_checking_alora"
"""The backend constructor keyword that turns routing of plain requirements to ``"constraint"`` off."""

BACKEND_ATTRIBUTES = ("add_alora", "get_alora", "get_aloras", "alora_model")
"""The seed's aLoRA methods this plugin adds to ``LocalHFBackend``."""


def alora_name_for(backend: Any, requirement: Any) -> str | None:
    """The aLoRA that should check ``requirement`` on ``backend``, or ``None`` when the check is not an aLoRA's.

    An ``ALoraRequirement`` names its adapter even when it is not loaded (the caller warns).
    """
    if not isinstance(requirement, Requirement) or isinstance(requirement, LLMaJRequirement):
        return None
    if requirement.validation_fn is not None or not requirement.description:
        return None
    if isinstance(requirement, ALoraRequirement):
        return requirement.alora or "constraint"
    if backend.plugin_options.get(CONSTRAINT_OPTION, True) and registry(backend).get("constraint"):
        return "constraint"
    return None


@hookimpl
def gencomp_backend_options(backend_name: str) -> list[str] | None:
    """The HF backend's constructor options this plugin reads (``backend.plugin_options``)."""
    return [CONSTRAINT_OPTION] if backend_name == "hf" else None


@hookimpl
def gencomp_backend_attribute(backend: Any, name: str) -> Any:
    """``add_alora``/``get_alora``/``get_aloras`` (bound to the backend's registry) and ``alora_model``."""
    if name not in BACKEND_ATTRIBUTES or not is_hf_backend(backend):
        return None
    adapters = registry(backend)
    if name == "alora_model":
        return BackendAttribute(adapters.model)
    return BackendAttribute({"add_alora": adapters.add, "get_alora": adapters.get, "get_aloras": adapters.all}[name])


def _fallback(requirement: Any, reason: str) -> CheckFallback:
    warnings.warn(f"{requirement!r}: {reason}; checking it with the model as a judge instead", stacklevel=3)
    return CheckFallback(reason)


@hookimpl
def gencomp_check_requirements(
    backend: Any,
    requirements: list[Any],
    ctx: Any,
    output: Any,
    model_options: dict[str, Any] | None,
    generate_logs: list[Any],
) -> list[Any] | None:
    """Answer the checks routed to loaded aLoRAs, one forward pass per adapter; leave the rest (``None``)."""
    if not is_hf_backend(backend):
        return None
    answers: list[Any] = [None] * len(requirements)
    groups: dict[str, list[int]] = {}
    for i, requirement in enumerate(requirements):
        name = alora_name_for(backend, requirement)
        if name is None:
            continue
        if registry(backend).get(name) is None:
            answers[i] = _fallback(requirement, f"no aLoRA named {name!r} is loaded")
        elif output is None:
            answers[i] = _fallback(requirement, "the context has no model output to check")
        else:
            groups.setdefault(name, []).append(i)
    for name, indices in groups.items():
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
            reason = f"aLoRA {name!r} failed: {type(exc).__name__}: {exc}"
            for i in indices:
                answers[i] = _fallback(requirements[i], reason)
            continue
        for i, thunk in zip(indices, thunks, strict=True):
            answers[i] = thunk
    return answers if any(a is not None for a in answers) else None


@hookimpl
def gencomp_check_candidates(
    backend: Any,
    requirements: list[Any],
    ctxs: list[Any],
    model_options: dict[str, Any] | None,
    generate_logs: list[Any],
) -> list[list[Any]] | None:
    """Answer the checks of several candidate outputs routed to loaded aLoRAs, one forward pass per adapter.

    Routing and fallbacks are :func:`gencomp_check_requirements`'s, candidate by candidate; the
    checks of all candidates routed to one adapter run together, sharing the prompt's cached positions.
    """
    if not is_hf_backend(backend):
        return None
    answers: list[list[Any]] = [[None] * len(requirements) for _ in ctxs]
    groups: dict[str, list[int]] = {}
    for i, requirement in enumerate(requirements):
        name = alora_name_for(backend, requirement)
        if name is None:
            continue
        if registry(backend).get(name) is None:
            for row in answers:
                row[i] = _fallback(requirement, f"no aLoRA named {name!r} is loaded")
        else:
            groups.setdefault(name, []).append(i)
    checked = [k for k, ctx in enumerate(ctxs) if ctx.last_output() is not None]
    for k in set(range(len(ctxs))) - set(checked):
        for indices in groups.values():
            for i in indices:
                answers[k][i] = _fallback(requirements[i], "the context has no model output to check")
    for name, indices in groups.items() if checked else ():
        from gencomp_alora.generate import generate_candidate_checks_alora

        try:
            thunks = generate_candidate_checks_alora(
                backend,
                [requirements[i] for i in indices],
                [ctxs[k] for k in checked],
                name,
                model_options=dict(model_options or {}),
                generate_logs=generate_logs,
            )
        except Exception as exc:
            reason = f"aLoRA {name!r} failed: {type(exc).__name__}: {exc}"
            for k in checked:
                for i in indices:
                    answers[k][i] = _fallback(requirements[i], reason)
            continue
        for k, row in zip(checked, thunks, strict=True):
            for i, thunk in zip(indices, row, strict=True):
                answers[k][i] = thunk
    return answers if any(a is not None for row in answers for a in row) else None
