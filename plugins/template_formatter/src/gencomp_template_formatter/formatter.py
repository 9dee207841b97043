"""The jinja2 template formatter: components to prompts through ``prompts/<model family>/<Name>.jinja2`` files.

Lookup
------
For each name in a component's ``template_order`` (``"*"`` is the class name of ``obj``; ``None``
means ``["*"]``), these roots are searched in order, and the first root holding a match wins:

1. the formatter's ``template_path`` (when set);
2. the component's own package: ``<package>/templates`` (the package is the top-level package of
   ``type(obj).__module__``);
3. the folders other plugins return from the ``gencomp_template_dirs`` hook, in hook call order;
4. this plugin's own ``templates`` folder.

Within a root the folder tree is walked from the root. A folder is entered when it is called
``prompts`` or ``default`` (any case), or when its simplified name (:func:`_simplify_model_string`)
is non-empty and contained in the simplified model id. Among the files named ``<Name>.jinja2``
(case-insensitive) that the walk reaches, the winner is the one with:

1. the most model folders on its path (folders other than ``prompts/`` and ``default/``): the
   deepest match wins;
2. then a path without a ``default/`` folder (``default/`` is the fallback);
3. then, comparing the model folders from the top down, the longer simplified folder name (the
   more specific match), then the alphabetically smaller one;
4. then the alphabetically smaller relative path.

So for ``ibm-granite/granite-3.3-8b-instruct`` the tree ``prompts/default/X``,
``prompts/granite/X``, ``prompts/granite/granite3.3/X`` resolves to ``prompts/granite/granite3.3/X``,
and for ``fake-model`` to ``prompts/default/X``.

Caching
-------
With ``use_template_cache`` a resolved and compiled template is kept under the key (class of
``obj``, ``template_order``, model id, ``template_path``, the ``gencomp_template_dirs``
implementations registered); a cache hit touches neither the file system nor the hook. Template
files are assumed not to change while cached: with ``use_template_cache=False`` every print walks
the folders again and jinja re-reads files whose modification time changed. Inline templates are
compiled once per distinct source.

Sandboxing
----------
Every template, inline or from a file, renders in a ``jinja2.sandbox.ImmutableSandboxedEnvironment``:
a template cannot read private or dunder attributes (``__class__``, ``__mro__``, ...) nor mutate
the objects it is given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.runtime import LoopContext

from gencomp import plugins
from gencomp.base import CBlock, Component, Context, ModelOutputThunk, TemplateRepresentation
from gencomp.components import Message
from gencomp.errors import GencompError, TemplateNotFoundError
from gencomp.formatter import Formatter
from gencomp.model_ids import ModelIdentifier, model_id_string

__all__ = [
    "TEMPLATE_SUFFIX",
    "LookupResult",
    "TemplateError",
    "TemplateFormatter",
    "TemplateRoot",
    "TemplateSyntaxError",
    "_get_package_name",
    "_simplify_model_string",
]

TEMPLATE_SUFFIX = ".jinja2"
"""The file extension of template files: a component ``Foo`` is rendered with ``Foo.jinja2``."""

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates"
"""This plugin's own templates (a folder holding ``prompts/``), searched last."""

_ALWAYS_ENTERED = frozenset({"prompts", "default"})
_MAX_DEPTH = 32
_CACHE_SIZE = 512
_NOT_ALNUM = re.compile(r"[\W_]+")


class TemplateError(GencompError):
    """A template could not be compiled or rendered."""


class TemplateSyntaxError(TemplateError, ValueError):
    """A template has a jinja syntax error; the message names the file and line."""


def _simplify_model_string(input: str) -> str:
    """Removes special chars from the given string and lower cases it to simplify matching.

    Everything but letters and digits is removed: ``"Granite-3.3_8B"`` becomes ``"granite338b"``.
    """
    return _NOT_ALNUM.sub("", input.lower())


def _get_package_name(module: str) -> str:
    """Given a module, attempts to get the package and verifies it exists.

    Returns the top-level package of ``module`` when it is imported or importable, else ``""``.
    """
    package = module.split(".")[0]
    if not package:
        return ""
    if package in sys.modules:
        return package
    try:
        return package if importlib.util.find_spec(package) is not None else ""
    except (ImportError, ValueError):
        return ""


