"""An example third-party backend: answers from a script, or echoes the prompt it was given.

It is a complete plugin distribution: a ``pyproject.toml`` with an entry point in the ``gencomp``
group and this module implementing ``gencomp_register_backends``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gencomp import Backend, CBlock, Component, Context, GenerateLog, ModelOutputThunk, hookimpl
from gencomp.base import plain_text

Script = Iterable[str] | Callable[[str], str] | None


class EchoBackend(Backend):
    """Replies with the next line of ``script`` (or ``script(prompt)``); with no script, echoes the prompt."""

    def __init__(self, model_id: str | None = None, *, script: Script = None, model_options: dict | None = None):
        super().__init__(model_id or "echo", model_options)
        self._script = script if callable(script) or script is None else iter(list(script))
        self.prompts: list[str] = []

    def _reply(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self._script is None:
            return prompt
        if callable(self._script):
            return self._script(prompt)
        return next(self._script)

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
        turns = [*ctx.render_for_generation(), action]
        prompt = "\n".join(plain_text(t) for t in turns)
        out = ModelOutputThunk(self._reply(prompt))
        if generate_logs is not None:
            generate_logs.append(GenerateLog(prompt=prompt, backend="echo", action=action, result=out))
        return out

    def _generate_from_raw(self, actions, format=None, model_options=None, generate_logs=None):
        outs = [ModelOutputThunk(self._reply(plain_text(a))) for a in actions]
        if generate_logs is not None:
            generate_logs.extend(
                GenerateLog(prompt=plain_text(a), backend="echo", action=a, result=o)
                for a, o in zip(actions, outs, strict=True)
            )
        return outs


@hookimpl
def gencomp_register_backends(register):
    register("echo", EchoBackend, aliases=["parrot"], description="scripted replies, for tests and examples")
