"""Sessions on a scripted backend: instruct with validation and retries, chat, validate, logs."""

from __future__ import annotations

import pytest

from gencomp import (
    GencompError,
    GenerateLog,
    Instruction,
    LLMaJRequirement,
    Message,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    RequirementCheck,
    SamplingResult,
    ValidationResult,
    hookimpl,
    plugins,
    simple_validate,
    start_session,
)


@pytest.fixture
def echo(install):
    install("gencomp-echo-backend")

    def session(script):
        return start_session("echo", script=script)

    return session


def upper() -> Requirement:
    return Requirement("Use capitals.", simple_validate(str.isupper))


def test_instruct_returns_the_first_answer_that_passes_and_keeps_only_that_turn(echo):
    s = echo(["quiet", "LOUD"])
    result = s.instruct("Shout.", requirements=[upper()], return_sampling_results=True)
    assert isinstance(result, SamplingResult)
    assert result.success and result.result.value == "LOUD"
    assert [o.value for o in result.sample_generations] == ["quiet", "LOUD"]
    assert [[v.result for _, v in checks] for checks in result.sample_validations] == [[False], [True]]
    assert len(s.ctx) == 2 and s.ctx.last_output() is result.result


def test_a_retry_carries_the_failed_requirements_as_repair_feedback(echo):
    s = echo(["quiet", "LOUD"])
    s.instruct("Shout.", requirements=[upper(), Requirement("Be brief.", simple_validate(lambda t: True))])
    first, second = s.backend.prompts
    assert "failed these requirements" not in first
    assert "failed these requirements:\n- Use capitals." in second
    assert "Be brief" not in second.split("requirements:")[-1]


def test_the_loop_budget_bounds_attempts(echo):
    said = Requirement(
        "Use capitals.", lambda ctx: ValidationResult(False, reason=f"{ctx.last_output().value} is quiet")
    )
    s = echo(["a", "b", "c", "d"])
    result = s.instruct("Shout.", requirements=[said], loop_budget=3, return_sampling_results=True)
    assert not result.success and len(s.backend.prompts) == 3 and len(result.attempts) == 3
    assert result.result.value == "c"  # equally bad: the later one, with the most feedback, is kept
    assert result.selection.startswith("no attempt met every requirement; kept attempt 3 of 3")
    with pytest.raises(ValueError, match="loop_budget"):
        s.instruct("x", loop_budget=0)


def test_a_requirement_without_a_function_is_judged_by_the_model(echo):
    s = echo(["Paris is the capital.", "Yes, it does.", "No."])
    result = s.instruct(
        "Capital of France?",
        requirements=[LLMaJRequirement("Mentions Paris."), "Is in German."],
        loop_budget=1,
        return_sampling_results=True,
    )
    verdicts = [(r.description, v.result, v.reason) for r, v in result.sample_validations[0]]
    assert verdicts == [("Mentions Paris.", True, "Yes, it does."), ("Is in German.", False, "No.")]
    judge_prompt = s.backend.prompts[1]
    assert "Capital of France?" in judge_prompt and "Paris is the capital." in judge_prompt
    assert "Mentions Paris." in judge_prompt


def test_last_logs_hold_the_generation_and_every_check_of_the_last_call(echo):
    s = echo(["answer", "Yes", "No", "hi"])
    s.instruct("q", requirements=["r1", "r2"], loop_budget=1)
    assert [log.result.value for log in s.last_logs] == ["answer", "Yes", "No"]
    assert "failed these requirements" not in str(s.ctx.linearize()[0].format_for_llm().args["repair"])
    s.chat("hello")
    assert [log.result.value for log in s.last_logs] == ["hi"]


def test_chat_returns_an_assistant_message_and_grows_the_context(echo):
    s = echo(["Hi!", "Fine."])
    assert s.chat("Hello") == Message("assistant", "Hi!")
    s.chat("How are you?")
    assert len(s.ctx) == 4
    assert "Hello" in s.backend.prompts[1] and "Hi!" in s.backend.prompts[1]


def test_validate_checks_a_given_output_without_changing_the_context(echo):
    s = echo([])
    results = s.validate([upper()], output="NOT QUIET")
    assert [v.result for v in results] == [True]
    assert len(s.ctx) == 0
    s.ctx.insert(ModelOutputThunk("quiet"))
    assert s.validate(upper())[0].result is False


def test_reset_forgets_the_conversation(echo):
    s = echo(["a"])
    s.chat("x")
    s.reset()
    assert len(s.ctx) == 0 and s.last_logs == []


def test_a_model_judge_answers_briefly_unless_the_caller_says_otherwise(echo):
    from gencomp.components import JUDGE_MAX_NEW_TOKENS

    seen = []

    class Spy:
        @hookimpl
        def gencomp_generate(self, action, model_options):
            if isinstance(action, RequirementCheck):
                seen.append(dict(model_options))

    spy = Spy()
    plugins.register_plugin(spy, name="spy")
    try:
        s = echo(["answer", "Yes", "Yes"])
        s.instruct("q", requirements=["r"], loop_budget=1)
        Requirement("r").validate(s.backend, s.ctx, model_options={ModelOption.MAX_NEW_TOKENS: 64})
    finally:
        plugins.unregister_plugin(spy)
    assert seen == [{ModelOption.MAX_NEW_TOKENS: JUDGE_MAX_NEW_TOKENS}, {ModelOption.MAX_NEW_TOKENS: 64}]