def _package_dirs(package: str) -> list[Path]:
    """The folders of an imported or importable top-level package (several for a namespace package)."""
    mod = sys.modules.get(package)
    locations: Iterable[str] | None = None
    if mod is not None:
        locations = getattr(mod, "__path__", None)
        file = getattr(mod, "__file__", None)
        if locations is None and file:
            locations = [os.path.dirname(file)]
    else:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            locations = spec.submodule_search_locations or (
                [os.path.dirname(spec.origin)] if spec.origin and spec.has_location else None
            )
    return [Path(p) for p in locations or []]


@dataclass(frozen=True)
class TemplateRoot:
    """A folder searched for templates, and why: ``template_path``, ``package <name>``, ``plugin <name>``
    or ``defaults``."""

    source: str
    path: Path


@dataclass
class LookupResult:
    """The outcome of a template lookup: the file found (or ``None``), the names tried, every folder entered."""

    names: list[str]
    model_id: str
    roots: list[TemplateRoot]
    path: Path | None = None
    root: TemplateRoot | None = None
    name: str | None = None
    searched: list[tuple[TemplateRoot, Path]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "template": None if self.path is None else str(self.path),
            "name": self.name,
            "root": None if self.root is None else {"source": self.root.source, "path": str(self.root.path)},
            "names_tried": self.names,
            "model_id": self.model_id,
            "simplified_model_id": _simplify_model_string(self.model_id),
            "roots": [{"source": r.source, "path": str(r.path), "exists": r.path.is_dir()} for r in self.roots],
            "searched": [{"source": r.source, "folder": str(f)} for r, f in self.searched],
        }

    def describe_search(self) -> str:
        """Every root and the folders entered in it, one per line."""
        lines = []
        for root in self.roots:
            entered = [f for r, f in self.searched if r == root]
            if not entered:
                lines.append(f"  {root.path}  [{root.source}; missing]")
                continue
            lines.append(f"  {root.path}  [{root.source}]")
            lines.extend(f"    {f}" for f in entered[1:])
        return "\n".join(lines)


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store ``value``, first dropping the oldest entry when the cache is full."""
    if len(cache) >= _CACHE_SIZE:
        # another thread may have emptied or changed the cache meanwhile
        with contextlib.suppress(StopIteration, RuntimeError, KeyError):
            del cache[next(iter(cache))]
    cache[key] = value


class _PromptSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a fast path for ``loop.*`` (jinja's own loop object is always safe to read)."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) is LoopContext:
            return not attr.startswith("_")
        return super().is_safe_attribute(obj, attr, value)


class _PathLoader(jinja2.BaseLoader):
    """Loads templates by absolute POSIX path; reloads a file when its modification time changes."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = Path(template)
        try:
            source = path.read_text(encoding="utf-8")
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise jinja2.TemplateNotFound(template) from exc

        def uptodate() -> bool:
            try:
                return path.stat().st_mtime == mtime
            except OSError:
                return False

        return source, str(path), uptodate


