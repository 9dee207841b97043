"""gencomp-alora: activated LoRA (aLoRA) adapters on gencomp's Hugging Face backend.

``HFAlora`` loads a PEFT aLoRA adapter into a ``LocalHFBackend``; requirement checks are routed to
it through the ``gencomp_generate`` hook (see :mod:`gencomp_alora.plugin`) and reuse the base
model's KV cache of the checked conversation (see :mod:`gencomp_alora.generate`); a session's checks
routed to the same adapter run in one forward pass. Importing this
package is light: torch and peft are imported when an adapter is loaded or used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gencomp_alora.errors import AloraError

if TYPE_CHECKING:
    from gencomp_alora.alora import HFAlora
    from gencomp_alora.generate import CheckResult, check_requirement, check_requirements

__version__ = "0.1.0"

__all__ = ["AloraError", "CheckResult", "HFAlora", "check_requirement", "check_requirements"]


def __getattr__(name: str) -> Any:
    if name == "HFAlora":
        from gencomp_alora.alora import HFAlora

        return HFAlora
    if name in ("CheckResult", "check_requirement", "check_requirements"):
        from gencomp_alora import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'gencomp_alora' has no attribute {name!r}")
