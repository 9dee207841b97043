"""Model-path verdicts say how sure they are: "decided", or "uncertain" with the reason."""

from __future__ import annotations

import json

import pytest

from gencomp import CheckVerdict, LLMaJRequirement, ModelOutputThunk, Requirement, simple_validate, start_session
from gencomp.cli import main
from gencomp.verdicts import uncertain_reason, with_state, yes_or_no


@pytest.fixture
def echo(install):
    install("gencomp-echo-backend")

    def session(script):
        return start_session("echo", script=script)

    return session


def test_a_p_yes_within_the_margin_of_one_half_is_uncertain_and_says_so():
    assert uncertain_reason(0.6, margin=0.15) == "p(yes)=0.60 is within 0.15 of 0.5"
    assert uncertain_reason(0.35, margin=0.15) is None  # exactly at the margin: decided
    assert uncertain_reason(0.97, margin=0.15) is None
    assert uncertain_reason(None, margin=0.15) is None  # a path without p(yes) is not judged by it


def test_an_unvalidated_kind_or_an_accuracy_below_the_floor_is_uncertain_whatever_p_yes():
    reason = uncertain_reason(0.99, margin=0.1, validated=False, validation="unvalidated kind (number_words)")
    assert reason == "never validated on this kind of requirement (unvalidated kind (number_words))"
    low = uncertain_reason(0.02, margin=0.1, validated=True, accuracy=0.6, min_accuracy=0.75)
    assert low == "measured 60% on this kind of requirement, below the 75% needed to show it beats chance"
    assert uncertain_reason(0.02, margin=0.1, validated=True, accuracy=0.9, min_accuracy=0.75) is None
    both = uncertain_reason(0.55, margin=0.1, validated=False)
    assert both is not None and both.startswith("never validated") and both.endswith("within 0.10 of 0.5")


def test_a_margin_outside_zero_to_one_half_is_refused():
    for margin in (-0.1, 0.6):
        with pytest.raises(ValueError, match="margin must be between 0 and 0.5"):
            uncertain_reason(0.5, margin=margin)


def test_with_state_sets_the_state_from_the_verdicts_own_fields_and_keeps_earlier_reasons():
    decided = with_state(CheckVerdict(True, 0.9, "alora:x", validated=True, accuracy=0.9), margin=0.2)
    assert decided.state == "decided" and decided.uncertain_reason is None and not decided.uncertain
    near = with_state(CheckVerdict(False, 0.45, "alora:x"), margin=0.2)
    assert near.uncertain and near.uncertain_reason == "p(yes)=0.45 is within 0.20 of 0.5"
    earlier = CheckVerdict(True, 0.95, "alora:x", state="uncertain", uncertain_reason="the server was shared")
    assert with_state(earlier, margin=0.2).uncertain_reason == "the server was shared"
    assert with_state(replace_p(earlier, 0.55), margin=0.2).uncertain_reason == (
        "the server was shared; p(yes)=0.55 is within 0.20 of 0.5"
    )


def replace_p(verdict: CheckVerdict, p_yes: float) -> CheckVerdict:
    from dataclasses import replace

    return replace(verdict, p_yes=p_yes)


def test_yes_or_no_reads_the_first_word_of_an_answer():
    assert [yes_or_no(t) for t in ("Yes, it does.", " no.", "N", "**True**", "Not really")] == [
        True,
        False,
        False,
        True,
        False,
    ]
    assert [yes_or_no(t) for t in ("The answer is yes.", "", None, "Maybe")] == [None, None, None, None]


def test_a_judge_answer_that_starts_with_neither_yes_nor_no_is_a_failed_uncertain_verdict_with_its_reason(echo):
    s = echo(["It depends on the weather, really.", "Yes, it is."])
    s.ctx.insert(ModelOutputThunk("Take an umbrella."))
    (result,) = s.validate([LLMaJRequirement("The answer gives advice.")])
    assert result.result is False and result.state == "uncertain"
    assert (
        result.uncertain_reason
        == "the judge's answer starts with neither yes nor no: 'It depends on the weather, really.'"
    )
    assert result.thunk.meta["state"] == "uncertain"
    assert result.thunk.meta["uncertain_reason"] == result.uncertain_reason
    (second,) = s.validate([LLMaJRequirement("The answer gives advice.")])
    assert second.result is True and second.state == "decided" and second.uncertain_reason is None
    assert second.thunk.meta["state"] == "decided" and "uncertain_reason" not in second.thunk.meta


def test_a_code_check_is_always_decided(echo):
    s = echo([])
    s.ctx.insert(ModelOutputThunk("LOUD"))
    checks = s.validate([Requirement("Capitals.", simple_validate(str.isupper)), "Answer in fewer than 5 words."])
    assert [(v.result, v.state, v.uncertain_reason) for v in checks] == [
        (True, "decided", None),
        (True, "decided", None),
    ]


def test_the_cli_marks_an_uncertain_verdict_and_gives_its_reason_in_the_line_and_in_json(install, capsys):
    install("gencomp-echo-backend")  # with no script, echo answers a check with its own prompt: neither yes nor no
    args = ["instruct", "Describe a cat.", "--backend", "echo", "--req", "The answer is kind.", "--loop-budget", "1"]
    assert main([*args, "--no-stream"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if "The answer is kind." in x and "[" in x)
    assert line.startswith("  [????] The answer is kind.  (llm-as-a-judge, uncertain: the judge's answer starts ")
    assert main([*args, "--json"]) == 1
    (check,) = json.loads(capsys.readouterr().out)["attempts"][0]["checks"]
    assert check["state"] == "uncertain" and check["passed"] is False
    assert check["uncertain_reason"].startswith("the judge's answer starts with neither yes nor no")


def test_the_cli_gives_no_uncertain_reason_for_a_decided_verdict(install, capsys):
    install("gencomp-echo-backend")
    args = ["instruct", "Say hi.", "--backend", "echo", "--req", "Answer in fewer than 50 words.", "--loop-budget", "1"]
    assert main([*args, "--json"]) == 0
    (check,) = json.loads(capsys.readouterr().out)["attempts"][0]["checks"]
    assert check["state"] != "uncertain" and check["uncertain_reason"] is None