class Batcher:
    """Answers every check whose description starts with ``batch:`` at once; observes finished generations."""

    def __init__(self) -> None:
        self.offered: list[list[str | None]] = []
        self.observed: list[tuple[str | None, str | None]] = []

    @hookimpl
    def gencomp_check_requirements(self, requirements, ctx, model_options, generate_logs):
        self.offered.append([r.description for r in requirements])
        answers = []
        for r in requirements:
            if not (r.description or "").startswith("batch:"):
                answers.append(None)
                continue
            verdict = r.description.endswith("yes")
            thunk = ModelOutputThunk(
                "Y" if verdict else "N", meta={"verdict": verdict, "p_yes": 0.9 if verdict else 0.2}
            )
            generate_logs.append(GenerateLog(action=r, result=thunk, model_options=dict(model_options)))
            answers.append(thunk)
        return answers

    @hookimpl
    def gencomp_after_generate(self, action, result, log):
        self.observed.append((getattr(action, "description", None), log.result.value if log else None))


@pytest.fixture
def batcher():
    plugin = Batcher()
    plugins.register_plugin(plugin, name="batcher")
    yield plugin
    plugins.unregister_plugin(plugin)


def test_validate_offers_the_model_checks_to_one_plugin_at_once_and_keeps_their_order(echo, batcher):
    s = echo(["No."])
    s.ctx.insert(ModelOutputThunk("the answer"))
    reqs = [Requirement("batch: a yes"), Requirement("judged"), upper(), Requirement("batch: b no")]
    results = s.validate(reqs)
    assert batcher.offered == [["batch: a yes", "judged", "batch: b no"]]  # not the validation_fn one
    assert [(v.result, v.score, v.reason) for v in results] == [
        (True, 0.9, "Y"),
        (False, None, "No."),
        (False, None, None),
        (False, 0.2, "N"),
    ]
    assert [log.result.value for log in s.last_logs] == ["Y", "No.", "N"]
    assert results[0].thunk.generate_log is s.last_logs[0]
    assert batcher.observed == [("batch: a yes", "Y"), ("judged", "No."), ("batch: b no", "N")]
    assert len(s.backend.prompts) == 1  # only the judged requirement reached the backend


def test_instruct_validates_through_the_batch_hook_with_the_judges_options(echo, batcher):
    from gencomp.components import JUDGE_MAX_NEW_TOKENS

    s = echo(["answer"])
    result = s.instruct("q", requirements=[Requirement("batch: yes")], loop_budget=1, return_sampling_results=True)
    assert result.success and result.sample_validations[0][0][1].score == 0.9
    assert s.last_logs[-1].model_options == {ModelOption.MAX_NEW_TOKENS: JUDGE_MAX_NEW_TOKENS}


def test_a_batch_answer_of_the_wrong_length_is_an_error(echo):
    class Short:
        @hookimpl
        def gencomp_check_requirements(self, requirements):
            return []

    plugin = Short()
    plugins.register_plugin(plugin, name="short")
    try:
        s = echo([])
        with pytest.raises(GencompError, match="one entry"):
            s.validate([Requirement("r")], output="x")
    finally:
        plugins.unregister_plugin(plugin)


def test_a_single_string_is_one_requirement_not_one_per_character(echo):
    s = echo(["ANSWER", "Yes"])
    result = s.instruct("Say it.", requirements="Be short", return_sampling_results=True)
    checked = [r.description for r, _ in result.sample_validations[0]]
    assert checked == ["Be short"]
    assert [r.description for r in Instruction("x", requirements="Be short").requirements] == ["Be short"]
    assert len(Instruction("x", icl_examples="one example").icl_examples) == 1


def test_a_mapping_or_number_where_a_list_is_expected_is_refused(echo):
    with pytest.raises(TypeError, match="requirements must be a list"):
        Instruction("x", requirements={"a": 1})
    with pytest.raises(TypeError, match="a requirement is a string or a Requirement"):
        echo(["a"]).act(Message("user", "hi"), requirements=[3])
    with pytest.raises(TypeError, match="grounding_context must be a dict"):
        Instruction("x", grounding_context=["doc"])


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_requirement_is_refused(text, echo):
    with pytest.raises(ValueError, match="description is empty"):
        Requirement(text)
    with pytest.raises(ValueError, match="description is empty"):
        echo(["a"]).instruct("Say it.", requirements=[text])


def test_format_given_an_instance_is_refused_with_a_clear_error(echo):
    import pydantic

    class Answer(pydantic.BaseModel):
        text: str

    with pytest.raises(TypeError, match="format= takes a class .* got an instance of Answer"):
        echo(["{}"]).instruct("Say it.", format=Answer(text="x"))


def test_an_unknown_special_option_or_a_wrong_value_in_a_call_is_refused(echo):
    with pytest.raises(ValueError, match="unknown model option '@@@max_new_token@@@'"):
        echo(["a"]).instruct("Say it.", model_options={"@@@max_new_token@@@": 5})
    with pytest.raises(ValueError, match="'@@@max_new_tokens@@@' must be at least 1, got 0"):
        echo(["a"]).chat("hi", model_options={ModelOption.MAX_NEW_TOKENS: 0})
