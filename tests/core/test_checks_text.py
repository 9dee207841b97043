"""Each rule of core/src/gencomp/checks/TEXT-RULES.md, by its id: how the code checks read real text."""

from __future__ import annotations

import importlib.util

import pytest

from gencomp import checks
from gencomp.verdicts import CheckFallback

needs_langid = pytest.mark.skipif(
    importlib.util.find_spec("py3langid") is None, reason="py3langid (gencomp[language]) is not installed"
)


def count(text: str) -> int:
    return checks.count_sentences(text)


# -- sentences ----------------------------------------------------------------------------------


def test_S1_a_stop_ends_a_sentence_only_before_white_space_so_decimals_urls_and_addresses_do_not():
    assert checks.sentences('He paid $3.50 at example.com. "Done!" Was it mail@site.org? Yes...') == [
        "He paid $3.50 at example.com.",
        '"Done!"',
        "Was it mail@site.org?",
        "Yes...",
    ]
    assert count("Version 2.0.1 shipped.") == 1


def test_S2_full_width_and_other_script_stops_end_sentences_without_spaces():
    stops = checks.sentences("这是第一句。这是第二句\uff01真的吗\uff1f")
    assert stops == ["这是第一句。", "这是第二句\uff01", "真的吗\uff1f"]
    assert count("यह पहला वाक्य है। यह दूसरा है।") == 2
    assert count("هل هذا سؤال؟ نعم\u06d4") == 2


def test_S3_titles_and_latin_abbreviations_never_end_a_sentence():
    assert count("Dr. Smith met Prof. Jones, e.g. at noon vs. midnight, approx. twice.") == 1


def test_S4_no_and_fig_end_a_sentence_unless_a_number_follows():
    assert count("Just say no. It works.") == 2
    assert count("See No. 5 and Fig. 3 on p. 12 for details.") == 1


def test_S5_etc_and_company_suffixes_end_a_sentence_before_a_capital():
    assert count("Apples, pears, etc. Bananas are yellow.") == 2
    assert count("Apple Inc. is big, and we left at 5 p.m. on Friday.") == 1


def test_S6_initials_and_dotted_acronyms_end_a_sentence_only_before_a_usual_sentence_start():
    assert count("J. K. Rowling wrote it in the U.S. Army base.") == 1
    assert count("Plan B. It works. I got an A. My brother got a B.") == 4


def test_S7_an_ellipsis_ends_a_sentence_only_before_a_capital_or_the_end():
    assert checks.sentences("Wait... what? I see... It is fine...") == ["Wait... what?", "I see...", "It is fine..."]


def test_S8_a_quoted_question_followed_by_a_lowercase_word_is_inside_the_sentence():
    assert checks.sentences('"Why?" she asked. He left.') == ['"Why?" she asked.', "He left."]


def test_S9_text_without_capitals_splits_before_usual_lowercase_sentence_starts():
    assert count("i live in the u.s. it is big. we left at 5 p.m. on friday.") == 3


def test_S10_blank_lines_dividers_items_headings_and_rows_end_a_sentence_and_lines_join():
    assert count("First line\ncontinues here.\n\nSecond paragraph") == 2
    assert count("One part\n***\nAnother part") == 2
    assert count("Intro sentence\n- item one") == 2


def test_S11_list_markers_are_no_sentences_and_an_item_without_a_period_is_one():
    numbered = "1. Apples are red.\n2. Bananas are yellow."
    assert checks.sentences(numbered) == ["Apples are red.", "Bananas are yellow."]
    assert checks.number_sentences(4, "less than").validation_fn.check_text(numbered).result  # type: ignore[union-attr]
    assert checks.sentences("* one\n- two\n+ three\n\u2022 four\na) five\n(b) six") == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
    ]


def test_S12_headings_and_titles_are_not_sentences():
    text = (
        "# A Guide\n\n<<The River>>\n\n**Overview**\n\nPIXEL PRODIGY\n\nThe river is long. It flows.\n\n"
        "| a | b |\n|---|---|"
    )
    assert checks.sentences(text) == ["The river is long.", "It flows."]


