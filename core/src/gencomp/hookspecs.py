"""Hook specifications: every way a plugin can extend gencomp, each with its contract.

A plugin is a module (or object) with functions named after these hooks and marked with
``gencomp.hookimpl``. Distributions expose their plugin module in the ``gencomp`` entry-point
group; gencomp finds, loads and registers them (see :mod:`gencomp.plugins`).

Every hook's docstring says, in this order: what it is for; each parameter; what it returns; its
**kind** ("first result": the call stops at the first implementation that returns something other
than ``None``, later-registered plugins first, ``tryfirst``/``trylast`` change that; "collect
all": every implementation runs and the non-``None`` answers are collected); **called by** (which
part of gencomp calls it, and when); **in-tree** (which distributions of this repository implement
it). Hooks are called with keyword arguments; an implementation may accept any subset of them.
Core's own defaults are ``trylast`` implementations in ``gencomp/_defaults.py``, so any plugin can
override them.

Keep module-level imports of plugin modules light: registration runs at discovery time, and
``import gencomp`` / ``gencomp plugins`` must not import torch. Import heavy libraries inside the
factories you register.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from gencomp.backend import Backend, BackendAttribute
    from gencomp.base import CBlock, Component, Context, GenerateLog, ModelOutputThunk, ModelToolCall
    from gencomp.cache import Cache
    from gencomp.components import Requirement
    from gencomp.formatter import Formatter
    from gencomp.model_ids import ModelIdentifier
    from gencomp.strategies import Strategy
    from gencomp.tracing import Span
    from gencomp.verdicts import CheckFallback

__all__ = ["RegisterBackend", "RegisterFormatter", "RegisterModel", "RegisterStrategy", "hookspec"]

hookspec = pluggy.HookspecMarker("gencomp")


class RegisterBackend(Protocol):
    """The ``register`` callback of :func:`gencomp_register_backends`."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Backend],
        *,
        aliases: Iterable[str] = (),
        description: str = "",
        default_model: str | None = None,
        check_options: Callable[[dict[str, Any]], None] | None = None,
        free_form_model_ids: bool = False,
    ) -> None:
        """Register ``factory(model_id, **kwargs)`` under ``name`` and ``aliases``."""


class RegisterModel(Protocol):
    """The ``register`` callback of :func:`gencomp_register_models`."""

    def __call__(
        self,
        name: str,
        *,
        backend: str,
        resolve: Callable[[], str],
        aliases: Iterable[str] = (),
        description: str = "",
    ) -> None:
        """Register a model ``name`` that ``backend`` loads from the id or path ``resolve()`` returns."""


class RegisterFormatter(Protocol):
    """The ``register`` callback of :func:`gencomp_register_formatters`."""

    def __call__(self, name: str, factory: Callable[..., Formatter], *, description: str = "") -> None:
        """Register ``factory(model_id, **kwargs)`` under ``name``."""


class RegisterStrategy(Protocol):
    """The ``register`` callback of :func:`gencomp_register_strategies`."""

    def __call__(
        self, name: str, factory: Callable[..., Strategy], *, aliases: Iterable[str] = (), description: str = ""
    ) -> None:
        """Register ``factory(**options)`` (it returns a :class:`~gencomp.strategies.Strategy`) under ``name``."""


# -- registration -------------------------------------------------------------------------------


@hookspec
def gencomp_register_backends(register: RegisterBackend) -> None:
    """Register backends by name.

    :param register: ``register(name, factory, *, aliases=(), description="", default_model=None,
        check_options=None, free_form_model_ids=False)``; ``factory(model_id, **kwargs)`` builds the
        backend (import heavy libraries inside it, not at module level); ``default_model`` names a
        registered model used when no model id is configured; ``check_options(kwargs)`` raises
        :class:`~gencomp.ConfigError` for keyword options the backend does not take, before any model
        is resolved (without it, the factory's signature is checked unless it takes ``**kwargs``);
        ``free_form_model_ids=True`` says the backend takes any model id its server serves (Ollama
        tags such as ``llama3.2:1b``), so gencomp never refuses one as a typo of a registered name.
    :returns: nothing.

    Kind: collect all, once per plugin manager. Called by: :func:`gencomp.plugins.registry`, the first
    time a backend is looked up. A name or alias registered twice disables both registrations and
    names both plugins; a plugin whose hook raises is recorded as failed. In-tree: hf_backend (``hf``),
    openai_backend (``openai``).
    """


@hookspec
def gencomp_register_models(register: RegisterModel) -> None:
    """Register models under short names.

    :param register: ``register(name, *, backend, resolve, aliases=(), description="")``;
        ``resolve()`` returns the id or local path the backend loads (it may download, convert or
        unpack, so it runs only when the model is used).
    :returns: nothing.

    Kind: collect all, once per plugin manager. Called by: :func:`gencomp.plugins.registry`.
    In-tree: hf_backend (``smollm2-135m-instruct``).
    """


