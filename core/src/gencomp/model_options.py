"""Backend-neutral model option keys and the rules for renaming and merging option dicts."""

from __future__ import annotations

import difflib
import numbers
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gencomp.errors import UnknownModelOptionError

__all__ = [
    "GenerationOptions",
    "ModelOption",
    "backend_names",
    "simplify_and_merge",
    "translate_options",
    "unknown_option_error",
]


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


def _constraint(v: Any) -> str | None:
    from gencomp.constraints import Constraint

    return None if isinstance(v, Constraint) else "a gencomp.constraints.Constraint"


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
    CONSTRAINT = "@@@constraint@@@"
    """A :class:`gencomp.constraints.Constraint` the answer must follow (for backends whose ``constraint_syntaxes``
    can enforce it; others refuse it by name). The ``enforce`` strategy sets it."""
    TEMPERATURE = "temperature"

    @staticmethod
    def known_special_keys() -> frozenset[str]:
        """The ``@@@…@@@`` keys defined here."""
        return frozenset(
            v for k, v in vars(ModelOption).items() if k.isupper() and isinstance(v, str) and ModelOption.is_special(v)
        )

    @staticmethod
    def validate(options: Mapping[str, Any], also: Iterable[str] = ()) -> None:
        """Raise :class:`~gencomp.errors.UnknownModelOptionError` for an unknown special key or a wrong value.

        Checks the special keys (those defined here and the ones in ``also``: a backend's option map
        may name more) and the common names every backend shares (``max_new_tokens``,
        ``max_length``, ``temperature``, ``seed``); other plain keys are left to the backend.
        """
        if not isinstance(options, Mapping):
            raise UnknownModelOptionError(f"model options must be a dict of option names to values, got {options!r}")
        special = ModelOption.known_special_keys() | {k for k in also if ModelOption.is_special(k)}
        for key, value in options.items():
            if not isinstance(key, str):
                raise UnknownModelOptionError(f"model option names are strings, got {key!r}")
            if ModelOption.is_special(key) and key not in special:
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
    ModelOption.CONSTRAINT: _constraint,
}


@dataclass(frozen=True)
class GenerationOptions:
    """A call's model options, translated once for one backend (:func:`translate_options`).

    ``merged`` is what the call asked for, in :class:`ModelOption` keys (the backend's defaults
    under the call's options): logs show it. ``generate`` holds the backend's own generation
    arguments and ``template`` the variables of its prompt template, both under the backend's
    names. The special keys every backend needs are typed fields; a special key the backend also
    has a name for appears there too (for instance ``max_new_tokens``).
    """

    merged: Mapping[str, Any] = field(default_factory=dict)
    generate: Mapping[str, Any] = field(default_factory=dict)
    template: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    tools: Any = None
    system_prompt: str | None = None
    max_new_tokens: int | None = None
    thinking: Any = None
    context_window: int | None = None
    constraint: Any = None
    """The :class:`gencomp.constraints.Constraint` the answer must follow (``ModelOption.CONSTRAINT``), or ``None``."""


_TYPED = {
    ModelOption.SEED: "seed",
    ModelOption.TOOLS: "tools",
    ModelOption.SYSTEM_PROMPT: "system_prompt",
    ModelOption.MAX_NEW_TOKENS: "max_new_tokens",
    ModelOption.THINKING: "thinking",
    ModelOption.CONTEXT_WINDOW: "context_window",
    ModelOption.CONSTRAINT: "constraint",
}


def unknown_option_error(
    key: str, known: Iterable[str], *, backend: str, accepted: str = "", hint: str | None = None
) -> UnknownModelOptionError:
    """The error for an option ``backend`` does not accept: ``hint``, else the closest of the ``known`` names."""
    if hint is None:
        close = difflib.get_close_matches(key, sorted(set(known)), n=3, cutoff=0.6)
        hint = f"Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    hint = f" {hint}" if hint else ""
    what = accepted or "one of its generation options"
    return UnknownModelOptionError(
        f"model option {key!r} is not accepted by {backend}: it is neither {what}, nor a gencomp option "
        f"(ModelOption.*). Remove it or use an accepted name.{hint}"
    )


def simplify_and_merge(
    defaults: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    option_map: Mapping[str, str],
    merge: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Both dicts in ``ModelOption`` keys (``option_map``: backend key -> ``ModelOption`` key), merged: a new dict.

    ``merge(defaults, overrides)`` merges (default: the overrides' keys win); it is not called when
    ``overrides`` is empty. The overrides are checked (:meth:`ModelOption.validate`), and a length
    limit they set (``max_length`` or ``MAX_NEW_TOKENS``) replaces the defaults' other one.
    """
    simple_defaults = ModelOption.replace_keys(defaults or {}, option_map)
    simple_call = ModelOption.replace_keys(overrides or {}, option_map)
    if not simple_call:
        return simple_defaults
    ModelOption.validate(simple_call, also=option_map.values())
    for mine, theirs in (("max_length", ModelOption.MAX_NEW_TOKENS), (ModelOption.MAX_NEW_TOKENS, "max_length")):
        if mine in simple_call and theirs not in simple_call:  # the call's length limit replaces the defaults' other
            simple_defaults.pop(theirs, None)
    return dict((merge or ModelOption.merge_model_options)(simple_defaults, simple_call))


def backend_names(option_map: Mapping[str, str], accepted: Collection[str]) -> dict[str, str]:
    """``{ModelOption key: backend key}`` for the backend keys in ``accepted`` (the first one per key)."""
    back: dict[str, str] = {}
    for key, target in option_map.items():
        if key in accepted:
            back.setdefault(target, key)
    return back


def translate_options(
    defaults: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    *,
    option_map: Mapping[str, str],
    generate_keys: Collection[str],
    template_keys: Collection[str] = (),
    merge: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None,
    backend: str = "this backend",
    accepted: str = "",
    hints: Mapping[str, str] | None = None,
) -> GenerationOptions:
    """Translate a backend's default options and a call's options into a :class:`GenerationOptions`.

    A pure function. ``option_map`` is ``{backend_key: ModelOption key}``; ``generate_keys`` and
    ``template_keys`` are the backend names its generation and its template accept. Steps:

    1. each dict's backend keys become ``ModelOption`` keys (within one dict an existing
       ``ModelOption`` key wins, with a warning);
    2. ``merge(defaults, overrides)`` (default: the call's keys win);
    3. special keys fill the typed fields, and also go under the backend's name when
       ``option_map`` names one that it accepts; other special keys are dropped;
    4. a plain key goes to ``generate`` or ``template``; one that neither accepts raises
       :class:`~gencomp.UnknownModelOptionError` naming it and the closest known names
       (``backend`` and ``accepted`` word the message; ``hints`` give the advice for a known key).
    """
    merged = simplify_and_merge(defaults, overrides, option_map, merge)
    back = backend_names(option_map, {*generate_keys, *template_keys})
    generate: dict[str, Any] = {}
    template: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for key, value in merged.items():
        if ModelOption.is_special(key):
            if key in _TYPED:
                typed[_TYPED[key]] = value
            name = back.get(key)
            if name is not None:
                (generate if name in generate_keys else template)[name] = value
        elif key in generate_keys:
            generate[key] = value
        elif key in template_keys:
            template[key] = value
        else:
            raise unknown_option_error(
                key,
                {*generate_keys, *template_keys, *option_map},
                backend=backend,
                accepted=accepted,
                hint=(hints or {}).get(key),
            )
    return GenerationOptions(merged=merged, generate=generate, template=template, **typed)
