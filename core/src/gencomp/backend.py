"""The backend base: the model-specific part is the author's, every hook is run here, in one order.

A backend author subclasses :class:`Backend` (or :class:`FormatterBackend` to render prompts with a
:class:`~gencomp.Formatter`) and implements :meth:`Backend.generate`: one output for a prepared
:class:`GenerationRequest`. :meth:`Backend.generate_raw` (a batch of raw prompts) is optional.
Everything else is the base's, in this order:

construction
    ``gencomp_make_cache`` (when caching is on and no cache is given), then, once the subclass's
    ``__init__`` has returned, ``gencomp_backend_created`` (for every backend, third-party too).
:meth:`Backend.generate_from_context`
    1. ``gencomp_generate``: a plugin may take the whole call (then steps 2-6 are skipped);
    2. ``gencomp_model_option_map`` (once per backend) and ``gencomp_merge_model_options``:
       the backend's defaults and the call's options become one :class:`~gencomp.GenerationOptions`
       (:func:`~gencomp.model_options.translate_options`; an unknown option raises
       :class:`~gencomp.UnknownModelOptionError`);
    3. the context and the action are rendered (chat messages, or a text prompt), tools collected;
    4. :meth:`Backend.generate` (the author's part);
    5. ``gencomp_extract_tool_calls`` when tools were offered; the formatter parses the output;
    6. a :class:`~gencomp.GenerateLog` is appended to ``generate_logs``;
    7. ``gencomp_after_generate``.
:meth:`Backend._generate_from_raw`
    steps 2, :meth:`Backend.generate_raw`, 5 (parsing), 6 and 7 for each output.

Several candidates: :meth:`Backend.generate_candidates` (and its async twin) answers one action
``n`` times, for strategies such as best-of-n. An author who can generate them at once implements
:meth:`Backend.generate_n` (the HF backend: one batched ``generate`` sharing the prompt's KV cache);
otherwise the base runs ``n`` generations, concurrently on a natively async backend.

Async: :meth:`Backend.agenerate_from_context` and :meth:`Backend.agenerate_from_raw` run the same
steps without blocking the event loop. An author implements :meth:`Backend.generate` (the async
methods then run it in a worker thread) or, natively async, :meth:`Backend.agenerate` (and
:meth:`Backend.agenerate_raw`): the sync methods then run those on an event loop of their own.
Streaming and cancellation reach the author's part through :func:`gencomp.streaming.current_control`:
a backend that streams pushes each piece of text to it and stops when told; one that does not
needs to do nothing (the base hands its whole answer on as one chunk).

Backends written before contract 1.0 (overriding ``_generate_from_context`` / ``_generate_from_raw``,
firing ``gencomp_make_cache`` / ``gencomp_backend_created`` themselves) keep working: their class
gets one :class:`DeprecationWarning` naming what to implement instead, and the base leaves the hooks
such a class fires to it, so that each still fires once per backend.
"""

from __future__ import annotations

import abc
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from gencomp import plugins
from gencomp.base import (
    CBlock,
    Component,
    Context,
    GenerateLog,
    ModelOutputThunk,
    ModelToolCall,
    TemplateRepresentation,
    backend_name,
)
from gencomp.cache import Cache, LRUCache
from gencomp.errors import GencompError
from gencomp.formatter import Formatter, PlainFormatter
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.model_options import GenerationOptions, ModelOption, backend_names, simplify_and_merge, translate_options
from gencomp.streaming import (
    GenerationControl,
    candidate_controls,
    controlled,
    controlled_candidates,
    current_control,
    run_in_thread,
    run_sync,
)
from gencomp.tracing import Span, current_span, span
from gencomp.verdicts import RequirementCheck

__all__ = [
    "Backend",
    "BackendAttribute",
    "FormatterBackend",
    "Generation",
    "GenerationRequest",
    "RawRequest",
    "collect_tools",
    "default_formatter",
    "make_formatter",
    "message_dict",
]


@dataclass(frozen=True)
class GenerationRequest:
    """One generation, prepared by the base for :meth:`Backend.generate`.

    ``messages`` (chat contexts: ``{"role", "content"[, "name"]}`` dicts, the system prompt first)
    or ``prompt`` (other contexts: the whole text prompt) is set, never both. ``tools`` are the
    tools offered to the model (empty unless the call asked for tool calls). ``check`` is the
    :class:`~gencomp.RequirementCheck` when the action is a model-judged requirement check (a
    backend may then add ``meta["p_yes"]`` to its :class:`Generation`).
    """

    action: Component | CBlock
    ctx: Context
    options: GenerationOptions
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    format: type[Any] | None = None
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def check(self) -> RequirementCheck | None:
        """The requirement check this request answers, or ``None``."""
        return self.action if isinstance(self.action, RequirementCheck) else None


