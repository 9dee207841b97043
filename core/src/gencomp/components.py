"""The standard components: messages, instructions, requirements, queries and transforms."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gencomp.base import CBlock, Component, Context, ModelOutputThunk, TemplateRepresentation
from gencomp.model_options import ModelOption

if TYPE_CHECKING:
    from gencomp.backend import Backend
    from gencomp.base import GenerateLog

__all__ = [
    "ALoraRequirement",
    "Instruction",
    "LLMaJRequirement",
    "Message",
    "Query",
    "Requirement",
    "ToolMessage",
    "Transform",
    "ValidationResult",
    "as_list",
    "as_requirement",
    "bool_from_text",
    "judge_options",
    "simple_validate",
]

Role = Literal["system", "user", "assistant", "tool"]
_ROLES = ("system", "user", "assistant", "tool")
JUDGE_MAX_NEW_TOKENS = 8
"""How many tokens a model judging a requirement may answer with by default (the verdict is its first word)."""


def _blockify(v: str | CBlock | Component | None) -> CBlock | Component | None:
    return CBlock(v) if isinstance(v, str) else v


class Message:
    """One chat message: a role and its content."""

    def __init__(self, role: Role, content: str, *, images: list[Any] | None = None) -> None:
        if role not in _ROLES:
            raise ValueError(f"unknown message role {role!r}; use one of {', '.join(_ROLES)}")
        self.role = role
        self.content = content
        self.images = images

    def parts(self) -> list[Component | CBlock]:
        return []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(
            obj=self,
            args={"role": self.role, "content": self.content, "images": self.images},
            template_order=["*", "Message"],
        )

    def __repr__(self) -> str:
        return f"Message(role={self.role!r}, content={self.content!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and (other.role, other.content) == (self.role, self.content)
        )

    __hash__ = object.__hash__


class ToolMessage(Message):
    """The output of a tool call, sent back to the model."""

    def __init__(
        self,
        role: Role,
        content: str,
        tool_output: Any,
        name: str,
        args: Mapping[str, Any],
        tool: Any = None,
    ) -> None:
        super().__init__(role, content)
        self.tool_output = tool_output
        self.name = name
        self.args = dict(args)
        self.tool = tool

    def format_for_llm(self) -> TemplateRepresentation:
        rep = super().format_for_llm()
        rep.args.update(name=self.name, args=self.args)
        rep.template_order = ["*", "ToolMessage", "Message"]
        return rep

    def __repr__(self) -> str:
        return f"ToolMessage(name={self.name!r}, content={self.content!r})"


@dataclass
class ValidationResult:
    """A requirement's verdict: pass or fail, with an optional reason, score and the judge's output.

    :attr:`check_path` names what decided it (from ``verdict``): ``"code:<kind>"`` (a
    :mod:`gencomp.checks` kind), ``"alora:<name>"``, ``"llm-as-a-judge"``, or ``None`` for a user's
    ``validation_fn`` that sets no verdict.
    """

    result: bool
    reason: str | None = None
    score: float | None = None
    thunk: ModelOutputThunk | None = None
    verdict: Any = None
    """The :class:`~gencomp.verdicts.CheckVerdict` of the check (set by model paths and code-checked kinds)."""
    stopped_at_token: int | None = None
    """Set when this check failed on a prefix of a streamed answer and stopped its generation there."""
    ran: bool = True
    """``False`` when the check did not run (its answer was stopped early by another check): ``result`` is
    then ``False`` and says nothing about the requirement."""
    enforced: bool | None = None
    """``True`` when the decoder enforced this requirement's grammar (the ``enforce`` strategy; its check still
    ran); ``False`` when the call enforced others but not this one (``enforcement_note`` says why: it is checked
    and repaired instead); ``None`` when the call enforced nothing."""
    enforcement_note: str | None = None
    """Why the requirement was not enforced, or what of its check the grammar leaves to the check."""

    @property
    def check_path(self) -> str | None:
        """What decided this verdict: ``verdict.path`` (``"code:<kind>"``, ``"alora:<name>"``...), else ``None``."""
        path = getattr(self.verdict, "path", None)
        return str(path) if path is not None else None

    @property
    def state(self) -> str:
        """``"decided"`` or ``"uncertain"`` (``verdict.state``); a verdict that states none (code) is decided."""
        return str(getattr(self.verdict, "state", None) or "decided")

    @property
    def uncertain_reason(self) -> str | None:
        """Why the verdict is uncertain (``verdict.uncertain_reason``), else ``None``."""
        reason = getattr(self.verdict, "uncertain_reason", None)
        return str(reason) if reason is not None else None

    def __bool__(self) -> bool:
        return self.result

    def as_bool(self) -> bool:
        """The verdict."""
        return self.result


ValidationFn = Callable[[Context], ValidationResult | bool]
PrefixFn = Callable[[str], "ValidationResult | None"]


def judge_options(model_options: dict[str, Any] | None) -> dict[str, Any]:
    """The options of a model's requirement check: ``model_options`` over ``MAX_NEW_TOKENS=JUDGE_MAX_NEW_TOKENS``."""
    return {ModelOption.MAX_NEW_TOKENS: JUDGE_MAX_NEW_TOKENS, **(model_options or {})}


