"""Inference-time strategies: how one call spends its attempts.

A call with requirements (``Session.instruct``, ``Session.act``) generates, checks and decides
what to do next; a :class:`Strategy` is that decision, and it is a plugin: registered by name with
``gencomp_register_strategies`` and chosen like a backend (the ``strategy=`` argument, then the
session's, from ``start_session(strategy=...)``, ``$GENCOMP_STRATEGY`` or ``strategy`` in
``gencomp.toml``; ``gencomp instruct --strategy NAME``). The built-ins:

=============  ====================================================================================
``repair``     the default: retry with the failed requirements and their reasons in the prompt
``rejection``  resample without feedback (seeded, so a run can be repeated)
``best-of-n``  N candidates at once (one batched generation, or parallel requests), the best kept
``majority``   self-consistency: N samples at once, the most common normalised answer kept
``enforce``    requirements with a grammar enforced while decoding; the rest repaired (``then=``)
=============  ====================================================================================

``enforce-best-of-n`` is ``enforce`` with ``best-of-n`` for what cannot be enforced.

Every strategy keeps every attempt (``SamplingResult.attempts``), counts the whole call's cost
(``SamplingResult.cost``), and when no attempt meets every requirement keeps the one that met the
most (not the last) and says so (``SamplingResult.selection``). The driver never repeats an
identical failed attempt: the same prompt with the same seed and temperature is sampled anew.
Checks that did not run (their answer was stopped early by another check) are reported as not
run. An ``uncertain`` model verdict counts as unmet unless the call says ``uncertain="trust"``.

Writing one: subclass :class:`Strategy` and implement :meth:`Strategy.sample`, a generator of steps::

    class FirstThatPasses(Strategy):
        name = "first-that-passes"

        def sample(self, call):
            tried = []
            for _ in range(call.budget):
                [attempt] = yield call.generate()
                yield call.check([attempt])
                tried.append(attempt)
                if attempt.passed:
                    return call.select(attempt)
            return call.best(tried)

The same plan runs synchronously and asynchronously, streams, and can be cancelled.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from gencomp.errors import UnknownStrategyError
from gencomp.strategies._base import (
    Attempt,
    Call,
    CallCost,
    Check,
    Generate,
    IdenticalAttemptError,
    Plan,
    SamplingResult,
    Selection,
    Strategy,
    StrategyError,
    UncertainPolicy,
    rank,
    repair_feedback,
    verdict_state,
)
from gencomp.strategies._builtin import DEFAULT_TEMPERATURE, BestOfN, Majority, Rejection, Repair, normalise_answer
from gencomp.strategies._enforce import Enforce, EnforceBestOfN

__all__ = [
    "BUILTIN_STRATEGIES",
    "DEFAULT_STRATEGY",
    "DEFAULT_TEMPERATURE",
    "Attempt",
    "BestOfN",
    "Call",
    "CallCost",
    "Check",
    "Enforce",
    "EnforceBestOfN",
    "Generate",
    "IdenticalAttemptError",
    "Majority",
    "Plan",
    "Rejection",
    "Repair",
    "SamplingResult",
    "Selection",
    "Strategy",
    "StrategyError",
    "UncertainPolicy",
    "get_strategy",
    "normalise_answer",
    "rank",
    "repair_feedback",
    "resolve_strategy",
    "strategy_names",
    "verdict_state",
]

DEFAULT_STRATEGY = "repair"
BUILTIN_STRATEGIES: tuple[type[Strategy], ...] = (Repair, Rejection, BestOfN, Majority, Enforce, EnforceBestOfN)
"""The strategies the core registers (``gencomp_register_strategies``)."""


def strategy_names() -> list[str]:
    """Every registered strategy's name (built-in and from plugins)."""
    from gencomp import plugins

    return sorted(plugins.registry().strategies)


def get_strategy(name: str, /, source: str | None = None, **options: Any) -> Strategy:
    """The strategy registered as ``name`` (or an alias), built with ``options``.

    An unknown name raises :class:`~gencomp.errors.UnknownStrategyError` listing what is installed
    (with "did you mean", and where the name came from: ``source``).
    """
    from gencomp import plugins

    reg = plugins.registry()
    spec = reg.strategy(name)
    if spec is None:
        known = [n for s in reg.strategies.values() for n in (s.name, *s.aliases)]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        where = f" (from {source})" if source else ""
        failed = [r for r in plugins.plugin_records() if r.status != "loaded"]
        not_loaded = (
            " Plugins not loaded: " + "; ".join(f"{r.name} ({r.status}: {r.error})" for r in failed) + "."
            if failed
            else ""
        )
        raise UnknownStrategyError(
            f"unknown strategy {name!r}{where}.{hint} Installed strategies: {', '.join(sorted(known))}.{not_loaded}"
        )
    try:
        made = spec.factory(**options)
    except TypeError as exc:
        raise UnknownStrategyError(f"strategy {name!r} does not take these options {sorted(options)}: {exc}") from exc
    if not isinstance(made, Strategy):
        raise StrategyError(f"strategy {name!r} (plugin {spec.plugin!r}) built a {type(made).__name__}, not a Strategy")
    return made


def resolve_strategy(strategy: Strategy | str | None, **options: Any) -> Strategy:
    """``strategy`` as a :class:`Strategy`: an instance as it is, a name looked up; ``None`` is
    ``$GENCOMP_STRATEGY``, else ``strategy`` in ``gencomp.toml`` (with its ``[strategy_options]``), else ``repair``."""
    if isinstance(strategy, Strategy):
        return strategy
    if strategy is not None:
        if not isinstance(strategy, str):
            raise TypeError(f"strategy= takes a Strategy or a registered name, got {type(strategy).__name__}")
        return get_strategy(strategy, "the strategy= argument (--strategy)", **options)
    env = os.environ.get("GENCOMP_STRATEGY")
    if env:
        return get_strategy(env, "$GENCOMP_STRATEGY", **options)
    from gencomp.selection import load_config

    config, path = load_config()
    if config.strategy:
        where = f"strategy in {path}" if path is not None else "strategy in gencomp.toml"
        return get_strategy(config.strategy, where, **{**config.strategy_options, **options})
    return get_strategy(DEFAULT_STRATEGY, **options)