@dataclass(frozen=True)
class RawRequest:
    """A batch of raw prompts for :meth:`Backend.generate_raw`: each rendered action is a whole prompt."""

    actions: list[Component | CBlock]
    prompts: list[str]
    options: GenerationOptions
    format: type[Any] | None = None


@dataclass(frozen=True)
class BackendAttribute:
    """A ``gencomp_backend_attribute`` answer: the attribute's ``value`` (``None`` included)."""

    value: Any


@dataclass
class Generation:
    """What :meth:`Backend.generate` returns: the output text and what the log should say.

    ``meta`` goes to the output's ``meta``; ``prompt`` is the prompt as the model saw it (default:
    the request's messages or prompt); ``model_output`` is the raw output (token ids...);
    ``extra`` goes to the log's ``extra``.
    """

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    prompt: str | list[dict[str, Any]] | None = None
    model_output: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def message_dict(m: Any) -> dict[str, Any]:
    """A chat message as the dict chat templates read: role and content, and a tool message's name."""
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    name = getattr(m, "name", None)
    if m.role == "tool" and name:
        d["name"] = name
    return d


def collect_tools(option: Any, items: Sequence[Component | CBlock]) -> dict[str, Callable[..., Any]]:
    """Tools offered: the items' ``TemplateRepresentation.tools``, then ``ModelOption.TOOLS`` (a list or a dict)."""
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


KNOWN_BACKEND_ATTRIBUTES: dict[str, str] = {
    name: "gencomp-alora" for name in ("add_alora", "get_alora", "get_aloras", "alora_model")
}
"""Backend attributes that known plugin distributions add (``gencomp_backend_attribute``), for error messages."""


class _BackendMeta(abc.ABCMeta):
    """Fires ``gencomp_backend_created`` once a backend's whole ``__init__`` has returned."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if (
            getattr(cls, "generate", None) is Backend.generate
            and getattr(cls, "agenerate", None) is Backend.agenerate
            and getattr(cls, "_generate_from_context", None) is Backend._generate_from_context
        ):
            raise TypeError(
                f"{cls.__name__} implements no generation: define generate(self, request) -> Generation "
                "(or, natively async, agenerate) (see gencomp.Backend)"
            )
        backend = super().__call__(*args, **kwargs)
        if "gencomp_backend_created" not in getattr(cls, "_fires_hooks_itself", ()):
            plugins.hook().gencomp_backend_created(backend=backend)
        return backend


_LEGACY_METHODS = {
    "_generate_from_context": ("generate(self, request) -> Generation", ("generate", "agenerate")),
    "_generate_from_raw": ("generate_raw(self, request) -> list[Generation]", ("generate_raw", "agenerate_raw")),
}
"""Methods a backend overrode before contract 1.0: what it implements now, and the methods of the new contract."""
_BASE_FIRED_HOOKS = ("gencomp_make_cache", "gencomp_backend_created")
"""Hooks the base fires at construction (a pre-1.0 backend fired them itself)."""


def _names_used(code: types.CodeType) -> set[str]:
    """The global and attribute names a function's code (nested functions included) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _hooks_fired_by(cls: type) -> tuple[str, ...]:
    """The construction hooks a class's own methods call (the pre-1.0 contract), found in their code."""
    used: set[str] = set()
    for value in vars(cls).values():
        func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        code = getattr(func, "__code__", None)
        if isinstance(code, types.CodeType):
            used |= _names_used(code)
    return tuple(h for h in _BASE_FIRED_HOOKS if h in used)


