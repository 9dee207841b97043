"""The plugin manager: discovers plugin distributions through entry points and builds the registries.

Environment variables, read when the manager is first built:

``GENCOMP_PLUGINS``
    Comma-separated allowlist of entry-point names; set but empty loads no plugin.
``GENCOMP_DISABLE_PLUGINS``
    Comma-separated blocklist of entry-point names.
``GENCOMP_STRICT_PLUGINS=1``
    Every installed plugin that is not disabled must load and register cleanly: a plugin whose
    record would not be ``loaded`` (``failed``, ``incompatible``, ``skipped``, ``unmarked``,
    ``conflict``, ``missing``; see :class:`PluginRecord`) raises instead of being recorded.
``GENCOMP_TRACE_PLUGINS=1``
    Print every hook call and its result to standard error.

Both lists apply before any plugin module is imported.
"""

from __future__ import annotations

import difflib
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from gencomp import hookspecs
from gencomp.errors import BackendConflictError, PluginLoadError

if TYPE_CHECKING:
    import importlib_metadata
    from packaging.version import Version

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendSpec",
    "CheckKindSpec",
    "FormatterSpec",
    "ModelSpec",
    "PluginRecord",
    "Registry",
    "get_plugin_manager",
    "hook",
    "hookimpl",
    "plugin_records",
    "register_commands",
    "register_plugin",
    "registry",
    "reset",
    "unregister_plugin",
]

ENTRY_POINT_GROUP = "gencomp"
hookimpl = pluggy.HookimplMarker("gencomp")
"""Marks a function as the implementation of a hook in :mod:`gencomp.hookspecs`."""

CORE_DISTRIBUTION = "gencomp"


@dataclass
class PluginRecord:
    """What discovery did with one plugin, as ``status``:

    - ``loaded``: imported and registered, every hook implementation marked;
    - ``unmarked``: loaded, but a function named after a hook lacks ``@hookimpl``, so gencomp never
      calls it (``error`` names it);
    - ``conflict``: loaded, but a name it registers is registered by another plugin too: those
      registrations are disabled (``conflicts`` says which);
    - ``failed``: its import or a registration hook raised, or it implements unknown hooks (``error``);
    - ``incompatible``: not imported: its declared ``gencomp`` range excludes this core (``error``);
    - ``skipped``: not imported: another plugin is already registered under its entry-point name;
    - ``disabled``: not imported: ``GENCOMP_PLUGINS`` / ``GENCOMP_DISABLE_PLUGINS`` say so;
    - ``missing``: ``GENCOMP_PLUGINS`` names it, but no installed plugin has that entry-point name.
    """

    name: str
    distribution: str | None
    version: str | None
    module: str
    status: str = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """Registrations of this plugin disabled because another plugin registered the same name."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "hooks": self.hooks,
            "error": self.error,
            "conflicts": self.conflicts,
        }


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: ``factory(model_id, **kwargs)`` builds it.

    ``check_options(kwargs)``, when given, raises for keyword options the backend does not take; it
    runs before the model is resolved or loaded. ``free_form_model_ids``: the backend takes any model
    id (a server's own names), so no id is refused as a typo of a registered model name.
    """

    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    description: str = ""
    default_model: str | None = None
    plugin: str = ""
    check_options: Callable[[dict[str, Any]], None] | None = None
    free_form_model_ids: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: ``resolve()`` returns the id or path the backend loads."""

    name: str
    backend: str
    resolve: Callable[[], str]
    aliases: tuple[str, ...] = ()
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class FormatterSpec:
    """A registered formatter: ``factory(model_id, **kwargs)`` builds it."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class CheckKindSpec:
    """A requirement kind a plugin registered: ``factory(**params)`` builds its code-checked requirement."""

    name: str
    factory: Callable[..., Any]
    recognise: Callable[[str], Any] | None = None
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: ``factory(**options)`` builds it."""

    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    description: str = ""
    plugin: str = ""


@dataclass
class Registry:
    """Everything plugins registered: backends, models, formatters, requirement kinds and strategies, by name."""

    backends: dict[str, BackendSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    formatters: dict[str, FormatterSpec] = field(default_factory=dict)
    checks: dict[str, CheckKindSpec] = field(default_factory=dict)
    strategies: dict[str, StrategySpec] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(kind, name)`` -> why that name is disabled (two plugins registered it)."""

    def backend(self, name: str) -> BackendSpec | None:
        """The backend registered under ``name`` or an alias of it; a name two plugins registered raises."""
        self._refuse_conflict("backend", name)
        return _lookup(self.backends, name)

    def model(self, name: str) -> ModelSpec | None:
        """The model registered under ``name`` or an alias of it; a name two plugins registered raises."""
        self._refuse_conflict("model", name)
        return _lookup(self.models, name)

    def strategy(self, name: str) -> StrategySpec | None:
        """The strategy registered under ``name`` or an alias of it; a name two plugins registered raises."""
        self._refuse_conflict("strategy", name)
        return _lookup(self.strategies, name)

    def _refuse_conflict(self, kind: str, name: str) -> None:
        message = self.conflicts.get((kind, name))
        if message is not None:
            raise BackendConflictError(message)