def test_S13_salutations_sign_offs_labels_and_placeholder_lines_are_not_sentences():
    email = "Dear Jake,\n\nThanks for the note. It was great!\n\nIngredients:\n- flour\n\nBest regards,\n[Your Name]"
    assert checks.sentences(email) == ["Thanks for the note.", "It was great!", "flour"]
    assert checks.sentences("Thanks for reading") == ["Thanks for reading"]  # not a sign-off without a name line
    assert count("Here are the steps:\n1. Mix\n2. Bake") == 3  # a colon line of four words or more is one


def test_S14_fenced_code_is_not_read():
    assert count("Run this.\n```\nx = 1. y = 2. z = 3.\n```\nDone.") == 2


# -- words --------------------------------------------------------------------------------------


def test_W1_words_are_word_character_runs_with_combining_marks_kept_inside():
    assert checks.count_words("It's 3.5 km—far, isn't it?") == 9  # It s 3 5 km far isn t it
    assert checks.words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]


def test_W2_each_chinese_or_japanese_character_is_a_word():
    assert checks.count_words("我喜欢学习中文") == 7
    assert checks.count_words("ひらがなとカタカナ") == 9
    assert checks.count_words("Hello 世界") == 3


def test_W3_thai_gives_a_range_and_a_bound_inside_it_is_undecided():
    thai = "ภาษาไทยง่ายมาก"  # one run, several words: between 1 and one per letter
    low, high = checks.word_count_range(thai)
    assert low == 1 and high > 5
    assert checks.number_words(100, "less than").validation_fn.check_text(thai).result  # type: ignore[union-attr]
    undecided = checks.number_words(3, "at most").validation_fn.check_text(thai)  # type: ignore[union-attr]
    assert not undecided.result and isinstance(undecided.verdict, CheckFallback)
    assert "Thai, Lao, Khmer or Myanmar" in (undecided.reason or "")


# -- paragraphs, bullets, placeholders, first words, postscripts, endings ---------------------


def test_P1_paragraphs_are_split_at_blank_lines_even_with_spaces_in_them():
    assert checks.paragraphs("One.\n \nTwo.\n\n\nThree.") == ["One.", "Two.", "Three."]


def test_P2_a_divider_between_blank_lines_separates_and_is_no_paragraph():
    text = "One.\n\n***\n\nTwo.\n\n- - -\n\nThree."
    assert checks.paragraphs(text) == ["One.", "Two.", "Three."]
    assert checks.number_paragraphs(3, "\n\n").validation_fn.check_text(text).result  # type: ignore[union-attr]


def test_P3_the_ifeval_divider_stands_between_white_space_and_an_empty_paragraph_fails():
    two = checks.number_paragraphs(2)
    assert two.validation_fn.check_text("One ***bold*** part.\n***\nTwo.").result  # type: ignore[union-attr]
    assert not two.validation_fn.check_text("One.\n******\nTwo.").result  # type: ignore[union-attr]
    empty = two.validation_fn.check_text("One.\n***\n***\nTwo.")  # type: ignore[union-attr]
    assert not empty.result and "an empty paragraph" in (empty.reason or "")


def test_B1_bullets_need_a_marker_and_a_space():
    text = "* one\n  - two\n+ three\n\u2022 four\n*emphasis* here\n---\n1. numbered\n-5 degrees"
    assert len(checks.bullets(text)) == 4


def test_H1_placeholders_are_bracketed_text_on_one_line_and_links_are_not():
    assert checks.placeholders("Dear [name], at [address]. See [here](https://x.org) and [ ] and [a [b] c") == [
        "[name]",
        "[address]",
        "[a [b]",
    ]
    assert checks.placeholders("[" * 1000) == []


def test_F1_the_first_word_of_a_paragraph_is_read_without_markdown_or_punctuation():
    check = checks.nth_paragraph_first_word(2, 2, "summary").validation_fn
    assert check.check_text("Intro.\n\n**Summary**: it is fine.").result  # type: ignore[union-attr]
    assert check.check_text("Intro.\n\nSummary: it is fine.").result  # type: ignore[union-attr]
    assert not check.check_text("Intro.\n\nSummaries are fine.").result  # type: ignore[union-attr]


