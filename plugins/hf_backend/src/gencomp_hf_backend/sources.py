"""Checks of what a model id names, made before anything loads, each failing with one clear message."""

from __future__ import annotations

import os
from pathlib import Path

from gencomp import ConfigError

__all__ = ["TOKENIZER_FILES", "check_model_source"]

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "vocab.txt", "tokenizer.jsonl")
"""A model folder needs at least one of these for its tokenizer."""

_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _offline() -> str | None:
    for name in _OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            return name
    return None


def check_model_source(model: str) -> None:
    """Raise :class:`~gencomp.ConfigError` when ``model`` (a folder or a hub id) cannot load.

    A folder must hold ``config.json`` and tokenizer files; a hub id must be well-formed and, when
    the hub is offline (``HF_HUB_OFFLINE=1``), already in the local Hugging Face cache.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{str(path)!r} is not a model folder: it has no config.json. Give a folder saved with "
                "save_pretrained (config.json, weights, tokenizer files), or a hub id."
            )
        if not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise ConfigError(
                f"model folder {str(path)!r} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                "save the tokenizer into it too (tokenizer.save_pretrained(folder))."
            )
        return
    if path.exists():
        raise ConfigError(f"{str(path)!r} is a file; give the model's folder (or a hub id)")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        raise ConfigError(
            f"model {model!r}: no such folder ({path.absolute()}), and not a hub id (org/name). "
            "Give an existing model folder, a hub id or a registered model name (`gencomp backends`)."
        ) from None
    variable = _offline()
    if variable is not None:
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise ConfigError(
                f"model {model!r} is not in the local Hugging Face cache, and downloads are off ({variable}=1). "
                f"Download it once with network access (unset {variable}), or give a local model folder."
            )