def _lookup(table: dict[str, Any], name: str) -> Any:
    if name in table:
        return table[name]
    for spec in table.values():
        if name in getattr(spec, "aliases", ()):
            return spec
    return None


CORE_PLUGIN = "gencomp.defaults"
"""The plugin name of the core's own hook implementations (``gencomp._defaults``)."""

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_records: list[PluginRecord] = []
_registry: Registry | None = None


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _strict() -> bool:
    return os.environ.get("GENCOMP_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _core_version() -> Version | None:
    import importlib_metadata
    from packaging.version import Version

    try:
        return Version(importlib_metadata.version(CORE_DISTRIBUTION))
    except importlib_metadata.PackageNotFoundError:
        return None


def _core_range_problem(dist: importlib_metadata.Distribution | None) -> str | None:
    """Why ``dist`` cannot run with this core, or ``None`` when its declared range admits it."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    core = _core_version()
    if dist is None or core is None:
        return None
    for line in dist.requires or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != CORE_DISTRIBUTION or (req.marker and not req.marker.evaluate()):
            continue
        if req.specifier and not req.specifier.contains(core, prereleases=True):
            return (
                f"requires gencomp{req.specifier} but gencomp {core} is installed; "
                f"upgrade one of them so that they match"
            )
    return None


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(hc.name for hc in pm.get_hookcallers(plugin) or [])


def _fail(record: PluginRecord, error: BaseException | str, cause: BaseException | None = None) -> None:
    record.status = "failed"
    record.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if _strict():
        raise PluginLoadError(
            f"plugin {record.name!r} ({record.distribution} {record.version}) failed: {record.error}"
        ) from (error if isinstance(error, BaseException) else cause)


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(hc.name for hc in pm.get_hookcallers(plugin) or [] if not hc.has_spec())


def _unmarked_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Why each function of ``plugin`` named after a hook (or nearly) is never called: it lacks ``@hookimpl``."""
    specs = [name for name in vars(hookspecs) if name.startswith("gencomp_")]
    problems = []
    for name in dir(plugin):
        if not name.startswith("gencomp_") or pm.parse_hookimpl_opts(plugin, name) is not None:
            continue
        attr = getattr(plugin, name, None)
        if not (inspect.isfunction(attr) or inspect.ismethod(attr)):
            continue
        if name in specs:
            problems.append(f"{name} is not marked with @hookimpl, so gencomp never calls it: decorate it")
            continue
        close = difflib.get_close_matches(name, specs, n=1, cutoff=0.85)
        if close:
            problems.append(
                f"{name} is not marked with @hookimpl and is no gencomp hook (did you mean {close[0]}?): "
                f"rename it to {close[0]} and decorate it"
            )
    return problems


def _strict_error(record: PluginRecord, problem: str) -> None:
    """Under ``GENCOMP_STRICT_PLUGINS=1``, a plugin's problem is raised instead of recorded."""
    if _strict():
        dist = f" ({record.distribution} {record.version})" if record.distribution else ""
        raise PluginLoadError(f"plugin {record.name!r}{dist} {problem} (GENCOMP_STRICT_PLUGINS=1)")


def _load_entry_points(pm: pluggy.PluginManager) -> list[PluginRecord]:
    import importlib_metadata  # here, not at import: `import gencomp` stays fast
    from packaging.utils import canonicalize_name

    allow = _env_names("GENCOMP_PLUGINS")
    deny = _env_names("GENCOMP_DISABLE_PLUGINS") or set()
    records: list[PluginRecord] = []
    seen: set[tuple[str, str]] = set()
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        dist_name = canonicalize_name(dist.metadata["Name"]) if dist is not None else None
        key = (dist_name or "", ep.name)
        if key in seen:
            continue
        seen.add(key)
        record = PluginRecord(ep.name, dist_name, dist.version if dist else None, ep.value)
        records.append(record)
        if allow is not None and ep.name not in allow:
            record.status, record.error = "disabled", "not listed in GENCOMP_PLUGINS"
            continue
        if ep.name in deny:
            record.status, record.error = "disabled", "listed in GENCOMP_DISABLE_PLUGINS"
            continue
        if pm.has_plugin(ep.name):
            record.status = "skipped"
            record.error = f"another plugin is already registered as {ep.name!r}: rename one entry point"
            _strict_error(record, f"was skipped: {record.error}")
            continue
        problem = _core_range_problem(dist)
        if problem:
            record.status, record.error = "incompatible", problem
            _strict_error(record, problem)
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the host down
            _fail(record, exc)
            continue
        unknown = _unknown_hooks(pm, plugin)
        if unknown:
            pm.unregister(plugin)
            _fail(record, f"implements unknown hooks {', '.join(unknown)} (a typo? see gencomp.hookspecs)")
            continue
        record.hooks = _hooks_of(pm, plugin)
        unmarked = _unmarked_hooks(pm, plugin)
        if unmarked:
            record.status, record.error = "unmarked", "; ".join(unmarked) + " (from gencomp import hookimpl)"
            _strict_error(record, f"has unmarked hook implementations: {record.error}")
    names = [r.name for r in records]
    for missing in sorted((allow or set()) - set(names)):
        close = difflib.get_close_matches(missing, names, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        records.append(
            PluginRecord(
                missing,
                None,
                None,
                "",
                status="missing",
                error=f"GENCOMP_PLUGINS names {missing!r}, but no installed plugin has that entry-point name "
                f"(installed: {', '.join(names) or 'none'}){hint}",
            )
        )
        _strict_error(records[-1], f"is missing: {records[-1].error}")
    return records


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built (and plugins discovered) on first use."""
    global _pm, _records
    with _lock:
        if _pm is not None:
            return _pm
        pm = pluggy.PluginManager("gencomp")
        pm.add_hookspecs(hookspecs)
        from gencomp import _defaults

        pm.register(_defaults, name=CORE_PLUGIN)
        records = _load_entry_points(pm)
        if os.environ.get("GENCOMP_TRACE_PLUGINS", "") not in ("", "0"):
            pm.trace.root.setwriter(sys.stderr.write)
            pm.enable_tracing()
        _pm, _records = pm, records
        return pm


def hook() -> Any:
    """The hook relay: ``hook().gencomp_<name>(**kwargs)`` calls every implementation."""
    return get_plugin_manager().hook


def plugin_records() -> list[PluginRecord]:
    """What discovery and registration did with each entry point, plus plugins registered in-process.

    Builds the registry first, so that a plugin whose registration hook raises shows as ``failed``
    and a name two plugins registered shows in both records' ``conflicts``.
    """
    pm = get_plugin_manager()
    registry()
    with _lock:
        records = list(_records)
        known = {r.name for r in records}
        for name, plugin in pm.list_name_plugin():
            if name not in known and name != CORE_PLUGIN and plugin is not None:
                records.append(
                    PluginRecord(
                        name, None, None, getattr(plugin, "__name__", repr(plugin)), hooks=_hooks_of(pm, plugin)
                    )
                )
        return records


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register an in-process plugin (a module or object with hook implementations); returns its name."""
    pm = get_plugin_manager()
    with _lock:
        registered = pm.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked or already registered")
        unknown = _unknown_hooks(pm, plugin)
        if unknown:
            pm.unregister(plugin)
            raise PluginLoadError(f"plugin {registered!r} implements unknown hooks {', '.join(unknown)}")
        _invalidate()
        return registered


def unregister_plugin(plugin: object | None = None, name: str | None = None) -> None:
    """Unregister a plugin registered with :func:`register_plugin`."""
    pm = get_plugin_manager()
    with _lock:
        pm.unregister(plugin=plugin, name=name)
        _invalidate()


def _invalidate() -> None:
    global _registry
    _registry = None


def reset() -> None:
    """Forget the plugin manager and registries; the next use rediscovers plugins."""
    global _pm, _records, _registry
    with _lock:
        _pm, _records, _registry = None, [], None


def _record_for(plugin_name: str) -> PluginRecord | None:
    return next((r for r in _records if r.name == plugin_name), None)


def _collect(hook_name: str, make_argument: Callable[[str], Any], argument: str = "register") -> None:
    """Call a registration hook plugin by plugin, so that one failing plugin is recorded as failed, not fatal.

    A plugin whose hook raises is marked ``failed`` (``GENCOMP_STRICT_PLUGINS=1``: the error is raised).
    """
    pm = get_plugin_manager()
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(**{a: make_argument(impl.plugin_name) for a in impl.argnames if a == argument})
        except BackendConflictError:
            raise
        except Exception as exc:
            record = _record_for(impl.plugin_name)
            if record is None:
                raise
            _fail(record, f"{hook_name} raised {type(exc).__name__}: {exc}", exc)


def register_commands(subparsers: Any) -> None:
    """Let every plugin add CLI subcommands (``gencomp_register_commands``); a plugin that raises is recorded.

    A plugin whose hook raises (or reuses a command name) is marked ``failed`` and the CLI goes on
    without its commands.
    """
    _collect("gencomp_register_commands", lambda _plugin: subparsers, argument="subparsers")


def _names(spec: Any) -> tuple[str, ...]:
    return (spec.name, *getattr(spec, "aliases", ()))


def _add(reg: Registry, table: dict[str, Any], kind: str, spec: Any) -> None:
    """Add ``spec``; a name another plugin registered too disables both registrations (fatal when strict)."""
    names = set(_names(spec))
    clashing = [e for e in table.values() if names.intersection(_names(e))]
    disabled = sorted(n for n in names if (kind, n) in reg.conflicts)
    if not clashing and not disabled:
        table[spec.name] = spec
        return
    shared = sorted(names.intersection(*(_names(e) for e in clashing))) if clashing else disabled
    how_many = "two plugins" if len(clashing) == 1 and not disabled else "more than two plugins"
    message = (
        f"{kind} name {shared[0]!r} is registered by {how_many}: "
        f"{' and '.join(_describe(p) for p in [*(e.plugin for e in clashing), spec.plugin])}; "
        f"these registrations are disabled: uninstall one or disable it with GENCOMP_DISABLE_PLUGINS"
    )
    if _strict():
        raise BackendConflictError(message)
    for entry in [*clashing, spec]:
        name = entry.name
        if table.get(name) is entry:
            del table[name]
        for n in _names(entry):
            reg.conflicts[(kind, n)] = message
        record = _record_for(entry.plugin)
        if record is not None and message not in record.conflicts:
            record.conflicts.append(message)
            if record.status in ("loaded", "unmarked"):
                record.status = "conflict"


def _describe(plugin_name: str) -> str:
    record = _record_for(plugin_name)
    if record is None or record.distribution is None:
        return repr(plugin_name)
    return f"{plugin_name!r} (distribution {record.distribution} {record.version})"


def registry() -> Registry:
    """The registry of backends, models and formatters, built from the registration hooks on first use."""
    global _registry
    with _lock:
        if _registry is not None:
            return _registry
        reg = Registry()

        def backends(plugin: str) -> Callable[..., None]:
            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                aliases: Iterable[str] = (),
                description: str = "",
                default_model: str | None = None,
                check_options: Callable[[dict[str, Any]], None] | None = None,
                free_form_model_ids: bool = False,
            ) -> None:
                _add(
                    reg,
                    reg.backends,
                    "backend",
                    BackendSpec(
                        name,
                        factory,
                        tuple(aliases),
                        description,
                        default_model,
                        plugin,
                        check_options,
                        free_form_model_ids,
                    ),
                )

            return register

        def models(plugin: str) -> Callable[..., None]:
            def register(
                name: str,
                *,
                backend: str,
                resolve: Callable[[], str],
                aliases: Iterable[str] = (),
                description: str = "",
            ) -> None:
                _add(reg, reg.models, "model", ModelSpec(name, backend, resolve, tuple(aliases), description, plugin))

            return register

        def formatters(plugin: str) -> Callable[..., None]:
            def register(name: str, factory: Callable[..., Any], *, description: str = "") -> None:
                _add(reg, reg.formatters, "formatter", FormatterSpec(name, factory, description, plugin))

            return register

        def checks(plugin: str) -> Callable[..., None]:
            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                recognise: Callable[[str], Any] | None = None,
                description: str = "",
            ) -> None:
                from gencomp.checks import BUILTIN_KINDS

                if name in BUILTIN_KINDS:
                    raise ValueError(f"requirement kind {name!r} is built into gencomp.checks; register another name")
                _add(reg, reg.checks, "requirement kind", CheckKindSpec(name, factory, recognise, description, plugin))

            return register

        def strategies(plugin: str) -> Callable[..., None]:
            def register(
                name: str, factory: Callable[..., Any], *, aliases: Iterable[str] = (), description: str = ""
            ) -> None:
                from gencomp.strategies import BUILTIN_STRATEGIES

                spec = StrategySpec(name, factory, tuple(aliases), description, plugin)
                taken = {s.name for s in BUILTIN_STRATEGIES}.intersection(_names(spec))
                if plugin != CORE_PLUGIN and taken:
                    raise ValueError(f"strategy name {sorted(taken)[0]!r} is built into gencomp; register another name")
                _add(reg, reg.strategies, "strategy", spec)

            return register

        _collect("gencomp_register_backends", backends)  # one plugin's failure is recorded, not fatal
        _collect("gencomp_register_models", models)
        _collect("gencomp_register_formatters", formatters)
        _collect("gencomp_register_checks", checks)
        _collect("gencomp_register_strategies", strategies)
        _registry = reg
        return reg
