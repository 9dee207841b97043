"""The aLoRA adapters of one backend: the registry, the PEFT model around the base model, and its unwrapping.

A registry lives in ``backend.plugin_state["alora"]``. The first adapter wraps the backend's base
model in a PEFT model; the registry then gives the backend a base-model guard
(``add_base_model_guard``) that puts the original modules back in place of PEFT's wrappers while
the backend generates with the base model (a few hundred attribute swaps, cheaper than PEFT's
``disable_adapter()``, which walks every module and checks the model's status on exit).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gencomp import GencompError

if TYPE_CHECKING:
    from gencomp_alora.alora import HFAlora

__all__ = ["AloraRegistry", "is_hf_backend", "registry"]

STATE_KEY = "alora"
_create = threading.Lock()


def is_hf_backend(backend: Any) -> bool:
    """Whether ``backend`` is a ``LocalHFBackend`` (never imports it: torch loads only with such a backend)."""
    module = sys.modules.get("gencomp_hf_backend.backend")
    cls = getattr(module, "LocalHFBackend", None) if module is not None else None
    return isinstance(cls, type) and isinstance(backend, cls)


class AloraRegistry:
    """The aLoRA adapters loaded on one backend, by name, and the PEFT model that holds them."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.aloras: dict[str, HFAlora] = {}
        self._model: Any = None
        self._layers: list[tuple[Any, str, Any]] | None = None

    @property
    def model(self) -> Any:
        """The PEFT model around the backend's base model (``None`` before the first adapter)."""
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        if self._model is not None:
            raise GencompError("this backend's alora_model is already set; it can be set only once")
        self._model = model
        self.backend.add_base_model_guard(self._unwrapped)

    def add(self, alora: HFAlora) -> None:
        """Load ``alora`` (``alora.load_into(backend)``) under ``alora.name``; a name in use is an error.

        When loading fails, the adapter layers it injected into the base model are taken out again.
        """
        with self.backend.lock:
            if alora.name in self.aloras:
                raise GencompError(
                    f"an aLoRA named {alora.name!r} is already loaded on this backend; pick another name"
                )
            base = self.backend.model
            before = {id(w) for _, _, w in _injected_layers(base)}
            had_config = hasattr(base, "peft_config")
            try:
                alora.load_into(self.backend)
            except BaseException:  # leave the base model as it was: no half-injected adapter layers
                for parent, attr, wrapper in _injected_layers(base):
                    if id(wrapper) not in before:
                        setattr(parent, attr, wrapper.base_layer)
                if not had_config and hasattr(base, "peft_config"):
                    del base.peft_config
                self._layers = None
                raise
            self.aloras[alora.name] = alora
            self._layers = None  # a new adapter may target more modules

    def get(self, name: str) -> HFAlora | None:
        """The adapter named ``name``, or ``None``."""
        return self.aloras.get(name)

    def all(self) -> list[HFAlora]:
        """Every loaded adapter, in loading order."""
        return list(self.aloras.values())

    @contextlib.contextmanager
    def _unwrapped(self) -> Iterator[None]:
        """Swap each PEFT wrapper in the base model for the module it wraps, for the duration."""
        if self._layers is None:
            self._layers = _injected_layers(self.backend.model)
        layers = self._layers
        for parent, attr, wrapper in layers:
            setattr(parent, attr, wrapper.base_layer)
        try:
            yield
        finally:
            for parent, attr, wrapper in layers:
                setattr(parent, attr, wrapper)


def registry(backend: Any) -> AloraRegistry:
    """The aLoRA registry of ``backend`` (created on first use)."""
    found = backend.plugin_state.get(STATE_KEY)
    if found is None:
        with _create:
            found = backend.plugin_state.setdefault(STATE_KEY, AloraRegistry(backend))
    return found  # type: ignore[no-any-return]


def _injected_layers(model: Any) -> list[tuple[Any, str, Any]]:
    """``(parent, attribute, wrapper)`` for every PEFT adapter wrapper in ``model``."""
    found = []
    for name, module in model.named_modules():
        if name and hasattr(module, "base_layer") and hasattr(module, "_disable_adapters"):
            parent_name, _, attr = name.rpartition(".")
            found.append((model.get_submodule(parent_name), attr, module))
    return found
