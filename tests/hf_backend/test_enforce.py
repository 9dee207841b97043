"""Constraints on the HF backend: llguidance reads every kind's Lark grammar as the core does, and a random
tiny model's answers under it pass the kind's check, alone, batched, combined and within small budgets."""

from __future__ import annotations

import random

import pydantic
import pytest

from gencomp import CBlock, GencompError, LinearContext, Message, ModelOption, Session, checks
from gencomp.constraints import constraint_of
from gencomp.testing import ENFORCEABLE_EXAMPLES


@pytest.fixture(scope="module")
def ll_tokenizer(tiny_model_path):
    import llguidance.hf
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    return tok, llguidance.hf.from_tokenizer(tok)


@pytest.mark.parametrize(("kind", "params"), ENFORCEABLE_EXAMPLES, ids=[k for k, _ in ENFORCEABLE_EXAMPLES])
def test_llguidance_accepts_exactly_what_the_core_automaton_accepts_on_samples(ll_tokenizer, kind, params):
    from llguidance import LLMatcher

    tok, ll = ll_tokenizer
    constraint = constraint_of(checks.make(kind, **params))
    is_error, warnings = LLMatcher.validate_grammar_with_warnings(LLMatcher.grammar_from_lark(constraint.lark()))
    assert not is_error and not warnings
    rng = random.Random(kind)
    accepted = [constraint.automaton.sample(rng, rng.randint(0, 60)) for _ in range(12)]
    for text in accepted:
        assert text is not None
        matcher = LLMatcher(ll, constraint.lark(), log_level=0)
        ids = tok.encode(text, add_special_tokens=False)
        assert matcher.try_consume_tokens(ids) == len(ids), f"llguidance refused {text!r} that the automaton accepts"
        assert matcher.is_accepting(), f"llguidance does not accept {text!r} as a whole answer"
    # and refuses the first character the automaton refuses after an accepted prefix
    for text in accepted[:4]:
        assert text is not None
        prefix = text[: len(text) // 2]
        refused = next((c for c in ',ZzA.\n*<"{ ' if constraint.automaton.run(prefix + c).tag == "empty"), None)
        if refused is None:
            continue
        matcher = LLMatcher(ll, constraint.lark(), log_level=0)
        ids = tok.encode(prefix + refused, add_special_tokens=False)
        assert matcher.try_consume_tokens(ids) < len(ids), f"llguidance took {prefix + refused!r}"


@pytest.mark.parametrize(("kind", "params"), ENFORCEABLE_EXAMPLES, ids=[k for k, _ in ENFORCEABLE_EXAMPLES])
def test_a_random_models_answer_under_a_kinds_constraint_passes_its_check(backend, kind, params):
    requirement = checks.make(kind, **params)
    constraint = constraint_of(requirement)
    out = backend.generate_from_context(
        Message("user", "Say something."), LinearContext(),
        model_options={ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 24},
    )  # fmt: skip
    assert constraint.matches(out.value or ""), repr(out.value)
    result = requirement.validation_fn.check_text(out.value or "")
    assert result.result, f"{kind}: {out.value!r} fails its check: {result.reason}"


def test_json_and_a_forbidden_word_intersect_into_one_matcher_that_reads_a_long_answer(ll_tokenizer):
    from llguidance import LLMatcher

    from gencomp_hf_backend.constrained import matcher_limits

    tok, ll = ll_tokenizer
    both = constraint_of(checks.json_format()) & constraint_of(checks.forbidden_words(["nickname"]))
    text = '```json\n{\n  "name": "Staff", "alias": ["Staffy", "Ford"], "age": 42, "more": {"a": [1, {"b": "c"}]}}\n```'
    matcher = LLMatcher(ll, both.lark(), log_level=0, limits=matcher_limits())
    ids = tok.encode(text, add_special_tokens=False)
    assert matcher.try_consume_tokens(ids) == len(ids), matcher.get_error()
    assert matcher.is_accepting() and not matcher.is_error()


def test_highlights_in_paragraphs_with_a_word_count_compile_into_a_matcher_that_reads_such_an_answer(ll_tokenizer):
    from llguidance import LLMatcher

    from gencomp.constraints import plan
    from gencomp_hf_backend.constrained import matcher_limits

    tok, ll = ll_tokenizer
    reqs = [
        checks.keyword_frequency("photography", 1, "less than"),
        checks.number_highlighted_sections(3),
        checks.number_paragraphs(3),
    ]
    made = plan(reqs, syntaxes={"lark"})
    assert made.enforced == tuple(reqs) and made.constraint is not None  # in their wide forms
    matcher = LLMatcher(ll, made.constraint.lark(), log_level=0, limits=matcher_limits())
    assert not matcher.is_error(), matcher.get_error()  # with the embedded tokenizer: refused at the default fuel
    text = "Start *small* and *plan*.\n\n***\n\nKeep *costs* low.\nSave first.\n\n***\n\nGood luck."
    ids = tok.encode(text, add_special_tokens=False)
    assert matcher.try_consume_tokens(ids) == len(ids), matcher.get_error()
    assert matcher.is_accepting() and all(r.validation_fn.check_text(text).result for r in reqs)


def test_a_combined_json_constraint_ends_only_where_both_checks_pass(backend):
    import warnings

    from gencomp.constraints import EnforcementBugWarning

    reqs = [checks.json_format(), checks.forbidden_words(["nickname"])]
    both = constraint_of(reqs[0]) & constraint_of(reqs[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnforcementBugWarning)  # a matcher that fails mid-answer warns
        out = backend.generate_from_context(
            Message("user", "Give me a nickname for Stafford as JSON."), LinearContext(),
            model_options={ModelOption.CONSTRAINT: both, ModelOption.MAX_NEW_TOKENS: 48},
        )  # fmt: skip
    for r in reqs:
        assert r.validation_fn.check_text(out.value or "").result, repr(out.value)


@pytest.mark.parametrize("budget", [1, 3, 8])
def test_an_answer_that_must_close_is_completed_within_a_small_budget(backend, budget):
    requirement = checks.make("end_phrase", end_phrase="That is all.")
    both = constraint_of(requirement) & constraint_of(checks.quotation())
    logs: list = []
    out = backend.generate_from_context(
        Message("user", "Talk."), LinearContext(), generate_logs=logs,
        model_options={ModelOption.CONSTRAINT: both, ModelOption.MAX_NEW_TOKENS: budget},
    )  # fmt: skip
    text = out.value or ""
    # the completion may spell the phrase in any case its check accepts (end_phrase ignores case)
    assert both.matches(text) and text.startswith('"') and text.lower().endswith('that is all."')
    assert requirement.validation_fn.check_text(text).result, text
    closing = max(
        len(backend.tokenizer.encode(f'{form}"')) for form in ("That is all.", "that is all.", "THAT IS ALL.")
    )
    assert logs[-1].extra["new_tokens"] <= budget + closing + 1


def test_a_prefix_closed_answer_stops_at_its_budget(backend):
    constraint = constraint_of(checks.no_comma())
    logs: list = []
    backend.generate_from_context(
        Message("user", "Talk."), LinearContext(), generate_logs=logs,
        model_options={ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 10},
    )  # fmt: skip
    assert logs[-1].extra["new_tokens"] <= 11  # the budget, and EOS: no slack is spent on an accepted answer


def test_batched_raw_and_candidate_generation_enforce_the_constraint_on_every_row(backend):
    constraint = constraint_of(checks.number_bullet_lists(2)) & constraint_of(checks.all_lowercase(english=False))
    options = {ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 20}
    raw = backend._generate_from_raw([CBlock("A"), CBlock("Longer prompt here"), CBlock("B")], model_options=options)
    rows = backend.generate_candidates(
        Message("user", "List."), LinearContext(), 3, model_options={**options, ModelOption.TEMPERATURE: 1.0}
    )
    for out in [*raw, *rows]:
        assert constraint.matches(out.value or ""), repr(out.value)


def test_format_meets_a_json_constraint_and_refuses_another_by_name(backend):
    class City(pydantic.BaseModel):
        name: str

    json_only = constraint_of(checks.json_format())
    out = backend.generate_from_context(
        Message("user", "A city."), LinearContext(), format=City,
        model_options={ModelOption.CONSTRAINT: json_only, ModelOption.MAX_NEW_TOKENS: 16},
    )  # fmt: skip
    City.model_validate_json(out.value or "")
    with pytest.raises(GencompError, match="format=City and the constraint"):
        backend.generate_from_context(
            Message("user", "A city."), LinearContext(), format=City,
            model_options={ModelOption.CONSTRAINT: constraint_of(checks.no_comma())},
        )  # fmt: skip


def test_the_enforce_strategy_passes_on_the_first_attempt_and_repairs_only_what_it_cannot_enforce(backend):
    reqs = [checks.no_comma(), checks.max_words(6), checks.min_words(2), checks.title()]
    result = Session(backend).instruct(
        "Write.", requirements=reqs, strategy="enforce", loop_budget=1,
        model_options={ModelOption.MAX_NEW_TOKENS: 16}, return_sampling_results=True,
    )  # fmt: skip
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, True, False, True]
    assert all(v.result for v, r in zip(verdicts, reqs, strict=True) if r is not reqs[2])
    assert "lower bound" in (verdicts[2].enforcement_note or "")


def test_a_grammar_llguidance_refuses_is_checked_and_repaired_instead_and_every_verdict_says_so(backend, monkeypatch):
    from llguidance import LLParserLimits

    import gencomp_hf_backend.constrained

    # llguidance itself refuses the real grammar: no fuel to build its lexer
    monkeypatch.setattr(gencomp_hf_backend.constrained, "matcher_limits", lambda: LLParserLimits(initial_lexer_fuel=1))
    reqs = [checks.starts_with("Refused grammars are checked"), checks.max_words(7)]
    result = Session(backend).instruct(
        "Write.", requirements=reqs, strategy="enforce", loop_budget=2,
        model_options={ModelOption.MAX_NEW_TOKENS: 8}, return_sampling_results=True,
    )  # fmt: skip
    assert len(result.attempts) == 2 and all(a.output is not None for a in result.attempts)
    for attempt in result.attempts:
        for _, v in attempt.verdicts or []:
            assert v.enforced is False and v.ran
            assert "refused the call's grammar" in (v.enforcement_note or "")
            assert "llguidance refused the grammar" in (v.enforcement_note or "")
    assert "the backend refused the grammar" in result.selection
