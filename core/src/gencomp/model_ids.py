"""Model identifiers that name one model across several backends."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["ModelIdentifier", "model_id_string"]


@dataclass(frozen=True)
class ModelIdentifier:
    """One model's names in each backend's namespace; the first non-empty one is its id."""

    hf_model_name: str | None = None
    ollama_name: str | None = None
    watsonx_name: str | None = None
    mlx_name: str | None = None

    def first_name(self) -> str:
        """The first non-empty name, in field order."""
        for f in fields(self):
            name = getattr(self, f.name)
            if name:
                return str(name)
        raise ValueError("ModelIdentifier has no name set; give at least hf_model_name")

    def __str__(self) -> str:
        return self.first_name()


def model_id_string(model_id: str | ModelIdentifier) -> str:
    """The string form of a model id; for a ``ModelIdentifier`` its first non-empty name."""
    return model_id.first_name() if isinstance(model_id, ModelIdentifier) else str(model_id)
