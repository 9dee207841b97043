"""The aLoRA plugin's error."""

from __future__ import annotations

from gencomp import GencompError

__all__ = ["AloraError"]


class AloraError(GencompError):
    """An aLoRA adapter cannot be loaded or used; the message says why and what to do."""
