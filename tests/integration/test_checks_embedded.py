"""Code checks on the embedded default model: a plain word-count requirement is decided by code, a failed
attempt's retry prompt carries the check's reason, and a verdict code cannot decide goes to the shipped adapter."""

from __future__ import annotations

import os

import pytest

import gencomp
from gencomp.cli import main

pytestmark = pytest.mark.embedded


@pytest.fixture
def default_session(monkeypatch: pytest.MonkeyPatch, tmp_path) -> gencomp.Session:
    for name in list(os.environ):
        if name.startswith("GENCOMP_") and name != "GENCOMP_MODELS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    gencomp.plugins.reset()
    return gencomp.start_session()


def test_a_failed_word_count_sends_its_reason_to_the_retry_on_the_default_model(default_session):
    result = default_session.instruct(
        "Describe a river.",
        requirements=["Answer in at least 200 words."],  # 40 new tokens cannot make 200 words
        loop_budget=2,
        return_sampling_results=True,
        model_options={gencomp.ModelOption.MAX_NEW_TOKENS: 40},
    )
    ((_, first),) = result.sample_validations[0]
    words = gencomp.checks.count_words(result.sample_generations[0].value or "")
    assert first.check_path == "code:number_words" and first.score is None
    assert not first.result and first.reason == f"{words} word{'' if words == 1 else 's'}; at least 200 required"
    prompts = [str(log.prompt) for log in default_session.last_logs]
    assert f"- Answer in at least 200 words. ({first.reason})" not in prompts[0]
    assert f"- Answer in at least 200 words. ({first.reason})" in prompts[1]


def test_the_cli_reports_a_code_verdict_with_the_word_count(default_session, capsys):
    assert main(["instruct", "Describe a river.", "--req", "Answer in fewer than 20 words.", "--loop-budget", "1"]) in (
        0,
        1,
    )
    out = capsys.readouterr().out
    assert "Answer in fewer than 20 words.  (code:number_words: " in out and " words; fewer than 20 allowed)" in out


def test_a_language_the_identifier_cannot_tell_is_judged_by_the_shipped_adapter(default_session):
    (verdict,) = default_session.validate(["Answer in English."], output="No.")
    assert verdict.check_path == "alora:constraint" and verdict.score is not None
    reason = verdict.verdict.fallback_reason
    assert reason.startswith("code:response_language could not decide: the language is not clear")
    assert "below the confidence floor 0.90" in reason
    (decided,) = default_session.validate(["Answer in English."], output="The river flows to the sea every day.")
    assert decided.result and decided.check_path == "code:response_language" and decided.verdict.fallback_reason is None
