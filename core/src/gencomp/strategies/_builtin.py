"""The built-in strategies: ``repair``, ``rejection``, ``best-of-n`` and ``majority``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from gencomp.strategies._base import Attempt, Call, Plan, Selection, Strategy, rank

__all__ = ["DEFAULT_TEMPERATURE", "BestOfN", "Majority", "Rejection", "Repair", "normalise_answer"]

DEFAULT_TEMPERATURE = 0.7
"""The temperature of sampling strategies when the call sets none (greedy decoding would repeat one answer)."""

DEFAULT_SEED = 0
"""The seed of sampling strategies when the call sets none, so that a run can be repeated."""


class Repair(Strategy):
    """Generate, check, and retry with the failures in the prompt (the default; gencomp's loop before strategies).

    When to use it: requirements a model can fix once told what failed (counts, keywords, format),
    on any backend, one attempt at a time. Attempt ``k + 1`` carries attempt ``k``'s failed
    requirements with their reasons. It stops at the first attempt that meets every requirement;
    when none does, it keeps the one that met the most.
    """

    name = "repair"
    description = "retry with the failed requirements and their reasons in the prompt (default)"

    def sample(self, call: Call) -> Plan:
        tried: list[Attempt] = []
        action = call.action
        for _ in range(call.budget):
            [attempt] = yield call.generate(action=action)
            tried.append(attempt)
            if attempt.error is not None:
                break
            yield call.check([attempt])
            if attempt.passed:
                return call.select(attempt)
            action = call.repaired(attempt)
        return call.best(tried)


class _Sampling(Strategy):
    """A strategy that samples: ``temperature`` and ``seed`` apply when the call sets none."""

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, seed: int = DEFAULT_SEED) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature <= 0:
            raise ValueError(f"{self.name}: temperature must be a number > 0, got {temperature!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{self.name}: seed must be a whole number, got {seed!r}")
        self.temperature = float(temperature)
        self.seed = seed

    def _temperature(self, call: Call) -> float:
        return call.temperature if call.temperature else self.temperature

    def _seed(self, call: Call) -> int:
        return call.seed if call.seed is not None else self.seed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(temperature={self.temperature}, seed={self.seed})"


class Rejection(_Sampling):
    """Resample without feedback until an answer meets every requirement (rejection sampling).

    When to use it: when feedback does not help (small models often repeat a failing answer when
    told why) or the action is not an instruction. Attempt ``i`` samples with seed ``seed + i - 1``
    at ``temperature`` (the call's own seed and temperature when it sets them), so a run can be
    repeated exactly. It stops at the first answer that passes; when none does, it keeps the one
    that met the most requirements.
    """

    name = "rejection"
    description = "resample without feedback (seeded) until an answer passes"

    def sample(self, call: Call) -> Plan:
        tried: list[Attempt] = []
        seed, temperature = self._seed(call), self._temperature(call)
        for i in range(call.budget):
            [attempt] = yield call.generate(seed=seed + i, temperature=temperature)
            tried.append(attempt)
            if attempt.error is not None:
                break
            yield call.check([attempt])
            if attempt.passed:
                return call.select(attempt)
        return call.best(tried)


class BestOfN(_Sampling):
    """Generate N candidates at once, check them all, keep the best (N = the call's budget, default 4).

    When to use it: when a server has parallel slots or the model runs batched, so N answers cost
    little more than one, and you want the best of them rather than the first that passes. The
    candidates are generated together (one batched generation sharing the prompt's KV cache on the
    HF backend; parallel requests on a server); a candidate that fails a code check on a prefix is
    stopped early. The best one is kept by :func:`~gencomp.strategies.rank`: every requirement met
    first, then the number met, then the model checks' mean ``p_yes``.
    """

    name = "best-of-n"
    description = "N candidates at once, all checked, the best kept"
    default_budget = 4

    def sample(self, call: Call) -> Plan:
        attempts = yield call.generate(call.budget, seed=self._seed(call), temperature=self._temperature(call))
        yield call.check(attempts)
        return call.best(attempts)


def normalise_answer(text: str) -> str:
    """The form of an answer that a majority vote compares.

    The text after the last "answer:" / "final answer:" / "the answer is" / ``####`` marker when
    there is one, else the whole text; markup (``*_`#``) removed, lowercased, whitespace collapsed,
    and surrounding punctuation and quotes stripped. ``"**Answer:** Paris."`` and ``"paris"`` agree.
    """
    marked = list(re.finditer(r"(?:final answer|the answer is|answer)\s*[:=]|####", text, re.IGNORECASE))
    if marked:
        text = text[marked[-1].end() :]
    text = re.sub(r"[*_`#]+", " ", text)
    text = " ".join(text.lower().split())
    return text.strip(" .,;:!?\"'()[]{}")


class Majority(_Sampling):
    """Self-consistency: N samples at once, answers normalised, the most common one kept (N = the budget, default 5).

    When to use it: questions with one short right answer (a number, a name, a choice) where a
    model is right more often than it is consistently wrong. Answers are compared after
    ``normaliser`` (default :func:`normalise_answer`; pass your own, for example one that extracts
    the number). A tie between equally common answers is broken by the checks
    (:func:`~gencomp.strategies.rank` of each group's best member), and the best-ranked member of the
    winning group is kept.
    """

    name = "majority"
    description = "self-consistency: the most common of N normalised answers"
    default_budget = 5

    def __init__(
        self,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int = 0,
        normaliser: Callable[[str], str] = normalise_answer,
    ) -> None:
        super().__init__(temperature, seed)
        if not callable(normaliser):
            raise ValueError(f"majority: normaliser must be a function of the answer's text, got {normaliser!r}")
        self.normaliser = normaliser

    def sample(self, call: Call) -> Plan:
        attempts = yield call.generate(call.budget, seed=self._seed(call), temperature=self._temperature(call))
        yield call.check(attempts)
        answered = [a for a in attempts if a.text is not None and a.early_stop is None]
        if not answered:
            return call.best(attempts)
        groups: dict[str, list[Attempt]] = {}
        for a in answered:
            groups.setdefault(self.normaliser(a.text or ""), []).append(a)
        counts = Counter({k: len(v) for k, v in groups.items()})
        top = max(counts.values())
        tied = [k for k, c in counts.items() if c == top]
        winner = max(tied, key=lambda k: rank(max(groups[k], key=rank)))
        kept = max(groups[winner], key=rank)
        shown = winner if len(winner) <= 60 else winner[:57] + "..."
        how = f"{top} of {len(answered)} answers agree on {shown!r}"
        if len(tied) > 1:
            how += f" (a tie of {len(tied)} answers, broken by the checks)"
        return Selection(kept, f"majority: {how}; kept attempt {kept.number} ({kept.summary()})")
