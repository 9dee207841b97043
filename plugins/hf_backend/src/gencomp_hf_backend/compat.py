"""The transformers names that changed between the versions gencomp supports, in one place.

transformers 5.24 renamed ``past_key_values`` to ``cache``: the keyword of ``generate()`` (old name
removed in 6.0) and of the models' ``forward()`` (removed in 5.40), and the field of their outputs.
Code that passes a KV cache to a model or reads one from its output goes through these helpers, so
it uses the installed version's name and never triggers its deprecation warning. Public: other plugins
use them too.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["cache_keyword", "output_cache", "with_cache"]


@functools.cache
def cache_keyword() -> str:
    """``"cache"`` when the installed transformers uses the new name, else ``"past_key_values"``."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def with_cache(cache: Any) -> dict[str, Any]:
    """Keyword arguments that hand ``cache`` to ``generate()`` or a model's ``forward()``."""
    return {cache_keyword(): cache}


def output_cache(output: Any) -> Any:
    """The KV cache of a model's output or of a ``generate(return_dict_in_generate=True)`` result."""
    return getattr(output, cache_keyword())
