"""gencomp's Hugging Face transformers backend: ``LocalHFBackend`` and its KV-cache entries.

Importing this package is cheap: torch and transformers load on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gencomp_hf_backend.backend import LocalHFBackend, TransformersTorchConfig, best_device
    from gencomp_hf_backend.kv import HFAloraCacheInfo, KVCacheEntry, clone_cache

__version__ = "0.1.0"

__all__ = [
    "HFAloraCacheInfo",
    "KVCacheEntry",
    "LocalHFBackend",
    "TransformersTorchConfig",
    "best_device",
    "clone_cache",
]

_WHERE = {
    "LocalHFBackend": "gencomp_hf_backend.backend",
    "TransformersTorchConfig": "gencomp_hf_backend.backend",
    "best_device": "gencomp_hf_backend.backend",
    "HFAloraCacheInfo": "gencomp_hf_backend.kv",
    "KVCacheEntry": "gencomp_hf_backend.kv",
    "clone_cache": "gencomp_hf_backend.kv",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'gencomp_hf_backend' has no attribute {name!r}")
