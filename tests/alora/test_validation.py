"""Every aLoRA verdict says whether a measurement covers it and what accuracy it rests on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import gencomp
from gencomp import ALoraRequirement, LinearContext, ModelOutputThunk, Requirement, Session
from gencomp.cli import main
from gencomp_alora import HFAlora
from gencomp_alora.training.hooks import shipped_adapter_dir
from gencomp_alora.validation import min_accuracy, read_validation, semantic_family, validation_for
from gencomp_hf_backend import LocalHFBackend

GP = "<|im_start|>check\n"
MEASURED = {
    "families": {"all_capitals": {"accuracy": 0.55, "n": 19, "data": "disjoint.jsonl"}},
    "unrecognised": [
        {"name": "semantic checks", "accuracy": 0.7, "n": 50, "data": "checks.jsonl"},
        {"name": "unrecognised wordings of verifiable kinds", "accuracy": 0.6, "n": 20, "data": "disjoint.jsonl"},
    ],
}


def test_an_unrecognised_requirement_rests_on_the_measurements_of_unrecognised_requirements():
    v = validation_for(MEASURED, "The answer is polite.")
    assert v.validated and v.accuracy == 0.6
    assert v.text == "measured 70% on semantic checks (n=50), 60% on unrecognised wordings of verifiable kinds (n=20)"


def test_a_recognised_kind_rests_on_its_family_or_is_an_unvalidated_kind():
    capitals = validation_for(MEASURED, "Use only capital letters.")
    assert capitals.validated and capitals.accuracy == 0.55
    assert capitals.text == "measured 55% on all_capitals worded by hand (n=19)"
    words = validation_for(MEASURED, "Answer in fewer than 20 words.")  # no family of the adapter measured
    assert not words.validated and words.accuracy is None
    assert words.text.startswith("unvalidated kind (number_words")


def test_a_requirement_that_names_one_semantic_family_rests_on_that_familys_measurement():
    measured = {**MEASURED, "families": {**MEASURED["families"], "apology": {"accuracy": 0.85, "n": 20}}}
    v = validation_for(measured, "Say sorry for the late reply.")
    assert v.validated and (v.accuracy, v.n) == (0.85, 20)
    assert v.text == "measured 85% on apology requirements worded by hand (n=20)"
    assert validation_for(measured, "The answer is polite.").text.startswith("measured 70% on semantic checks")
    assert semantic_family("Apologise politely.") is None  # names two families: none
    assert semantic_family("The answer mentions Paris.") is None


def test_a_requirement_that_negates_rests_on_the_measurement_of_negated_requirements():
    families = {**MEASURED["families"], "apology": {"accuracy": 0.85, "n": 20}}
    measured = {**MEASURED, "families": families, "negated": {"accuracy": 0.56, "n": 62}}
    negations = ("Don't apologise.", "Never say sorry.", "Write it without an apology.", "Skip the greeting.")
    for text in (*negations, "No apologies, just the answer.", "no sorry please"):
        v = validation_for(measured, text)
        assert (v.accuracy, v.n) == (0.56, 62)
        assert v.text == "measured 56% on negated requirements worded by hand (n=62)"
    assert validation_for(measured, "Say sorry for the wait.").accuracy == 0.85  # no negation: its family
    assert validation_for(measured, "Say sorry, no matter what.").accuracy == 0.85  # "no" leads no clause here
    # without a negated measurement, a negated text rests on what else covers it
    assert validation_for({**measured, "negated": None}, "Don't apologise.").accuracy == 0.85


def test_a_verdict_resting_on_a_measurement_below_the_floor_is_uncertain_whatever_its_p_yes():
    from gencomp import CheckVerdict
    from gencomp_alora.validation import with_measured_state

    measured = {
        "families": {},
        "negated": {"accuracy": 0.56, "n": 62},
        "unrecognised": [{"name": "semantic checks", "accuracy": 0.7, "n": 50}],
        "uncertain_margin": 0.3,
    }

    def checked(text: str, p_yes: float) -> CheckVerdict:
        m = validation_for(measured, text)
        verdict = CheckVerdict(p_yes > 0.5, p_yes, "alora:constraint", validated=m.validated, accuracy=m.accuracy)
        return with_measured_state(verdict, measured, m)

    negated = checked("Don't be rude.", 0.99)  # 56% on 62 is below the 63% floor
    assert negated.state == "uncertain" and "below the 63% needed" in (negated.uncertain_reason or "")
    assert checked("The answer is polite.", 0.99).state == "decided"  # 70% on 50 clears the 64% floor
    near = checked("The answer is polite.", 0.75)
    assert near.state == "uncertain" and near.uncertain_reason == "p(yes)=0.75 is within 0.30 of 0.5"


def test_a_verdict_resting_on_a_measurement_below_the_decided_target_is_uncertain_whatever_its_p_yes():
    from gencomp import CheckVerdict
    from gencomp_alora.validation import decided_target, with_measured_state

    measured = {
        "families": {"polite": {"accuracy": 0.95, "n": 20}, "apology": {"accuracy": 0.8, "n": 20}},
        "unrecognised": [{"name": "semantic checks", "accuracy": 0.86, "n": 50}],
        "uncertain_margin": 0.45,
        "calibration": {"target": 0.9},
    }
    assert decided_target(measured) == 0.9 and decided_target({}) is None

    def checked(text: str, p_yes: float) -> CheckVerdict:
        m = validation_for(measured, text)
        verdict = CheckVerdict(p_yes > 0.5, p_yes, "alora:constraint", validated=m.validated, accuracy=m.accuracy)
        return with_measured_state(verdict, measured, m)

    assert checked("Be polite.", 0.99).state == "decided"  # 95% reaches the 90% target
    sorry = checked("Say sorry for the wait.", 0.99)  # 80% on 20 beats chance, but not the target
    assert sorry.state == "uncertain"
    assert (
        sorry.uncertain_reason
        == "measured 80% on this kind of requirement, below the 90% a decided verdict must be measured at"
    )
    assert checked("Explain why.", 0.01).state == "uncertain"  # 86% on 50
    with pytest.raises(ValueError, match="target"):
        decided_target({"calibration": {"target": 0.3}})


def test_the_accuracy_floor_is_where_a_wilson_interval_clears_chance():
    assert min_accuracy(20) == 0.75 and min_accuracy(50) == 0.64 and min_accuracy(282) < 0.57
    assert min_accuracy(3) > 1  # no accuracy on 3 checks shows anything
    with pytest.raises(ValueError):
        min_accuracy(0)


def test_an_adapter_without_measurements_is_unvalidated_for_everything():
    for measured in (None, {}):
        v = validation_for(measured, "The answer is polite.")
        assert not v.validated and v.accuracy is None and v.text.startswith("unvalidated")
    assert not validation_for({"families": {}, "unrecognised": []}, "The answer is polite.").validated


def test_read_validation_reads_the_section_of_an_adapter_folder(tmp_path):
    assert read_validation(tmp_path) is None
    (tmp_path / "gencomp_alora.json").write_text(json.dumps({"yes": "Y", "validation": MEASURED}))
    assert read_validation(tmp_path) == MEASURED
    (tmp_path / "gencomp_alora.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_validation(tmp_path)


def test_the_shipped_adapter_lists_what_it_was_measured_on():
    measured = read_validation(shipped_adapter_dir())
    assert measured is not None
    assert measured["families"] and all(0 <= f["accuracy"] <= 1 and f["n"] > 0 for f in measured["families"].values())
    names = {s["name"].split(" (")[0] for s in measured["unrecognised"]}
    assert names >= {"semantic checks", "everyday semantic requirements"}
    everyday = {"polite", "greeting", "apology", "tone", "person", "recommendation"}
    everyday |= {"answers_question", "mentions_fact"}
    assert everyday <= {f for f, m in measured["families"].items() if m["trained"]}
    assert 0 < measured["uncertain_margin"] <= 0.5 and 0 <= measured["calibration"]["ece"] <= 1


def _check(b: LocalHFBackend, requirement: Requirement) -> gencomp.ValidationResult:
    ctx = LinearContext()
    ctx.insert_turn(gencomp.Instruction("What is the capital of France?"), ModelOutputThunk("Paris is."))
    (result,) = Session(b, ctx).validate([requirement])
    return result


def test_a_verdict_of_an_adapter_without_measurements_says_unvalidated(tiny_model_path, adapter_path):
    b = LocalHFBackend(tiny_model_path, model_options={"max_new_tokens": 8})
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    result = _check(b, Requirement("Mentions Paris."))
    assert result.check_path == "alora:constraint"
    assert result.verdict.validated is False and result.verdict.accuracy is None
    assert result.verdict.validation.startswith("unvalidated")
    assert result.thunk.meta["validated"] is False and result.thunk.meta["validation"] == result.verdict.validation
    assert result.state == "uncertain" and result.thunk.meta["state"] == "uncertain"
    assert result.uncertain_reason.startswith("never validated on this kind of requirement (unvalidated")


def test_a_verdict_of_a_measured_adapter_says_what_it_rests_on(tiny_model_path, adapter_path):
    b = LocalHFBackend(tiny_model_path, model_options={"max_new_tokens": 8})
    b.add_alora(HFAlora("constraint", adapter_path, GP, b, validation=MEASURED))
    plain = _check(b, Requirement("Mentions Paris."))
    assert plain.verdict.validated is True and plain.verdict.accuracy == 0.6
    assert plain.thunk.meta["validation"].startswith("measured 70% on semantic checks")
    forced = _check(b, ALoraRequirement("Answer in fewer than 20 words."))
    assert forced.check_path == "alora:constraint" and forced.verdict.validated is False
    assert forced.thunk.meta["validation"].startswith("unvalidated kind (number_words")
    assert forced.state == "uncertain"


def _p_yes(b: LocalHFBackend, text: str) -> float:
    result = _check(b, Requirement(text))
    assert result.check_path == "alora:constraint" and result.score is not None
    return result.score


@pytest.mark.parametrize("accuracy", [0.9, 0.6])
def test_an_adapter_verdict_is_uncertain_near_one_half_or_below_the_accuracy_floor(
    tiny_model_path, adapter_path, accuracy
):
    b = LocalHFBackend(tiny_model_path, model_options={"max_new_tokens": 8})
    measured = {"families": {}, "unrecognised": [{"name": "semantic checks", "accuracy": accuracy, "n": 50}]}
    adapter = HFAlora("constraint", adapter_path, GP, b, validation=measured)
    b.add_alora(adapter)
    p_yes = _p_yes(b, "Mentions Paris.")
    distance = abs(p_yes - 0.5)
    for margin in (0.0, min(distance + 0.01, 0.5), max(distance - 0.01, 0.0)):
        adapter.validation = {**measured, "uncertain_margin": margin}
        result = _check(b, Requirement("Mentions Paris."))
        near, low = distance < margin, accuracy < min_accuracy(50)
        assert result.state == ("uncertain" if near or low else "decided"), (margin, p_yes)
        if low:
            assert "measured 60% on this kind of requirement, below the 64% needed" in result.uncertain_reason
        if near:
            assert result.uncertain_reason.endswith(f"p(yes)={p_yes:.2f} is within {margin:.2f} of 0.5")
        if not (near or low):
            assert result.uncertain_reason is None and result.thunk.meta["state"] == "decided"


def test_a_judge_verdict_on_the_hf_backend_is_uncertain_exactly_within_the_judge_margin(tiny_model_path):
    from gencomp import LLMaJRequirement
    from gencomp.verdicts import JUDGE_MARGIN

    b = LocalHFBackend(tiny_model_path, model_options={"max_new_tokens": 8})
    seen = []
    for text in ("Mentions Paris.", "Is short.", "Is polite.", "Uses capitals."):
        result = _check(b, LLMaJRequirement(text))
        assert result.check_path == "llm-as-a-judge" and result.score is not None
        near = abs(result.score - 0.5) < JUDGE_MARGIN
        assert result.state == ("uncertain" if near else "decided")
        assert (result.uncertain_reason is not None) is near
        seen.append(result.state)
    assert seen


@pytest.mark.embedded
def test_the_cli_says_what_the_shipped_adapters_verdict_rests_on(monkeypatch, tmp_path, capsys):
    for name in list(os.environ):
        if name.startswith("GENCOMP_") and name != "GENCOMP_MODELS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    gencomp.plugins.reset()
    args = ["instruct", "Describe a river.", "--req", "The answer is polite.", "--loop-budget", "1"]
    assert main([*args, "--max-new-tokens", "8", "--no-stream"]) in (0, 1)
    line = next(x for x in capsys.readouterr().out.splitlines() if "The answer is polite." in x)
    assert "(alora:constraint p(yes)=" in line and ", measured " in line
    assert "% on polite requirements worded by hand (n=" in line
    assert main([*args, "--max-new-tokens", "8", "--json"]) in (0, 1)
    (check,) = json.loads(capsys.readouterr().out)["attempts"][0]["checks"]
    assert check["path"] == "alora:constraint" and check["validated"] is True
    assert 0 < check["accuracy"] <= 1 and check["validation"].startswith("measured ")


def test_the_disjoint_files_exist_where_the_metadata_says():
    root = Path(__file__).resolve().parents[2]
    for scope in read_validation(shipped_adapter_dir())["unrecognised"]:  # type: ignore[index]
        assert (root / scope["data"]).is_file()