@hookspec
def gencomp_register_formatters(register: RegisterFormatter) -> None:
    """Register formatters by name; a backend given ``formatter="<name>"`` builds one with it.

    :param register: ``register(name, factory, *, description="")``; ``factory(model_id, **kwargs)``
        returns a :class:`~gencomp.Formatter`.
    :returns: nothing.

    Kind: collect all, once per plugin manager. Called by: :func:`gencomp.plugins.registry`; used by
    :func:`gencomp.backend.make_formatter`. In-tree: template_formatter (``template``).
    """


@hookspec
def gencomp_register_checks(register: Callable[..., None]) -> None:
    """Register requirement kinds that code checks exactly, next to :mod:`gencomp.checks`' built-ins.

    :param register: ``register(name, factory, *, recognise=None, description="")``.
        ``factory(**params)`` returns a :class:`~gencomp.Requirement` whose ``validation_fn`` is a
        ``gencomp.checks.CodeCheck(name, params, check)``, where ``check(text, ctx)`` returns
        ``(passed, reason)`` (``ctx`` is the context being validated, or ``None`` for
        ``CodeCheck.check_text``); its verdicts then show ``check_path == "code:<name>"`` and the
        reason reaches the repair prompt verbatim. ``recognise(text)`` (optional) returns that
        requirement when the whole of ``text`` states the kind unambiguously, else ``None``; keep
        ``text`` as its description. A text that two kinds claim is not recognised, so claim only
        wording you are certain of.
    :returns: nothing.

    Kind: collect all, once per plugin manager. Called by: :func:`gencomp.plugins.registry`, the first
    time a kind is looked up (``gencomp.checks.kinds()``, ``make()``, or recognising a plain-text
    requirement). A built-in name is refused and a name two plugins register disables both; a
    plugin whose hook raises is recorded as failed. In-tree: none (the built-in kinds live in
    :mod:`gencomp.checks`).
    """


@hookspec
def gencomp_register_strategies(register: RegisterStrategy) -> None:
    """Register inference-time strategies by name: how a call spends its attempts.

    :param register: ``register(name, factory, *, aliases=(), description="")``; ``factory(**options)``
        returns a :class:`~gencomp.strategies.Strategy` (its options come from
        ``[strategy_options]`` in ``gencomp.toml``, or the caller). A strategy holds no session state:
        requirements, budget and model options arrive with each call.
    :returns: nothing.

    Kind: collect all, once per plugin manager. Called by: :func:`gencomp.plugins.registry`, the first
    time a strategy is looked up by name (``strategy="..."``, ``$GENCOMP_STRATEGY``, ``strategy`` in
    ``gencomp.toml``, ``gencomp instruct --strategy``). A built-in name is refused; a name two
    plugins register disables both. In-tree: core (``repair``, ``rejection``, ``best-of-n``,
    ``majority``).
    """


@hookspec
def gencomp_register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add subcommands to the ``gencomp`` command line.

    :param subparsers: the CLI's ``argparse`` subparsers; add parsers with ``add_parser(...)`` and set
        ``func=callable(args) -> int`` (the exit code) as a default on each.
    :returns: nothing.

    Kind: collect all. Called by: ``gencomp.cli.build_parser`` when the CLI starts; a plugin whose
    hook raises is recorded as failed and the CLI goes on without its commands. In-tree:
    template_formatter (``templates``), alora (``alora train|eval|datagen``).
    """


# -- formatting ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_default_formatter(model_id: str | ModelIdentifier) -> Formatter | None:
    """Build the formatter a backend uses when it is given none.

    :param model_id: the model the backend runs.
    :returns: a :class:`~gencomp.Formatter` for ``model_id``, or ``None`` to let another plugin answer.

    Kind: first result. Called by: :func:`gencomp.default_formatter` (``LocalHFBackend`` without
    ``formatter=``). In-tree: template_formatter.
    """


@hookspec
def gencomp_template_dirs() -> list[str] | str | None:
    """Contribute folders of prompt templates.

    :returns: a folder (or a list of folders) that each hold a ``prompts/`` tree, or ``None``.

    Kind: collect all. Called by: ``TemplateFormatter`` when it builds its search path; the folders
    are searched after the user's and the component's own, before the formatter's defaults.
    In-tree: none (for third-party template packs; the tests register one).
    """


# -- options ------------------------------------------------------------------------------------


@hookspec
def gencomp_model_option_map(backend: Backend) -> Mapping[str, str] | None:
    """Teach a backend option names it does not know itself.

    :param backend: the backend translating options.
    :returns: ``{option name: ModelOption key}`` for names this plugin knows for ``backend``, or
        ``None``. The backend's own ``option_map`` comes first; answers only add names.

    Kind: collect all. Called by: :meth:`gencomp.Backend.model_option_map`, once per backend, on its
    first translation of options. In-tree: none (a backend's own names are its ``option_map``).
    """


@hookspec(firstresult=True)
def gencomp_merge_model_options(
    backend: Backend, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Merge a backend's default options with a call's options.

    :param backend: the backend translating options.
    :param defaults: the backend's ``model_options``, in ``ModelOption`` keys.
    :param overrides: the call's options, in ``ModelOption`` keys (never empty).
    :returns: the merged dict, or ``None`` to let another plugin answer.

    Kind: first result. Called by: :meth:`gencomp.Backend.translate_options` (every generation whose
    call has options). In-tree: core's default (the call's keys win).
    """


# -- generation ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_generate(
    backend: Backend,
    action: Component | CBlock,
    ctx: Context,
    format: type[Any] | None,
    model_options: dict[str, Any] | None,
    generate_logs: list[GenerateLog],
    tool_calls: bool,
) -> ModelOutputThunk | None:
    """Take over one whole generation (a real takeover: routing to another model, a replay...).

    :param backend: the backend asked to generate.
    :param action: the component to answer; ``ctx``: the context before it.
    :param format: the pydantic class the output must parse as, or ``None``.
    :param model_options: the call's options, untranslated.
    :param generate_logs: append the ``GenerateLog`` of the answer here.
    :param tool_calls: whether the call asked for tool calls.
    :returns: the output, or ``None`` to pass (the backend's own generation runs).

    Kind: first result. Called by: :meth:`gencomp.Backend.generate_from_context`, first. Requirement
    checks do not come here to be routed; they go to :func:`gencomp_check_requirements`.
    In-tree: none.
    """


