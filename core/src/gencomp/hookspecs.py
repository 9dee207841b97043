"""Hook specifications: every way a plugin can extend gencomp.

A plugin is a module (or object) with functions named after these hooks and marked with
``gencomp.hookimpl``. Distributions expose their plugin module in the ``gencomp`` entry-point
group; gencomp finds, loads and registers them (see :mod:`gencomp.plugins`).

Hooks are called with keyword arguments; an implementation may accept any subset of them.
"Collect all" hooks return a list of every non-``None`` answer; "first result" hooks stop at the
first implementation that returns something other than ``None`` (later-registered plugins are
asked first; ``tryfirst``/``trylast`` change that). Core's own defaults are ``trylast``
implementations of the first-result hooks, so any plugin can override them.

Keep module-level imports of plugin modules light: registration runs at discovery time, and
``import gencomp`` / ``gencomp plugins`` must not import torch. Import heavy libraries inside the
factories you register.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from gencomp.backend import Backend, BackendAttribute
    from gencomp.base import CBlock, Component, Context, GenerateLog, ModelOutputThunk, ModelToolCall
    from gencomp.cache import Cache
    from gencomp.components import Requirement
    from gencomp.formatter import Formatter
    from gencomp.model_ids import ModelIdentifier
    from gencomp.verdicts import CheckFallback

hookspec = pluggy.HookspecMarker("gencomp")


# -- registration -------------------------------------------------------------------------------


@hookspec
def gencomp_register_backends(register: Callable[..., None]) -> None:
    """Register backends by name.

    Called once per plugin manager, the first time a backend is looked up. Call
    ``register(name, factory, *, aliases=(), description="", default_model=None)`` for each backend:
    ``factory(model_id, **kwargs)`` builds it (import heavy libraries inside the factory, not at
    module level); ``default_model`` names a registered model used when no model id is configured.
    Two plugins registering the same name or alias is an error naming both. Returns nothing.
    """


@hookspec
def gencomp_register_models(register: Callable[..., None]) -> None:
    """Register models under short names.

    Called once per plugin manager, the first time a model is looked up. Call
    ``register(name, *, backend, resolve, aliases=(), description="")``: ``resolve()`` returns the
    id or local path the backend loads (it may download, convert or unpack, so it runs only when the
    model is used). Returns nothing.
    """


@hookspec
def gencomp_register_formatters(register: Callable[..., None]) -> None:
    """Register formatters by name.

    Called once per plugin manager, the first time a formatter is looked up. Call
    ``register(name, factory, *, description="")`` where ``factory(model_id, **kwargs)`` returns a
    :class:`~gencomp.Formatter`. Returns nothing.
    """


@hookspec
def gencomp_register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add subcommands to the ``gencomp`` command line.

    Called once when the CLI starts. Add parsers with ``subparsers.add_parser(...)`` and set
    ``func=callable(args) -> int`` as a default on each; the callable's return value is the exit
    code. Returns nothing.
    """


# -- formatting ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_default_formatter(model_id: str | ModelIdentifier) -> Formatter | None:
    """Build the formatter a backend uses when it is given none.

    Called when a backend is constructed without a formatter. Returns a formatter for
    ``model_id``, or ``None`` to let another plugin answer. First result wins.
    """


@hookspec
def gencomp_template_dirs() -> list[str] | str | None:
    """Contribute folders of prompt templates.

    Called by template formatters when they build their search path. Returns a folder (or a list
    of folders) that each hold a ``prompts/`` tree; every answer is collected, and they are
    searched after the user's and the component's own folders, before the formatter's defaults.
    """


# -- options ------------------------------------------------------------------------------------


@hookspec
def gencomp_model_option_map(backend: Backend) -> Mapping[str, str] | None:
    """Map a backend's own option names to :class:`~gencomp.ModelOption` keys.

    Called when a backend simplifies or specializes model options. Returns
    ``{backend_key: ModelOption_key}`` for the option names this plugin knows for ``backend``
    (``None`` when it knows none); all answers are merged, the backend's own map first.
    """


@hookspec(firstresult=True)
def gencomp_merge_model_options(
    backend: Backend, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Merge a backend's default options with a call's options.

    Called once per generation, after both dicts use :class:`~gencomp.ModelOption` keys. Returns
    the merged dict. First result wins; core's default lets the call's options win.
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
    """Take over one generation.

    Called by :meth:`Backend.generate_from_context` before the backend's own generation. Return a
    :class:`~gencomp.ModelOutputThunk` to answer the call (append a ``GenerateLog`` to
    ``generate_logs``), or ``None`` to pass. First result wins; the backend's own generation runs
    when nobody answers. The aLoRA plugin uses this to route requirement checks to adapters.
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

    Called by :func:`gencomp.verdicts.check_requirements` (behind ``Session.validate``,
    ``Session.act``/``instruct`` and ``Requirement.validate``) with every requirement that has no
    ``validation_fn``, in order. ``ctx`` ends with ``output``, the output under test;
    ``model_options`` are the judge's options. Return a list as long as ``requirements``, with for
    each: an output labelled with a :class:`~gencomp.verdicts.CheckVerdict` (``gencomp.verdicts.label``;
    its ``GenerateLog``, whose ``result`` is that output, appended to ``generate_logs``), or a
    :class:`~gencomp.verdicts.CheckFallback` (the model judges it, and the verdict carries the
    reason), or ``None`` (the model judges it); or return ``None`` to answer none. Answered checks
    are reported to ``gencomp_after_generate``. First result wins. In-tree: the aLoRA plugin.
    """


@hookspec
def gencomp_after_generate(
    backend: Backend, action: Component | CBlock, result: ModelOutputThunk, log: GenerateLog | None
) -> None:
    """Observe a finished generation.

    Called after every :meth:`Backend.generate_from_context`, with the call's last log. Returns
    nothing; every implementation is called.
    """


@hookspec
def gencomp_backend_created(backend: Backend) -> None:
    """Observe a new backend, for example to attach adapters to it.

    Called by a backend at the end of its construction. Returns nothing; every implementation is
    called.
    """


@hookspec(firstresult=True)
def gencomp_backend_attribute(backend: Backend, name: str) -> BackendAttribute | None:
    """Provide a public attribute a backend's class does not define (a method a plugin adds to it).

    Called by ``Backend.__getattr__`` when normal lookup of ``name`` fails (never for names
    starting with ``_``). Return a :class:`~gencomp.backend.BackendAttribute` holding the value (for
    a method, a bound callable), or ``None`` when this plugin adds no such attribute to ``backend``.
    First result wins; when nobody answers, ``AttributeError`` says that no installed plugin adds it.
    In-tree: the aLoRA plugin
    (``add_alora``, ``get_alora``, ``get_aloras``, ``alora_model`` on ``LocalHFBackend``).
    """


# -- caching ------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_make_cache(backend: Backend) -> Cache | None:
    """Make the cache a backend keeps its per-output state in.

    Called when a backend is constructed with caching on and no cache given. Returns a
    :class:`~gencomp.Cache`. First result wins; core's default is ``LRUCache(3)``.
    """


# -- tool calls ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gencomp_extract_tool_calls(
    backend: Backend, tools: Mapping[str, Callable[..., Any]], text: str
) -> dict[str, ModelToolCall] | None:
    """Find the tool calls a model asked for in its output.

    Called after a generation that offered ``tools``. Returns ``{name: ModelToolCall}`` (empty
    when the text asks for none), or ``None`` when this parser does not know the model's format.
    First result wins; core's default scans the text for JSON objects naming a tool.
    """
