"""Constraints: each enforceable kind's grammar accepts only answers its code check passes; plans, contradictions."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from gencomp import Requirement, checks
from gencomp.constraints import (
    ENFORCEABLE,
    NOT_ENFORCEABLE,
    REASONS,
    Constraint,
    ConstraintTooLargeError,
    ContradictoryRequirementsError,
    NotEnforceable,
    constraint_of,
    plan,
)
from gencomp.constraints._kinds import grammar_of

# (kind, params) of every enforceable kind, several parameter sets each: the grammars are checked against
# checks.make(kind, **params).validation_fn, so a change of a check's rules shows up here.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("no_comma", {}),
    ("all_lowercase", {"english": False}),
    ("all_capitals", {"english": False}),
    ("starts_with", {"start_phrase": "Dear John"}),
    ("starts_with", {"start_phrase": "Yes,"}),
    ("end_phrase", {"end_phrase": "Is there anything else I can help with?"}),
    ("end_phrase", {"end_phrase": "?"}),
    ("quotation", {}),
    ("title", {}),
    ("json_format", {}),
    ("constrained_response", {}),
    ("constrained_response", {"options": ["A", "B, or C"]}),
    ("number_words", {"num_words": 12, "relation": "less than"}),
    ("number_words", {"num_words": 1, "relation": "at most"}),
    ("number_words", {"num_words": 0, "relation": "at most"}),
    ("number_sentences", {"num_sentences": 3, "relation": "at most"}),
    ("number_sentences", {"num_sentences": 2, "relation": "less than"}),
    ("postscript", {"postscript_marker": "P.S."}),
    ("postscript", {"postscript_marker": "P.P.S"}),
    ("number_bullet_lists", {"num_bullets": 3}),
    ("number_bullet_lists", {"num_bullets": 2, "relation": "at most"}),
    ("forbidden_words", {"forbidden_words": ["the", "sky", "kiss"]}),
    ("include_keywords", {"keywords": ["river", "stone"]}),
    ("number_paragraphs", {"num_paragraphs": 3}),
    ("number_paragraphs", {"num_paragraphs": 2, "separator": "\n\n"}),
    ("nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "however"}),
    ("nth_paragraph_first_word", {"num_paragraphs": None, "nth_paragraph": 1, "first_word": "so"}),
    ("number_placeholders", {"num_placeholders": 2}),
    ("number_highlighted_sections", {"num_highlights": 2}),
    ("number_highlighted_sections", {"num_highlights": 3, "relation": "less than"}),
    ("multiple_sections", {"num_sections": 3}),
    ("letter_frequency", {"letter": "e", "let_frequency": 5, "let_relation": "less than"}),
    ("repeat_prompt", {"prompt_to_repeat": "Write a poem about a cat."}),
    ("keyword_frequency", {"keyword": "river", "frequency": 2, "relation": "less than"}),
    ("contains_number", {}),
    ("contains_url", {}),
    ("word_range", {"min_words": 0, "max_words": 9}),
    ("ends_with_question", {}),
    ("contains_email", {}),
    ("contains_email", {"value": "sam.ortiz@mailbox.com"}),
    ("contains_url", {"value": "https://greenleafcafe.com"}),
]


def _id(case: tuple[str, dict[str, Any]]) -> str:
    kind, params = case
    return kind + ("-" + "-".join(str(v)[:12] for v in params.values()) if params else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_every_answer_an_enforceable_grammar_accepts_passes_the_kinds_check(case):
    kind, params = case
    requirement = checks.make(kind, **params)
    constraint = constraint_of(requirement)
    rng = random.Random(kind)
    samples = [constraint.automaton.sample(rng, rng.randint(0, 160)) for _ in range(50)]
    assert all(s is not None for s in samples)
    failed = [(s, requirement.validation_fn.check_text(s).reason) for s in samples if s is not None]
    failed = [(s, why) for s, why in failed if not requirement.validation_fn.check_text(s).result]
    assert not failed, f"{kind}: the grammar accepts answers the check rejects: {failed[:3]}"
    assert len(set(samples)) > 1, "the samples must vary, or the test proves little"
    grammar = grammar_of(kind, requirement.validation_fn.params)
    if grammar.wide is not None:  # the wider form is exact too
        wide = [Constraint(grammar.wide).automaton.sample(rng, rng.randint(0, 160)) for _ in range(50)]
        failed = [s for s in wide if s is None or not requirement.validation_fn.check_text(s).result]
        assert not failed, f"{kind}: the wide grammar accepts answers the check rejects: {failed[:3]}"
        samples += wide
    if grammar.outer is not None:  # the outer grammar holds every passing answer: these too
        assert all(Constraint(grammar.outer).matches(s) for s in samples if s is not None)


@pytest.mark.parametrize("relation", ["exactly", "at most", "less than"])
def test_a_bounded_number_of_sections_allows_no_other_section_marker(relation):
    requirement = checks.multiple_sections(3, relation=relation)
    made = constraint_of(requirement)
    extra = "Section 1\nA. See Section 4.\n\nSection 2\nB"
    assert not requirement.validation_fn.check_text(extra + "\n\nSection 3\nC").result
    assert not made.matches(extra) and not made.matches(extra + "\n\nSection 3\nC")


@pytest.mark.parametrize(
    ("reqs", "answer"),
    [
        ([checks.number_bullet_lists(3), checks.postscript("P.S.")], "* a\n* b\n* c\n\nP.S. d"),
        ([checks.all_lowercase(english=False), checks.no_comma(), checks.postscript("P.S.")], "hi there\n\np.s. bye"),
        ([checks.quotation(), checks.multiple_sections(2)], '"Section 1\nA\n\nSection 2\nB"'),
        ([checks.quotation(), checks.multiple_sections(2, relation="exactly")], '"Section 1\nA\n\nSection 2\nB"'),
        (
            [checks.number_bullet_lists(3), checks.number_paragraphs(3)],
            "Tips:\n* a\n* b\n* c\n\n***\n\nMore.\n\n***\n\nEnd.",
        ),
        (
            [checks.number_highlighted_sections(2), checks.number_paragraphs(2)],
            "A *b* c.\n\n***\n\nD *e* f.",
        ),
        (
            [checks.number_paragraphs(2, "\n\n"), checks.number_bullet_lists(2)],
            "Two things:\n* a\n* b\n\nThat is all.",
        ),
    ],
    ids=[
        "bullets-postscript",
        "lowercase-postscript",
        "quoted-sections",
        "quoted-exact-sections",
        "bullets-paragraphs",
        "highlights-paragraphs",
        "paragraphs-bullets",
    ],
)
@pytest.mark.parametrize("syntaxes", [{"lark"}, {"gbnf"}])
def test_kinds_whose_own_forms_clash_are_enforced_together_in_their_wide_forms(reqs, answer, syntaxes):
    made = plan(reqs, syntaxes=syntaxes)
    assert made.enforced == tuple(reqs) and made.constraint is not None
    assert made.constraint.matches(answer)
    assert all(r.validation_fn.check_text(answer).result for r in reqs)


# A typical passing answer (the grammar accepts it) and a failing one (the grammar refuses it, the check too).
EXAMPLES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no_comma", {}, "A river runs by the town.", "A river, a town."),
    ("all_lowercase", {"english": False}, "a river runs by.", "A river runs by."),
    ("all_capitals", {"english": False}, "A RIVER RUNS BY!", "A river runs by."),
    ("starts_with", {"start_phrase": "Dear John"}, "Dear John, hello.", "Hello John."),
    ("end_phrase", {"end_phrase": "Any questions?"}, "That is all. Any questions?", "Any questions? That is all."),
    ("quotation", {}, '"A river."', "A river."),
    ("title", {}, "<<On Rivers>>\nA river runs.", "On Rivers\nA river runs."),
    ("json_format", {}, '{"name": "Nile", "length_km": 6650, "countries": ["Egypt", "Sudan"]}', "{name: Nile}"),
    ("json_format", {}, '```json\n{"a": [1, {"b": null}]}\n```', '{"a": 1'),
    ("constrained_response", {}, "My answer is yes.", "Yes."),
    ("number_words", {"num_words": 6, "relation": "less than"}, "Rivers run to the sea.", "Rivers run to the big sea."),
    ("number_sentences", {"num_sentences": 2, "relation": "at most"}, "Rivers run. Seas wait.", "Go on. Stay. Wait."),
    ("postscript", {"postscript_marker": "P.S."}, "Hello.\nP.S. Bye.", "Hello. Bye."),
    ("number_bullet_lists", {"num_bullets": 2}, "* one\n* two", "* one\n* two\n* three"),
    ("forbidden_words", {"forbidden_words": ["sky"]}, "The heavens are blue.", "The Sky is blue."),
    ("include_keywords", {"keywords": ["stone"]}, "A stone in the river.", "A rock in the river."),
    ("number_paragraphs", {"num_paragraphs": 2}, "First part.\n\n***\n\nSecond part.", "Only one part."),
    ("number_placeholders", {"num_placeholders": 1}, "Send it to [address].", "Send it to me."),
    ("number_highlighted_sections", {"num_highlights": 1}, "This is *key* here.", "Nothing stands out."),
    ("multiple_sections", {"num_sections": 2}, "Section 1\nIntro.\n\nSection 2\nMore.", "Section 1\nIntro."),
    ("letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at most"}, "Buzz.", "Buzz zoo."),
    ("keyword_frequency", {"keyword": "sea", "frequency": 2, "relation": "less than"}, "The sea.", "Sea, sea."),
    ("contains_number", {}, "It is 3 km long.", "It is long."),
    ("contains_url", {}, "See https://example.org now.", "See the site."),
    ("ends_with_question", {}, "Is it blue?", "It is blue."),
    ("contains_email", {}, "Write to ann@example.org today.", "Write to [email] today."),
    ("contains_email", {"value": "ann@example.org"}, "Write to ann@example.org.", "Write to bo@example.org."),
    ("contains_url", {"value": "https://example.org"}, "See https://example.org, or call.", "See example.org.au."),
]


@pytest.mark.parametrize(("kind", "params", "good", "bad"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_a_grammar_accepts_a_typical_passing_answer_and_refuses_a_failing_one(kind, params, good, bad):
    requirement = checks.make(kind, **params)
    constraint = constraint_of(requirement)
    assert requirement.validation_fn.check_text(good).result and constraint.matches(good)
    assert not requirement.validation_fn.check_text(bad).result and not constraint.matches(bad)
    outer = grammar_of(kind, requirement.validation_fn.params).outer
    assert outer is None or Constraint(outer).matches(good)


def test_every_built_in_kind_is_either_enforceable_or_says_why_not():
    assert set(checks.BUILTIN_KINDS) <= set(ENFORCEABLE) | set(NOT_ENFORCEABLE)
    assert not set(ENFORCEABLE) & set(NOT_ENFORCEABLE)
    for kind in NOT_ENFORCEABLE:
        with pytest.raises(NotEnforceable, match=re.escape(NOT_ENFORCEABLE[kind][:20])):
            grammar_of(kind, {})


def test_a_requirement_of_several_kinds_enforces_the_parts_that_have_grammars_and_checks_the_rest():
    both = checks.all_of([checks.no_comma(), checks.max_words(5)])
    made = plan([both], syntaxes={"lark"})
    assert made.enforced == (both,) and made.entries[0].exact
    assert (
        made.constraint is not None
        and made.constraint.matches("A short answer")
        and not made.constraint.matches("a, b")
    )
    partly = checks.all_of([checks.no_comma(), checks.min_words(5)])
    entry = plan([partly], syntaxes={"lark"}).entries[0]
    assert entry.enforced and not entry.exact and "number_words" in entry.rest and "checked, not enforced" in entry.rest


def test_exactly_n_words_enforces_at_most_n_and_checks_the_rest():
    entry = plan([checks.number_words(5, "exactly")], syntaxes={"lark"}).entries[0]
    assert entry.enforced and not entry.exact and "at least 5 words" in entry.rest


@pytest.mark.parametrize(
    ("requirement", "why"),
    [
        (Requirement("The answer mentions Paris."), "not checked by code"),
        (checks.min_words(50), "lower bound"),
        (checks.number_sentences(3, "at least"), "lower bound"),
        (checks.end_phrase('the end"'), "double quotes"),
    ],
)
def test_a_requirement_without_a_grammar_says_why(requirement, why):
    with pytest.raises(NotEnforceable, match=why):
        constraint_of(requirement)


def test_completion_is_the_shortest_text_that_makes_a_prefix_accepted():
    quote = constraint_of(checks.quotation())
    assert quote.completion('"A river') == '"' and quote.completion('"A river."') == ""
    assert quote.completion("A river") is None  # no continuation can fix a missing opening quote
    ending = constraint_of(checks.end_phrase("Bye now."))
    assert (ending.completion("Hello.") or "").lower() == "bye now." and ending.completion("Hello. Bye") == " now."
    bullets = constraint_of(checks.number_bullet_lists(2))
    rest = bullets.completion("* one")
    assert (
        rest is not None
        and rest.startswith("\n* ")
        and checks.number_bullet_lists(2).validation_fn.check_text("* one" + rest)
    )


# -- contradictions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (checks.starts_with("Hello"), checks.starts_with("Goodbye")),
        (checks.end_phrase("Bye."), checks.end_phrase("Ciao.")),
        (checks.no_comma(), checks.constrained_response(["Yes, sure", "No, never"])),
        (checks.no_comma(), checks.end_phrase("yes, indeed")),
        (checks.max_words(3), checks.starts_with("Once upon a time there")),
        (checks.constrained_response(), checks.forbidden_words(["answer"])),
    ],
)
def test_two_contradictory_requirements_are_an_error_naming_both(first, second):
    with pytest.raises(ContradictoryRequirementsError) as err:
        plan([checks.max_words(100), first, Requirement("The answer is polite."), second], syntaxes={"lark"})
    assert err.value.requirements == (first, second)
    assert repr(first.description) in str(err.value) and repr(second.description) in str(err.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (checks.quotation(), checks.starts_with("Hi")),  # the check skips an opening quote
        (checks.quotation(), checks.end_phrase("Bye.")),  # and strips a closing one
        (checks.all_capitals(english=False), checks.all_lowercase(english=False)),  # "中" passes both checks
        (checks.quotation(), checks.json_format()),  # '"text"' is JSON
        (checks.starts_with("HELLO"), checks.all_lowercase(english=False)),  # starts_with ignores case
        (checks.title(), checks.repeat_prompt("Name the story in double angular brackets, i.e. <<story of xyz>>.")),
    ],
)
@pytest.mark.parametrize("syntaxes", [{"lark"}, {"gbnf"}])  # gbnf: an empty intersection has no GBNF to try
def test_requirements_whose_checks_can_agree_are_never_called_contradictory(first, second, syntaxes):
    made = plan([first, second], syntaxes=syntaxes)
    if len(made.enforced) == 2:
        assert made.constraint is not None and made.constraint.is_empty() is False
    else:
        assert "leave no answer in common" in made.not_enforced[0].note and made.not_enforced[0].reason == "clash"


def test_repeating_a_request_that_uses_a_forbidden_word_is_a_contradiction_in_any_case():
    request = 'Rewrite "Them youngins be on that phone". Avoid the word "youngins".\nFirst repeat the request above.'
    with pytest.raises(ContradictoryRequirementsError, match=r"\(forbidden_words\) contradict"):
        plan([checks.repeat_prompt(), checks.forbidden_words(["Youngins"])], syntaxes={"lark"}, request=request)


def test_json_with_keywords_is_enforced_whole_its_shortest_answer_found_in_the_search():
    reqs = [checks.json_format(), checks.include_keywords(["compensated", "immigrants"])]
    made = plan(reqs, syntaxes={"lark"})
    assert made.enforced == tuple(reqs) and made.constraint is not None
    answer = made.constraint.completion("")
    assert answer is not None and all(r.validation_fn.check_text(answer).result for r in reqs)


def test_json_with_a_keyword_is_enforced_in_gbnf_nested_less_deeply_and_in_lark_as_deep_as_alone():
    reqs = [checks.json_format(), checks.include_keywords(["compensated", "immigrants"])]
    deep = '{"a": {"b": {"c": "compensated immigrants"}}}'
    for syntaxes, deep_allowed in (({"gbnf"}, False), ({"lark"}, True)):
        made = plan(reqs, syntaxes=syntaxes)
        assert made.enforced == tuple(reqs) and made.constraint is not None
        assert made.constraint.matches('{"a": ["compensated immigrants"]}')
        assert made.constraint.matches(deep) is deep_allowed
        if syntaxes == {"gbnf"}:
            assert made.constraint.gbnf().startswith("root ::= s0")  # within the rule limit


def test_requirements_that_contradict_only_together_are_named_all():
    three = [
        checks.constrained_response(["My answer is yes.", "a,b"]),
        checks.forbidden_words(["yes"]),
        checks.no_comma(),
    ]
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        plan([three[a], three[b]], syntaxes={"lark"})  # any two are compatible
    with pytest.raises(ContradictoryRequirementsError, match="together") as err:
        plan(three, syntaxes={"lark"})
    assert err.value.requirements == tuple(three)


def test_contradictions_are_found_whatever_the_backend_can_enforce():
    with pytest.raises(ContradictoryRequirementsError):
        plan([checks.starts_with("Yes"), checks.starts_with("No")], syntaxes=frozenset())


# -- plans ------------------------------------------------------------------------------------------


def test_a_plan_combines_the_enforceable_requirements_and_notes_why_the_others_are_not():
    reqs = [checks.no_comma(), Requirement("The answer mentions Paris."), checks.max_words(20), checks.min_words(5)]
    made = plan(reqs, syntaxes={"lark"})
    assert made.enforced == (reqs[0], reqs[2]) and made.constraint is not None
    assert made.constraint.matches("Paris is lovely") and not made.constraint.matches("Paris, France")
    notes = {id(e.requirement): e.note for e in made.not_enforced}
    assert "not checked by code" in notes[id(reqs[1])] and "lower bound" in notes[id(reqs[3])]
    assert [e.reason for e in made.entries] == ["", "no grammar", "", "no grammar"]


def test_a_backend_that_enforces_nothing_gets_no_constraint_and_every_requirement_a_note():
    made = plan([checks.no_comma(), checks.json_format()], syntaxes=frozenset(), backend="EchoBackend(x)")
    assert made.constraint is None and not made.enforced
    assert all("EchoBackend(x) enforces no constraints" in e.note and e.reason == "backend" for e in made.entries)


def test_a_json_only_backend_enforces_json_format_alone():
    reqs = [checks.json_format(), checks.no_comma()]
    made = plan(reqs, syntaxes={"json"}, backend="server")
    assert made.enforced == (reqs[0],) and made.constraint is not None and made.constraint.json
    assert "server enforces only JSON answers" in made.not_enforced[0].note


def test_format_meets_json_format_and_leaves_other_kinds_to_the_check_with_a_note():
    class City:
        pass

    reqs = [checks.json_format(), checks.all_lowercase(english=False)]
    made = plan(reqs, syntaxes={"lark"}, format=City)
    assert made.constraint is None and made.entries[0].enforced
    assert "format=City" in made.entries[1].note and not made.entries[1].enforced
    assert made.entries[1].reason == "format"


def test_a_gbnf_backend_drops_an_intersection_too_large_for_its_grammar_with_a_note():
    reqs = [checks.max_words(60), checks.number_sentences(6, "at most")]
    small = plan(reqs, syntaxes={"gbnf"}, gbnf_limit=50)
    assert small.enforced == (reqs[0],) and "GBNF" in small.not_enforced[0].note
    assert small.not_enforced[0].reason == "too large" and set(REASONS) >= {e.reason for e in small.entries} - {""}
    assert plan(reqs, syntaxes={"gbnf", "lark"}, gbnf_limit=50).enforced == tuple(reqs)  # Lark intersects itself


def test_repeat_prompt_without_its_own_prompt_is_enforced_from_the_request():
    made = plan([checks.repeat_prompt()], syntaxes={"lark"}, request="Say hi.")
    assert made.constraint is not None and made.constraint.matches("Say hi. Hi!")
    assert not plan([checks.repeat_prompt()], syntaxes={"lark"}).enforced


@pytest.mark.parametrize("syntaxes", [{"lark"}, {"gbnf"}])
def test_a_title_is_enforced_anywhere_when_first_it_would_leave_no_answer_with_the_others(syntaxes):
    request = (
        "Write a resume with a title in double angular brackets (i.e. <<resume of xyz>>).\nRepeat the request first."
    )
    reqs = [checks.title(), checks.repeat_prompt(), checks.no_comma()]
    made = plan(reqs, syntaxes=syntaxes, request=request)
    assert made.enforced == tuple(reqs) and made.constraint is not None
    answer = request.splitlines()[0] + "\n\n<<Resume of Ann>>\nAnn builds bridges."
    assert made.constraint.matches(answer)
    assert not made.constraint.matches(request.splitlines()[0] + " Ann builds bridges, roads.")
    alone = plan([checks.title()], syntaxes=syntaxes)  # alone, the title comes first, where it steers the model
    assert alone.constraint is not None and not alone.constraint.matches("Ann builds bridges.\n<<Resume of Ann>>")


def test_repeating_a_request_with_a_comma_and_no_commas_contradict_each_other_before_generation():
    request = "Write a resume, with a title.\nFirst repeat the request above word for word."
    with pytest.raises(ContradictoryRequirementsError, match=r"\(repeat_prompt\) and .*\(no_comma\) contradict"):
        plan([checks.repeat_prompt(), checks.no_comma()], syntaxes={"lark"}, request=request)
    assert plan([checks.repeat_prompt(), checks.no_comma()], syntaxes={"lark"}, request="Say hi.").constraint


@pytest.mark.parametrize("syntaxes", [{"lark"}, {"gbnf"}])
def test_a_repeated_request_is_enforced_in_capitals_when_capitals_are_required_too(syntaxes):
    made = plan([checks.repeat_prompt(), checks.all_capitals(english=False)], syntaxes=syntaxes, request="Say hi.")
    assert len(made.enforced) == 2 and made.constraint is not None
    assert made.constraint.matches("SAY HI. HELLO!") and not made.constraint.matches("Say hi. HELLO!")


def test_repeat_prompt_enforces_what_its_check_reads_as_the_request():
    request = "Name three rivers.\nFirst repeat the request above word for word, then answer."
    made = plan([checks.repeat_prompt()], syntaxes={"lark"}, request=request)
    assert made.constraint is not None
    assert made.constraint.matches("Name three rivers. The Nile, the Rhine, the Danube.")
    assert not made.constraint.matches("The Nile, the Rhine, the Danube.")


# -- grammars ---------------------------------------------------------------------------------------


def test_one_requirement_renders_as_a_structural_gbnf_and_an_intersection_as_states():
    one = constraint_of(checks.max_words(3))
    assert one.gbnf().startswith("root ::= ") and " s0" not in one.gbnf()
    both = constraint_of(checks.max_words(3)) & constraint_of(checks.starts_with("Hi"))
    rules = both.gbnf().splitlines()
    assert rules[0] == "root ::= s0" and all(re.match(r"[sc]\d+ ::= ", r) for r in rules[1:])
    with pytest.raises(ConstraintTooLargeError, match="GBNF"):
        both.gbnf(limit=3)


def test_a_character_filter_joins_any_grammar_without_an_intersection():
    both = constraint_of(checks.title()) & constraint_of(checks.no_comma())
    grammar = both.gbnf()
    assert grammar.startswith("root ::= (") and "s0" not in grammar  # pushed into the title's character sets
    assert both.matches("<<A title>>\nText") and not both.matches("<<A, title>>\nText")


def test_the_lark_grammar_is_one_terminal_that_intersects_natively():
    both = constraint_of(checks.max_words(3)) & constraint_of(checks.no_comma())
    lines = both.lark().splitlines()
    assert lines[0] == "start: TEXT" and lines[1].startswith("TEXT: ") and " & " in lines[1]


def test_the_readme_says_of_every_kind_whether_it_is_enforced_and_why_not():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for kind, text in {**ENFORCEABLE, **NOT_ENFORCEABLE}.items():
        assert f"| `{kind}` | {text.replace('|', chr(92) + '|')} |" in rows, f"README's enforcement tables lack {kind}"


def test_the_kits_enforceable_examples_cover_every_enforceable_kind_with_parameters_it_accepts():
    from gencomp.constraints import ENFORCEABLE
    from gencomp.testing import ENFORCEABLE_EXAMPLES

    assert {k for k, _ in ENFORCEABLE_EXAMPLES} == set(ENFORCEABLE) - {"all_of", "two_responses"}
    for kind, params in ENFORCEABLE_EXAMPLES:
        assert constraint_of(checks.make(kind, **params)) is not None
