"""How many CPU threads torch uses for one operation (the backend's ``threads`` setting)."""

from __future__ import annotations

import os

from gencomp import ConfigError

__all__ = ["DEFAULT_THREADS", "THREADS_VARIABLE", "apply_threads", "resolve_threads"]

THREADS_VARIABLE = "GENCOMP_THREADS"
DEFAULT_THREADS = 1
"""Intra-op threads when nothing sets them: one thread does not collapse when another process wants
the CPU (see ``benchmarks/RESULTS.md``, section "Threads")."""


def resolve_threads(threads: int | None) -> int:
    """The thread count to use: ``threads``, else ``$GENCOMP_THREADS``, else :data:`DEFAULT_THREADS`.

    ``0`` means "leave torch's own setting alone".
    """
    source = "threads="
    value: object = threads
    if threads is None:
        raw = os.environ.get(THREADS_VARIABLE, "").strip()
        if not raw:
            return DEFAULT_THREADS
        source = f"${THREADS_VARIABLE}"
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{source} must be a whole number of threads (0: torch's default), got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{source} must be a whole number of threads >= 0 (0: torch's default), got {value!r}")
    return value


def apply_threads(threads: int) -> None:
    """Set torch's intra-op threads for this process (``0`` leaves them as they are)."""
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
