"""The protocol part: request payloads and the reading of answers, for the OpenAI API and llama-server's own endpoints.

Pure functions of plain data (no I/O), shared by the synchronous backend and any later asynchronous
or streaming one.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gencomp import ModelOption, UnknownModelOptionError
from gencomp_openai.errors import MalformedResponseError

__all__ = [
    "JUDGE_WORDS",
    "OPENAI_OPTION_MAP",
    "REQUEST_OPTIONS",
    "Answer",
    "StreamedAnswer",
    "alora_check_payload",
    "alora_prefill_payload",
    "chat_payload",
    "completions_payload",
    "lora_field",
    "p_yes_from_top",
    "parse_alora_check",
    "parse_chat",
    "parse_completions",
    "request_options",
]

OPENAI_OPTION_MAP: dict[str, str] = {
    "max_tokens": ModelOption.MAX_NEW_TOKENS,
    "max_new_tokens": ModelOption.MAX_NEW_TOKENS,
    "max_completion_tokens": ModelOption.MAX_NEW_TOKENS,
    "seed": ModelOption.SEED,
    "system": ModelOption.SYSTEM_PROMPT,
    "system_prompt": ModelOption.SYSTEM_PROMPT,
    "tools": ModelOption.TOOLS,
}
"""The remote backend's option names and the :class:`~gencomp.ModelOption` key each stands for."""

REQUEST_OPTIONS = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "extra_body",
    }
)
"""Options sent as request fields. ``extra_body`` (a dict) is merged into the request as it is, for a
server's own fields (``top_k``, ``min_p``, ``repeat_penalty``...)."""

JUDGE_WORDS = (("Yes", "yes", "YES"), ("No", "no", "NO"))
"""First answer tokens compared when the model judges a requirement (yes words, no words), as on the HF backend."""

TOP_LOGPROBS = 20
"""How many alternatives of the first token are asked for (the OpenAI API's maximum)."""


def request_options(options: Mapping[str, Any], known: Iterable[str] = ()) -> dict[str, Any]:
    """The request fields of ``options`` (backend names, special keys already mapped and dropped).

    An option the protocol does not have raises ``UnknownModelOptionError`` naming the closest ones.
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in REQUEST_OPTIONS:
            names = sorted(set(known) | REQUEST_OPTIONS)
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownModelOptionError(
                f"model option {key!r} is not accepted by the OpenAI-compatible backend: it takes "
                f"{', '.join(sorted(REQUEST_OPTIONS))} and the gencomp options (ModelOption.*). A server's own "
                f"sampling fields go in extra_body={{...}}.{hint}"
            )
        if value is None:
            continue
        if key == "extra_body":
            if not isinstance(value, Mapping):
                raise UnknownModelOptionError(f"model option 'extra_body' must be a dict, got {type(value).__name__}")
            out.update(value)
        else:
            out[key] = value
    return out


def chat_payload(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Any],
    *,
    tools: Sequence[Mapping[str, Any]] = (),
    schema: tuple[str, Mapping[str, Any]] | None = None,
    top_logprobs: int | None = None,
) -> dict[str, Any]:
    """A ``/v1/chat/completions`` request. ``schema`` is ``(name, JSON schema)`` for ``response_format``."""
    payload: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], **fields}
    if tools:
        payload["tools"] = [dict(t) for t in tools]
    if schema is not None:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema[0], "schema": dict(schema[1]), "strict": True},
        }
    if top_logprobs:
        payload["logprobs"] = True
        payload["top_logprobs"] = top_logprobs
    return payload


def completions_payload(model: str, prompts: Sequence[str], fields: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/v1/completions`` request for a batch of raw prompts (no chat template)."""
    return {"model": model, "prompt": list(prompts), **fields}


@dataclass
class Answer:
    """What one generation returned."""

    text: str
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    first_top_logprobs: dict[str, float] | None = None
    """The first generated token's alternatives and their log-probabilities, when asked for."""
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    """llama-server's own counters (``prompt_n``, ``cache_n``, ``predicted_n``, milliseconds)."""
    model: str | None = None
    """The model the server says answered (its ``model`` field)."""


def _field(data: Any, *path: str | int) -> Any:
    cur = data
    for p in path:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _malformed(what: str, data: Any) -> MalformedResponseError:
    shown = repr(data)
    return MalformedResponseError(
        f"the server's answer has no {what} ({shown[:200]}{'...' if len(shown) > 200 else ''}); "
        f"it does not follow the OpenAI API. Check base_url and the server's version"
    )


