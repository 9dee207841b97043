"""Grouped-query attention without copying keys and values: transformers' ``sdpa`` with ``enable_gqa`` on CPU.

transformers' ``sdpa_attention_forward`` repeats the key/value heads of a grouped-query model
(``repeat_kv``, a copy of the whole cache per layer) whenever an attention mask is present on CPU,
which is every forward over a cached prefix with more than one new token. Torch's SDPA takes the
grouped heads as they are with ``enable_gqa=True`` and gives the same output.
:func:`gqa_sdpa_attention_forward` does that in exactly this case and otherwise delegates to
``sdpa_attention_forward``. :func:`register` makes it available to ``from_pretrained`` and
``set_attn_implementation`` under :data:`ATTN_IMPLEMENTATION`, with ``sdpa``'s mask builder.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

__all__ = ["ATTN_IMPLEMENTATION", "gqa_sdpa_attention_forward", "register"]

ATTN_IMPLEMENTATION = "gencomp_sdpa_gqa"
"""The name the implementation is registered under (``config._attn_implementation``)."""

_lock = threading.Lock()
_registered = False


def gqa_sdpa_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """``sdpa_attention_forward``, except that grouped key/value heads are not repeated on CPU under a mask.

    The exception applies when the tensors are on CPU, a mask is given, there is more than one
    query position and the module groups its query heads (``num_key_value_groups > 1``), with no
    position bias, paged cache, softcap or attention output requested. Returns the output as
    ``(batch, q_len, heads, head_dim)`` (contiguous) and ``None``, like ``sdpa_attention_forward``.
    """
    groups = getattr(module, "num_key_value_groups", 1)
    if (
        attention_mask is None
        or query.device.type != "cpu"
        or query.shape[2] <= 1
        or groups <= 1
        or key.shape[-1] != value.shape[-1]
        or any(kwargs.get(k) is not None for k in ("position_bias", "cache", "softcap"))
        or kwargs.get("output_attentions", False)
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, enable_gqa=True
    )
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register the implementation and its mask builder with transformers (once per process); returns its name."""
    global _registered
    with _lock:
        if not _registered:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

            AttentionInterface.register(ATTN_IMPLEMENTATION, gqa_sdpa_attention_forward)
            AttentionMaskInterface.register(ATTN_IMPLEMENTATION, sdpa_mask)
            _registered = True
    return ATTN_IMPLEMENTATION
