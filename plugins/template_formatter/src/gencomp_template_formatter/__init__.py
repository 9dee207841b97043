"""gencomp-template-formatter: the jinja2 :class:`TemplateFormatter` and gencomp's default prompt templates.

Importing this package is light: jinja2 is imported when the formatter module is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gencomp_template_formatter.formatter import (
        TEMPLATE_SUFFIX,
        LookupResult,
        TemplateError,
        TemplateFormatter,
        TemplateRoot,
        TemplateSyntaxError,
        _get_package_name,
        _simplify_model_string,
    )

__version__ = "0.1.0"

__all__ = [
    "TEMPLATE_SUFFIX",
    "LookupResult",
    "TemplateError",
    "TemplateFormatter",
    "TemplateRoot",
    "TemplateSyntaxError",
    "_get_package_name",
    "_simplify_model_string",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gencomp_template_formatter import formatter

        return getattr(formatter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
