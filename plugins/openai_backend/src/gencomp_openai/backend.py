"""``OpenAIBackend``: runs gencomp components on a model behind an OpenAI-compatible server.

The server applies its chat template; this backend sends the formatter's chat messages, reads the
answers, and routes requirement checks to an aLoRA the server activates per request (llama-server),
or else to the model as a judge. The HTTP mechanics are in :mod:`gencomp_openai.http`, the payloads
in :mod:`gencomp_openai.protocol`, the probe in :mod:`gencomp_openai.capabilities`.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydantic

from gencomp import (
    ALoraRequirement,
    Cache,
    CheckFallback,
    CheckVerdict,
    Context,
    Formatter,
    FormatterBackend,
    GencompError,
    GenerateLog,
    LLMaJRequirement,
    ModelOutputThunk,
    Requirement,
    default_formatter,
)
from gencomp.backend import Generation, GenerationRequest, RawRequest
from gencomp.base import backend_name
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.streaming import GenerationControl, current_control
from gencomp.verdicts import label
from gencomp_openai import protocol
from gencomp_openai.capabilities import LLAMA_CPP, ServerAdapter, ServerCapabilities, probe
from gencomp_openai.errors import MalformedResponseError, UnknownServerModelError
from gencomp_openai.http import HttpLayer, RetryPolicy, Timeouts
from gencomp_openai.locks import SharedExclusiveLock

__all__ = ["ALORA_ANSWERS", "FALLBACK_PATH", "OpenAIBackend", "resolve_connection"]

FALLBACK_PATH = "llm-as-a-judge"
"""``meta["check_path"]`` of a check answered by the model as a judge."""

DEFAULT_MAX_CONNECTIONS = 64
"""The pool size when neither the caller nor the server says how many requests it runs at once."""

ALORA_ANSWERS = ("Y", "N")
"""The answer tokens of gencomp's requirement-check aLoRAs (yes, no), as trained by ``gencomp-alora``."""


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise GencompError(f"{name}={value!r} is not a number of seconds") from None


