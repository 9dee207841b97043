"""Core's own hook implementations: the fallbacks every plugin can override (all ``trylast``)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gencomp.base import ModelToolCall
from gencomp.cache import Cache, LRUCache
from gencomp.model_options import ModelOption
from gencomp.plugins import hookimpl


@hookimpl
def gencomp_register_strategies(register: Callable[..., None]) -> None:
    from gencomp.strategies import BUILTIN_STRATEGIES

    for cls in BUILTIN_STRATEGIES:
        register(cls.name, cls, description=cls.description)


@hookimpl(trylast=True)
def gencomp_make_cache() -> Cache:
    return LRUCache(3)


@hookimpl(trylast=True)
def gencomp_merge_model_options(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    return ModelOption.merge_model_options(defaults, overrides)


@hookimpl(trylast=True)
def gencomp_extract_tool_calls(tools: Mapping[str, Callable[..., Any]], text: str) -> dict[str, ModelToolCall]:
    return scan_json_tool_calls(tools, text)


def _call_candidates(obj: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(obj, Mapping):
        yield obj
        for v in obj.values():
            yield from _call_candidates(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _call_candidates(v)


_ARGUMENT_KEYS = ("arguments", "args", "parameters")


def _accepted(func: Callable[..., Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` without the names ``func`` cannot take (all of them for a tool without parameters)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): keep what the model said
        return dict(args)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(args)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in args.items() if k in names}


def scan_json_tool_calls(tools: Mapping[str, Callable[..., Any]], text: str) -> dict[str, ModelToolCall]:
    """Find JSON objects in ``text`` of the form ``{"name": TOOL, "arguments": {...}}``.

    ``args`` and ``parameters`` are accepted for ``arguments``, and arguments given as a JSON string
    are decoded. Arguments the tool cannot take are dropped, so that the call never raises
    ``TypeError`` for a name the model invented. Objects may stand anywhere in the text and be
    nested (``{"function": {...}}``); names that are not among ``tools`` are ignored.
    """
    decoder = json.JSONDecoder()
    calls: dict[str, ModelToolCall] = {}
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        for cand in _call_candidates(obj):
            name = cand.get("name")
            args: Any = next((cand[k] for k in _ARGUMENT_KEYS if k in cand), {})
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    continue
            if isinstance(name, str) and name in tools and isinstance(args, Mapping):
                calls[name] = ModelToolCall(name, tools[name], _accepted(tools[name], args))
        i = text.find("{", end)
    return calls
