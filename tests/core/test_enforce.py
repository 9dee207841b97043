"""The enforce strategy's rules: what reaches the backend, what every verdict says, contradictions, bugs.

The backends here are scripts (the real decoders are tested in tests/hf_backend and tests/openai_backend):
one picks the first of its answers that the constraint it receives accepts, as a decoder under that
constraint would end up doing; the fault cases (a backend that ignores the constraint) cannot be had
from a real one on demand.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from gencomp import (
    Backend,
    ConstraintRefusedError,
    GencompError,
    Generation,
    GenerationRequest,
    ModelOption,
    Requirement,
    Session,
    checks,
)
from gencomp.constraints import Constraint, ContradictoryRequirementsError, EnforcementBugWarning, constraint_of
from gencomp.strategies import Enforce, get_strategy


class Scripted(Backend):
    """Answers the first of ``answers`` its constraint accepts (all of them when there is none)."""

    constraint_syntaxes = frozenset({"lark"})
    generate_keys = frozenset({"temperature"})

    def __init__(
        self, answers: list[str], *, syntaxes: frozenset[str] | None = None, obey: bool = True, refuse: bool = False
    ) -> None:
        super().__init__("scripted")
        self.answers = answers
        if syntaxes is not None:
            self.constraint_syntaxes = syntaxes
        self.obey = obey
        self.refuse = refuse
        self.constraints: list[Constraint | None] = []

    def generate(self, request: GenerationRequest) -> Generation:
        constraint = request.options.constraint
        self.constraints.append(constraint)
        if constraint is not None and self.refuse:  # a grammar engine that cannot compile it (a fault case)
            raise ConstraintRefusedError("the grammar engine ran out of fuel")
        if constraint is not None and self.obey:
            for a in self.answers:
                if constraint.matches(a):
                    return Generation(a)
        return Generation(self.answers[0])


REQS = [
    checks.no_comma(),
    checks.max_words(6),
    Requirement("The answer is about rivers.", validation_fn=lambda ctx: True),
]
ANSWERS = ["Rivers, lakes and seas are all made of water.", "Rivers run to the sea."]


def test_the_first_answer_meets_the_enforced_requirements_and_every_verdict_says_how():
    backend = Scripted(ANSWERS)
    result = Session(backend).instruct(
        "Write about rivers.", requirements=REQS, strategy="enforce", return_sampling_results=True
    )
    assert result.success and len(result.attempts) == 1 and result.result.value == ANSWERS[1]
    [sent] = backend.constraints
    assert sent is not None and sent.sources == (REQS[0].description, REQS[1].description)
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, True, False]
    assert "not checked by code" in (verdicts[2].enforcement_note or "")
    assert result.selection.startswith("enforced 2 of 3 requirements; repair: attempt 1 met every requirement")


def test_without_enforce_no_constraint_reaches_the_backend_and_verdicts_say_nothing_of_it():
    backend = Scripted(ANSWERS)
    result = Session(backend).instruct("Write about rivers.", requirements=REQS, return_sampling_results=True)
    assert backend.constraints[0] is None and not result.attempts[0].passed
    assert all(v.enforced is None and v.enforcement_note is None for _, v in result.attempts[0].verdicts or [])


def test_a_backend_that_cannot_enforce_falls_back_to_check_and_repair_and_each_verdict_says_so():
    backend = Scripted(ANSWERS, syntaxes=frozenset())
    result = Session(backend).instruct(
        "Write about rivers.", requirements=REQS[:2], strategy="enforce", loop_budget=2, return_sampling_results=True
    )
    assert backend.constraints == [None, None] and len(result.attempts) == 2  # repaired, never constrained
    for attempt in result.attempts:
        for _, v in attempt.verdicts or []:
            assert v.enforced is False and "Scripted(scripted) enforces no constraints" in (v.enforcement_note or "")
    assert result.selection.startswith("enforced 0 of 2 requirements")


@pytest.mark.parametrize("strategy", ["enforce", "enforce-best-of-n"])
def test_a_grammar_the_backend_refuses_is_checked_instead_once_per_call_and_every_verdict_says_so(strategy):
    def run(sync: bool) -> tuple[Any, list[Constraint | None]]:
        backend = Scripted(ANSWERS[::-1], refuse=True)
        session = Session(backend)
        kwargs: dict[str, Any] = dict(
            requirements=REQS[:2], strategy=strategy, loop_budget=2, return_sampling_results=True
        )
        result = (
            session.instruct("Write about rivers.", **kwargs)
            if sync
            else asyncio.run(session.ainstruct("Write about rivers.", **kwargs))
        )
        return result, backend.constraints

    result, sent = run(True)
    assert result.success and result.result.value == ANSWERS[1]
    assert sent[0] is not None and sent[1:] == [None] * (len(sent) - 1)  # refused once, then never sent again
    for attempt in result.attempts:
        for _, v in attempt.verdicts or []:
            assert v.enforced is False and v.ran and v.result
            assert "the backend refused the call's grammar" in (v.enforcement_note or "")
            assert "ran out of fuel" in (v.enforcement_note or "")
    assert result.selection.startswith("enforced 0 of 2 requirements (the backend refused the grammar")
    again, sent_async = run(False)
    assert [a.text for a in again.attempts] == [a.text for a in result.attempts] and sent_async == sent


def test_a_refusal_of_a_request_that_carries_no_constraint_any_more_is_the_calls_error():
    class RefusesAlways(Scripted):
        def generate(self, request: GenerationRequest) -> Generation:
            self.constraints.append(request.options.constraint)
            raise ConstraintRefusedError("refused whatever it is sent")

    backend = RefusesAlways(ANSWERS)
    with pytest.raises(ConstraintRefusedError, match="whatever it is sent"):
        Session(backend).instruct("Write about rivers.", requirements=REQS[:2], strategy="enforce")
    assert len(backend.constraints) == 2 and backend.constraints[0] is not None and backend.constraints[1] is None


def test_a_refusal_without_enforce_is_the_calls_error():
    backend = Scripted(ANSWERS, refuse=True)
    with pytest.raises(ConstraintRefusedError, match="ran out of fuel"):
        Session(backend).instruct(
            "Write about rivers.", model_options={ModelOption.CONSTRAINT: constraint_of(checks.no_comma())}
        )


def test_contradictory_requirements_are_an_error_before_anything_is_generated():
    backend = Scripted(ANSWERS)
    reqs = [checks.starts_with("Yes"), checks.no_comma(), checks.starts_with("No")]
    with pytest.raises(ContradictoryRequirementsError, match="contradict each other") as err:
        Session(backend).instruct("Write.", requirements=reqs, strategy="enforce")
    assert err.value.requirements == (reqs[0], reqs[2]) and backend.constraints == []


def test_an_enforced_requirement_that_fails_its_check_is_reported_as_a_bug():
    backend = Scripted(ANSWERS, obey=False)  # says it enforces, ignores the constraint: a broken backend
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = Session(backend).instruct(
            "Write about rivers.", requirements=REQS[:1], strategy="enforce", loop_budget=1,
            return_sampling_results=True,
        )  # fmt: skip
    [(_, verdict)] = result.attempts[0].verdicts or []
    assert verdict.enforced is True and not verdict.result
    assert "did not decode under the constraint" in (verdict.enforcement_note or "")
    assert any(issubclass(w.category, EnforcementBugWarning) for w in seen)


def test_a_backend_refuses_a_constraint_it_cannot_enforce_by_name():
    backend = Scripted(ANSWERS, syntaxes=frozenset())
    constraint = constraint_of(checks.no_comma())
    with pytest.raises(GencompError, match="constraint_syntaxes is empty"):
        Session(backend).instruct("Write.", model_options={ModelOption.CONSTRAINT: constraint})
    json_only = Scripted(['{"a": 1}'], syntaxes=frozenset({"json"}))
    with pytest.raises(GencompError, match="cannot enforce"):
        Session(json_only).instruct("Write.", model_options={ModelOption.CONSTRAINT: constraint})
    Session(json_only).instruct("Write.", model_options={ModelOption.CONSTRAINT: constraint_of(checks.json_format())})


def test_a_constraint_option_must_be_a_constraint():
    with pytest.raises(GencompError, match="gencomp.constraints.Constraint"):
        Session(Scripted(ANSWERS)).instruct("Write.", model_options={ModelOption.CONSTRAINT: "no commas"})


def test_enforce_best_of_n_sends_the_constraint_with_every_candidate_and_keeps_the_best():
    backend = Scripted(ANSWERS)
    result = Session(backend).instruct(
        "Write about rivers.", requirements=REQS, strategy="enforce-best-of-n", loop_budget=3,
        return_sampling_results=True,
    )  # fmt: skip
    assert len(result.attempts) == 3 and len(backend.constraints) == 3
    assert len({id(c) for c in backend.constraints}) == 1 and backend.constraints[0] is not None
    assert result.success and "best-of-n" in result.selection


def test_enforce_runs_the_same_sync_and_async():
    def run(sync: bool) -> list[Any]:
        session = Session(Scripted(ANSWERS))
        kwargs: dict[str, Any] = dict(requirements=REQS, strategy="enforce", return_sampling_results=True)
        result = (
            session.instruct("Write about rivers.", **kwargs)
            if sync
            else asyncio.run(session.ainstruct("Write about rivers.", **kwargs))
        )
        return [
            (a.text, [(v.result, v.enforced, v.enforcement_note) for _, v in a.verdicts or []]) for a in result.attempts
        ]

    assert run(True) == run(False)


def test_then_takes_another_strategy_by_name_or_object_but_not_enforce_itself():
    assert get_strategy("enforce", then="rejection").then.name == "rejection"
    with pytest.raises(ValueError, match="another strategy"):
        Enforce(then=Enforce())