@hookspec(firstresult=True)
def gencomp_check_requirements(
    backend: Backend,
    requirements: list[Requirement],
    ctx: Context,
    output: ModelOutputThunk | None,
    model_options: dict[str, Any] | None,
    generate_logs: list[GenerateLog],
) -> list[ModelOutputThunk | CheckFallback | None] | None:
    """Answer model-judged requirement checks of one output, as one batch (a batch of one is a batch).

    :param backend: the session's backend.
    :param requirements: every requirement judged on the model path, in order: those without a
        ``validation_fn``, and a plain ``Requirement`` with the description of each code check that
        could not decide (its result's verdict was a :class:`~gencomp.CheckFallback`).
    :param ctx: the context whose last output is under test.
    :param output: that output (``None`` when the context has none).
    :param model_options: the judge's options.
    :param generate_logs: append a ``GenerateLog`` (whose ``result`` is the answer) per answered check.
    :returns: a list as long as ``requirements`` with, for each, an output labelled with a
        :class:`~gencomp.CheckVerdict` (:func:`gencomp.verdicts.label`), a
        :class:`~gencomp.CheckFallback` (the model judges it and the verdict carries the reason), or
        ``None`` (the model judges it); or ``None`` to answer none.

    Kind: first result. Called by: :func:`gencomp.check_requirements` (behind ``Session.validate``,
    ``Session.act``/``instruct`` and ``Requirement.validate``); answered checks are then reported to
    :func:`gencomp_after_generate`. In-tree: alora, openai_backend.
    """


@hookspec(firstresult=True)
def gencomp_check_candidates(
    backend: Backend,
    requirements: list[Requirement],
    ctxs: list[Context],
    model_options: dict[str, Any] | None,
    generate_logs: list[GenerateLog],
) -> list[list[ModelOutputThunk | CheckFallback | None]] | None:
    """Answer the model-judged checks of several candidate outputs of one call, as one batch.

    The candidates answer the same action after the same context, so a plugin can check them all
    against their shared prompt at once (one forward pass whose rows share the prompt's KV cache).

    :param backend: the session's backend.
    :param requirements: every requirement without a ``validation_fn``, in order.
    :param ctxs: one context per candidate, each ending with its candidate output.
    :param model_options: the judge's options.
    :param generate_logs: append a ``GenerateLog`` (whose ``result`` is the answer) per answered check.
    :returns: one list per context, each as :func:`gencomp_check_requirements` returns it (an
        output labelled with a :class:`~gencomp.CheckVerdict`, a :class:`~gencomp.CheckFallback`, or
        ``None``); or ``None`` to let each candidate go through :func:`gencomp_check_requirements`.

    Kind: first result. Called by: :func:`gencomp.verdicts.check_candidates` (strategies' check steps
    of more than one candidate). In-tree: none yet (each candidate then goes its own way).
    """