def _top_from_openai(entry: Any) -> dict[str, float] | None:
    tops = _field(entry, "top_logprobs")
    if not isinstance(tops, list):
        return None
    out: dict[str, float] = {}
    for t in tops:
        tok, lp = _field(t, "token"), _field(t, "logprob")
        if isinstance(tok, str) and isinstance(lp, int | float):
            out[tok] = max(out.get(tok, -math.inf), float(lp))
    return out


def parse_chat(data: Any) -> Answer:
    """Read a ``/v1/chat/completions`` answer."""
    message = _field(data, "choices", 0, "message")
    if not isinstance(message, Mapping):
        raise _malformed("choices[0].message", data)
    content = message.get("content")
    calls = message.get("tool_calls") or []
    if content is None and not calls:
        raise _malformed("content or tool_calls in choices[0].message", data)
    first = _field(data, "choices", 0, "logprobs", "content", 0)
    return Answer(
        text=str(content or ""),
        finish_reason=_field(data, "choices", 0, "finish_reason"),
        tool_calls=[dict(c) for c in calls if isinstance(c, Mapping)],
        first_top_logprobs=_top_from_openai(first) if first is not None else None,
        usage=dict(_field(data, "usage") or {}),
        timings=dict(_field(data, "timings") or {}),
        model=_str_field(data, "model"),
    )


