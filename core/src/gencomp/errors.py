"""The errors gencomp raises; each message says what was wrong and what to do."""

from __future__ import annotations

__all__ = [
    "BackendConflictError",
    "ConfigError",
    "ConstraintRefusedError",
    "ContextWindowError",
    "GencompError",
    "PluginLoadError",
    "SessionBusyError",
    "TemplateNotFoundError",
    "UnknownBackendError",
    "UnknownBackendOptionError",
    "UnknownModelOptionError",
    "UnknownStrategyError",
]


class GencompError(Exception):
    """Base class of gencomp's errors."""


class PluginLoadError(GencompError):
    """A plugin could not be loaded or registered (raised only with ``GENCOMP_STRICT_PLUGINS=1``)."""


class BackendConflictError(GencompError):
    """Two plugins registered the same backend, model or formatter name."""


class UnknownBackendError(GencompError, LookupError):
    """No installed plugin provides the backend asked for."""


class UnknownStrategyError(GencompError, LookupError, ValueError):
    """No installed plugin provides the strategy asked for."""


class SessionBusyError(GencompError, RuntimeError):
    """A call was made on a session while another call of it was still running."""


class ConfigError(GencompError, ValueError):
    """A configuration file or variable is invalid."""


class UnknownBackendOptionError(ConfigError):
    """A backend option (``backend_options``, a keyword of ``start_session``) the backend does not take."""

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


class ContextWindowError(GencompError, ValueError):
    """A prompt (with the tokens to generate) does not fit the model's context window."""

    def __init__(self, message: str, prompt_tokens: int, max_new_tokens: int, window: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.window = window


class TemplateNotFoundError(GencompError, LookupError, ValueError):
    """No template was found for a component (a ``ValueError`` too, as the seed-era formatter raised)."""


class UnknownModelOptionError(GencompError, ValueError):
    """A model option that the backend does not accept."""


class ConstraintRefusedError(GencompError):
    """A backend's grammar engine refused a constraint it was given (it could not compile it); nothing was generated.

    Backends raise it from generation (the HF backend when llguidance refuses the Lark grammar, the openai
    backend when llama-server answers "failed to parse grammar"). The ``enforce`` strategies then generate
    without the constraint and check its requirements instead; each verdict's ``enforcement_note`` says so.
    Also importable from :mod:`gencomp.constraints`.
    """