@hookspec
def gencomp_span_started(span: Span) -> None:
    """Observe the start of a unit of work: a session call, an attempt, a generation or a check.

    :param span: the :class:`~gencomp.tracing.Span`: its ``kind``, ``name``, ``attributes``
        (:data:`gencomp.tracing.SPAN_ATTRIBUTES`), ``parent`` and ``refs``; keep your own data in
        ``span.state[<your name>]``.
    :returns: nothing.

    Kind: collect all. Called by: :mod:`gencomp.tracing`, in the thread or task doing the work,
    before it starts (a check answered inside a batch is reported after the batch, with its times).
    When no plugin implements this hook or :func:`gencomp_span_ended`, no span is made at all.
    In-tree: otel (``gencomp-otel`` turns spans into OpenTelemetry spans).
    """


@hookspec
def gencomp_span_ended(span: Span) -> None:
    """Observe the end of a unit of work started with :func:`gencomp_span_started`.

    :param span: the same :class:`~gencomp.tracing.Span`, with ``end_ns``, its ``(at end)``
        attributes, and ``error`` (``cancelled`` when its caller cancelled it) when it failed.
    :returns: nothing.

    Kind: collect all. Called by: :mod:`gencomp.tracing`, when the work ends, however it ends.
    In-tree: otel.
    """


@hookspec
def gencomp_after_generate(
    backend: Backend, action: Component | CBlock, result: ModelOutputThunk, log: GenerateLog | None
) -> None:
    """Observe a finished generation.

    :param backend: the backend that generated; ``action``: what it answered.
    :param result: the output; ``log``: the call's last ``GenerateLog`` (``None`` when none).
    :returns: nothing.

    Kind: collect all. Called by: :meth:`gencomp.Backend.generate_from_context` after every call,
    ``Backend._generate_from_raw`` for each output, and :func:`gencomp.check_requirements` for each
    check a plugin answered. In-tree: none (for observers: tracing, metrics).
    """


@hookspec
def gencomp_backend_options(backend_name: str) -> Iterable[str] | None:
    """Name the constructor options this plugin reads on backends registered as ``backend_name``.

    :param backend_name: a registered backend's name (``"hf"``).
    :returns: the names of the keyword arguments this plugin reads from ``backend.plugin_options``
        on such backends, or ``None``.

    Kind: collect all. Called by: a backend's option check (the HF backend's ``check_options``),
    before a backend is made, so that an option nobody reads is an error instead of being ignored.
    In-tree: alora (``default_to_constraint_checking_alora`` on ``hf``).
    """


@hookspec
def gencomp_backend_created(backend: Backend) -> None:
    """Observe a new backend, for example to attach adapters to it.

    :param backend: the backend, fully constructed.
    :returns: nothing.

    Kind: collect all. Called by: the :class:`gencomp.Backend` base, once the subclass's whole
    ``__init__`` has returned (every backend, third-party ones too). In-tree: alora (loads the
    shipped adapter on the embedded default model).
    """


@hookspec(firstresult=True)
def gencomp_backend_attribute(backend: Backend, name: str) -> BackendAttribute | None:
    """Provide a public attribute a backend's class does not define (a method a plugin adds to it).

    :param backend: the backend whose attribute is read.
    :param name: the attribute's name (never one starting with ``_``).
    :returns: a :class:`~gencomp.backend.BackendAttribute` holding the value (for a method, a bound
        callable), or ``None`` when this plugin adds no such attribute to ``backend``.

    Kind: first result. Called by: ``Backend.__getattr__`` when normal lookup fails; when nobody
    answers, ``AttributeError`` says that no installed plugin adds it. In-tree: alora (``add_alora``,
    ``get_alora``, ``get_aloras``, ``alora_model`` on ``LocalHFBackend``).
    """


# -- caching ------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_make_cache(backend: Backend) -> Cache | None:
    """Make the cache a backend keeps its per-output state in.

    :param backend: the backend being constructed (its subclass's attributes may not all be set yet).
    :returns: a :class:`~gencomp.Cache`, or ``None`` to let another plugin answer.

    Kind: first result. Called by: the :class:`gencomp.Backend` base's ``__init__`` when caching is on
    and no cache is given. In-tree: core's default (``LRUCache(3)``).
    """


# -- tool calls ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_extract_tool_calls(
    backend: Backend, tools: Mapping[str, Callable[..., Any]], text: str
) -> dict[str, ModelToolCall] | None:
    """Find the tool calls a model asked for in its output.

    :param backend: the backend that generated.
    :param tools: the tools offered, by name.
    :param text: the output's text.
    :returns: ``{name: ModelToolCall}`` (empty when the text asks for none), or ``None`` when this
        parser does not know the model's format.

    Kind: first result. Called by: :meth:`gencomp.Backend.generate_from_context` (through the seed's
    ``_extract_model_tool_requests``) after a generation that offered tools. In-tree: core's default
    (a scanner of JSON objects naming a tool).
    """
