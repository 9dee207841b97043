"""A code check that cannot decide leaves the requirement to the model, and the verdict says why."""

from __future__ import annotations

import importlib.util

import pytest

from gencomp import (
    CheckFallback,
    Instruction,
    LinearContext,
    ModelOutputThunk,
    Requirement,
    checks,
    hookimpl,
    plugins,
)
from gencomp.verdicts import check_requirements

THAI = "ภาษาไทยง่ายมาก"  # one run of Thai: between 1 and 12 words, so "at most 3 words" is undecided


@pytest.fixture
def echo(install):
    install("gencomp-echo-backend")
    from gencomp import start_session

    return lambda script: start_session("echo", script=script)


def context(output: str) -> LinearContext:
    ctx = LinearContext()
    ctx.insert_turn(Instruction("Say something."), ModelOutputThunk(output))
    return ctx


def test_an_undecided_check_called_directly_fails_and_says_it_is_undecided():
    result = checks.max_words(3).validation_fn.check_text(THAI)  # type: ignore[union-attr]
    assert not result.result and result.reason.startswith("undecided: between 1 and ")  # type: ignore[union-attr]
    assert isinstance(result.verdict, CheckFallback) and result.verdict.path == "code:number_words"
    assert result.check_path == "code:number_words"


def test_an_undecided_check_is_judged_by_the_model_with_the_reason_as_fallback(echo):
    session = echo(["Yes"])
    req = checks.requirement_from_text("Answer in at most 3 words.")
    (result,) = check_requirements([req], session.backend, context(THAI))
    assert result.result and result.check_path == "llm-as-a-judge"
    assert result.verdict.fallback_reason.startswith("code:number_words could not decide: between 1 and ")
    assert "Answer in at most 3 words." in session.backend.prompts[0]  # the model judged the requirement's text


def test_decided_code_checks_never_reach_the_model(echo):
    session = echo([])  # any call to the model would fail: the script is empty
    reqs = [checks.max_words(3), checks.no_comma()]
    results = check_requirements(reqs, session.backend, context("one two three four"))
    assert [r.result for r in results] == [False, True] and not session.backend.prompts


class Recorder:
    """A plugin on the model path that records what it is offered and leaves each check to the judge."""

    def __init__(self) -> None:
        self.offered: list[Requirement] = []

    @hookimpl
    def gencomp_check_requirements(self, backend, requirements, ctx, output, model_options, generate_logs):
        self.offered.extend(requirements)
        return [CheckFallback("the recorder never answers") for _ in requirements]


def test_plugins_on_the_model_path_are_offered_a_plain_requirement_with_the_description(echo):
    session = echo(["No", "Yes"])
    recorder = Recorder()
    plugins.register_plugin(recorder, name="recorder")
    try:
        undecided = checks.requirement_from_text("Answer in at most 3 words.")
        modelled = Requirement("Be friendly.")
        results = check_requirements([undecided, modelled], session.backend, context(THAI))
    finally:
        plugins.unregister_plugin(recorder)
    assert [r.description for r in recorder.offered] == ["Answer in at most 3 words.", "Be friendly."]
    assert all(r.validation_fn is None for r in recorder.offered)
    first, second = results
    assert not first.result and first.verdict.fallback_reason.startswith("code:number_words could not decide")
    assert first.verdict.fallback_reason.endswith("; the recorder never answers")
    assert second.result and second.verdict.fallback_reason == "the recorder never answers"


@pytest.mark.skipif(importlib.util.find_spec("py3langid") is None, reason="needs py3langid (gencomp[language])")
def test_a_language_below_the_floor_goes_to_the_model_through_instruct(echo):
    session = echo(["No.", "Yes"])  # the answer, then the judge's verdict on "Answer in English."
    result = session.instruct(
        "Say no.", requirements=["Answer in English."], loop_budget=1, return_sampling_results=True
    )
    ((_, verdict),) = result.sample_validations[0]
    assert result.success and verdict.check_path == "llm-as-a-judge"
    assert verdict.verdict.fallback_reason.startswith("code:response_language could not decide: the language")
