"""An example third-party strategy: sample N answers one at a time and keep the shortest that passes.

A complete plugin distribution: a ``pyproject.toml`` with an entry point in the ``gencomp`` group and
this module implementing ``gencomp_register_strategies``. The strategy is a plan (a generator of
steps); gencomp drives it synchronously or asynchronously, streams it and counts its cost.
"""

from __future__ import annotations

from gencomp import hookimpl
from gencomp.strategies import Attempt, Call, Plan, Strategy


class Shortest(Strategy):
    """Spend the whole budget, one sample at a time (seeds ``seed``, ``seed + 1``...); keep the shortest that passes."""

    name = "shortest"
    description = "the shortest of N answers that meets every requirement"
    default_budget = 3

    def __init__(self, temperature: float = 0.8, seed: int = 7) -> None:
        self.temperature = temperature
        self.seed = seed

    def sample(self, call: Call) -> Plan:
        tried: list[Attempt] = []
        for i in range(call.budget):
            [attempt] = yield call.generate(seed=self.seed + i, temperature=self.temperature)
            yield call.check([attempt])
            tried.append(attempt)
        passing = [a for a in tried if a.passed]
        if not passing:
            return call.best(tried)
        shortest = min(passing, key=lambda a: len(a.text or ""))
        return call.select(shortest, f"the shortest of {len(passing)} passing answers")


@hookimpl
def gencomp_register_strategies(register):
    register("shortest", Shortest, aliases=["short"], description=Shortest.description)
