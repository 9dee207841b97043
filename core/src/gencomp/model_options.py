"""Backend-neutral model option keys and the rules for renaming and merging option dicts."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["ModelOption"]


class ModelOption:
    """Keys for model options that every backend understands.

    Special keys are written ``@@@name@@@`` so they never clash with a backend's own option names;
    a backend maps them to its own names and drops the rest. ``TEMPERATURE`` is a plain key because
    every backend already calls it ``temperature``.
    """

    TOOLS = "@@@tools@@@"
    MAX_NEW_TOKENS = "@@@max_new_tokens@@@"
    SYSTEM_PROMPT = "@@@system_prompt@@@"
    SEED = "@@@seed@@@"
    CONTEXT_WINDOW = "@@@context_window@@@"
    THINKING = "@@@thinking@@@"
    TEMPERATURE = "temperature"

    @staticmethod
    def is_special(key: str) -> bool:
        """Whether ``key`` is a special ``@@@…@@@`` key."""
        return key.startswith("@@@") and key.endswith("@@@") and len(key) > 6

    @staticmethod
    def replace_keys(options: Mapping[str, Any], from_to: Mapping[str, str]) -> dict[str, Any]:
        """Return a copy of ``options`` with each key in ``from_to`` renamed to its target.

        When the target key is already present, the existing value is kept, the renamed key is
        dropped, and a warning names both.
        """
        new = dict(options)
        for old, target in from_to.items():
            if old == target or old not in new:
                continue
            value = new.pop(old)
            if target in options:
                if options[target] != value:
                    warnings.warn(
                        f"model option {old!r}={value!r} conflicts with {target!r}={options[target]!r}; "
                        f"keeping {target!r}",
                        stacklevel=2,
                    )
                continue
            new[target] = value
        return new

    @staticmethod
    def remove_special_keys(options: Mapping[str, Any]) -> dict[str, Any]:
        """Return a copy of ``options`` without the special ``@@@…@@@`` keys."""
        return {k: v for k, v in options.items() if not ModelOption.is_special(k)}

    @staticmethod
    def merge_model_options(
        persistent: Mapping[str, Any] | None, overwrite: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Merge two option dicts; keys of ``overwrite`` (the call's options) win."""
        merged = dict(persistent or {})
        merged.update(overwrite or {})
        return merged
