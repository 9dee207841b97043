"""Backend-neutral model option keys and the rules for renaming and merging option dicts."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ModelOption"]


def _whole(minimum: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"a whole number >= {minimum}"
        return None if v >= minimum else f"at least {minimum}"

    return check


def _number_at_least_zero(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return "a number >= 0"
    return None if float(v) >= 0 else "at least 0"


def _of(kind: type | tuple[type, ...], what: str) -> Callable[[Any], str | None]:
    return lambda v: None if isinstance(v, kind) else what


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
    def known_special_keys() -> frozenset[str]:
        """The ``@@@…@@@`` keys defined here."""
        return frozenset(
            v for k, v in vars(ModelOption).items() if k.isupper() and isinstance(v, str) and ModelOption.is_special(v)
        )

    @staticmethod
    def validate(options: Mapping[str, Any]) -> None:
        """Raise :class:`~gencomp.errors.UnknownModelOptionError` for an unknown special key or a wrong value.

        Checks the special keys and the common names every backend shares (``max_new_tokens``,
        ``max_length``, ``temperature``, ``seed``); other plain keys are left to the backend.
        """
        from gencomp.errors import UnknownModelOptionError

        if not isinstance(options, Mapping):
            raise UnknownModelOptionError(f"model options must be a dict of option names to values, got {options!r}")
        special = ModelOption.known_special_keys()
        for key, value in options.items():
            if not isinstance(key, str):
                raise UnknownModelOptionError(f"model option names are strings, got {key!r}")
            if ModelOption.is_special(key) and key not in special:
                import difflib

                close = difflib.get_close_matches(key, sorted(special), n=1, cutoff=0.75)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownModelOptionError(
                    f"unknown model option {key!r}.{hint} The special options are: {', '.join(sorted(special))}"
                )
            check = _VALUE_CHECKS.get(key)
            problem = check(value) if check is not None and value is not None else None
            if problem:
                raise UnknownModelOptionError(f"model option {key!r} must be {problem}, got {value!r}")

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


_VALUE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    ModelOption.MAX_NEW_TOKENS: _whole(1),
    "max_new_tokens": _whole(1),
    "max_length": _whole(1),
    ModelOption.CONTEXT_WINDOW: _whole(1),
    ModelOption.SEED: _whole(0),
    "seed": _whole(0),
    ModelOption.TEMPERATURE: _number_at_least_zero,
    ModelOption.SYSTEM_PROMPT: _of(str, "a string"),
    ModelOption.THINKING: _of((bool, str), "true/false (or a level the backend names)"),
}