def resolve_connection(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """``base_url`` and ``api_key`` from the arguments, else ``GENCOMP_OPENAI_*``, else ``OPENAI_*``."""
    url = base_url or os.environ.get("GENCOMP_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise GencompError(
            "the openai backend needs the server's address: pass base_url= (e.g. 'http://127.0.0.1:8080/v1'), "
            "set GENCOMP_OPENAI_BASE_URL or OPENAI_BASE_URL, or put base_url under [backend_options] in gencomp.toml"
        )
    if not url.startswith(("http://", "https://")):
        raise GencompError(f"base_url {url!r} must start with http:// or https://")
    key = api_key or os.environ.get("GENCOMP_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
    return url, key


def tool_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI ``tools`` entry of a Python function: its name, docstring and a JSON schema of its parameters."""
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation if p.annotation is not inspect.Parameter.empty else str
        fields[name] = (annotation, ... if p.default is inspect.Parameter.empty else p.default)
    model = pydantic.create_model(f"{func.__name__}_args", **fields)
    params = model.model_json_schema()
    params.pop("title", None)
    for prop in params.get("properties", {}).values():
        prop.pop("title", None)
    doc = inspect.getdoc(func) or ""
    return {
        "type": "function",
        "function": {"name": func.__name__, "description": doc.split("\n\n")[0], "parameters": params},
    }


def _native_calls_as_text(answer: protocol.Answer) -> str:
    """The answer's text, then each native tool call as ``{"name", "arguments"}`` JSON on its own line.

    The base hands the text to the ``gencomp_extract_tool_calls`` hook, whose default reads that form;
    so native calls and calls the model wrote in its text take the same path.
    """
    lines = [answer.text] if answer.text else []
    for c in answer.tool_calls:
        fn = c.get("function") or {}
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                continue
        if isinstance(fn.get("name"), str) and isinstance(args, Mapping):
            lines.append(json.dumps({"name": fn["name"], "arguments": args}))
    return "\n".join(lines)


class _Call:
    """The request of one generation: path, payload, and how its answer is read."""

    def __init__(self, backend: OpenAIBackend, request: GenerationRequest) -> None:
        fields = protocol.request_options(request.options.generate)
        self.judging = request.check is not None and request.format is None and backend.capabilities.logprobs
        self.chat = request.messages is not None
        if request.messages is not None:
            schema = None
            if request.format is not None:
                if not hasattr(request.format, "model_json_schema"):
                    raise TypeError(f"format= must be a pydantic BaseModel subclass, got {request.format!r}")
                schema = (request.format.__name__, request.format.model_json_schema())
            self.path = "/v1/chat/completions"
            self.payload = protocol.chat_payload(
                backend.model_id_str,
                request.messages,
                fields,
                tools=[tool_schema(t) for t in request.tools.values()],
                schema=schema,
                top_logprobs=protocol.TOP_LOGPROBS if self.judging else None,
            )
        else:
            if request.format is not None:
                raise GencompError(
                    "format= needs a chat context on the openai backend (response_format is a chat field)"
                )
            self.path = "/v1/completions"
            self.payload = protocol.completions_payload(backend.model_id_str, [request.prompt or ""], fields)
        # a judge reads the first token's logprobs and tool calls come whole: those are not streamed
        self.streamable = not self.judging and not request.tools

    def parse(self, data: Any) -> protocol.Answer:
        return protocol.parse_chat(data) if self.chat else protocol.parse_completions(data, 1)[0]

    def stream_payload(self) -> dict[str, Any]:
        return {**self.payload, "stream": True, "stream_options": {"include_usage": True}}


def _consumed(control: GenerationControl) -> bool:
    """Whether anyone reads the pieces: a stream's consumer, or requirements that check prefixes."""
    return control.on_text is not None or bool(control.prefix_checks)


def _pusher(events: protocol.StreamedAnswer, control: GenerationControl) -> Callable[[Any], bool]:
    """The stream's event handler: each new piece of text goes to ``control``; ``False`` (close the stream)
    once it asks to stop."""

    def on_event(event: Any) -> bool:
        piece = events.add(event)
        if piece:
            return control.push(piece, tokens=len(events.parts))
        return not control.stop_requested()

    return on_event


class OpenAIBackend(FormatterBackend):
    """A model behind an OpenAI-compatible server (llama.cpp's ``llama-server``, vLLM, Ollama, hosted APIs).

    ``base_url`` and ``api_key`` default to ``GENCOMP_OPENAI_BASE_URL``/``GENCOMP_OPENAI_API_KEY``, then
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``; the key is sent as a bearer token and never shown.
    ``model_id`` defaults to the first model the server lists. At construction the server is probed
    (:attr:`capabilities`); an unreachable server raises then. ``connect_timeout``/``read_timeout``
    (seconds; also ``GENCOMP_OPENAI_CONNECT_TIMEOUT``/``..._READ_TIMEOUT``) bound each request;
    ``max_retries`` transient failures are retried with exponential backoff. One backend is safe to
    share between threads and event loops: the sync calls share one connection pool, each event
    loop gets its own async client (:meth:`agenerate`), each pool holding up to ``max_connections``;
    further requests wait for a free connection. By default that is the server's slot count plus
    two when it tells it (llama-server: ``--parallel``; its HTTP workers are at least that many, and a
    connection beyond them waited for an idle keep-alive one to time out, about 5 s), else 64.
    ``transport`` replaces the network (an ``httpx2`` transport; for tests).

    With ``exclusive_alora_checks`` (the default, when the server has an aLoRA) this backend sends
    an aLoRA check only while none of its other requests runs, and holds the others meanwhile:
    llama-server, sent several at once, often ran a check without its adapter (measured: 6 of 16
    concurrent checks, 14 of 16 checks beside generations; none when alone).

    Requirement checks go to an aLoRA the server activates (:meth:`route_check`, answered through
    ``gencomp_check_requirements``), else to the model as a judge, whose ``p_yes`` comes from the
    ``Yes``/``No`` log-probabilities of its first answer token.
    """

    option_map = protocol.OPENAI_OPTION_MAP
    generate_keys = protocol.REQUEST_OPTIONS

    def __init__(
        self,
        model_id: str | ModelIdentifier | None = None,
        formatter: Formatter | str | None = None,
        model_options: dict[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int = 2,
        max_connections: int | None = None,
        default_to_constraint_checking_alora: bool = True,
        alora_answers: Mapping[str, tuple[str, str]] | None = None,
        exclusive_alora_checks: bool = True,
        transport: Any = None,
        use_caches: bool = True,
        cache: Cache | None = None,
        plugin_options: Mapping[str, Any] | None = None,
    ) -> None:
        url, key = resolve_connection(base_url, api_key)
        timeouts = Timeouts(
            connect=connect_timeout or _env_float("GENCOMP_OPENAI_CONNECT_TIMEOUT") or Timeouts.connect,
            read=read_timeout or _env_float("GENCOMP_OPENAI_READ_TIMEOUT") or Timeouts.read,
        )
        if max_retries < 0:
            raise GencompError(f"max_retries must be 0 or more, got {max_retries}")
        if max_connections is not None and max_connections < 1:
            raise GencompError(f"max_connections must be 1 or more, got {max_connections}")
        self.http = HttpLayer(
            url,
            api_key=key,
            timeouts=timeouts,
            retry=RetryPolicy(attempts=max_retries + 1),
            max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
            transport=transport,
        )
        self.http.available_models = self._list_models
        try:
            self.capabilities: ServerCapabilities = probe(self.http)
            model_id = self._served_model(model_id, url)
            if max_connections is None and self.capabilities.slots:
                self.http.limit_connections(self.capabilities.slots + 2)
        except BaseException:
            self.http.close()
            raise
        if formatter is None:
            formatter = default_formatter(model_id)
        self.default_to_constraint_checking_alora = default_to_constraint_checking_alora
        self.alora_answers: dict[str, tuple[str, str]] = dict(alora_answers or {})
        self._turns: SharedExclusiveLock | None = None
        if exclusive_alora_checks and any(a.is_alora for a in self.capabilities.adapters):
            self._turns = SharedExclusiveLock()
        super().__init__(
            model_id, formatter, model_options, use_caches=use_caches, cache=cache, plugin_options=plugin_options
        )

    def _served_model(self, model_id: str | ModelIdentifier | None, url: str) -> str | ModelIdentifier:
        served = self.capabilities.models
        if model_id is None:
            if not served:
                raise UnknownServerModelError(f"the server at {url} lists no model; pass model_id=", available=served)
            return served[0]
        name = model_id_string(model_id)
        if served and name not in served and self.capabilities.kind != LLAMA_CPP:  # llama-server serves any name
            raise UnknownServerModelError(
                f"the server at {url} does not serve {name!r}; it offers {', '.join(map(repr, served))}",
                available=served,
            )
        return model_id

    @property
    def endpoint(self) -> str:
        """The server's URL (without ``/v1``)."""
        return self.http.root

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_id_str!r}, {self.http.root!r}, kind={self.capabilities.kind!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _list_models(self) -> list[str]:
        listing = self.http.get("/v1/models")
        return [str(m["id"]) for m in listing.get("data", []) if isinstance(m, Mapping) and "id" in m]

    # -- generation (the backend contract's model-specific part) ---------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """One answer for ``request``: ``/v1/chat/completions`` for chat messages, else ``/v1/completions``.

        ``format`` goes as ``response_format`` (JSON schema) and the answer is validated with pydantic;
        tools go in the native ``tools`` field; a requirement check asks for the first token's
        log-probabilities and reports ``meta["p_yes"]``. When the call's
        :func:`~gencomp.streaming.current_control` has a consumer (a stream, or a requirement with a
        ``prefix_fn``), the answer is streamed (server-sent events) and each piece pushed to it; the
        stream is closed as soon as the control says stop.
        """
        call = _Call(self, request)
        control = current_control()
        if control is not None and call.streamable and _consumed(control):
            events = protocol.StreamedAnswer(call.chat)
            with self._shared():
                self.http.stream(call.path, call.stream_payload(), _pusher(events, control))
            return self._generation(request, call, events.answer(), stopped=control.stop_requested())
        with self._shared():
            data = self.http.post(call.path, call.payload)
        return self._generation(request, call, call.parse(data))

    async def agenerate(self, request: GenerationRequest) -> Generation:
        """:meth:`generate` natively async, on this event loop's ``httpx2.AsyncClient``.

        Many calls awaited together run at once on the server. Cancelling the awaiting task closes
        the HTTP request or stream (the server stops generating).
        """
        call = _Call(self, request)
        control = current_control()
        if control is not None and call.streamable and _consumed(control):
            events = protocol.StreamedAnswer(call.chat)
            async with self._ashared():
                await self.http.astream(call.path, call.stream_payload(), _pusher(events, control))
            return self._generation(request, call, events.answer(), stopped=control.stop_requested())
        async with self._ashared():
            data = await self.http.apost(call.path, call.payload)
        return self._generation(request, call, call.parse(data))

    def _generation(
        self, request: GenerationRequest, call: _Call, answer: protocol.Answer, *, stopped: bool = False
    ) -> Generation:
        meta: dict[str, Any] = {
            "finish_reason": "stopped" if stopped else answer.finish_reason,
            "server_kind": self.capabilities.kind,
        }
        if answer.timings:
            meta["timings"] = answer.timings
        if call.judging and answer.first_top_logprobs is not None:
            p_yes = protocol.p_yes_from_top(answer.first_top_logprobs, *protocol.JUDGE_WORDS)
            if p_yes is not None:
                meta["p_yes"] = p_yes
        if request.format is not None and not stopped:  # a stopped answer is discarded by the caller
            self._validate_format(request.format, answer)
        text = _native_calls_as_text(answer) if request.tools and answer.tool_calls else answer.text
        return Generation(text, meta=meta, extra=self._extra(answer))

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        """One ``/v1/completions`` request for all the raw prompts (no chat template); one answer each."""
        payload = self._raw_payload(request)
        with self._shared():
            data = self.http.post("/v1/completions", payload)
        return self._raw_generations(data, len(request.prompts))

    async def agenerate_raw(self, request: RawRequest) -> list[Generation]:
        """:meth:`generate_raw` natively async."""
        payload = self._raw_payload(request)
        async with self._ashared():
            data = await self.http.apost("/v1/completions", payload)
        return self._raw_generations(data, len(request.prompts))

    def _raw_payload(self, request: RawRequest) -> dict[str, Any]:
        if request.format is not None:
            raise GencompError("format= is not supported for raw generation on the openai backend; use a chat context")
        fields = protocol.request_options(request.options.generate)
        return protocol.completions_payload(self.model_id_str, request.prompts, fields)

    def _raw_generations(self, data: Any, n: int) -> list[Generation]:
        answers = protocol.parse_completions(data, n)
        return [Generation(a.text, meta={"finish_reason": a.finish_reason}, extra=self._extra(a)) for a in answers]

    def _shared(self) -> contextlib.AbstractContextManager[None]:
        return self._turns.shared() if self._turns is not None else contextlib.nullcontext()

    def _ashared(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._turns.ashared() if self._turns is not None else contextlib.nullcontext()

    def _extra(self, answer: protocol.Answer) -> dict[str, Any]:
        info: dict[str, Any] = {"server": self.http.root}
        prompt_n = answer.usage.get("prompt_tokens", answer.timings.get("prompt_n"))
        new_n = answer.usage.get("completion_tokens", answer.timings.get("predicted_n"))
        if prompt_n is not None:
            info["prompt_tokens"] = prompt_n
        if new_n is not None:
            info["new_tokens"] = new_n
        if "cache_n" in answer.timings:
            info["reused_tokens"] = answer.timings["cache_n"]
        if answer.model:
            info["response_model"] = answer.model
        return info

    def _validate_format(self, format: type[Any], answer: protocol.Answer) -> None:
        try:
            format.model_validate_json(answer.text)
        except pydantic.ValidationError as exc:
            hint = (
                " The answer was cut at the token limit: raise max_new_tokens."
                if answer.finish_reason == "length"
                else " The server may not enforce response_format json_schema."
            )
            raise MalformedResponseError(
                f"the server's answer does not match {format.__name__}'s JSON schema: {exc.errors()[:3]}.{hint}"
            ) from exc

    # -- requirement checks with aLoRA adapters on the server ------------------------------------

    def route_check(self, requirement: Requirement) -> tuple[str | None, str | None]:
        """``(adapter name, None)`` when the server's aLoRA answers ``requirement``; else ``(None, reason or None)``.

        An ``LLMaJRequirement`` or a requirement with a ``validation_fn`` is never an adapter's. An
        ``ALoraRequirement`` names its adapter (``"constraint"`` by default) and the reason says why it
        cannot run; another requirement goes to a ``"constraint"`` aLoRA when the server has one and
        ``default_to_constraint_checking_alora`` is true. An adapter the server applies as a plain LoRA
        (no invocation tokens, or a server that does not activate aLoRAs, such as stock vLLM) is never used.
        """
        if isinstance(requirement, LLMaJRequirement) or requirement.validation_fn is not None:
            return None, None
        if not requirement.description:
            return None, None
        explicit = isinstance(requirement, ALoraRequirement)
        name = (requirement.alora if isinstance(requirement, ALoraRequirement) else None) or "constraint"
        if not explicit and not self.default_to_constraint_checking_alora:
            return None, None
        adapter = self.capabilities.adapter(name)
        reason = self._unusable(name, adapter)
        if reason is None:
            return name, None
        return None, (reason if explicit or adapter is not None else None)

    def _unusable(self, name: str, adapter: ServerAdapter | None) -> str | None:
        caps = self.capabilities
        if adapter is None:
            return f"the server ({caps.kind}) has no adapter named {name!r} loaded"
        if not caps.alora:
            return (
                f"the server ({caps.kind}) serves adapter {name!r} as a plain LoRA applied to every token, "
                f"not as an activated LoRA: its verdicts would not be the trained adapter's"
            )
        if not adapter.is_alora:
            return (
                f"the server loaded {name!r} as a plain LoRA (no alora_invocation_tokens): convert the adapter with "
                f"llama.cpp's convert_lora_to_gguf.py from its aLoRA adapter_config.json"
            )
        return None

    def answer_checks(
        self,
        requirements: Sequence[Requirement],
        ctx: Context,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk | CheckFallback | None]:
        """The ``gencomp_check_requirements`` answers: a labelled output per check an aLoRA on the server
        answered, a ``CheckFallback`` (with a warning saying why) per check meant for an adapter that
        cannot answer it, ``None`` for the checks the model judges anyway."""
        answers: list[ModelOutputThunk | CheckFallback | None] = []
        for requirement in requirements:
            name, reason = self.route_check(requirement)
            if name is not None:
                try:
                    answers.append(self._check_with_alora(requirement, ctx, name, model_options, generate_logs))
                    continue
                except GencompError as exc:
                    reason = f"aLoRA {name!r} on the server failed: {type(exc).__name__}: {exc}"
            if reason is None:
                answers.append(None)
                continue
            warnings.warn(f"{requirement!r}: {reason}; checking it with the model as a judge instead", stacklevel=4)
            answers.append(CheckFallback(reason))
        return answers

    def _check_with_alora(
        self,
        requirement: Requirement,
        ctx: Context,
        name: str,
        model_options: dict[str, Any] | None,
        generate_logs: list[GenerateLog] | None,
        *,
        cache_prompt: bool = True,
    ) -> ModelOutputThunk:
        """Score ``requirement`` on the last output of ``ctx`` with the server's aLoRA ``name`` (one token's logprobs).

        The check prompt is the conversation rendered by the server's chat template, the requirement as a
        user turn, then the adapter's invocation string; with ``cache_prompt`` the server reuses the keys
        and values of the conversation it already holds and computes only the check's own tokens.
        """
        adapter = self.capabilities.adapter(name)
        assert adapter is not None and adapter.invocation_string is not None
        start = time.perf_counter()
        options = self.translate_options(model_options)
        if ctx.last_output() is None:
            raise GencompError("the context has no model output to check")
        conv = self.chat_messages(ctx.render_for_generation(), options.system_prompt)
        conv.append({"role": "user", "content": requirement.description})
        rendered = self.http.post("/apply-template", {"messages": conv, "add_generation_prompt": False})
        if not isinstance(rendered, Mapping) or not isinstance(rendered.get("prompt"), str):
            raise MalformedResponseError(f"llama-server's /apply-template answered {str(rendered)[:200]!r}")
        prompt = rendered["prompt"] + adapter.invocation_string
        payload = protocol.alora_check_payload(
            prompt, len(self.capabilities.adapters), adapter.id, cache_prompt=cache_prompt
        )
        with self._turns.exclusive() if self._turns is not None else contextlib.nullcontext():
            token, top, timings = protocol.parse_alora_check(self.http.post("/completion", payload))
        yes, no = self.alora_answers.get(name, ALORA_ANSWERS)
        p_yes = protocol.p_yes_from_top(top, (yes,), (no,))
        if p_yes is None or token.strip() not in (yes, no):
            # A trained check adapter answers its yes or no token; anything else means the server ran the
            # prompt without the adapter (seen under concurrent load), so its verdict would not be the adapter's.
            raise MalformedResponseError(
                f"aLoRA {name!r} answered {token!r}, not {yes!r} or {no!r} (top tokens {sorted(top)}): "
                f"the server did not activate the adapter for this check"
            )
        thunk = ModelOutputThunk(token, meta={"timings": timings, "server_kind": self.capabilities.kind})
        log = GenerateLog(
            prompt=prompt,
            backend=backend_name(self),
            model_options=dict(options.merged),
            model_output=token,
            action=requirement,
            result=thunk,
            extra={
                "seconds": time.perf_counter() - start,
                "server": self.http.root,
                "prompt_tokens": timings.get("prompt_n"),
                "reused_tokens": timings.get("cache_n", timings.get("tokens_cached")),
            },
        )
        thunk.generate_log = log
        if generate_logs is not None:
            generate_logs.append(log)
        verdict = CheckVerdict(
            p_yes > 0.5,
            p_yes,
            f"alora:{name}",
            reused_tokens=timings.get("cache_n"),
            computed_tokens=timings.get("prompt_n"),
        )
        return label(thunk, verdict)

    def check_with_alora(
        self, requirement: Requirement | str, ctx: Context, name: str = "constraint", *, cache_prompt: bool = True
    ) -> ModelOutputThunk:
        """Check ``requirement`` on the last output of ``ctx`` with the server's aLoRA ``name``, with no fallback.

        ``cache_prompt=False`` makes the server recompute the whole prompt (for comparison). Raises when
        the adapter cannot be used (:meth:`route_check`'s reasons).
        """
        req = Requirement(requirement) if isinstance(requirement, str) else requirement
        reason = self._unusable(name, self.capabilities.adapter(name))
        if reason is not None:
            raise GencompError(reason)
        return self._check_with_alora(req, ctx, name, None, None, cache_prompt=cache_prompt)
