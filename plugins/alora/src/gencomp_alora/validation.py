"""What an aLoRA verdict rests on: :mod:`gencomp.adapter_validation`, re-exported here.

The measurement is read in the core so that a backend that serves the adapter elsewhere (llama-server,
through ``gencomp-openai``) reports the same ``CheckVerdict.validation`` as ``HFAlora``.
"""

from __future__ import annotations

from gencomp.adapter_validation import (
    KIND_FAMILIES,
    NEGATION,
    SEMANTIC_CUES,
    Validation,
    decided_target,
    min_accuracy,
    read_validation,
    semantic_family,
    uncertain_margin,
    validation_for,
    with_measured_state,
)

__all__ = [
    "KIND_FAMILIES",
    "NEGATION",
    "SEMANTIC_CUES",
    "Validation",
    "decided_target",
    "min_accuracy",
    "read_validation",
    "semantic_family",
    "uncertain_margin",
    "validation_for",
    "with_measured_state",
]