def bool_from_text(text: str | None) -> bool:
    """Read a yes/no verdict: true when the first word is yes (or ``true``/``pass``)."""
    m = re.search(r"[A-Za-z]+", text or "")
    return m is not None and m.group(0).lower() in {"yes", "y", "true", "pass", "passed", "correct"}


class Requirement:
    """A property the output must have, checked by ``validation_fn`` or by a model.

    ``check_only`` requirements are validated but not shown to the model in the instruction.
    ``prefix_fn`` decides on a prefix of an answer while it streams: it returns a failing
    :class:`ValidationResult` once no continuation can meet the requirement (say, more words than
    allowed), else ``None``; such a failure stops the generation early and goes straight to repair.
    """

    def __init__(
        self,
        description: str | None = None,
        validation_fn: ValidationFn | None = None,
        *,
        check_only: bool = False,
        prefix_fn: PrefixFn | None = None,
    ) -> None:
        if description is None and validation_fn is None:
            raise ValueError("a Requirement needs a description, a validation_fn, or both")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"a Requirement's description is a string, got {type(description).__name__}")
        if description is not None and not description.strip():
            raise ValueError(
                "a Requirement's description is empty: write what the output must satisfy, or give a validation_fn"
            )
        if validation_fn is not None and not callable(validation_fn):
            raise TypeError(f"validation_fn must be callable (ctx -> bool), got {validation_fn!r}")
        self.description = description
        self.validation_fn = validation_fn
        self.check_only = check_only
        self.prefix_fn = prefix_fn

    def parts(self) -> list[Component | CBlock]:
        return []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(
            obj=self,
            args={"description": self.description, "output": None},
            template_order=["*", "Requirement"],
        )

    def validate(
        self,
        backend: Backend,
        ctx: Context,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> ValidationResult:
        """Check the last output in ``ctx``: with ``validation_fn`` when set, else as a batch of one.

        The one path of :func:`gencomp.verdicts.check_requirements`: a plugin's
        ``gencomp_check_requirements``, else the model as a judge (within ``JUDGE_MAX_NEW_TOKENS``
        tokens unless ``model_options`` say otherwise). ``format`` is not supported for checks.
        """
        from gencomp.verdicts import check_requirements

        if format is not None:
            raise ValueError("a requirement check produces a verdict; it does not take format=")
        return check_requirements([self], backend, ctx, model_options=model_options, generate_logs=generate_logs)[0]

    def result_from(self, thunk: ModelOutputThunk) -> ValidationResult:
        """The verdict of a model's answer to this check (:func:`gencomp.verdicts.verdict_of`); ``score``: ``p_yes``."""
        from gencomp.verdicts import verdict_of

        verdict = verdict_of(thunk)
        return ValidationResult(verdict.passed, reason=thunk.value, score=verdict.p_yes, thunk=thunk, verdict=verdict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class LLMaJRequirement(Requirement):
    """A requirement that is always judged by prompting the model, never by an adapter."""


class ALoraRequirement(Requirement):
    """A requirement checked by an aLoRA adapter: ``alora`` names it (``None`` means ``"constraint"``)."""

    def __init__(self, description: str, alora: str | None = None) -> None:
        super().__init__(description)
        self.alora = alora


def simple_validate(fn: Callable[[str], bool | tuple[bool, str]]) -> ValidationFn:
    """Turn a check of the last output's text into a ``validation_fn``.

    ``fn`` returns a bool, or a ``(bool, reason)`` pair.
    """

    def validate(ctx: Context) -> ValidationResult:
        last = ctx.last_output()
        if last is None or last.value is None:
            return ValidationResult(False, reason="there is no output to validate")
        verdict = fn(last.value)
        if isinstance(verdict, tuple):
            return ValidationResult(bool(verdict[0]), reason=verdict[1])
        return ValidationResult(bool(verdict))

    return validate


def as_requirement(r: str | Requirement) -> Requirement:
    """A requirement from a string or a requirement.

    A string that states a known verifiable kind ("Answer in fewer than 20 words.") becomes that
    kind's code check (:func:`gencomp.checks.recognise`); any other string is checked by a model.
    """
    if isinstance(r, str):
        from gencomp.checks import requirement_from_text

        return requirement_from_text(r)
    if not isinstance(r, Requirement):
        raise TypeError(f"a requirement is a string or a Requirement, got {type(r).__name__}: {r!r}")
    return r


def as_list(value: Any, name: str) -> list[Any]:
    """``value`` as a list: ``None`` is empty, a single string (or item) is one element.

    A string where a list is expected is one item, never a sequence of characters; a mapping is
    refused (``name`` says which argument).
    """
    if value is None:
        return []
    if isinstance(value, (str, CBlock, Requirement)):
        return [value]
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}: {value!r}")
    return list(value)


_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _substitute(text: str, variables: Mapping[str, str] | None) -> str:
    if not variables:
        return text

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise KeyError(f"user_variables has no {name!r} for {{{{{name}}}}} in {text!r}")
        return str(variables[name])

    return _VAR.sub(repl, text)


class Instruction:
    """A task for the model: a description, requirements, examples and grounding context.

    ``user_variables`` fill ``{{name}}`` placeholders in the description, prefix and requirements.
    ``repair`` carries the failures of an earlier attempt, for a retry.
    """

    def __init__(
        self,
        description: str | CBlock | None = None,
        *,
        requirements: list[Requirement | str] | Requirement | str | None = None,
        icl_examples: list[str | CBlock] | str | None = None,
        grounding_context: Mapping[str, str | CBlock | Component] | None = None,
        user_variables: Mapping[str, str] | None = None,
        prefix: str | CBlock | None = None,
        output_prefix: str | CBlock | None = None,
        repair: str | None = None,
    ) -> None:
        sub = (lambda s: _substitute(s, user_variables)) if user_variables else (lambda s: s)
        self.description = _blockify(sub(description) if isinstance(description, str) else description)
        self.requirements = [
            as_requirement(sub(r)) if isinstance(r, str) else as_requirement(r)
            for r in as_list(requirements, "requirements")
        ]
        self.icl_examples = [_blockify(e) for e in as_list(icl_examples, "icl_examples")]
        if grounding_context is not None and not isinstance(grounding_context, Mapping):
            raise TypeError(
                f"grounding_context must be a dict of names to texts, got {type(grounding_context).__name__}"
            )
        self.grounding_context = {k: _blockify(v) for k, v in (grounding_context or {}).items()}
        self.prefix = _blockify(sub(prefix) if isinstance(prefix, str) else prefix)
        self.output_prefix = _blockify(output_prefix)
        self.repair = repair

    def parts(self) -> list[Component | CBlock]:
        items: list[Any] = [self.description, self.prefix, *self.icl_examples]
        items += list(self.grounding_context.values())
        return [p for p in items if p is not None]

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(
            obj=self,
            args={
                "description": self.description,
                "requirements": [r.description for r in self.requirements if r.description and not r.check_only],
                "icl_examples": self.icl_examples,
                "grounding_context": self.grounding_context,
                "prefix": self.prefix,
                "output_prefix": self.output_prefix,
                "repair": self.repair,
            },
            template_order=["*", "Instruction"],
        )

    def with_repair(self, repair: str) -> Instruction:
        """A copy of this instruction carrying ``repair`` feedback."""
        new = object.__new__(Instruction)
        new.__dict__.update(self.__dict__)
        new.repair = repair
        return new

    def __repr__(self) -> str:
        return f"Instruction({str(self.description)!r})"


class Query:
    """A question about an object: ``obj`` is rendered, then ``query`` is asked of it."""

    def __init__(self, obj: Component | CBlock | str, query: str) -> None:
        self.obj = _blockify(obj)
        self.query = query

    def parts(self) -> list[Component | CBlock]:
        return [self.obj] if self.obj is not None else []

    def format_for_llm(self) -> TemplateRepresentation:
        rep = self.obj.format_for_llm() if isinstance(self.obj, Component) else None
        tools = rep.tools if isinstance(rep, TemplateRepresentation) else None
        return TemplateRepresentation(
            obj=self,
            args={"content": self.obj, "query": self.query},
            tools=tools,
            template_order=["*", "Query"],
        )


class Transform:
    """A request to transform an object: ``obj`` is rendered, then ``transformation`` is asked for."""

    def __init__(self, obj: Component | CBlock | str, transformation: str) -> None:
        self.obj = _blockify(obj)
        self.transformation = transformation

    def parts(self) -> list[Component | CBlock]:
        return [self.obj] if self.obj is not None else []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(
            obj=self,
            args={"content": self.obj, "transformation": self.transformation},
            template_order=["*", "Transform"],
        )
