"""Plain-text requirements recognised as code checks: precision on the paraphrase sets, and the wiring."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

from gencomp import Instruction, LLMaJRequirement, Requirement, checks
from gencomp.checks import _evaluation
from gencomp.cli import main
from gencomp.components import as_requirement

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "datasets" / "requirement_texts"
RESULTS = ROOT / "core" / "src" / "gencomp" / "checks" / "RESULTS.md"


@pytest.fixture(scope="module")
def reports() -> dict[str, _evaluation.RecognitionReport]:
    with warnings.catch_warnings():  # without py3langid each language text warns that it is left to the model
        if importlib.util.find_spec("py3langid") is None:
            warnings.filterwarnings("ignore", message=".*needs py3langid", category=UserWarning)
        return {n: _evaluation.evaluate(_evaluation.load(DATA / f"{n}.jsonl")) for n in _evaluation.SETS}


def test_the_paraphrase_set_has_500_texts_with_near_misses_and_semantic_requirements():
    rows = _evaluation.load(DATA / "paraphrases.jsonl")
    groups = {g: sum(r["group"] == g for r in rows) for g in ("phrasing", "near-miss", "semantic")}
    assert len(rows) >= 500 and groups["near-miss"] >= 100 and groups["semantic"] >= 30
    assert set(checks.IFEVAL_IDS) <= {r["kind"] for r in rows}


def test_recognition_precision_is_at_least_99_percent_on_every_set(reports):
    for name, report in reports.items():
        assert report.precision >= 0.99, (name, report.wrong)


@pytest.mark.skipif(
    importlib.util.find_spec("py3langid") is None, reason="the tables count language kinds, which need py3langid"
)
def test_results_file_holds_the_current_recall_tables(reports):
    text = RESULTS.read_text(encoding="utf-8")
    for report in reports.values():
        assert report.table() in text
        assert f"precision {100 * report.precision:.1f}% ({report.correct} of {report.recognised}" in text


def test_a_plain_string_that_states_a_kind_becomes_its_code_check_and_keeps_its_wording():
    req = as_requirement("Answer in fewer than 20 words.")
    check = checks.code_check(req)
    assert check is not None and (check.kind, check.params) == (
        "number_words",
        {"num_words": 20, "relation": "less than"},
    )
    assert req.description == "Answer in fewer than 20 words."
    instruction = Instruction("Describe a river.", requirements=["Use only lowercase letters.", "Be poetic."])
    kinds = [checks.recognised_kind(r.description or "") for r in instruction.requirements]
    assert kinds == ["all_lowercase", None]
    assert instruction.requirements[1].validation_fn is None


def test_explicit_requirement_objects_are_never_rewritten():
    for req in (Requirement("Answer in fewer than 20 words."), LLMaJRequirement("Answer in fewer than 20 words.")):
        assert as_requirement(req) is req and req.validation_fn is None


def test_user_variables_are_filled_in_before_recognition():
    instruction = Instruction("x", requirements=["Answer in fewer than {{n}} words."], user_variables={"n": "12"})
    assert checks.code_check(instruction.requirements[0]).params == {"num_words": 12, "relation": "less than"}  # type: ignore[union-attr]


def test_is_verifiable_tells_routing_which_texts_code_decides():
    assert checks.is_verifiable("No commas.") and checks.recognised_kind("No commas.") == "no_comma"
    assert not checks.is_verifiable("The answer is polite.") and checks.recognised_kind("Keep it short.") is None


@pytest.fixture
def echo(install):
    install("gencomp-echo-backend")
    from gencomp import start_session

    return lambda script: start_session("echo", script=script)


def test_a_retry_prompt_carries_the_reason_of_the_failed_code_check(echo):
    s = echo([" ".join(["word"] * 25), "A short river answer."])
    result = s.instruct(
        "Describe a river.", requirements=["Answer in fewer than 20 words."], return_sampling_results=True
    )
    first, second = s.backend.prompts
    ((_, verdict),) = result.sample_validations[0]
    assert (verdict.result, verdict.reason, verdict.check_path) == (
        False,
        "25 words; fewer than 20 allowed",
        "code:number_words",
    )
    assert "failed these requirements:\n- Answer in fewer than 20 words. (25 words; fewer than 20 allowed)" in second
    assert "failed these requirements" not in first and result.success


def test_a_retry_prompt_says_a_model_verdict_was_judged_not_met(echo):
    s = echo(["An answer.", "No, it is not.", "Another answer.", "Yes."])
    s.instruct("Describe a river.", requirements=["Be poetic."])
    assert "- Be poetic. (judged not met)" in s.backend.prompts[2]


def test_the_cli_prints_the_code_path_and_reason_of_each_verdict(install, monkeypatch, capsys):
    install("gencomp-echo-backend")
    from gencomp import plugins

    monkeypatch.setenv("GENCOMP_BACKEND", "echo")
    plugins.reset()
    assert main(["instruct", "Say hi, please.", "--req", "Answer in fewer than 3 words.", "--loop-budget", "1"]) == 1
    out = capsys.readouterr().out  # the echo backend answers with its prompt, which is longer
    assert (
        "[FAIL] Answer in fewer than 3 words.  (code:number_words: " in out and " words; fewer than 3 allowed)" in out
    )
