"""Model options of the HF backend: the key maps and which names ``generate`` / the chat template accept."""

from __future__ import annotations

import functools

from gencomp import ModelOption

__all__ = [
    "HF_OPTION_MAP",
    "RESERVED_GENERATE_KEYS",
    "RESERVED_HINTS",
    "generate_keys",
    "template_variables",
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


RESERVED_HINTS = {
    key: "The backend sets it itself (one output per prompt, its own KV caches)." for key in RESERVED_GENERATE_KEYS
}
"""The advice an option error gives for a reserved ``generate`` key."""