class Backend(metaclass=_BackendMeta):
    """Runs components on a model; subclasses implement :meth:`generate` (and optionally :meth:`generate_raw`).

    Class attributes a subclass may set: ``option_map`` (``{own option name: ModelOption key}``)
    and ``generate_keys`` (the option names :meth:`generate` accepts in ``options.generate``).
    ``use_caches``/``cache``: with caching on, ``cache`` (default: the ``gencomp_make_cache`` hook)
    keeps per-output state (:meth:`cache_get`/:meth:`cache_put`); an :class:`~gencomp.LRUCache`
    also calls :meth:`on_cache_evict` for each entry it drops.

    A public attribute the class does not define is asked of plugins (``gencomp_backend_attribute``):
    that is how a plugin adds methods to a backend it extends.
    """

    option_map: ClassVar[Mapping[str, str]] = {}
    generate_keys: frozenset[str] = frozenset()
    option_errors: ClassVar[Mapping[str, str]] = {}
    """How an unknown-option error names the backend (``"backend"``) and what it accepts (``"accepted"``)."""
    option_hints: ClassVar[Mapping[str, str]] = {}
    """Advice an unknown-option error gives for particular option names (instead of close matches)."""
    formatter: Formatter
    _fires_hooks_itself: ClassVar[frozenset[str]] = frozenset()
    """Construction hooks the class fires itself (a pre-1.0 backend): the base leaves them to it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fired = _hooks_fired_by(cls)
        cls._fires_hooks_itself = cls._fires_hooks_itself.union(fired)
        old = [
            name
            for name, (_, new) in _LEGACY_METHODS.items()
            if name in vars(cls) and all(getattr(cls, n) is getattr(Backend, n) for n in new)
        ]
        if not old and not fired:
            return
        changes = [f"implement {_LEGACY_METHODS[name][0]} instead of overriding {name}" for name in old]
        if fired:
            changes.append(
                f"remove its own calls of {' and '.join(fired)}: the base fires gencomp_make_cache and "
                "gencomp_backend_created once per backend (meanwhile it leaves them to this class)"
            )
        warnings.warn(
            f"{cls.__qualname__} is written to the backend contract before gencomp 1.0, which still works but "
            f'is deprecated: {"; ".join(changes)}. See gencomp.Backend and "Write a backend" in CONTRIBUTING.md',
            DeprecationWarning,
            stacklevel=3,  # the class statement
        )

    def __init__(
        self,
        model_id: str | ModelIdentifier,
        model_options: dict[str, Any] | None = None,
        *,
        use_caches: bool = True,
        cache: Cache | None = None,
        plugin_options: Mapping[str, Any] | None = None,
    ) -> None:
        if model_options:
            ModelOption.validate(model_options)
        self.model_id = model_id
        self.model_options: dict[str, Any] = dict(model_options or {})
        self.plugin_options: dict[str, Any] = dict(plugin_options or {})
        """Constructor options for plugins that extend the backend (read at ``gencomp_backend_created``)."""
        self.plugin_state: dict[str, Any] = {}
        """Per-backend state of plugins, each under its own key (a plugin's registry of adapters...)."""
        if self.__dict__.get("formatter") is None:
            self.formatter = PlainFormatter()
        self._full_option_map: dict[str, str] | None = None
        self.cache: Cache | None = None
        if use_caches:
            if cache is None and "gencomp_make_cache" not in self._fires_hooks_itself:
                cache = plugins.hook().gencomp_make_cache(backend=self)
            self.cache = cache
            if isinstance(self.cache, LRUCache):
                self.cache.on_evict = _chain(self.cache.on_evict, self.on_cache_evict)

    @property
    def model_id_str(self) -> str:
        """The model id as a string."""
        return model_id_string(self.model_id)

    @property
    def endpoint(self) -> str | None:
        """The URL of the server this backend sends its requests to; ``None`` for a model run in process.

        Observers report it (the generation span's ``gencomp.endpoint``); a remote backend overrides it,
        with any password or secret in the URL redacted.
        """
        return None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        found = plugins.hook().gencomp_backend_attribute(backend=self, name=name)
        if not isinstance(found, BackendAttribute):
            dist = KNOWN_BACKEND_ATTRIBUTES.get(name)
            hint = (
                f"; {name!r} is added by the distribution {dist}, which is not installed or not loaded: "
                f"`pip install {dist}` (`gencomp plugins` shows why a plugin did not load)"
                if dist
                else "; `gencomp plugins` lists the installed plugins and their hooks"
            )
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}, and no installed plugin adds one{hint}"
            )
        return found.value

    # -- the author's part ----------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate one output for ``request`` (the model-specific part every backend implements).

        A natively async backend implements :meth:`agenerate` instead; this then runs it.
        """
        if not _overrides(self, "agenerate"):
            raise NotImplementedError(f"{type(self).__name__} does not implement generate(request)")
        return run_sync(lambda: self.agenerate(request))

    async def agenerate(self, request: GenerationRequest) -> Generation:
        """:meth:`generate`, natively async (optional; by default :meth:`generate` runs in a worker thread)."""
        return await run_in_thread(self.generate, request)

    def generate_n(self, request: GenerationRequest, n: int) -> list[Generation]:
        """Generate ``n`` independent outputs for ``request`` at once (optional; for strategies that sample several).

        Implement it when the model can produce several answers for the price of fewer than ``n``
        calls (a batched generation sharing the prompt). Each output pushes its text to its own
        control (:func:`gencomp.streaming.candidate_controls`) and stops alone when that control
        says so. Without it, :meth:`generate_candidates` runs ``n`` generations.
        """
        raise NotImplementedError(f"{type(self).__name__} does not generate several candidates at once")

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        """Generate one output per raw prompt of ``request`` (optional; the default says it is not offered)."""
        if not _overrides(self, "agenerate_raw"):
            raise NotImplementedError(f"{type(self).__name__} does not offer raw generation (generate_raw)")
        return run_sync(lambda: self.agenerate_raw(request))

    async def agenerate_raw(self, request: RawRequest) -> list[Generation]:
        """:meth:`generate_raw`, natively async (optional)."""
        return await run_in_thread(self.generate_raw, request)

    def template_keys(self) -> frozenset[str]:
        """The variables of the backend's prompt template a caller may set as options (default: none)."""
        return frozenset()

    def on_cache_evict(self, key: str, value: Any) -> None:
        """Called for each entry the backend's ``LRUCache`` drops (default: nothing)."""

    # -- options --------------------------------------------------------------------------------

    def model_option_map(self) -> dict[str, str]:
        """``{backend key: ModelOption key}``: the class's ``option_map``, then ``gencomp_model_option_map``'s."""
        if self._full_option_map is None:
            merged = dict(self.option_map)
            for answer in plugins.hook().gencomp_model_option_map(backend=self):
                for k, v in (answer or {}).items():
                    merged.setdefault(k, v)
            self._full_option_map = merged
        return self._full_option_map

    def _merge(self, defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> Mapping[str, Any]:
        merged = plugins.hook().gencomp_merge_model_options(backend=self, defaults=defaults, overrides=overrides)
        return merged if merged is not None else ModelOption.merge_model_options(defaults, overrides)

    def translate_options(self, model_options: Mapping[str, Any] | None) -> GenerationOptions:
        """The defaults and ``model_options`` translated once (:func:`gencomp.model_options.translate_options`)."""
        return translate_options(
            self.model_options,
            model_options,
            option_map=self.model_option_map(),
            generate_keys=self.generate_keys,
            template_keys=self.template_keys(),
            merge=self._merge,
            backend=self.option_errors.get("backend", f"the {type(self).__name__} backend"),
            accepted=self.option_errors.get("accepted", ""),
            hints=self.option_hints,
        )

    def _simplify_and_merge(self, model_options: dict[str, Any] | None) -> dict[str, Any]:
        """Seed name: ``model_options`` in ``ModelOption`` keys, merged over the backend's (the call wins). A new dict.

        Within a dict an existing ``ModelOption`` key wins over a backend key that maps to it; when
        merging, the call's keys win, so a backend key of the call replaces a ``ModelOption`` key of
        the defaults.
        """
        return simplify_and_merge(self.model_options, model_options, self.model_option_map(), self._merge)

    def _make_backend_specific_and_remove(self, model_options: dict[str, Any]) -> dict[str, Any]:
        """Seed name: ``ModelOption`` keys renamed to this backend's accepted names, other special keys dropped."""
        names = backend_names(self.model_option_map(), self.generate_keys | self.template_keys())
        return ModelOption.remove_special_keys(ModelOption.replace_keys(model_options, names))

    # -- rendering ------------------------------------------------------------------------------

    def render(self, c: Component | CBlock) -> str:
        """One component or block as prompt text."""
        return self.formatter.print(c)

    def chat_messages(
        self, items: Sequence[Component | CBlock], system_prompt: str | None = None
    ) -> list[dict[str, Any]]:
        """``items`` as chat message dicts (:func:`message_dict`), after a system message if ``system_prompt``."""
        messages = [message_dict(m) for m in self.formatter.to_chat_messages(list(items))]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": str(system_prompt)})
        return messages

    def prepare(
        self,
        action: Component | CBlock,
        ctx: Context,
        options: GenerationOptions,
        *,
        format: type[Any] | None = None,
        tool_calls: bool = False,
    ) -> GenerationRequest:
        """The request :meth:`generate` gets: chat messages for a chat context, else a text prompt."""
        history = ctx.render_for_generation()
        if ctx.is_chat_context:
            tools = collect_tools(options.tools, [*history, action]) if tool_calls else {}
            messages = self.chat_messages([*history, action], options.system_prompt)
            return _traced(GenerationRequest(action, ctx, options, messages=messages, format=format, tools=tools))
        before = self.formatter.print_context(ctx)
        prompt = f"{before}\n{self.render(action)}" if before else self.render(action)
        return _traced(GenerationRequest(action, ctx, options, prompt=prompt, format=format))

    # -- the base's part ------------------------------------------------------------------------

    def generate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """Generate the output for ``action`` after ``ctx``; appends a ``GenerateLog`` to ``generate_logs``."""
        logs, first_log, relay = self._begin(format, generate_logs)
        with self._span(action, ctx) as s:
            result = relay.gencomp_generate(
                backend=self,
                action=action,
                ctx=ctx,
                format=format,
                model_options=model_options,
                generate_logs=logs,
                tool_calls=tool_calls,
            )
            if result is None:
                result = self._generate_from_context(
                    action, ctx, format=format, model_options=model_options, generate_logs=logs, tool_calls=tool_calls
                )
            return self._finish(relay, action, result, logs, first_log, s)

    async def agenerate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """:meth:`generate_from_context` for asyncio: the same hooks, result and logs.

        A sync backend's call runs in a worker thread; cancelling the awaiting task stops it (through
        the current control) and waits for it to end. A natively async backend's :meth:`agenerate`
        is awaited on the running loop.
        """
        if not _overrides(self, "agenerate") or _overrides(self, "_generate_from_context"):
            return await run_in_thread(
                self.generate_from_context, action, ctx, format, model_options, generate_logs, tool_calls
            )
        logs, first_log, relay = self._begin(format, generate_logs)
        with self._span(action, ctx) as s:
            result = await run_in_thread(
                relay.gencomp_generate, backend=self, action=action, ctx=ctx, format=format,
                model_options=model_options, generate_logs=logs, tool_calls=tool_calls,
            )  # fmt: skip
            if result is None:
                start = time.perf_counter()
                options = self.translate_options(model_options)
                request = self.prepare(action, ctx, options, format=format, tool_calls=tool_calls)
                out = await self.agenerate(request)
                result = self._complete(request, out, time.perf_counter() - start, logs)
            return self._finish(relay, action, result, logs, first_log, s)

    @staticmethod
    def _begin(format: Any, generate_logs: list[GenerateLog] | None) -> tuple[list[GenerateLog], int, Any]:
        """A call's start, sync or async: ``format=`` checked, the log list, where its new logs begin, the hooks."""
        if format is not None and not isinstance(format, type):
            raise TypeError(
                f"format= takes a class (a pydantic BaseModel subclass), got an instance of {type(format).__name__}; "
                "pass the class itself"
            )
        logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
        return logs, len(logs), plugins.hook()

    def _finish(
        self,
        relay: Any,
        action: Component | CBlock,
        result: ModelOutputThunk,
        logs: list[GenerateLog],
        first_log: int,
        s: Span | None = None,
    ) -> ModelOutputThunk:
        control = current_control()
        if control is not None and not control.pushed and result.value:
            control.push(result.value, whole=True)  # a backend that does not stream: its answer in one piece
        new_logs = logs[first_log:]
        if new_logs and result.generate_log is None:
            result.generate_log = new_logs[-1]
        if s is not None:
            _end_generation_span(s, [result])
        relay.gencomp_after_generate(backend=self, action=action, result=result, log=new_logs[-1] if new_logs else None)
        return result

    def _span(self, action: Component | CBlock, ctx: Context | None, choices: int = 1) -> Any:
        """The ``generation`` span of one generation of ``choices`` outputs (:mod:`gencomp.tracing`)."""
        control = current_control()
        controls = list(candidate_controls() or ()) if choices > 1 else []
        if not controls and control is not None:
            controls = [control]
        streamed = any(c.on_text is not None for c in controls)
        return span(
            "generation",
            f"generate {self.model_id_str}",
            {
                "gencomp.operation": "chat" if ctx is not None and ctx.is_chat_context else "text_completion",
                "gencomp.backend": backend_name(self),
                "gencomp.model": self.model_id_str,
                "gencomp.choices": choices,
                "gencomp.stream": streamed,
                "gencomp.check": isinstance(action, RequirementCheck) or None,
                "gencomp.endpoint": self.endpoint,
            },
            backend=self,
            action=action,
            controls=controls,
        )

    # -- several candidates -----------------------------------------------------------------------

    def generate_candidates(
        self,
        action: Component | CBlock,
        ctx: Context,
        n: int,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> list[ModelOutputThunk]:
        """``n`` independent outputs for ``action`` after ``ctx`` (the candidates of a best-of-n or majority step).

        With :meth:`generate_n` they are generated at once (one ``GenerateLog`` each); otherwise ``n``
        generations run one after another (or concurrently, on a natively async backend), candidate
        ``i`` with the seed ``seed + i`` when the options set a seed, so that they differ. Each
        candidate pushes to its own control (:func:`gencomp.streaming.candidate_controls`, when the
        caller set them). A plugin that takes over generation (``gencomp_generate``) is asked first;
        when it takes the first candidate, every candidate goes through it, one by one.
        """
        _check_n(n)
        controls = _controls_for(n)
        if _overrides(self, "agenerate") and not _overrides(self, "generate_n"):
            return run_sync(
                lambda: self.agenerate_candidates(
                    action, ctx, n, format=format, model_options=model_options,
                    generate_logs=generate_logs, tool_calls=tool_calls,
                )
            )  # fmt: skip
        logs, first_log, relay = self._begin(format, generate_logs)
        if n > 1 and _overrides(self, "generate_n"):
            with self._span(action, ctx, n) as s:
                taken = relay.gencomp_generate(
                    backend=self, action=action, ctx=ctx, format=format,
                    model_options=model_options, generate_logs=logs, tool_calls=tool_calls,
                )  # fmt: skip
                if taken is None:
                    start = time.perf_counter()
                    options = self.translate_options(model_options)
                    request = self.prepare(action, ctx, options, format=format, tool_calls=tool_calls)
                    with controlled_candidates(controls), controlled(None):
                        outs = self.generate_n(request, n)
                    return self._complete_candidates(request, n, outs, time.perf_counter() - start, logs, controls, s)
            first = self._finish(relay, action, taken, logs, first_log)
            return [first] + [
                self._one_candidate(i, action, ctx, format, model_options, logs, tool_calls, controls)
                for i in range(1, n)
            ]
        return [
            self._one_candidate(i, action, ctx, format, model_options, logs, tool_calls, controls) for i in range(n)
        ]

    async def agenerate_candidates(
        self,
        action: Component | CBlock,
        ctx: Context,
        n: int,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> list[ModelOutputThunk]:
        """:meth:`generate_candidates` for asyncio; a natively async backend's candidates run concurrently."""
        _check_n(n)
        if not _overrides(self, "agenerate") or _overrides(self, "generate_n"):
            return await run_in_thread(
                self.generate_candidates, action, ctx, n, format=format, model_options=model_options,
                generate_logs=generate_logs, tool_calls=tool_calls,
            )  # fmt: skip
        import asyncio

        controls = _controls_for(n)
        logs: list[GenerateLog] = generate_logs if generate_logs is not None else []
        own: list[list[GenerateLog]] = [[] for _ in range(n)]

        async def one(i: int) -> ModelOutputThunk:
            with controlled(controls[i] if controls else None), controlled_candidates(None):
                return await self.agenerate_from_context(
                    action, ctx, format=format, model_options=_seeded(model_options, self.model_options, i),
                    generate_logs=own[i], tool_calls=tool_calls,
                )  # fmt: skip

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        try:
            outs = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for i in range(n):
            logs.extend(own[i])
        return list(outs)

    def _one_candidate(
        self,
        i: int,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None,
        model_options: dict[str, Any] | None,
        logs: list[GenerateLog],
        tool_calls: bool,
        controls: list[GenerationControl] | None,
    ) -> ModelOutputThunk:
        with controlled(controls[i] if controls else current_control()), controlled_candidates(None):
            return self.generate_from_context(
                action, ctx, format=format, model_options=_seeded(model_options, self.model_options, i),
                generate_logs=logs, tool_calls=tool_calls,
            )  # fmt: skip

    def _complete_candidates(
        self,
        request: GenerationRequest,
        n: int,
        outs: list[Generation],
        seconds: float,
        logs: list[GenerateLog],
        controls: list[GenerationControl] | None,
        s: Span | None,
    ) -> list[ModelOutputThunk]:
        if len(outs) != n:
            raise GencompError(f"{type(self).__name__}.generate_n returned {len(outs)} outputs for {n} candidates")
        relay = plugins.hook()
        results = []
        for i, out in enumerate(outs):
            out.extra.setdefault("candidate", i)
            out.extra.setdefault("candidates", len(outs))
            thunk = self._complete(request, out, seconds, logs)
            control = controls[i] if controls else None
            if control is not None and not control.pushed and thunk.value:
                control.push(thunk.value, whole=True)
            results.append(thunk)
        if s is not None:
            _end_generation_span(s, results)
        for thunk in results:
            relay.gencomp_after_generate(backend=self, action=request.action, result=thunk, log=thunk.generate_log)
        return results

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
        """The backend's own generation (steps 2-6), used when no plugin takes the call."""
        start = time.perf_counter()
        options = self.translate_options(model_options)
        request = self.prepare(action, ctx, options, format=format, tool_calls=tool_calls)
        out = self.generate(request)
        return self._complete(request, out, time.perf_counter() - start, generate_logs)

    def _complete(
        self, request: GenerationRequest, out: Generation, seconds: float, generate_logs: list[GenerateLog] | None
    ) -> ModelOutputThunk:
        """Steps 5 and 6: tool calls, parsing and the log of one generation."""
        if not isinstance(out, Generation):
            raise _not_a_generation(self, "generate", out)
        thunk = ModelOutputThunk(out.text, meta=dict(out.meta))
        if request.tools:
            thunk.tool_calls = self._extract_model_tool_requests(request.tools, out.text)
        self.formatter.parse(request.action, thunk)
        prompt = out.prompt if out.prompt is not None else (request.messages or request.prompt)
        self._log(request.action, thunk, prompt, request.options, out, seconds, generate_logs)
        return thunk

    def _generate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """Seed name: generate for each action with no chat templating (the rendered action is the whole prompt).

        Runs :meth:`generate_raw` once for the batch; returns one output (and appends one log) per
        action, each reported to ``gencomp_after_generate``.
        """
        if not actions:
            return []
        with self._span(actions[0], None, len(actions)) as s:
            start = time.perf_counter()
            request = self._raw_request(actions, format, model_options)
            return self._complete_raw(request, self.generate_raw(request), start, generate_logs, s)

    async def agenerate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """:meth:`_generate_from_raw` for asyncio (a natively async :meth:`agenerate_raw` is awaited on the loop)."""
        if not _overrides(self, "agenerate_raw"):
            return await run_in_thread(self._generate_from_raw, actions, format, model_options, generate_logs)
        if not actions:
            return []
        with self._span(actions[0], None, len(actions)) as s:
            start = time.perf_counter()
            request = self._raw_request(actions, format, model_options)
            return self._complete_raw(request, await self.agenerate_raw(request), start, generate_logs, s)

    def _raw_request(
        self, actions: list[Component | CBlock], format: type[Any] | None, model_options: dict[str, Any] | None
    ) -> RawRequest:
        options = self.translate_options(model_options)
        return _traced(RawRequest(list(actions), [self.render(a) for a in actions], options, format))

    def _complete_raw(
        self,
        request: RawRequest,
        outs: list[Generation],
        start: float,
        generate_logs: list[GenerateLog] | None,
        s: Span | None = None,
    ) -> list[ModelOutputThunk]:
        actions, options = request.actions, request.options
        if not isinstance(outs, list | tuple):
            raise _not_a_generation(self, "generate_raw", outs, "a list of Generation, one per prompt")
        for out in outs:
            if not isinstance(out, Generation):
                raise _not_a_generation(self, "generate_raw", out, "a list of Generation, one per prompt")
        if len(outs) != len(actions):
            raise GencompError(
                f"{type(self).__name__}.generate_raw returned {len(outs)} outputs for {len(actions)} prompts"
            )
        seconds = time.perf_counter() - start
        relay = plugins.hook()
        results = []
        for action, prompt, out in zip(actions, request.prompts, outs, strict=True):
            thunk = ModelOutputThunk(out.text, meta=dict(out.meta))
            self.formatter.parse(action, thunk)
            out.extra.setdefault("batch_size", len(actions))
            self._log(action, thunk, out.prompt or prompt, options, out, seconds, generate_logs)
            results.append(thunk)
        if s is not None:
            _end_generation_span(s, results, shared_prompt=False)
        for action, thunk in zip(actions, results, strict=True):
            relay.gencomp_after_generate(backend=self, action=action, result=thunk, log=thunk.generate_log)
        return results

    def _log(
        self,
        action: Component | CBlock,
        thunk: ModelOutputThunk,
        prompt: Any,
        options: GenerationOptions,
        out: Generation,
        seconds: float,
        generate_logs: list[GenerateLog] | None,
    ) -> GenerateLog:
        extra = dict(out.extra)
        extra.setdefault("seconds", seconds)
        log = GenerateLog(
            prompt=prompt,
            backend=backend_name(self),
            model_options=dict(options.merged),
            model_output=out.model_output,
            action=action,
            result=thunk,
            extra=extra,
        )
        thunk.generate_log = log
        if generate_logs is not None:
            generate_logs.append(log)
        return log

    def _extract_model_tool_requests(
        self, tools: Mapping[str, Callable[..., Any]], decoded_result: str
    ) -> dict[str, ModelToolCall] | None:
        """Seed name: the tool calls in a model's output, through the ``gencomp_extract_tool_calls`` hook."""
        if not tools:
            return None
        calls = plugins.hook().gencomp_extract_tool_calls(backend=self, tools=tools, text=decoded_result)
        return calls or None

    # -- cache ----------------------------------------------------------------------------------

    def cache_get(self, id: str) -> Any | None:
        """Retrieve from cache (``None`` when caching is off or the entry is gone)."""
        return self.cache.get(id) if self.cache is not None else None

    def cache_put(self, id: str, v: Any) -> None:
        """Put into cache (nothing happens when caching is off)."""
        if self.cache is not None:
            self.cache.put(id, v)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")


def _controls_for(n: int) -> list[GenerationControl] | None:
    controls = candidate_controls()
    if controls is None:
        return None
    if len(controls) != n:
        raise GencompError(f"{len(controls)} candidate controls were set for {n} candidates")
    return list(controls)


def _seeded(model_options: dict[str, Any] | None, defaults: Mapping[str, Any], i: int) -> dict[str, Any] | None:
    """The options of candidate ``i``: the seed moved on by ``i`` when the options (or the backend's) set one."""
    seed = (model_options or {}).get(ModelOption.SEED, defaults.get(ModelOption.SEED))
    if i == 0 or seed is None:
        return model_options
    return {**(model_options or {}), ModelOption.SEED: int(seed) + i}


def _end_generation_span(s: Span, outputs: Sequence[ModelOutputThunk], *, shared_prompt: bool = True) -> None:
    """Set the ``(at end)`` attributes of a generation span; ``shared_prompt``: the outputs answer one prompt."""
    logs = [o.generate_log for o in outputs if o.generate_log is not None]
    if logs:
        s.set(**{"gencomp.options": dict(logs[-1].model_options or {})})
        for key, attr in (("prompt_tokens", "gencomp.input_tokens"), ("new_tokens", "gencomp.output_tokens")):
            counts = [log.extra.get(key) for log in logs]
            if all(isinstance(c, int) for c in counts):
                once = key == "prompt_tokens" and shared_prompt
                s.set(**{attr: counts[0] if once else sum(counts)})  # type: ignore[arg-type]
    reasons = [o.meta.get("finish_reason") for o in outputs]
    if any(r is not None for r in reasons):
        s.set(**{"gencomp.finish_reasons": [str(r) for r in reasons]})
    models = {log.extra["response_model"] for log in logs if isinstance(log.extra.get("response_model"), str)}
    if len(models) == 1:
        s.set(**{"gencomp.response_model": models.pop()})
    firsts = [c.first_text_ns for c in s.refs.get("controls", ()) if c.first_text_ns is not None]
    if firsts:
        s.set(**{"gencomp.first_chunk_ns": min(firsts)})
    s.refs["outputs"] = list(outputs)
    s.refs["logs"] = logs


def _not_a_generation(backend: Backend, method: str, got: Any, want: str = "a Generation") -> TypeError:
    example = f"Generation({got!r})" if isinstance(got, str) else "Generation(text)"
    return TypeError(
        f"{type(backend).__name__}.{method} returned {type(got).__name__} {str(got)[:60]!r}, not {want}: "
        f"wrap the text, e.g. return {example[:80]} (from gencomp import Generation)"
    )


_R = TypeVar("_R", GenerationRequest, RawRequest)


def _traced(request: _R) -> _R:
    """``request``, kept as ``refs["request"]`` of the generation span it is made in (for observers)."""
    s = current_span()
    if s is not None and s.kind == "generation":
        s.refs.setdefault("request", request)
    return request


def _overrides(backend: Backend, name: str) -> bool:
    """Whether ``backend``'s class defines ``name`` itself rather than inheriting :class:`Backend`'s."""
    return getattr(type(backend), name) is not getattr(Backend, name)


def default_formatter(model_id: str | ModelIdentifier) -> Formatter:
    """The formatter the installed plugins offer for ``model_id`` (``gencomp_default_formatter``)."""
    formatter = plugins.hook().gencomp_default_formatter(model_id=model_id)
    if formatter is None:
        raise GencompError(
            "no installed plugin provides a formatter; install one with "
            "`pip install gencomp-template-formatter`, or pass formatter= to the backend"
        )
    return formatter


def make_formatter(name: str, model_id: str | ModelIdentifier, **kwargs: Any) -> Formatter:
    """Build the formatter registered as ``name`` (``gencomp_register_formatters``) for ``model_id``."""
    spec = plugins.registry().formatters.get(name)
    if spec is None:
        known = ", ".join(sorted(plugins.registry().formatters)) or "none"
        raise GencompError(
            f"no formatter is registered as {name!r} (registered: {known}); "
            "`gencomp plugins` lists the installed plugins"
        )
    formatter = spec.factory(model_id, **kwargs)
    if not isinstance(formatter, Formatter):
        built = type(formatter).__name__
        raise GencompError(f"formatter {name!r} (plugin {spec.plugin!r}) built a {built}, not a Formatter")
    return formatter


class FormatterBackend(Backend):
    """A backend that renders components with a :class:`~gencomp.Formatter` (hand-engineered prompts).

    ``formatter`` turns components into prompts and parses outputs back: a formatter, or the name of
    a registered one (:func:`make_formatter`, so ``gencomp.toml``'s ``backend_options`` can name it).
    ``model_options`` are the backend's defaults, merged under each call's options.
    """

    def __init__(
        self,
        model_id: str | ModelIdentifier,
        formatter: Formatter | str,
        model_options: dict[str, Any] | None = None,
        *,
        use_caches: bool = True,
        cache: Cache | None = None,
        plugin_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.formatter = make_formatter(formatter, model_id) if isinstance(formatter, str) else formatter
        super().__init__(model_id, model_options, use_caches=use_caches, cache=cache, plugin_options=plugin_options)


def _chain(first: Callable[[str, Any], None] | None, second: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    if first is None:
        return second

    def both(key: str, value: Any) -> None:
        first(key, value)
        second(key, value)

    return both