def _str_field(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else None


def parse_completions(data: Any, n: int) -> list[Answer]:
    """Read a ``/v1/completions`` answer for ``n`` prompts, in prompt order."""
    choices = _field(data, "choices")
    if not isinstance(choices, list) or len(choices) != n:
        raise _malformed(f"{n} choices", data)
    ordered: list[Answer | None] = [None] * n
    for pos, c in enumerate(choices):
        index = c.get("index", pos) if isinstance(c, Mapping) else None
        text = _field(c, "text")
        if not isinstance(index, int) or not 0 <= index < n or not isinstance(text, str):
            raise _malformed("choices with an index and a text", data)
        ordered[index] = Answer(
            text=text,
            finish_reason=c.get("finish_reason"),
            usage=dict(_field(data, "usage") or {}) if n == 1 else {},
            timings=dict(_field(data, "timings") or {}) if n == 1 else {},
            model=_str_field(data, "model"),
        )
    if any(a is None for a in ordered):
        raise _malformed(f"one choice for each of the {n} prompts", data)
    return [a for a in ordered if a is not None]


class StreamedAnswer:
    """Builds an :class:`Answer` from the server-sent events of a streamed ``/v1/chat/completions``
    (``chat``) or ``/v1/completions`` request, one event at a time."""

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.model: str | None = None
        self.choices = 0
        """How many events carried a choice (a stream with none has no answer at all)."""

    def add(self, event: Any) -> str:
        """Take one event; the new text it carries (``""`` for none)."""
        if not isinstance(event, Mapping):
            raise _malformed("JSON object in a streamed event", event)
        if isinstance(event.get("usage"), Mapping):
            self.usage = dict(event["usage"])
        if isinstance(event.get("timings"), Mapping):
            self.timings = dict(event["timings"])
        if isinstance(event.get("model"), str):
            self.model = event["model"]
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise _malformed("choices in a streamed event", event)
        if not choices:  # the usage-only event that ends an OpenAI stream
            return ""
        self.choices += 1
        choice = choices[0]
        reason = _field(choice, "finish_reason")
        if isinstance(reason, str):
            self.finish_reason = reason
        piece = _field(choice, "delta", "content") if self.chat else _field(choice, "text")
        if piece is None:
            return ""
        if not isinstance(piece, str):
            raise _malformed("text in the streamed delta", event)
        self.parts.append(piece)
        return piece

    def add_whole(self, data: Any) -> str:
        """Take a whole answer where events were asked for (a server that ignored ``"stream": true``);
        its text, handed on as one piece."""
        answer = parse_chat(data) if self.chat else parse_completions(data, 1)[0]
        self.choices += 1
        self.finish_reason = answer.finish_reason
        self.usage, self.timings, self.model = answer.usage, answer.timings, answer.model
        if answer.text:
            self.parts.append(answer.text)
        return answer.text

    def answer(self, *, stopped: bool = False) -> Answer:
        """What the events so far add up to. A stream that ended without a single choice (no event, or
        only ``[DONE]``) is a ``MalformedResponseError``, unless the caller stopped it first."""
        if not self.choices and not stopped:
            raise MalformedResponseError(
                "the server's stream ended without an answer: no event carried a choice (only "
                f"{'usage' if self.usage else 'an empty stream or [DONE]'}). It does not follow the OpenAI API; "
                "check base_url and the server's version"
            )
        return Answer(
            text="".join(self.parts),
            finish_reason=self.finish_reason,
            usage=self.usage,
            timings=self.timings,
            model=self.model,
        )


def p_yes_from_top(top: Mapping[str, float], yes_words: Iterable[str], no_words: Iterable[str]) -> float | None:
    """P(yes) against no, from a token's top log-probabilities (``None`` when neither side is among them).

    A side missing from the list is given the lowest listed log-probability (an upper bound on it).
    """
    yes, no = set(yes_words), set(no_words)
    floor = min(top.values(), default=-math.inf)

    def side(words: set[str]) -> float | None:
        lps = [lp for tok, lp in top.items() if tok.strip() in words]
        if not lps:
            return None
        m = max(lps)
        return m + math.log(sum(math.exp(lp - m) for lp in lps))

    y, n = side(yes), side(no)
    if y is None and n is None:
        return None
    y = floor if y is None else y
    n = floor if n is None else n
    if y == n == -math.inf:
        return None
    m = max(y, n)
    return math.exp(y - m) / (math.exp(y - m) + math.exp(n - m))


def lora_field(adapters: int, active: Mapping[int, float] | None = None) -> list[dict[str, Any]]:
    """llama-server's ``lora`` request field stating every adapter's scale: those in ``active`` at theirs,
    all others 0. Adapter 0 is always named, so that the field is never empty: an empty or missing field
    leaves every adapter at the server's own scale (1.0 unless changed, whatever ``--lora-init-without-apply``
    says), and a named list sets the adapters it does not name to 0."""
    active = dict(active or {})
    return [{"id": i, "scale": float(active.get(i, 0.0))} for i in range(max(adapters, 1))]


def alora_prefill_payload(prompt: str, lora: list[dict[str, Any]]) -> dict[str, Any]:
    """A llama-server ``/completion`` request that computes ``prompt`` (a check's conversation and requirement,
    without the invocation) into a slot's cache; its answer's ``id_slot`` names the slot."""
    return {"prompt": prompt, "n_predict": 1, "temperature": 0.0, "cache_prompt": True, "lora": lora}


def alora_check_payload(
    prompt: str, adapters: int, adapter_id: int, *, cache_prompt: bool = True, id_slot: int | None = None
) -> dict[str, Any]:
    """A llama-server ``/completion`` request that scores one check with the aLoRA ``adapter_id``.

    Every other adapter of the server is given scale 0; one token is generated, greedily, with its
    top ten alternatives. ``id_slot`` pins it to the slot that holds its prefix.
    """
    payload: dict[str, Any] = {
        "prompt": prompt,
        "n_predict": 1,
        "temperature": 0.0,
        "n_probs": 10,
        "cache_prompt": cache_prompt,
        "lora": lora_field(adapters, {adapter_id: 1.0}),
    }
    if id_slot is not None:
        payload["id_slot"] = id_slot
    return payload


def parse_alora_check(data: Any) -> tuple[str, dict[str, float], dict[str, Any]]:
    """The generated token, its top alternatives (log-probabilities) and the server's ``timings``,
    from a llama-server ``/completion`` answer (its newer ``top_logprobs`` and older ``probs`` forms)."""
    content = _field(data, "content")
    first = _field(data, "completion_probabilities", 0)
    if not isinstance(content, str) or not isinstance(first, Mapping):
        raise _malformed("content and completion_probabilities", data)
    top: dict[str, float] = {}
    if isinstance(first.get("top_logprobs"), list):
        top = _top_from_openai(first) or {}
    elif isinstance(first.get("probs"), list):
        for p in first["probs"]:
            tok, prob = _field(p, "tok_str"), _field(p, "prob")
            if isinstance(tok, str) and isinstance(prob, int | float) and prob > 0:
                top[tok] = math.log(prob)
    timings = dict(_field(data, "timings") or {})
    if "tokens_cached" in data:
        timings.setdefault("tokens_cached", data["tokens_cached"])
    if isinstance(data.get("id_slot"), int):
        timings["id_slot"] = data["id_slot"]
    return content, top, timings
