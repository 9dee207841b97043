"""Constraints on a server: llama-server's GBNF ``grammar``, or a JSON mode where a server offers only that.

A :class:`gencomp.constraints.Constraint` (``request.options.constraint``) goes to llama-server as its
GBNF grammar (:meth:`~gencomp.constraints.Constraint.gbnf`) in the request's ``grammar`` field, which its
chat and completion endpoints both read; a constraint that is only "a JSON answer" goes to another
server as ``response_format: {"type": "json_object"}`` (OpenAI's JSON mode, also vLLM's and Ollama's).

A server stops at the token limit wherever its grammar stands. An answer cut there before its grammar
accepts it is completed here with the shortest text the grammar allows
(:meth:`~gencomp.constraints.Constraint.completion`), pushed to the stream too, and the output says so
(``meta["constraint_completion"]``): an enforced answer always meets its grammar.
"""

from __future__ import annotations

from typing import Any

from gencomp import GencompError
from gencomp.streaming import current_control
from gencomp_openai.capabilities import LLAMA_CPP, ServerCapabilities

__all__ = ["complete", "request_fields", "syntaxes"]


def syntaxes(capabilities: ServerCapabilities) -> frozenset[str]:
    """What a server enforces: llama-server GBNF grammars (and JSON through them), another server a JSON mode
    where it offers structured output, else nothing."""
    if capabilities.kind == LLAMA_CPP:
        return frozenset({"gbnf", "json"})
    return frozenset({"json"}) if capabilities.json_schema else frozenset()


def request_fields(constraint: Any, capabilities: ServerCapabilities, chat: bool) -> dict[str, Any]:
    """The request fields that make the server decode under ``constraint`` (none when it is ``None``)."""
    if constraint is None:
        return {}
    if capabilities.kind == LLAMA_CPP:
        return {"grammar": constraint.gbnf()}
    if constraint.json and chat:
        return {"response_format": {"type": "json_object"}}
    raise GencompError(
        f"the {capabilities.kind} server cannot enforce {constraint!r}"
        + ("" if chat else " in raw completions (a JSON mode is a chat field)")
    )


def complete(constraint: Any, text: str, meta: dict[str, Any]) -> str:
    """``text``, completed when the server stopped before ``constraint`` accepts it (``meta`` says what was added)."""
    if constraint is None or constraint.matches(text):
        return text
    rest = constraint.completion(text)
    if rest is None:  # outside the grammar: the server did not enforce it; the check reports that
        return text
    meta["constraint_completion"] = rest
    control = current_control()
    if control is not None and control.pushed:
        control.push(rest)
    return text + rest
