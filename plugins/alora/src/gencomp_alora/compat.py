"""Calls into PEFT without the deprecation warnings PEFT itself triggers in transformers."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

__all__ = ["quiet_peft"]


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence transformers' ``is_gradient_checkpointing`` FutureWarning, raised by PEFT's wrapping code.

    PEFT (0.21) reads the deprecated attribute whenever it wraps a model; the warning is about PEFT's
    code, not the caller's, and says nothing a gencomp user can act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