def test_PS1_a_postscript_starts_a_line_after_spaces_or_markdown():
    ps = checks.postscript("P.S.").validation_fn
    assert ps.check_text("Hello.\n\n**P.S.** See you.").result  # type: ignore[union-attr]
    assert ps.check_text("Hello.\n  p. s. see you").result  # type: ignore[union-attr]
    assert not ps.check_text("Hello, said the ramp.s. operator.").result  # type: ignore[union-attr]


def test_Q1_a_response_ends_with_a_question_after_closing_quotes_and_markdown():
    q = checks.ends_with_question().validation_fn
    assert q.check_text('He asked, "Is it?"').result  # type: ignore[union-attr]
    assert q.check_text("**Shall we?**\n").result  # type: ignore[union-attr]
    assert q.check_text("你好吗\uff1f").result  # type: ignore[union-attr]
    failed = q.check_text("Is it? Yes.")  # type: ignore[union-attr]
    assert not failed.result and "not a question" in (failed.reason or "")


def test_X1_email_addresses_and_phone_numbers():
    email, phone = checks.contains_email().validation_fn, checks.contains_phone_number().validation_fn
    assert email.check_text("Write to jane.doe+news@example.co.uk today.").result  # type: ignore[union-attr]
    assert not email.check_text("Write to [email] or to jane at example dot com.").result  # type: ignore[union-attr]
    for number in ("+1 (555) 123-4567", "555-123-4567", "020 7946 0958", "+44 20 7946 0958", "555.123.4567"):
        assert phone.check_text(f"Call {number} now.").result, number  # type: ignore[union-attr]
    for other in ("on 2024-01-15", "10 000 000 people", "192.168.10.10", "5551234567", "ISBN 978-3-16-148410-0"):
        assert not phone.check_text(other).result, other  # type: ignore[union-attr]


# -- keywords and language --------------------------------------------------------------------


def test_K1_keywords_match_whole_words_and_phrases_across_white_space():
    req = checks.include_keywords(["salt and pepper", "war"]).validation_fn
    assert req.check_text("Salt\nand  pepper, and the war.").result  # type: ignore[union-attr]
    assert not req.check_text("Salt and pepper won an award.").result  # type: ignore[union-attr]


def test_K2_substring_matching_is_ifevals_and_forbidden_words_match_whole_words_by_default():
    assert checks.include_keywords(["war"], match="substring").validation_fn.check_text("an award").result  # type: ignore[union-attr]
    assert checks.forbidden_words(["war"]).validation_fn.check_text("an award").result  # type: ignore[union-attr]
    assert not checks.forbidden_words(["war"], match="substring").validation_fn.check_text("an award").result  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="match must be 'word'"):
        checks.include_keywords(["x"], match="regex")  # type: ignore[arg-type]


@needs_langid
def test_L1_a_language_identified_below_the_floor_is_undecided_with_its_probabilities():
    english = checks.response_language("English").validation_fn
    undecided = english.check_text("No.")  # type: ignore[union-attr]
    assert not undecided.result and isinstance(undecided.verdict, CheckFallback)
    assert undecided.verdict.path == "code:response_language"
    assert "below the confidence floor 0.90" in (undecided.reason or "")
    assert english.check_text("The river flows quietly through the green valley below.").result  # type: ignore[union-attr]
    french = english.check_text("La rivière coule doucement à travers la vallée verte.")  # type: ignore[union-attr]
    assert not french.result and not isinstance(french.verdict, CheckFallback)
    caps = checks.all_capitals().validation_fn.check_text("1. PIXEL PRODIGY\n2. CODE CONSTRUCT")  # type: ignore[union-attr]
    assert isinstance(caps.verdict, CheckFallback) and "all capital letters, but" in (caps.reason or "")
    assert checks.LANGUAGE_FLOOR == 0.9
