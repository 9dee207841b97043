"""gencomp's checks with IFEval's semantics, built from IFEval's instruction ids and keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gencomp.checks._kinds import BUILTIN, IFEVAL_IDS
from gencomp.components import Requirement

_BY_ID = {ifeval_id: kind for kind, ifeval_id in IFEVAL_IDS.items()}


def from_ifeval(instruction_id: str, kwargs: Mapping[str, Any] | None = None) -> Requirement:
    """The check of IFEval instruction ``instruction_id`` (``"keywords:existence"``...) with IFEval's ``kwargs``.

    IFEval's semantics where gencomp's default differs: keywords match as substrings
    (``match="substring"``), the case kinds also require English, paragraphs are separated by the
    markdown divider ``***``. ``None`` values in ``kwargs`` (IFEval's data holds them) are dropped.
    Where gencomp reads text more exactly than IFEval's checkers (sentences, paragraphs, bullets,
    placeholders, the first word of a paragraph, the language), gencomp's reading is kept; the
    differences are listed in ``benchmarks/checks/RESULTS.md``.
    """
    if instruction_id not in _BY_ID:
        known = ", ".join(sorted(_BY_ID))
        raise ValueError(f"unknown IFEval instruction id {instruction_id!r}; known: {known}")
    kind = _BY_ID[instruction_id]
    params = {k: v for k, v in (kwargs or {}).items() if v is not None}
    if kind in ("include_keywords", "keyword_frequency"):
        params.setdefault("match", "substring")
    if kind == "number_paragraphs":
        params.setdefault("separator", "***")
    if kind in ("all_capitals", "all_lowercase"):
        params.setdefault("english", True)
    return BUILTIN[kind](**params)