def _walk(root: Path, file_name: str, simplified_model_id: str, searched: list[Path]) -> Path | None:
    """The best file called ``file_name`` under ``root`` (see the module docs for the rule), or ``None``.

    Appends every folder entered to ``searched``.
    """
    target = file_name.lower()
    best_key: tuple[Any, ...] | None = None
    best: Path | None = None
    seen: set[Path] = set()
    # stack entries: (folder, model folders on the path as simplified names, inside a default/ folder, depth)
    stack: list[tuple[Path, tuple[str, ...], bool, int]] = [(root, (), False, 0)]
    while stack:
        folder, model_dirs, in_default, depth = stack.pop()
        try:
            real = folder.resolve()
        except OSError:
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        searched.append(folder)
        subdirs: list[tuple[Path, tuple[str, ...], bool, int]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if depth >= _MAX_DEPTH:
                    continue
                lower = entry.name.lower()
                if lower in _ALWAYS_ENTERED:
                    subdirs.append((Path(entry.path), model_dirs, in_default or lower == "default", depth + 1))
                    continue
                simple = _simplify_model_string(entry.name)
                if simple and simple in simplified_model_id:
                    subdirs.append((Path(entry.path), (*model_dirs, simple), in_default, depth + 1))
            elif entry.name.lower() == target:
                path = Path(entry.path)
                key = (
                    -len(model_dirs),
                    in_default,
                    tuple((-len(m), m) for m in model_dirs),
                    path.relative_to(root).as_posix(),
                )
                if best_key is None or key < best_key:
                    best_key, best = key, path
        stack.extend(reversed(subdirs))
    return best


class TemplateFormatter(Formatter):
    """Formatter that uses jinja2 templates.

    ``model_id`` picks the model-family folders of the template tree; ``template_path`` is searched
    before every other folder, even when a less specific match is found there; with
    ``use_template_cache`` a resolved, compiled template is reused for the same class, template
    order, model id and ``template_path`` (see the module docs).
    """

    def __init__(
        self, model_id: str | ModelIdentifier, template_path: str = "", use_template_cache: bool = True
    ) -> None:
        if not isinstance(model_id, str | ModelIdentifier):
            raise TypeError(f"model_id must be a str or ModelIdentifier, got {type(model_id).__name__}")
        self.model_id = model_id
        self._template_path = str(template_path) if template_path else ""
        self._use_template_cache = use_template_cache
        self._template_cache: dict[tuple[Any, ...], jinja2.Template] = {}
        self._inline_cache: dict[str, jinja2.Template] = {}
        self._component_types: dict[type, bool] = {}
        self._hook_dirs: tuple[tuple[Any, ...], list[TemplateRoot]] | None = None
        self._env = _PromptSandbox(
            loader=_PathLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            auto_reload=True,
        )
        self._inline_env = _PromptSandbox(autoescape=False)

    # -- Formatter API ---------------------------------------------------------------------------

    def print(self, c: Component | CBlock) -> str:
        """Uses a jinja2 template to pretty-print components."""
        out = self._stringify(c)
        return out if isinstance(out, str) else str(out)

    def print_context(self, ctx: Context) -> str:
        """Renders a Context for input to a model.

        Only linear contexts that are not chat contexts (``is_chat_context`` is false) render to one
        string: their turns (``ctx.render_for_generation()``) printed and joined by blank lines.
        """
        if not isinstance(ctx, Context):
            raise TypeError(f"print_context needs a gencomp Context, got {type(ctx).__name__}")
        if getattr(ctx, "is_chat_context", True):
            raise GencompError(
                f"print_context renders only non-chat contexts, and this {type(ctx).__name__} is a chat context; "
                "render it with to_chat_messages(ctx.render_for_generation()), or create the context with "
                "is_chat_context=False"
            )
        return "\n\n".join(self.print(c) for c in ctx.render_for_generation())

    def parse(self, source_component: Component | CBlock, result: ModelOutputThunk) -> Any:
        """Parses the output and updates the result's parsed_repr."""
        parsed = self._parse(source_component, result)
        result.parsed_repr = parsed
        return parsed

    def _parse(self, source_component: Component | CBlock, result: ModelOutputThunk) -> Any:
        """Parses the output from a model: an assistant ``Message`` for message sources and tool calls,
        else the output itself."""
        if isinstance(source_component, Message) or result.tool_calls:
            return Message("assistant", result.value or "")
        return result

    # -- rendering -------------------------------------------------------------------------------

    def _is_component(self, c: Any) -> bool:
        t = type(c)
        known = self._component_types.get(t)
        if known is None:
            known = self._component_types[t] = isinstance(c, Component)
        return known

    def _stringify(
        self, c: str | Component | CBlock | Iterable[Any] | Mapping[str, Any] | TemplateRepresentation | None
    ) -> Any:
        """A recursive function that ensures an object is stringified.

        Strings stay, ``CBlock``s give their value and ``None`` gives ``""``. Components (and
        template representations) are rendered through their own templates. Mappings and other
        iterables keep their structure, with each item stringified, so templates can loop over
        them. Numbers and booleans stay as they are (so template conditions work); anything else
        becomes ``str(c)``.
        """
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        if isinstance(c, CBlock):
            v = c.value
            return "" if v is None else v
        if isinstance(c, TemplateRepresentation):
            return self._render(c, None)
        if self._is_component(c):
            rep = c.format_for_llm()  # type: ignore[union-attr]
            if isinstance(rep, str):
                return rep
            return self._render(rep, c)
        if isinstance(c, Mapping):
            return {k: self._stringify(v) for k, v in c.items()}
        if isinstance(c, bool | int | float):
            return c
        if isinstance(c, Iterable) and not isinstance(c, bytes | bytearray):
            return [self._stringify(v) for v in c]
        return str(c)

    def _render(self, rep: TemplateRepresentation, component: Any) -> str:
        if rep.obj is None:
            rep.obj = component
        args = {k: self._stringify(v) for k, v in rep.args.items()}
        template = self._load_template(rep)
        try:
            return template.render(args)
        except jinja2.TemplateError as exc:
            where = template.filename if template.filename not in (None, "<template>") else "its inline template"
            raise TemplateError(
                f"rendering {type(rep.obj).__name__} with {where} failed: {type(exc).__name__}: {exc}"
            ) from exc

    # -- lookup ----------------------------------------------------------------------------------

    def _load_template(self, repr: TemplateRepresentation) -> jinja2.Template:
        """This method makes an attempt at auto-loading a Template for the Component.

        An inline ``repr.template`` is compiled (sandboxed) and used. Otherwise iterates over the
        template order (``"*"`` is the class name of ``repr.obj``; ``None`` means ``["*"]``) and
        stops at the first name found. Each name is looked for in the user's ``template_path``,
        the component's package, the ``gencomp_template_dirs`` folders and this plugin's defaults.

        Raises: TemplateNotFoundError when no name is found anywhere; TemplateSyntaxError when the
        template does not compile.
        """
        if repr.template is not None:
            return self._inline_template(repr)
        order = repr.template_order
        cls = type(repr.obj)
        if self._use_template_cache:
            key = (
                cls,
                tuple(order) if order is not None else None,
                self._get_model_id(),
                self._template_path,
                self._hook_token(),
            )
            cached = self._template_cache.get(key)
            if cached is not None:
                return cached
        result = self._lookup(self._template_names(repr), cls)
        if result.path is None:
            raise TemplateNotFoundError(self._not_found_message(repr, result))
        template = self._compile_file(result.path, cls.__name__)
        if self._use_template_cache:
            _bounded_put(self._template_cache, key, template)
        return template

    def _get_template(self, root_path: str, template_name: str) -> str:
        """Attempts to walk the provided directory structure to find the best matching template.

        Prefers the most exact match (the deepest model folder), falls back to ``prompts/default/``,
        and resolves ties between sibling folders as the module docs describe. Returns the template's
        path relative to ``root_path`` with ``/`` separators, or ``""`` when there is none.
        """
        name = template_name if template_name.lower().endswith(TEMPLATE_SUFFIX) else template_name + TEMPLATE_SUFFIX
        root = Path(root_path)
        found = _walk(root, name, _simplify_model_string(self._get_model_id()), [])
        return "" if found is None else found.relative_to(root).as_posix()

    def _get_model_id(self) -> str:
        """Gets a string representation of the formatter's model id (a ``ModelIdentifier``'s first non-empty
        name; ``""`` when it has none, which selects the default templates)."""
        model_id = self.model_id
        if isinstance(model_id, str):
            return model_id
        try:
            return model_id_string(model_id)
        except ValueError:
            return ""

    def find_template(
        self, names: list[str], component_type: type | None = None, *, package: str | None = None
    ) -> LookupResult:
        """Look template ``names`` up, bypassing the cache, for a component of ``component_type`` (or of
        ``package``); the result tells what was searched."""
        files = [n if n.lower().endswith(TEMPLATE_SUFFIX) else n + TEMPLATE_SUFFIX for n in names]
        return self._lookup(files, component_type, package)

    def template_roots(self, component_type: type | None = None, *, package: str | None = None) -> list[TemplateRoot]:
        """The roots searched, in order, for a component of ``component_type`` (or of ``package``)."""
        roots: list[TemplateRoot] = []
        if self._template_path:
            roots.append(TemplateRoot("template_path", Path(self._template_path)))
        if component_type is not None:
            package = _get_package_name(component_type.__module__)
        elif package:
            package = _get_package_name(package)
        if package:
            roots.extend(TemplateRoot(f"package {package}", p / "templates") for p in _package_dirs(package))
        roots.extend(self._hook_roots())
        roots.append(TemplateRoot("defaults", DEFAULT_TEMPLATES))
        unique: list[TemplateRoot] = []
        seen: set[Path] = set()
        for r in roots:
            real = r.path.resolve()
            if real not in seen:
                seen.add(real)
                unique.append(r)
        return unique

    def _template_names(self, rep: TemplateRepresentation) -> list[str]:
        names = []
        for n in rep.template_order or ["*"]:
            n = type(rep.obj).__name__ if n == "*" else n
            names.append(n if n.lower().endswith(TEMPLATE_SUFFIX) else n + TEMPLATE_SUFFIX)
        return names

    def _lookup(self, names: list[str], component_type: type | None, package: str | None = None) -> LookupResult:
        model_id = self._get_model_id()
        simple = _simplify_model_string(model_id)
        roots = self.template_roots(component_type, package=package)
        result = LookupResult(names=names, model_id=model_id, roots=roots)
        walked: set[TemplateRoot] = set()
        for name in names:
            for root in roots:
                folders: list[Path] = []
                found = _walk(root.path, name, simple, folders)
                if root not in walked:
                    walked.add(root)
                    result.searched.extend((root, f) for f in folders)
                if found is not None:
                    result.path, result.root, result.name = found, root, name
                    return result
        return result

    def _hook_token(self) -> tuple[Any, ...]:
        caller = plugins.hook().gencomp_template_dirs
        return tuple(caller.get_hookimpls())

    def _hook_roots(self) -> list[TemplateRoot]:
        """The folders of ``gencomp_template_dirs``, asked again only when its implementations change."""
        token = self._hook_token()
        if self._hook_dirs is not None and self._hook_dirs[0] == token:
            return self._hook_dirs[1]
        roots: list[TemplateRoot] = []
        for impl in reversed(token):
            try:
                answer = impl.function()
            except Exception as exc:
                raise GencompError(
                    f"plugin {impl.plugin_name!r} failed in gencomp_template_dirs: {type(exc).__name__}: {exc}"
                ) from exc
            if answer is None:
                continue
            for d in [answer] if isinstance(answer, str | os.PathLike) else answer:
                roots.append(TemplateRoot(f"plugin {impl.plugin_name}", Path(d)))
        self._hook_dirs = (token, roots)
        return roots

    def _compile_file(self, path: Path, component: str) -> jinja2.Template:
        try:
            return self._env.get_template(path.as_posix())
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntaxError(
                f"{exc.filename or path}:{exc.lineno}: jinja syntax error in the template for {component}: "
                f"{exc.message}"
            ) from exc

    def _inline_template(self, rep: TemplateRepresentation) -> jinja2.Template:
        source = rep.template
        assert source is not None
        template = self._inline_cache.get(source)
        if template is None:
            try:
                template = self._inline_env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateSyntaxError(
                    f"<inline template of {type(rep.obj).__name__}>:{exc.lineno}: jinja syntax error: {exc.message}"
                ) from exc
            _bounded_put(self._inline_cache, source, template)
        return template

    def _not_found_message(self, rep: TemplateRepresentation, result: LookupResult) -> str:
        cls = type(rep.obj)
        return (
            f"no template found for component {cls.__name__} (from {cls.__module__}) "
            f"for model id {result.model_id!r}: tried {', '.join(result.names)} in these folders, in order:\n"
            f"{result.describe_search()}\n"
            f"Add {result.names[0]} to a prompts/default/ folder under one of these roots (or pass "
            f"template_path=...), or give the component an inline template."
        )
