"""gencomp: generative programs on pluggable backends.

Build programs from components (:class:`Instruction`, :class:`Message`, :class:`Requirement`),
run them with :func:`start_session`, and extend gencomp with plugins (:mod:`gencomp.hookspecs`).
"""

from typing import TYPE_CHECKING, Any

from gencomp.backend import Backend, FormatterBackend, Generation, GenerationRequest, RawRequest, default_formatter
from gencomp.base import (
    BaseModelSubclass,
    CBlock,
    Component,
    Context,
    GenerateLog,
    LinearContext,
    ModelOutputThunk,
    ModelToolCall,
    SimpleContext,
    TemplateRepresentation,
)
from gencomp.cache import Cache, LRUCache
from gencomp.components import (
    ALoraRequirement,
    Instruction,
    LLMaJRequirement,
    Message,
    Query,
    Requirement,
    ToolMessage,
    Transform,
    ValidationResult,
    simple_validate,
)
from gencomp.errors import (
    BackendConflictError,
    ConfigError,
    ConstraintRefusedError,
    ContextWindowError,
    GencompError,
    PluginLoadError,
    SessionBusyError,
    TemplateNotFoundError,
    UnknownBackendError,
    UnknownModelOptionError,
    UnknownStrategyError,
)
from gencomp.formatter import Formatter, PlainFormatter
from gencomp.model_ids import ModelIdentifier
from gencomp.model_options import GenerationOptions, ModelOption, translate_options
from gencomp.plugins import hookimpl
from gencomp.session import SamplingResult, Session, start_session
from gencomp.verdicts import CheckFallback, CheckVerdict, RequirementCheck, check_requirements

if TYPE_CHECKING:
    from gencomp.selection import make_backend

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "make_backend":  # gencomp.selection validates config files with pydantic: import it on first use
        from gencomp.selection import make_backend

        return make_backend
    raise AttributeError(f"module 'gencomp' has no attribute {name!r}")


__all__ = [
    "ALoraRequirement",
    "Backend",
    "BackendConflictError",
    "BaseModelSubclass",
    "CBlock",
    "Cache",
    "CheckFallback",
    "CheckVerdict",
    "Component",
    "ConfigError",
    "ConstraintRefusedError",
    "Context",
    "ContextWindowError",
    "Formatter",
    "FormatterBackend",
    "GencompError",
    "GenerateLog",
    "Generation",
    "GenerationOptions",
    "GenerationRequest",
    "Instruction",
    "LLMaJRequirement",
    "LRUCache",
    "LinearContext",
    "Message",
    "ModelIdentifier",
    "ModelOption",
    "ModelOutputThunk",
    "ModelToolCall",
    "PlainFormatter",
    "PluginLoadError",
    "Query",
    "RawRequest",
    "Requirement",
    "RequirementCheck",
    "SamplingResult",
    "Session",
    "SessionBusyError",
    "SimpleContext",
    "TemplateNotFoundError",
    "TemplateRepresentation",
    "ToolMessage",
    "Transform",
    "UnknownBackendError",
    "UnknownModelOptionError",
    "UnknownStrategyError",
    "ValidationResult",
    "check_requirements",
    "default_formatter",
    "hookimpl",
    "make_backend",
    "simple_validate",
    "start_session",
    "translate_options",
]
