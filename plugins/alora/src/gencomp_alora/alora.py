"""``HFAlora``: an activated LoRA adapter (PEFT's native aLoRA) attached to a ``LocalHFBackend``."""

from __future__ import annotations

from typing import Any

from gencomp_alora.compat import quiet_peft
from gencomp_alora.errors import AloraError
from gencomp_alora.prompt import find_last, text_ids

__all__ = ["HFAlora"]


class HFAlora:
    """ALoras that work with the local huggingface backend.

    ``name`` is the label the backend knows the adapter by (``"constraint"`` checks requirements);
    ``path_or_model_id`` is a local folder or a model id of a PEFT adapter saved with
    ``LoraConfig(alora_invocation_tokens=...)``; ``generation_prompt`` is the string placed between
    the checked conversation and the adapter's output, given by whoever trained the adapter: its
    tokens must contain the adapter's invocation tokens. ``yes_text`` / ``no_text`` are the
    adapter's two answers (one token each); the verdict compares their logits.
    """

    def __init__(
        self,
        name: str,
        path_or_model_id: str,
        generation_prompt: str,
        backend: Any,
        *,
        yes_text: str = "Y",
        no_text: str = "N",
    ) -> None:
        for label, value in (("name", name), ("path_or_model_id", path_or_model_id)):
            if not isinstance(value, str) or not value:
                raise AloraError(f"HFAlora {label} must be a non-empty string, got {value!r}")
        if not isinstance(generation_prompt, str) or not generation_prompt:
            raise AloraError(
                "HFAlora generation_prompt must be the non-empty string that invokes the adapter "
                f"(it contains the adapter's invocation tokens), got {generation_prompt!r}"
            )
        if yes_text == no_text:
            raise AloraError(f"yes_text and no_text must differ, both are {yes_text!r}")
        self.name = name
        self.path_or_model_id = str(path_or_model_id)
        self.generation_prompt = generation_prompt
        self.backend = backend
        self.yes_text = yes_text
        self.no_text = no_text
        self.invocation_tokens: list[int] = []
        self.generation_prompt_ids: list[int] = []
        self.yes_id = -1
        self.no_id = -1

    def __repr__(self) -> str:
        return f"HFAlora(name={self.name!r}, path_or_model_id={self.path_or_model_id!r})"

    def _single_token(self, tokenizer: Any, text: str, label: str) -> int:
        ids = text_ids(tokenizer, text)
        if len(ids) != 1:
            raise AloraError(
                f"aLoRA {self.name!r}: {label}={text!r} is {len(ids)} tokens {ids} for this tokenizer; "
                "the verdict compares two single tokens, pass a yes_text/no_text that is one token each"
            )
        return ids[0]

    def load_into(self, backend: Any) -> None:
        """Load the adapter into ``backend``'s PEFT model (creating it for the first adapter).

        Raises :class:`AloraError` when the adapter is not an aLoRA or when the tokens of
        ``generation_prompt`` do not contain its invocation tokens.
        """
        from peft import PeftConfig, PeftModel

        try:
            config = PeftConfig.from_pretrained(self.path_or_model_id)
        except Exception as exc:
            raise AloraError(
                f"cannot read an adapter config from {self.path_or_model_id!r} ({type(exc).__name__}: {exc}); "
                "give the folder (or model id) of a PEFT adapter saved with save_pretrained"
            ) from exc
        invocation = getattr(config, "alora_invocation_tokens", None)
        if not invocation:
            raise AloraError(
                f"{self.path_or_model_id!r} is not an aLoRA adapter: its adapter_config.json has no "
                "alora_invocation_tokens (train it with peft.LoraConfig(alora_invocation_tokens=...))"
            )
        from gencomp_alora.registry import registry

        adapters = registry(backend)
        tokenizer = backend.tokenizer
        prompt_ids = text_ids(tokenizer, self.generation_prompt)
        if find_last(prompt_ids, invocation) < 0:
            raise AloraError(
                f"aLoRA {self.name!r}: the generation prompt {self.generation_prompt!r} tokenizes to {prompt_ids}, "
                f"which does not contain the adapter's invocation tokens {list(invocation)} "
                f"({tokenizer.decode(list(invocation))!r}); the adapter would never activate. Pass the generation "
                "prompt the adapter was trained with"
            )
        yes_id = self._single_token(tokenizer, self.yes_text, "yes_text")
        no_id = self._single_token(tokenizer, self.no_text, "no_text")
        with backend.lock, quiet_peft():
            model = adapters.model
            try:
                if model is None:
                    model = PeftModel.from_pretrained(
                        backend.model, self.path_or_model_id, adapter_name=self.name, is_trainable=False
                    )
                    model.eval()
                    adapters.model = model
                else:
                    model.load_adapter(self.path_or_model_id, adapter_name=self.name, is_trainable=False)
            except AloraError:
                raise
            except Exception as exc:
                raise AloraError(
                    f"cannot load aLoRA {self.name!r} from {self.path_or_model_id!r}: {type(exc).__name__}: {exc}"
                ) from exc
        self.backend = backend
        self.invocation_tokens = [int(t) for t in invocation]
        self.generation_prompt_ids = prompt_ids
        self.yes_id, self.no_id = yes_id, no_id
