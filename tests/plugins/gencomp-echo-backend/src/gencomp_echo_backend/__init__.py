"""An example third-party backend: answers from a script, or echoes the prompt it was given.

It is a complete plugin distribution: a ``pyproject.toml`` with an entry point in the ``gencomp``
group and this module implementing ``gencomp_register_backends``. The backend is the shortest
correct one: it implements ``generate`` (and the optional ``generate_raw``); ``gencomp.Backend``
runs every hook around them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gencomp import Backend, Generation, GenerationRequest, ModelOption, RawRequest, hookimpl

Script = Iterable[str] | Callable[[str], str] | None


class EchoBackend(Backend):
    """Replies with the next line of ``script`` (or ``script(prompt)``); with no script, echoes the prompt.

    Options: ``seed`` (ignored) and ``max_new_tokens`` (the reply is cut to that many words). With
    ``format=`` the reply must parse as that pydantic class (pydantic's ``ValidationError`` if not).
    """

    option_map = {"seed": ModelOption.SEED, "max_new_tokens": ModelOption.MAX_NEW_TOKENS}
    generate_keys = frozenset({"max_new_tokens"})

    def __init__(self, model_id: str | None = None, *, script: Script = None, **kwargs: Any) -> None:
        super().__init__(model_id or "echo", **kwargs)
        self._script = script if callable(script) or script is None else iter(list(script))
        self.prompts: list[str] = []

    def _reply(self, prompt: str, options: Any) -> str:
        self.prompts.append(prompt)
        if self._script is None:
            text = prompt
        elif callable(self._script):
            text = self._script(prompt)
        else:
            text = next(self._script)
        limit = options.generate.get("max_new_tokens")
        return text if limit is None else " ".join(text.split(" ")[:limit])

    def generate(self, request: GenerationRequest) -> Generation:
        if request.messages is None:
            prompt = request.prompt or ""
        else:
            prompt = "\n".join(m["content"] for m in request.messages)
        text = self._reply(prompt, request.options)
        if request.format is not None:  # a scripted reply cannot be steered: it must already parse
            request.format.model_validate_json(text)
        return Generation(text)

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        return [Generation(self._reply(p, request.options)) for p in request.prompts]


@hookimpl
def gencomp_register_backends(register):
    register("echo", EchoBackend, aliases=["parrot"], description="scripted replies, for tests and examples")
