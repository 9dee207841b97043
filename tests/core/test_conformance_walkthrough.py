"""A backend written only from CONTRIBUTING's "Write a backend" walkthrough passes the conformance kit."""

from __future__ import annotations

from typing import Any

from gencomp import Backend, Generation, GenerationRequest, ModelOption
from gencomp.testing import BackendConformance


class Client:
    """Stands in for a model client: deterministic completions of a text or of chat messages."""

    def complete(self, prompt: str | list[dict[str, Any]], max_tokens: int | None = None, **_: Any) -> str:
        text = prompt if isinstance(prompt, str) else " ".join(m["content"] for m in prompt)
        if "as JSON" in text:
            return '{"name": "Lyon", "population": 520000}'
        words = f"You said: {text}".split()
        return " ".join(words[:max_tokens] if max_tokens else words)


def connect(model_id: str) -> Client:
    return Client()


class MyBackend(Backend):  # as in CONTRIBUTING.md
    option_map = {"max_tokens": ModelOption.MAX_NEW_TOKENS}
    generate_keys = frozenset({"max_tokens", "temperature"})

    def __init__(self, model_id: str, **kwargs: Any) -> None:
        self.client = connect(model_id)
        super().__init__(model_id, **kwargs)

    def generate(self, request: GenerationRequest) -> Generation:
        text = self.client.complete(request.messages or request.prompt or "", **request.options.generate)
        return Generation(text)


class TestWalkthroughBackend(BackendConformance):
    def make_backend(self, **kwargs: Any) -> MyBackend:
        return MyBackend("my-model", **kwargs)
