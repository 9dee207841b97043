"""Enforcement on the embedded model, in-process: prompts the model fails alone pass when enforced.

``datasets/enforce_prompts/prompts.json`` holds, for each enforceable kind, 20 prompts whose answers
(greedy, 16 tokens, as one batch) fail the kind's check without enforcement, found and verified by
``datasets/enforce_prompts/build.py`` with the same functions used here.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

import gencomp
from gencomp import LinearContext, Message, ModelOption, Requirement, Session, checks
from gencomp.constraints import ContradictoryRequirementsError, constraint_of

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("enforce_prompts", ROOT / "datasets" / "enforce_prompts" / "build.py")
assert _spec is not None and _spec.loader is not None
prompts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prompts)
DATA = json.loads((ROOT / "datasets" / "enforce_prompts" / "prompts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def backend() -> Iterator[gencomp.Backend]:
    yield gencomp.start_session().backend


@pytest.mark.parametrize("kind", list(prompts.KINDS))
def test_twenty_prompts_the_model_fails_alone_all_pass_at_once_when_enforced(backend, kind):
    cached = DATA["kinds"][kind]["hf"]
    tasks = [p["task"] for p in cached]
    assert len(tasks) == prompts.KEEP
    # today's check still fails each cached unconstrained answer (else rebuild: datasets/enforce_prompts/build.py)
    passing = [
        p["answer"] for p in cached if prompts.requirement(kind, p["task"]).validation_fn.check_text(p["answer"]).result
    ]
    assert not passing, f"{kind}: cached answers that pass today's check: {passing[:3]}"
    if kind == "repeat_prompt":  # each task is its own requirement: one constraint per generation
        answers = [
            prompts.hf_answers(backend, kind, [t], constraint_of(prompts.requirement(kind, t)))[0] for t in tasks
        ]
    else:
        answers = prompts.hf_answers(backend, kind, tasks, constraint_of(prompts.requirement(kind, tasks[0])))
    failed = []
    for task, answer in zip(tasks, answers, strict=True):
        result = prompts.requirement(kind, task).validation_fn.check_text(answer)
        if not result.result:
            failed.append((task, answer, result.reason))
    assert not failed, f"{kind}: enforced answers that fail: {failed[:3]}"


def test_combined_requirements_all_pass_on_the_first_attempt_through_the_strategy(backend):
    cases = [
        [checks.no_comma(), checks.all_lowercase(english=False), checks.max_words(12), checks.quotation()],
        [checks.json_format(), checks.no_comma()],
        [checks.number_bullet_lists(3), checks.all_capitals(english=False)],
        [checks.starts_with("Dear John"), checks.end_phrase("Best wishes."), checks.number_sentences(3, "at most")],
        [checks.title(), checks.postscript("P.S."), checks.forbidden_words(["the"])],
    ]
    for reqs in cases:
        result = Session(backend).instruct(
            "Describe a river, its banks, its fish, and the town by it.", requirements=reqs, strategy="enforce",
            loop_budget=1, model_options={ModelOption.MAX_NEW_TOKENS: 32}, return_sampling_results=True,
        )  # fmt: skip
        verdicts = [v for _, v in result.attempts[0].verdicts or []]
        assert result.success and all(v.enforced for v in verdicts), (result.result.value, verdicts)


def test_contradictory_requirements_fail_before_the_model_is_called(backend):
    session = Session(backend)
    with pytest.raises(ContradictoryRequirementsError, match="contradict"):
        session.instruct("Say something.", requirements=[checks.starts_with("Yes"), checks.starts_with("No")],
                         strategy="enforce")  # fmt: skip
    assert session.last_logs == [] and len(session.ctx) == 0


def test_what_cannot_be_enforced_is_repaired_and_its_verdict_says_why(backend):
    class Answer(pydantic.BaseModel):
        text: str

    reqs = [checks.json_format(), checks.all_lowercase(english=False), Requirement("The answer is about water.")]
    result = Session(backend).instruct(
        "Describe a river.", requirements=reqs, strategy="enforce", loop_budget=2, format=Answer,
        model_options={ModelOption.MAX_NEW_TOKENS: 24}, return_sampling_results=True,
    )  # fmt: skip
    first = [v for _, v in result.attempts[0].verdicts or []]
    assert first[0].enforced is True and first[1].enforced is False and first[2].enforced is False
    assert "format=Answer" in (first[1].enforcement_note or "")
    assert "not checked by code" in (first[2].enforcement_note or "")


@pytest.mark.parametrize(
    ("requirement", "prompt"),
    [
        (checks.no_comma(), "What is the capital of France?"),
        (checks.max_words(30), "What is the capital of France?"),
        (checks.forbidden_words(["banana"]), "Name a colour."),
        (checks.end_phrase("Paris."), "What is the capital of France? Answer in one sentence."),
    ],
)
def test_enforcement_does_not_change_an_answer_the_grammar_already_allows(backend, requirement, prompt):
    constraint = constraint_of(requirement)
    options: dict[str, Any] = {ModelOption.MAX_NEW_TOKENS: 24}
    alone = backend.generate_from_context(Message("user", prompt), LinearContext(), model_options=options)
    text = alone.value or ""
    assert requirement.validation_fn.check_text(text).result and constraint.matches(text), (
        f"the premise: {text!r} passes and the grammar allows every token of it"
    )
    enforced = backend.generate_from_context(
        Message("user", prompt), LinearContext(), model_options={**options, ModelOption.CONSTRAINT: constraint}
    )
    assert enforced.value == text
