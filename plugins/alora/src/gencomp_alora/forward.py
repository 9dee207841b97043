"""Forward passes of a PEFT model with one aLoRA adapter active on the last positions of its one row.

PEFT's own aLoRA forward (``model(..., alora_offsets=[k])``) walks every module of the model to
hang a pre-hook on each LoRA layer, then, in each of them, builds a boolean mask of the adapted
positions and gathers and scatters them. For a check of ~20 new tokens that glue made the forward
pass 1.2-1.5x a plain base-model forward of the same tokens (``benchmarks/checkspeed.py``).
:func:`adapted_forward` computes the same thing directly: for the duration of one call it puts,
in place of each PEFT LoRA layer, a module that applies the base layer to every position and adds
the adapter's ``lora_B(lora_A(x)) * scaling`` to the last ``k`` positions (one ``addmm_`` into
those rows), with the adapter's own weights. The result equals PEFT's within float rounding.
Layers it does not know exactly (another LoRA variant, DoRA, a merged adapter, a LoRA bias, a
non-``Linear`` base layer, dropout in training mode) make the call go through PEFT's own forward.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["adapted_forward", "base_forward", "output_columns"]


class _Plan:
    """The PEFT LoRA layers of a model, each with its stand-in for one adapter (or ``None``: PEFT's own path)."""

    def __init__(self, swaps: list[tuple[Any, str, Any, Any, Any]] | None, span: list[int]) -> None:
        self.swaps = swaps  # (parent, attribute, PEFT layer, stand-in with the adapter, base layer)
        self.span = span


_plans: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[str, ...], bool], _Plan]] = weakref.WeakKeyDictionary()


def _stand_in_class() -> type:
    import torch
    from torch.nn.functional import linear

    class SuffixAdapted(torch.nn.Module):
        """A LoRA layer's base layer on every position, plus the adapter on the last ``span[0]`` positions."""

        parts: tuple[Any, Any, Any]

        def __init__(self, base: Any, lora_a: Any, lora_b: Any, scaling: float, span: list[int]) -> None:
            super().__init__()
            object.__setattr__(self, "parts", (base, lora_a.weight, lora_b.weight))  # PEFT's layer owns them
            self.scaling = scaling
            self.span = span

        def forward(self, x: Any) -> Any:
            base, a, b = self.parts
            out = base(x)
            k = self.span[0]
            if k <= 0:
                return out
            # PEFT's aLoRA: result[adapted] += lora_B(lora_A(x[adapted])) * scaling
            if out.dim() == 3 and out.shape[0] == 1 and x.dtype == a.dtype:  # one row: one fused update
                rows = out.view(-1, out.shape[-1])[-k:]
                rows.addmm_(torch.mm(x.reshape(-1, x.shape[-1])[-k:], a.t()), b.t(), alpha=self.scaling)
            else:
                out[..., -k:, :] += linear(linear(x[..., -k:, :].to(a.dtype), a), b) * self.scaling
            return out

    return SuffixAdapted


_STAND_IN: type | None = None


def _plan(model: Any, adapter_name: str) -> _Plan:
    """The swaps that run ``adapter_name`` on ``model`` without PEFT's hooks (per model, adapter set and mode)."""
    global _STAND_IN
    key = (adapter_name, tuple(getattr(model, "peft_config", {}) or {}), bool(model.training))
    per_model = _plans.setdefault(model, {})
    found = per_model.get(key)
    if found is not None:
        return found
    import torch
    from peft.tuners.lora.layer import Linear as LoraLinear
    from peft.tuners.lora.layer import LoraLayer

    try:
        from peft.tuners.lora.variants import ALoraLinearVariant
    except ImportError:  # a PEFT whose aLoRA this module does not know: PEFT's own forward
        per_model[key] = _Plan(None, [0])
        return per_model[key]
    if _STAND_IN is None:
        _STAND_IN = _stand_in_class()
    span = [0]
    swaps: list[tuple[Any, str, Any, Any, Any]] = []
    exact = True
    base_model = model.get_base_model()
    for name, layer in base_model.named_modules():
        if not isinstance(layer, LoraLayer):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = base_model.get_submodule(parent_name)
        base = layer.get_base_layer()
        if adapter_name not in layer.lora_A:
            swaps.append((parent, attr, layer, base, base))
            continue
        exact = (
            type(layer) is LoraLinear
            and isinstance(getattr(layer, "lora_variant", {}).get(adapter_name), ALoraLinearVariant)
            and not layer.merged
            and not layer.use_dora.get(adapter_name, False)
            and type(base) is torch.nn.Linear
            and layer.lora_A[adapter_name].bias is None
            and layer.lora_B[adapter_name].bias is None
            and (isinstance(layer.lora_dropout[adapter_name], torch.nn.Identity) or not layer.training)
        )
        if not exact:
            break
        stand_in = _STAND_IN(
            base, layer.lora_A[adapter_name], layer.lora_B[adapter_name], layer.scaling[adapter_name], span
        )
        swaps.append((parent, attr, layer, stand_in, base))
    found = _Plan(swaps if exact else None, span)
    per_model[key] = found
    return found


