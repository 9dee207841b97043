"""``OpenAIBackend``: runs gencomp components on a model behind an OpenAI-compatible server.

The server applies its chat template; this backend sends the formatter's chat messages, reads the
answers, and routes requirement checks to an aLoRA the server activates per request (llama-server),
or else to the model as a judge. The HTTP mechanics are in :mod:`gencomp_openai.http`, the payloads
in :mod:`gencomp_openai.protocol`, the probe in :mod:`gencomp_openai.capabilities`.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from gencomp import (
    ALoraRequirement,
    CBlock,
    Component,
    Context,
    Formatter,
    FormatterBackend,
    GencompError,
    GenerateLog,
    LLMaJRequirement,
    ModelOption,
    ModelOutputThunk,
    ModelToolCall,
    Requirement,
    TemplateRepresentation,
    default_formatter,
    plugins,
)
from gencomp.base import backend_name
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp_openai import protocol
from gencomp_openai.capabilities import LLAMA_CPP, ServerAdapter, ServerCapabilities, probe
from gencomp_openai.errors import MalformedResponseError, RemoteBackendError, UnknownServerModelError
from gencomp_openai.http import HttpLayer, RetryPolicy, Timeouts

__all__ = ["ALORA_ANSWERS", "FALLBACK_PATH", "OpenAIBackend", "resolve_connection"]

FALLBACK_PATH = "llm-as-a-judge"
"""``meta["check_path"]`` of a check answered by the model as a judge."""

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


def _collect_tools(option: Any, items: list[Component | CBlock]) -> dict[str, Callable[..., Any]]:
    """Tools offered: the context's and action's ``TemplateRepresentation.tools``, then ``ModelOption.TOOLS``."""
    tools: dict[str, Callable[..., Any]] = {}
    for c in items:
        if isinstance(c, CBlock):
            continue
        rep = c.format_for_llm()
        if isinstance(rep, TemplateRepresentation) and rep.tools:
            tools.update(rep.tools)
    if isinstance(option, Mapping):
        tools.update(option)
    elif option:
        for f in option:
            tools[getattr(f, "__name__", str(f))] = f
    return tools


def _message_dict(m: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    name = getattr(m, "name", None)
    if m.role == "tool" and name:
        d["name"] = name
    return d


class OpenAIBackend(FormatterBackend):
    """A model behind an OpenAI-compatible server (llama.cpp's ``llama-server``, vLLM, Ollama, hosted APIs).

    ``base_url`` and ``api_key`` default to ``GENCOMP_OPENAI_BASE_URL``/``GENCOMP_OPENAI_API_KEY``, then
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``; the key is sent as a bearer token and never shown.
    ``model_id`` defaults to the first model the server lists. At construction the server is probed
    (:attr:`capabilities`); an unreachable server raises then. ``connect_timeout``/``read_timeout``
    (seconds; also ``GENCOMP_OPENAI_CONNECT_TIMEOUT``/``..._READ_TIMEOUT``) bound each request;
    ``max_retries`` transient failures are retried with exponential backoff. One backend is safe to
    share between threads; its connection pool holds up to ``max_connections``. ``transport``
    replaces the network (an ``httpx2`` transport; for tests).

    Requirement checks go to an aLoRA the server activates (see :meth:`route_check`), else to the
    model as a judge: ``meta["check_path"]`` says which, ``meta["alora_fallback"]`` why not the aLoRA.
    """

    def __init__(
        self,
        model_id: str | ModelIdentifier | None = None,
        formatter: Formatter | None = None,
        model_options: dict[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int = 2,
        max_connections: int = 64,
        default_to_constraint_checking_alora: bool = True,
        alora_answers: Mapping[str, tuple[str, str]] | None = None,
        transport: Any = None,
    ) -> None:
        url, key = resolve_connection(base_url, api_key)
        timeouts = Timeouts(
            connect=connect_timeout or _env_float("GENCOMP_OPENAI_CONNECT_TIMEOUT") or Timeouts.connect,
            read=read_timeout or _env_float("GENCOMP_OPENAI_READ_TIMEOUT") or Timeouts.read,
        )
        if max_retries < 0:
            raise GencompError(f"max_retries must be 0 or more, got {max_retries}")
        self.http = HttpLayer(
            url,
            api_key=key,
            timeouts=timeouts,
            retry=RetryPolicy(attempts=max_retries + 1),
            max_connections=max_connections,
            transport=transport,
        )
        self.http.available_models = self._list_models
        try:
            self.capabilities: ServerCapabilities = probe(self.http)
        except BaseException:
            self.http.close()
            raise
        served = self.capabilities.models
        if model_id is None:
            if not served:
                self.http.close()
                raise UnknownServerModelError(f"the server at {url} lists no model; pass model_id=", available=served)
            model_id = served[0]
        name = model_id_string(model_id)
        if served and name not in served and self.capabilities.kind != LLAMA_CPP:  # llama-server serves any name
            self.http.close()
            raise UnknownServerModelError(
                f"the server at {url} does not serve {name!r}; it offers {', '.join(map(repr, served))}",
                available=served,
            )
        if formatter is None:
            formatter = default_formatter(model_id)
        super().__init__(model_id, formatter, model_options)
        self.default_to_constraint_checking_alora = default_to_constraint_checking_alora
        self.alora_answers: dict[str, tuple[str, str]] = dict(alora_answers or {})
        self._option_map: dict[str, str] | None = None
        self._option_lock = threading.Lock()
        plugins.hook().gencomp_backend_created(backend=self)

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_id_str!r}, {self.http.root!r}, kind={self.capabilities.kind!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _list_models(self) -> list[str]:
        listing = self.http.get("/v1/models")
        return [str(m["id"]) for m in listing.get("data", []) if isinstance(m, Mapping) and "id" in m]

    # -- options --------------------------------------------------------------------------------

    def _to_gencomp_map(self) -> dict[str, str]:
        """``{backend_key: ModelOption key}``: the protocol's map, then other plugins' answers."""
        with self._option_lock:
            if self._option_map is None:
                merged = dict(protocol.OPENAI_OPTION_MAP)
                for answer in plugins.hook().gencomp_model_option_map(backend=self):
                    for k, v in (answer or {}).items():
                        merged.setdefault(k, v)
                self._option_map = merged
            return self._option_map

    def _prepare(self, model_options: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(options with ModelOption keys, request fields)``; unknown options raise ``UnknownModelOptionError``."""
        to_gencomp = self._to_gencomp_map()
        options = ModelOption.replace_keys(self.model_options, to_gencomp)
        if model_options:
            call = ModelOption.replace_keys(model_options, to_gencomp)
            options = dict(plugins.hook().gencomp_merge_model_options(backend=self, defaults=options, overrides=call))
        backend_keys = {ModelOption.MAX_NEW_TOKENS: "max_tokens", ModelOption.SEED: "seed"}
        named = ModelOption.remove_special_keys(ModelOption.replace_keys(options, backend_keys))
        temperature = named.get("temperature")
        if temperature is not None and temperature < 0:
            raise GencompError(f"temperature must be 0 or more, got {temperature}")
        fields = protocol.request_options(named, to_gencomp)
        return options, fields

    # -- generation -----------------------------------------------------------------------------

    def _generate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        if isinstance(action, Requirement) and format is None:
            name, reason = self.route_check(action)
            if name is not None:
                try:
                    return self._check_with_alora(action, ctx, name, model_options, generate_logs)
                except (RemoteBackendError, GencompError) as exc:
                    reason = f"aLoRA {name!r} on the server failed: {type(exc).__name__}: {exc}"
            if reason is not None:
                warnings.warn(f"{action!r}: {reason}; checking it with the model as a judge instead", stacklevel=4)
            thunk = self._generate_standard(action, ctx, format, model_options, generate_logs, tool_calls)
            thunk.meta.setdefault("check_path", FALLBACK_PATH)
            if reason is not None:
                thunk.meta["alora_fallback"] = reason
            if thunk.generate_log is not None:
                thunk.generate_log.extra["check_path"] = thunk.meta["check_path"]
            return thunk
        return self._generate_standard(action, ctx, format, model_options, generate_logs, tool_calls)

    def _generate_standard(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None,
        model_options: dict[str, Any] | None,
        generate_logs: list[GenerateLog] | None,
        tool_calls: bool,
    ) -> ModelOutputThunk:
        start = time.perf_counter()
        options, fields = self._prepare(model_options)
        judging = isinstance(action, Requirement) and format is None and self.capabilities.logprobs
        tools: dict[str, Callable[..., Any]] = {}
        history = ctx.render_for_generation()
        if ctx.is_chat_context:
            if tool_calls or options.get(ModelOption.TOOLS):
                tools = _collect_tools(options.get(ModelOption.TOOLS), [*history, action])
            messages = [_message_dict(m) for m in self.formatter.to_chat_messages([*history, action])]
            system = options.get(ModelOption.SYSTEM_PROMPT)
            if system:
                messages.insert(0, {"role": "system", "content": str(system)})
            schema = None
            if format is not None:
                if not hasattr(format, "model_json_schema"):
                    raise TypeError(f"format= must be a pydantic BaseModel subclass, got {format!r}")
                schema = (format.__name__, format.model_json_schema())
            payload = protocol.chat_payload(
                self.model_id_str,
                messages,
                fields,
                tools=[tool_schema(t) for t in tools.values()],
                schema=schema,
                top_logprobs=protocol.TOP_LOGPROBS if judging else None,
            )
            answer = protocol.parse_chat(self.http.post("/v1/chat/completions", payload))
            prompt: Any = messages
        else:
            before = self.formatter.print_context(ctx)
            text_prompt = f"{before}\n{self.formatter.print(action)}" if before else self.formatter.print(action)
            if format is not None:
                raise GencompError(
                    "format= needs a chat context on the openai backend (response_format is a chat field)"
                )
            payload = protocol.completions_payload(self.model_id_str, [text_prompt], fields)
            answer = protocol.parse_completions(self.http.post("/v1/completions", payload), 1)[0]
            prompt = text_prompt
        seconds = time.perf_counter() - start
        meta: dict[str, Any] = {"finish_reason": answer.finish_reason, "server_kind": self.capabilities.kind}
        if answer.timings:
            meta["timings"] = answer.timings
        if judging and answer.first_top_logprobs is not None:
            p_yes = protocol.p_yes_from_top(answer.first_top_logprobs, *protocol.JUDGE_WORDS)
            if p_yes is not None:
                meta.update({"verdict": p_yes > 0.5, "p_yes": p_yes, "check_path": FALLBACK_PATH})
        if format is not None:
            self._validate_format(format, answer)
        thunk = ModelOutputThunk(answer.text, meta=meta)
        if tools:
            thunk.tool_calls = self._tool_calls(tools, answer)
        self.formatter.parse(action, thunk)
        self._log(generate_logs, thunk, action, prompt, options, answer.text, answer, seconds)
        return thunk

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

    def _tool_calls(
        self, tools: Mapping[str, Callable[..., Any]], answer: protocol.Answer
    ) -> dict[str, ModelToolCall] | None:
        """The answer's native ``tool_calls``; without them, the ``gencomp_extract_tool_calls`` hook on its text."""
        calls: dict[str, ModelToolCall] = {}
        for c in answer.tool_calls:
            fn = c.get("function") or {}
            name, args = fn.get("name"), fn.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except ValueError:
                    continue
            if isinstance(name, str) and name in tools and isinstance(args, Mapping):
                calls[name] = ModelToolCall(name, tools[name], dict(args))
        if calls:
            return calls
        return self._extract_model_tool_requests(tools, answer.text)

    def _log(
        self,
        generate_logs: list[GenerateLog] | None,
        thunk: ModelOutputThunk,
        action: Component | CBlock,
        prompt: Any,
        options: dict[str, Any],
        output: Any,
        answer: protocol.Answer | None,
        seconds: float,
        **extra: Any,
    ) -> None:
        if generate_logs is None:
            return
        info: dict[str, Any] = {"seconds": seconds, "server": self.http.root, **extra}
        if answer is not None:
            info["prompt_tokens"] = answer.usage.get("prompt_tokens", answer.timings.get("prompt_n"))
            info["new_tokens"] = answer.usage.get("completion_tokens", answer.timings.get("predicted_n"))
            if "cache_n" in answer.timings:
                info["reused_tokens"] = answer.timings["cache_n"]
        log = GenerateLog(
            prompt=prompt,
            backend=backend_name(self),
            model_options=options,
            model_output=output,
            action=action,
            result=thunk,
            extra=info,
        )
        thunk.generate_log = log
        generate_logs.append(log)

    def _generate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """One ``/v1/completions`` request for all the rendered actions (no chat template); one thunk each."""
        if not actions:
            return []
        if format is not None:
            raise GencompError("format= is not supported for raw generation on the openai backend; use a chat context")
        start = time.perf_counter()
        options, fields = self._prepare(model_options)
        prompts = [self.formatter.print(a) for a in actions]
        payload = protocol.completions_payload(self.model_id_str, prompts, fields)
        answers = protocol.parse_completions(self.http.post("/v1/completions", payload), len(prompts))
        seconds = time.perf_counter() - start
        results = []
        for action, prompt, answer in zip(actions, prompts, answers, strict=True):
            thunk = ModelOutputThunk(answer.text, meta={"finish_reason": answer.finish_reason})
            self.formatter.parse(action, thunk)
            self._log(
                generate_logs, thunk, action, prompt, options, answer.text, None, seconds, batch_size=len(actions)
            )
            results.append(thunk)
        return results

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
        options, _ = self._prepare(model_options)
        if ctx.last_output() is None:
            raise GencompError("the context has no model output to check")
        conv = [_message_dict(m) for m in self.formatter.to_chat_messages(ctx.render_for_generation())]
        system = options.get(ModelOption.SYSTEM_PROMPT)
        if system:
            conv.insert(0, {"role": "system", "content": str(system)})
        conv.append({"role": "user", "content": requirement.description})
        rendered = self.http.post("/apply-template", {"messages": conv, "add_generation_prompt": False})
        if not isinstance(rendered, Mapping) or not isinstance(rendered.get("prompt"), str):
            raise MalformedResponseError(f"llama-server's /apply-template answered {str(rendered)[:200]!r}")
        prompt = rendered["prompt"] + adapter.invocation_string
        payload = protocol.alora_check_payload(
            prompt, len(self.capabilities.adapters), adapter.id, cache_prompt=cache_prompt
        )
        token, top, timings = protocol.parse_alora_check(self.http.post("/completion", payload))
        yes, no = self.alora_answers.get(name, ALORA_ANSWERS)
        p_yes = protocol.p_yes_from_top(top, (yes,), (no,))
        if p_yes is None:
            raise MalformedResponseError(
                f"aLoRA {name!r} answered {token!r}; neither {yes!r} nor {no!r} is among its top tokens {sorted(top)}"
            )
        seconds = time.perf_counter() - start
        meta = {
            "verdict": p_yes > 0.5,
            "p_yes": p_yes,
            "check_path": f"alora:{name}",
            "timings": timings,
            "server_kind": self.capabilities.kind,
        }
        thunk = ModelOutputThunk(token, meta=meta)
        self._log(
            generate_logs,
            thunk,
            requirement,
            prompt,
            options,
            token,
            None,
            seconds,
            check_path=f"alora:{name}",
            prompt_tokens=timings.get("prompt_n"),
            reused_tokens=timings.get("cache_n", timings.get("tokens_cached")),
        )
        return thunk

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
