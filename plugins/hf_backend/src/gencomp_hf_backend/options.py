"""Model options of the HF backend: the key maps and which names ``generate`` / the chat template accept."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable

from gencomp import ModelOption, UnknownModelOptionError

__all__ = [
    "HF_OPTION_MAP",
    "RESERVED_GENERATE_KEYS",
    "generate_keys",
    "template_variables",
    "unknown_option_error",
]

HF_OPTION_MAP: dict[str, str] = {
    "max_new_tokens": ModelOption.MAX_NEW_TOKENS,
    "system": ModelOption.SYSTEM_PROMPT,
    "system_prompt": ModelOption.SYSTEM_PROMPT,
    "seed": ModelOption.SEED,
    "tools": ModelOption.TOOLS,
    "enable_thinking": ModelOption.THINKING,
}
"""The HF backend's own option names and the :class:`~gencomp.ModelOption` key each stands for."""

RESERVED_GENERATE_KEYS = frozenset(
    {
        "_from_model_config",
        "transformers_version",
        "return_dict_in_generate",
        "output_scores",
        "output_logits",
        "output_attentions",
        "output_hidden_states",
        "num_return_sequences",
        "use_cache",
    }
)
"""``GenerationConfig`` fields the backend sets itself (one output per prompt, its own KV caches)."""


@functools.cache
def generate_keys() -> frozenset[str]:
    """The option names ``generate`` accepts: the fields of ``GenerationConfig``, minus the reserved ones."""
    from transformers import GenerationConfig

    return frozenset(GenerationConfig().to_dict()) - RESERVED_GENERATE_KEYS


_TEMPLATE_OWN = frozenset({"messages", "tools", "add_generation_prompt", "documents", "continue_final_message"})


@functools.lru_cache(maxsize=16)
def template_variables(chat_template: str | None) -> frozenset[str]:
    """The variables a chat template reads that a caller may set (``messages``, ``tools``... excluded)."""
    if not chat_template:
        return frozenset()
    import jinja2
    import jinja2.ext
    import jinja2.meta

    try:  # the environment transformers renders chat templates in (its extensions and globals)
        from transformers.utils.chat_template_utils import _compile_jinja_template

        env = _compile_jinja_template(chat_template).environment
    except Exception:
        env = jinja2.Environment(extensions=[jinja2.ext.loopcontrols])
    try:
        names = jinja2.meta.find_undeclared_variables(env.parse(chat_template))
    except jinja2.TemplateSyntaxError:
        return frozenset()
    return frozenset(n for n in names if n not in _TEMPLATE_OWN and n not in env.globals and not n.startswith("_"))


def unknown_option_error(key: str, known: Iterable[str]) -> UnknownModelOptionError:
    """The error for an option no part of the backend accepts, with the closest known names."""
    known = sorted(set(known))
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if key in RESERVED_GENERATE_KEYS:
        hint = " The backend sets it itself (one output per prompt, its own KV caches)."
    return UnknownModelOptionError(
        f"model option {key!r} is not accepted by the HF backend: it is neither a transformers "
        f"GenerationConfig field, nor a variable of the model's chat template, nor a gencomp option "
        f"(ModelOption.*).{hint}"
    )