@contextlib.contextmanager
def _swapped(plan: _Plan, adapted: int) -> Iterator[None]:
    assert plan.swaps is not None
    plan.span[0] = adapted
    for parent, attr, _, stand_in, base in plan.swaps:
        setattr(parent, attr, stand_in if adapted > 0 else base)
    try:
        yield
    finally:
        for parent, attr, layer, _, _ in plan.swaps:
            setattr(parent, attr, layer)


def adapted_forward(
    model: Any, adapter_name: str, adapted: int, *, columns: Sequence[int] | None = None, **kwargs: Any
) -> Any:
    """``model``'s forward (a PEFT model, one row) with aLoRA ``adapter_name`` on the last ``adapted`` positions.

    ``kwargs`` go to the model's forward (``input_ids``, the cache, ``position_ids``, ``attention_mask``,
    ``logits_to_keep``...). With ``columns`` (token ids), the logits hold only those, in that order,
    when the output layer is a plain ``Linear`` (else all of them): a check reads two of ~50k, and
    the whole output layer is ~5% of its time. The caller holds the model's lock and an inference mode.
    """
    plan = _plan(model, adapter_name)
    with _output_columns(model.get_base_model(), columns):
        if plan.swaps is None:
            if model.active_adapter != adapter_name:  # set_adapter walks every module: skip it when already active
                model.set_adapter(adapter_name)
            return model(**kwargs, alora_offsets=[adapted])
        with _swapped(plan, adapted):
            return model.get_base_model()(**kwargs)


def output_columns(out: Any, columns: Sequence[int]) -> Any:
    """The logits of ``columns`` from the output of :func:`adapted_forward` called with them (last axis, in order)."""
    logits = out.logits
    if logits.shape[-1] == len(columns):
        return logits
    return logits[..., list(columns)]


@contextlib.contextmanager
def _output_columns(base: Any, columns: Sequence[int] | None) -> Iterator[None]:
    """For one call, ``base``'s output layer computes only ``columns`` (when it is a plain ``Linear``)."""
    import torch

    head = base.get_output_embeddings()
    if columns is None or head is None or type(head) is not torch.nn.Linear:
        yield
        return
    index = torch.tensor(list(columns), device=head.weight.device)
    narrow = torch.nn.Linear(head.in_features, len(index), bias=head.bias is not None, device="meta")  # no init
    narrow.weight = torch.nn.Parameter(head.weight.index_select(0, index), requires_grad=False)
    if head.bias is not None:
        narrow.bias = torch.nn.Parameter(head.bias.index_select(0, index), requires_grad=False)
    base.set_output_embeddings(narrow)
    try:
        yield
    finally:
        base.set_output_embeddings(head)


def base_forward(model: Any, **kwargs: Any) -> Any:
    """``model``'s forward as the base model (every adapter off), without walking PEFT's modules when it can."""
    plan = _plan(model, model.active_adapter)
    if plan.swaps is None:
        with model.disable_adapter():
            return model(**kwargs)
    with _swapped(plan, 0):
        return model.get_base_model()(**kwargs)
