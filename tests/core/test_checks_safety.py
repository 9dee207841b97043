"""Every code check is safe on any text: a verdict (often a failed one), never an exception.

Hypothesis generates texts (any Unicode, brackets, markdown, newlines); the degenerate texts that
once took quadratic time or overflowed the stack are checked by name. How the time grows with the
length of the text is measured in ``benchmarks/checks/linear.py``, not asserted here.
"""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencomp import Requirement, ValidationResult, checks
from gencomp.checks import CodeCheck, _evaluation

HAS_LANGID = importlib.util.find_spec("py3langid") is not None

KINDS = _evaluation.examples()


def test_the_fuzzed_set_covers_every_built_in_kind():
    covered = {checks.code_check(req).kind for req in KINDS.values()}  # type: ignore[union-attr]
    expected = set(checks.BUILTIN_KINDS) - (set() if HAS_LANGID else {"response_language"})
    assert covered == expected


def verdict_of(req: Requirement, text: str) -> ValidationResult:
    check = checks.code_check(req)
    assert isinstance(check, CodeCheck)
    result = check.check_text(text)
    assert isinstance(result, ValidationResult) and isinstance(result.result, bool) and result.reason
    assert not result.reason.startswith("the check could not run"), result.reason  # a bug, caught by the net
    return result


PIECES = [*" \n\t.,!?;:*-_#>[](){}<>\"'`@+|~…。\uff01\uff1f", "\n\n", "***", "```", "P.S.", "http://a.b", "1. ", "- "]
TEXTS = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(PIECES)), max_size=60).map("".join)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_every_kind_gives_a_verdict_on_any_text(kind, text):
    verdict_of(KINDS[kind], text)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_the_recogniser_reads_any_text_without_raising(text):
    req = checks.recognise(text)
    assert req is None or checks.code_check(req) is not None or req.validation_fn is not None


@settings(max_examples=200, deadline=None)
@given(text=TEXTS)
def test_text_helpers_read_any_text(text):
    sentences = checks.sentences(text)
    assert all(s.strip() for s in sentences)
    low, high = checks.word_count_range(text)
    assert 0 <= low <= high and low == checks.count_words(text)
    assert all(p.strip() for p in checks.paragraphs(text))
    checks.bullets(text)
    checks.placeholders(text)
    checks.phone_numbers(text)


DEGENERATE = {
    "stops after initials (39 s before: quadratic)": "A. " * 13_000,
    "nested brackets (RecursionError before)": "[" * 5000 + "]" * 5000,
    "unclosed brackets": "[" * 40_000,
    "asterisks": "*" * 40_000,
    "newlines": "\n" * 40_000,
    "spaces": " " * 40_000,
    "one long word": "a" * 40_000,
    "at signs": "@" * 20_000 + "a." * 10_000,
    "digits and dashes": "1-" * 20_000,
    "ellipses": "... " * 10_000,
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_texts_get_verdicts_from_every_kind(name):
    for req in KINDS.values():
        verdict_of(req, DEGENERATE[name])


def test_deep_json_nesting_is_a_failed_verdict_through_instruct(install):
    install("gencomp-echo-backend")
    from gencomp import start_session

    session = start_session("echo", script=["[" * 5000 + "]" * 5000])
    result = session.instruct(
        "Give me JSON.", requirements=["Answer in valid JSON."], loop_budget=1, return_sampling_results=True
    )
    ((_, verdict),) = result.sample_validations[0]
    assert not result.success and not verdict.result
    assert verdict.check_path == "code:json_format" and verdict.reason == "nested too deeply to be read as JSON"
