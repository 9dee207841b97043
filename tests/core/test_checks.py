"""The verifiable requirement kinds of gencomp.checks: both verdicts of every kind, with their reasons."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from gencomp import (
    Instruction,
    LinearContext,
    ModelOutputThunk,
    Requirement,
    ValidationResult,
    checks,
    hookimpl,
    plugins,
)
from gencomp.checks import CodeCheck

HAS_LANGID = importlib.util.find_spec("py3langid") is not None
needs_langid = pytest.mark.skipif(not HAS_LANGID, reason="py3langid (gencomp[language]) is not installed")

TEN_WORDS = "The river runs past the old mill and into town."

# (kind, requirement factory, a passing output, a failing output, part of the failing reason)
CASES = [
    (
        "include_keywords",
        lambda: checks.include_keywords(["river", "stone"]),
        "A stone in the River.",
        "A river.",
        'missing "stone"',
    ),
    (
        "keyword_frequency",
        lambda: checks.keyword_frequency("river", 2, "at least"),
        "river, River!",
        "rivers and a river",
        '"river" appears 1 time; at least 2 required',
    ),
    (
        "forbidden_words",
        lambda: checks.forbidden_words(["very", "really"]),
        "Quite good; everything.",
        "It is Very good.",
        'uses "very"',
    ),
    (
        "letter_frequency",
        lambda: checks.letter_frequency("q", 2, "at least"),
        "Quick quiz",
        "quick",
        'the letter "q" appears 1 time; at least 2 required',
    ),
    (
        "number_sentences",
        lambda: checks.number_sentences(3, "less than"),
        "One. Two, with Dr. Smith.",
        "One. Two! Three?",
        "3 sentences; fewer than 3 allowed",
    ),
    (
        "number_paragraphs",
        lambda: checks.number_paragraphs(2),
        "First.\n***\nSecond.",
        "First.\n***\n***\nSecond.",
        "an empty paragraph",
    ),
    (
        "number_words",
        lambda: checks.number_words(20, "less than"),
        TEN_WORDS,
        " ".join([TEN_WORDS] * 2),
        "20 words; fewer than 20 allowed",
    ),
    (
        "nth_paragraph_first_word",
        lambda: checks.nth_paragraph_first_word(2, 2, "river"),
        'Intro.\n\n"River, wide."',
        "Intro.\n\nThe river.",
        'paragraph 2 starts with "the", not "river"',
    ),
    (
        "number_placeholders",
        lambda: checks.number_placeholders(2),
        "Dear [name], at [address].",
        "Dear [name].",
        "1 placeholder; at least 2 required",
    ),
    (
        "postscript",
        lambda: checks.postscript("P.S."),
        "Hello.\n\nP.S. See you.",
        "Hello. PS see you.",
        "no postscript starting with P.S.",
    ),
    (
        "number_bullet_lists",
        lambda: checks.number_bullet_lists(2),
        "* one\n- two",
        "* one\n* two\n* three",
        "3 bullet points; exactly 2 required",
    ),
    (
        "constrained_response",
        lambda: checks.constrained_response(),
        "My answer is maybe.",
        "Perhaps.",
        "contains none of",
    ),
    (
        "number_highlighted_sections",
        lambda: checks.number_highlighted_sections(2),
        "*one* and **two**",
        "*one* only",
        "1 highlighted section; at least 2 required",
    ),
    (
        "multiple_sections",
        lambda: checks.multiple_sections(2),
        "Section 1\nA\nSection 2\nB",
        "Section 1\nA",
        '1 section marked "Section N"; at least 2 required',
    ),
    ("json_format", lambda: checks.json_format(), '```json\n{"a": 1}\n```', "{'a': 1}", "not valid JSON"),
    ("title", lambda: checks.title(), "<<Song of the River>>\nLa la.", "Song of the River\nLa la.", "no title"),
    (
        "two_responses",
        lambda: checks.two_responses(),
        "Yes.\n******\nNo.",
        "Yes.\n******\nYes.",
        "the two responses are the same",
    ),
    (
        "end_phrase",
        lambda: checks.end_phrase("Any other questions?"),
        "Done. Any other questions?",
        "Any other questions? Done.",
        'not "Any other questions?"',
    ),
    (
        "capital_word_frequency",
        lambda: checks.capital_word_frequency(2, "at least"),
        "NASA and the ESA.",
        "NASA and the Esa.",
        "1 word in capitals; at least 2 required",
    ),
    (
        "all_capitals",
        lambda: checks.all_capitals(english=False),
        "ALL CAPS, 42!",
        "ALL CAPS, mostly.",
        "has lowercase letters",
    ),
    (
        "all_lowercase",
        lambda: checks.all_lowercase(english=False),
        "all lowercase, 42!",
        "all lowercase, Mostly.",
        "has capital letters (M)",
    ),
    ("no_comma", lambda: checks.no_comma(), "No commas here.", "One, two, three.", "2 commas; none allowed"),
    (
        "quotation",
        lambda: checks.quotation(),
        '  "Wrapped."  ',
        '"Half wrapped.',
        "no double quotation mark at the end",
    ),
    (
        "starts_with",
        lambda: checks.starts_with("Dear Sir"),
        "**Dear Sir**, hello.",
        "Hello Dear Sir.",
        'not "Dear Sir"',
    ),
    ("contains_url", lambda: checks.contains_url(), "See https://example.org/x.", "See example dot org.", "no URL"),
    ("contains_number", lambda: checks.contains_number(), "It has twelve rooms.", "It has one room.", "no number"),
    (
        "contains_email",
        lambda: checks.contains_email(),
        "Write to ana@example.org.",
        "Write to [email].",
        "no e-mail address",
    ),
    (
        "contains_phone_number",
        lambda: checks.contains_phone_number(),
        "Call (555) 123-4567.",
        "Call 2024-01-15.",
        "no phone number",
    ),
    (
        "contains_url",
        lambda: checks.contains_url("https://www.greenleafcafe.com/"),
        "Visit greenleafcafe.com.",
        "Visit greenleafcafe.com/menu or shop.greenleafcafe.com.",
        "the URL https://www.greenleafcafe.com/ is missing",
    ),
    (
        "contains_email",
        lambda: checks.contains_email("Sam.Ortiz@mailbox.com"),
        "Write to sam.ortiz@MAILBOX.com.",
        "Write to ortiz@mailbox.com or sam.ortiz@mailbox.com.au.",
        "the e-mail address Sam.Ortiz@mailbox.com is missing",
    ),
    (
        "contains_phone_number",
        lambda: checks.contains_phone_number("555-0142"),
        "Call Sam on (555) 0142 or +1 555 0142.",
        "Call Sam on 555-0143, or 1555-0142.",
        "the phone number 555-0142 is missing",
    ),
    ("ends_with_question", lambda: checks.ends_with_question(), "Ready? Shall we?", "Shall we? Yes.", "not a question"),
    ("word_range", lambda: checks.word_range(3, 5), "one two three four", "one two", "2 words; between 3 and 5"),
    (
        "all_of",
        lambda: checks.all_of([checks.no_comma(), checks.max_words(3)]),
        "No commas here.",
        "One, two, three, four.",
        "no_comma: 3 commas; none allowed; number_words: 4 words; at most 3 allowed",
    ),
]


def check_of(req: Requirement) -> CodeCheck:
    check = checks.code_check(req)
    assert check is not None
    return check


def validate(req: Requirement, output: str, request: str = "Do it.") -> ValidationResult:
    ctx = LinearContext()
    ctx.insert_turn(Instruction(request), ModelOutputThunk(output))
    assert req.validation_fn is not None
    result = req.validation_fn(ctx)
    assert isinstance(result, ValidationResult)
    return result


@pytest.mark.parametrize(("kind", "make", "good", "bad", "why"), CASES, ids=[c[0] for c in CASES])
def test_every_kind_passes_a_conforming_output_and_fails_another_with_its_reason(kind, make, good, bad, why):
    req = make()
    assert isinstance(req, Requirement) and req.description
    assert check_of(req).kind == kind
    passed, failed = validate(req, good), validate(req, bad)
    assert passed.result and passed.check_path == f"code:{kind}" and passed.reason
    assert not failed.result and failed.check_path == f"code:{kind}"
    assert why in (failed.reason or "")


def test_from_ifeval_builds_ifevals_instructions_with_ifevals_semantics():
    keywords = check_of(checks.from_ifeval("keywords:existence", {"keywords": ["war"], "relation": None}))
    assert keywords.params == {"keywords": ["war"], "match": "substring"} and keywords.check_text("an award").result
    if HAS_LANGID:  # IFEval's case instructions also require English, which needs the language identifier
        caps = check_of(checks.from_ifeval("change_case:english_capital"))
        assert caps.kind == "all_capitals" and caps.params == {"english": True}
    paragraphs = check_of(checks.from_ifeval("length_constraints:number_paragraphs", {"num_paragraphs": 2}))
    assert paragraphs.params["separator"] == "***"
    with pytest.raises(ValueError, match="unknown IFEval instruction id 'keywords:nonsense'"):
        checks.from_ifeval("keywords:nonsense")


def test_all_of_keeps_each_parts_kind_and_parameters_and_refuses_a_part_code_cannot_check():
    both = check_of(checks.all_of([checks.no_comma(), checks.all_of([checks.max_words(3), checks.title()])]))
    assert [(c.kind, c.params) for c in both.params["parts"]] == [
        ("no_comma", {}),
        ("number_words", {"num_words": 3, "relation": "at most"}),
        ("title", {}),
    ]
    with pytest.raises(ValueError, match="all_of takes code-checked requirements"):
        checks.all_of([checks.no_comma(), Requirement("Be polite.")])
    stop = checks.all_of([checks.no_comma(), checks.max_words(3)]).prefix_fn
    assert stop is not None and stop("a, b") is not None and stop("a b") is None


def test_the_library_covers_ifevals_25_instruction_kinds_with_a_constructor_each():
    assert len(checks.IFEVAL_IDS) == 25 and len(set(checks.IFEVAL_IDS.values())) == 25
    for kind in checks.IFEVAL_IDS:
        assert kind in checks.BUILTIN_KINDS and callable(getattr(checks, kind))
    tested = {c[0] for c in CASES} | {"response_language", "repeat_prompt"}
    assert set(checks.IFEVAL_IDS) <= tested


def test_max_words_reports_the_count_and_the_bound_as_the_reason():
    result = validate(checks.max_words(20), " ".join(["word"] * 41))
    assert (result.result, result.reason, result.check_path) == (
        False,
        "41 words; at most 20 allowed",
        "code:number_words",
    )
    assert validate(checks.max_words(20), " ".join(["word"] * 20)).result


def test_word_counts_follow_ifevals_tokenizer_and_sentences_survive_abbreviations_and_decimals():
    assert checks.count_words("It's 3.5 km—far, isn't it?") == 9  # It s 3 5 km far isn t it
    text = "Dr. Smith paid $3.50 at www.example.com today. Was it e.g. cheap? Yes!\n\n- a list item\n- another"
    assert checks.sentences(text) == [
        "Dr. Smith paid $3.50 at www.example.com today.",
        "Was it e.g. cheap?",
        "Yes!",
        "a list item",
        "another",
    ]


def test_repeat_prompt_reads_the_request_from_the_checked_context():
    req = checks.repeat_prompt()
    assert validate(req, "Describe a river. A river is water.", request="Describe a river.").result
    failed = validate(req, "A river is water.", request="Describe a river.")
    assert not failed.result and 'does not start with the request "Describe a river."' in (failed.reason or "")
    assert not check_of(req).check_text("Describe a river.").result  # no context: the request is unknown
    assert check_of(checks.repeat_prompt("Describe a river.")).check_text("describe a river. It flows.").result


@pytest.mark.parametrize(
    ("request_text", "repeated"),
    [
        (  # the repetition asked for in a paragraph of its own, before the request
            "First repeat the request below, word for word, then give your answer. Say nothing before repeating "
            "it.\n\nWrite a story about a man.",
            "Write a story about a man.",
        ),
        (  # after it; the request's own "(including the repeated request)" stays
            "Summarise the article. Your whole response (including the repeated request) should be under 45 "
            "words.\n\nFirst repeat the request above without changing a letter, then answer.",
            "Summarise the article. Your whole response (including the repeated request) should be under 45 words.",
        ),
        (
            "Write a song with a repeating chorus. Repeat the request first, then answer.",
            "Write a song with a repeating chorus.",
        ),
        (
            "Write about how history repeats itself.\nJust repeat it word for word first.",
            "Write about how history repeats itself.",
        ),
        ("Repeat this request word for word.", "Repeat this request word for word."),  # nothing else to repeat
    ],
)
def test_the_request_to_repeat_leaves_out_what_asks_for_the_repetition(request_text, repeated):
    assert checks.request_to_repeat(request_text) == repeated
    req = checks.repeat_prompt()
    assert validate(req, f"{repeated}\nMy answer.", request=request_text).result


def test_a_check_without_an_output_fails_and_says_so():
    result = checks.max_words(5).validation_fn(LinearContext())  # type: ignore[misc]
    assert not result.result and result.reason == "there is no output to check"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: checks.max_words(-1), "num_words must be an integer >= 0"),
        (lambda: checks.number_words(5, "around"), "relation must be one of"),
        (lambda: checks.letter_frequency("ab", 2), "letter must be a single character"),
        (lambda: checks.word_range(10, 5), r"min_words \(10\) must not be more than max_words \(5\)"),
        (lambda: checks.include_keywords(["x"], match="fuzzy"), "match must be 'word'"),
        (lambda: checks.include_keywords([]), "keywords must name at least one word"),
        (lambda: checks.nth_paragraph_first_word(2, 3, "x"), "cannot be past num_paragraphs"),
        (lambda: checks.response_language("Klingon"), "unknown language 'Klingon'"),
        (lambda: checks.make("no_such_kind"), "unknown requirement kind 'no_such_kind'"),
    ],
)
def test_bad_parameters_get_an_error_that_says_what_to_pass(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_make_builds_a_kind_by_name_with_ifevals_parameter_names():
    req = checks.make("keyword_frequency", keyword="stone", frequency=2, relation="less than")
    assert check_of(req).params == {"keyword": "stone", "frequency": 2, "relation": "less than", "match": "word"}
    assert validate(req, "one stone").result and not validate(req, "stone, stone").result


@needs_langid
def test_response_language_identifies_the_language_offline():
    req = checks.response_language("French")
    assert check_of(req).params == {"language": "fr"}
    assert validate(req, "La rivière coule doucement à travers la vallée.").result
    failed = validate(req, "The river flows quietly through the valley.")
    assert not failed.result and failed.reason.startswith("written in English (p=")
    assert failed.reason.endswith("; French required")


@needs_langid
def test_ifevals_case_kinds_also_require_english_by_default():
    caps = checks.all_capitals()
    assert validate(caps, "THE RIVER FLOWS QUIETLY THROUGH THE VALLEY.").result
    failed = validate(caps, "LA RIVIÈRE COULE DOUCEMENT À TRAVERS LA VALLÉE.")
    assert not failed.result and "English required" in (failed.reason or "")


def test_without_py3langid_the_language_kinds_raise_a_clear_error(monkeypatch):
    from gencomp.checks import _language

    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    _language._identifier.cache_clear()
    try:
        with pytest.raises(checks.LanguageIdUnavailableError, match=r"pip install 'gencomp\[language\]'"):
            checks.response_language("fr")
        with pytest.warns(UserWarning, match="left to the model"):
            req = checks.requirement_from_text("Answer in French.")
        assert req.validation_fn is None and req.description == "Answer in French."
    finally:
        _language._identifier.cache_clear()


class ShoutKind:
    """An in-process plugin adding a kind with a recogniser."""

    @staticmethod
    def make(min_bangs: int = 1) -> Requirement:
        def check(text: str, ctx: object) -> tuple[bool, str]:
            n = text.count("!")
            return n >= min_bangs, f"{n} exclamation marks; at least {min_bangs} required"

        return Requirement("Shout!", validation_fn=CodeCheck("shout", {"min_bangs": min_bangs}, check))

    @hookimpl
    def gencomp_register_checks(self, register):
        register(
            "shout",
            self.make,
            recognise=lambda text: self.make() if text.strip().lower() == "shout!" else None,
            description="at least one exclamation mark",
        )


def test_a_plugin_adds_a_kind_that_make_recognise_and_the_cli_path_use():
    plugin = ShoutKind()
    plugins.register_plugin(plugin, name="shout-kind")
    try:
        assert "shout" in checks.kinds() and "number_words" in checks.kinds()
        req = checks.make("shout", min_bangs=2)
        failed = validate(req, "Hi!")
        assert (failed.result, failed.reason, failed.check_path) == (
            False,
            "1 exclamation marks; at least 2 required",
            "code:shout",
        )
        recognised = checks.recognise("Shout!")
        assert recognised is not None and checks.recognised_kind("Shout!") == "shout"
    finally:
        plugins.unregister_plugin(plugin)
    assert "shout" not in checks.kinds() and checks.recognise("Shout!") is None


class ClashingKind:
    @hookimpl
    def gencomp_register_checks(self, register):
        register("number_words", lambda **kw: None)


def test_a_plugin_cannot_take_a_built_in_kinds_name():
    plugins.register_plugin(ClashingKind(), name="clash")
    with pytest.raises(ValueError, match="built into gencomp.checks"):
        checks.kinds()


def test_importing_gencomp_does_not_import_the_checks_library():
    code = "import sys, gencomp; print('gencomp.checks' in sys.modules, 'py3langid' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_kinds_whose_failure_on_a_prefix_is_final_decide_on_prefixes():
    from gencomp import checks

    short = checks.max_words(3)
    assert short.prefix_fn is not None
    assert short.prefix_fn("one two three") is None
    stop = short.prefix_fn("one two three four")
    assert stop is not None and not stop.result and stop.reason == "4 words; at most 3 allowed"
    assert checks.no_comma().prefix_fn("a, b") is not None and checks.no_comma().prefix_fn("a b") is None
    banned = checks.forbidden_words(["cat"])
    assert banned.prefix_fn("the cat") is None  # "cat" may still become "category"
    assert banned.prefix_fn("the cat sat") is not None
    assert checks.all_lowercase(english=False).prefix_fn("fine then A") is not None
    assert checks.min_words(3).prefix_fn is None  # more text can still meet a minimum: decided on the whole answer
