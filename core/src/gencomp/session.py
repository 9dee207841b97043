"""Sessions: a backend and a context, with instruct, chat, validate and act."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gencomp.backend import Backend
from gencomp.base import CBlock, Component, Context, GenerateLog, LinearContext, ModelOutputThunk
from gencomp.components import Instruction, Message, Requirement, ValidationResult, as_requirement
from gencomp.verdicts import check_requirements

__all__ = ["SamplingResult", "Session", "start_session", "validate_requirements"]


@dataclass
class SamplingResult:
    """Every attempt of one call: outputs, their validations, and whether the last one passed."""

    result: ModelOutputThunk
    success: bool
    sample_generations: list[ModelOutputThunk] = field(default_factory=list)
    sample_validations: list[list[tuple[Requirement, ValidationResult]]] = field(default_factory=list)


def repair_feedback(failed: list[Requirement]) -> str:
    """The note a retry carries: which requirements the previous answer failed."""
    lines = "\n".join(f"- {r.description}" for r in failed if r.description)
    return f"A previous answer failed these requirements:\n{lines}\nWrite a new answer that meets all of them."


def validate_requirements(
    requirements: Sequence[Requirement],
    backend: Backend,
    ctx: Context,
    *,
    model_options: dict[str, Any] | None = None,
    generate_logs: list[GenerateLog] | None = None,
) -> list[ValidationResult]:
    """Validate each requirement against the last output in ``ctx`` (:func:`gencomp.verdicts.check_requirements`)."""
    return check_requirements(requirements, backend, ctx, model_options=model_options, generate_logs=generate_logs)


class Session:
    """A backend and a context; each call appends its turn to the context.

    ``last_logs`` holds the ``GenerateLog``s of the most recent call, requirement checks included.
    """

    def __init__(self, backend: Backend, ctx: Context | None = None) -> None:
        self.backend = backend
        self.ctx = ctx if ctx is not None else LinearContext()
        self.last_logs: list[GenerateLog] = []

    def act(
        self,
        action: Component | CBlock,
        *,
        requirements: list[Requirement | str] | None = None,
        loop_budget: int = 1,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Run ``action``, validate the output against ``requirements``, retry up to ``loop_budget`` times.

        A retry of an :class:`Instruction` carries the failed requirements as repair feedback. The
        turn that is kept (the first that passes, else the last) is appended to the context.
        Returns the output, or with ``return_sampling_results`` every attempt and its validations.
        """
        if loop_budget < 1:
            raise ValueError(f"loop_budget must be at least 1, got {loop_budget}")
        reqs = [as_requirement(r) for r in requirements or []]
        self.last_logs = []
        generations: list[ModelOutputThunk] = []
        validations: list[list[tuple[Requirement, ValidationResult]]] = []
        current = action
        for attempt in range(loop_budget):
            if attempt and isinstance(action, Instruction):
                failed = [r for r, v in validations[-1] if not v.result]
                current = action.with_repair(repair_feedback(failed))
            out = self.backend.generate_from_context(
                current,
                self.ctx,
                format=format,
                model_options=model_options,
                generate_logs=self.last_logs,
                tool_calls=tool_calls,
            )
            checked = self.ctx.copy()
            checked.insert_turn(current, out)
            generations.append(out)
            verdicts = validate_requirements(reqs, self.backend, checked, generate_logs=self.last_logs)
            validations.append(list(zip(reqs, verdicts, strict=True)))
            if all(v.result for _, v in validations[-1]):
                break
        success = all(v.result for _, v in validations[-1])
        sampling = SamplingResult(generations[-1], success, generations, validations)
        self.ctx.insert_turn(current, sampling.result)
        return sampling if return_sampling_results else sampling.result

    def instruct(
        self,
        description: str,
        *,
        requirements: list[Requirement | str] | None = None,
        icl_examples: list[str | CBlock] | None = None,
        grounding_context: dict[str, str | CBlock | Component] | None = None,
        user_variables: dict[str, str] | None = None,
        prefix: str | CBlock | None = None,
        output_prefix: str | CBlock | None = None,
        loop_budget: int = 2,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
        return_sampling_results: bool = False,
    ) -> ModelOutputThunk | SamplingResult:
        """Ask the model to do ``description``; requirements are shown to it and validated after.

        ``loop_budget`` is the number of attempts (the first plus retries).
        """
        instruction = Instruction(
            description,
            requirements=requirements,
            icl_examples=icl_examples,
            grounding_context=grounding_context,
            user_variables=user_variables,
            prefix=prefix,
            output_prefix=output_prefix,
        )
        return self.act(
            instruction,
            requirements=list(instruction.requirements),
            loop_budget=loop_budget,
            format=format,
            model_options=model_options,
            tool_calls=tool_calls,
            return_sampling_results=return_sampling_results,
        )

    def chat(
        self,
        content: str,
        role: str = "user",
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
    ) -> Message:
        """Send a message and return the model's reply as an assistant message."""
        out = self.act(
            Message(role, content),  # type: ignore[arg-type]
            format=format,
            model_options=model_options,
            tool_calls=tool_calls,
        )
        assert isinstance(out, ModelOutputThunk)
        parsed = out.parsed_repr
        return parsed if isinstance(parsed, Message) else Message("assistant", out.value or "")

    def validate(
        self,
        requirements: list[Requirement | str] | Requirement | str,
        *,
        output: ModelOutputThunk | CBlock | str | None = None,
    ) -> list[ValidationResult]:
        """Validate the context's last output (or ``output``, appended to a copy of the context)."""
        reqs = requirements if isinstance(requirements, list) else [requirements]
        ctx = self.ctx
        if output is not None:
            ctx = ctx.copy()
            ctx.insert(output if isinstance(output, ModelOutputThunk) else ModelOutputThunk(str(output)))
        self.last_logs = []
        return validate_requirements([as_requirement(r) for r in reqs], self.backend, ctx, generate_logs=self.last_logs)

    def reset(self) -> None:
        """Forget the conversation."""
        self.ctx.reset()
        self.last_logs = []


def start_session(
    backend: str | None = None,
    model_id: str | None = None,
    *,
    ctx: Context | None = None,
    model_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Session:
    """Start a session on a registered backend chosen at runtime.

    The backend and model come from the arguments, else ``GENCOMP_BACKEND`` / ``GENCOMP_MODEL``,
    else ``gencomp.toml`` (see :func:`gencomp.selection.config_paths`), else the default backend
    ``hf`` with its default model. A model from a later source is used only when that source names
    no backend or the chosen one. ``kwargs`` (over the config's ``backend_options``) go to the
    backend's factory; ``model_options`` are merged over the config's.
    """
    from gencomp.selection import load_config, make_backend  # pydantic loads with the first session, not at import

    config, _ = load_config()
    sources = [
        (backend, model_id),
        (os.environ.get("GENCOMP_BACKEND") or None, os.environ.get("GENCOMP_MODEL") or None),
        (config.backend, config.model_id),
    ]
    chosen = next((b for b, _ in sources if b), None)
    chosen_model = next((m for b, m in sources if m and (b is None or b == chosen)), None)
    options = {**config.model_options, **(model_options or {})}
    factory_kwargs = {**config.backend_options, **kwargs}
    if options:
        factory_kwargs["model_options"] = options
    return Session(make_backend(chosen, chosen_model, **factory_kwargs), ctx)
