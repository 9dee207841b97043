"""Requirement texts that must not change meaning on the way to code: the R rules of checks/TEXT-RULES.md.

Each text is either left to the model (``None``) or read as exactly the kinds and parameters listed.
A wrong kind or parameter is worse than leaving a text to the model.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from gencomp import checks

HAS_LANGID = importlib.util.find_spec("py3langid") is not None


def reading(text: str) -> list[tuple[str, dict[str, Any]]] | None:
    """The (kind, params) a text is read as: one, the parts of an ``all_of``, or ``None``."""
    req = checks.recognise(text)
    if req is None:
        return None
    check = checks.code_check(req)
    assert check is not None
    parts = check.params["parts"] if check.kind == "all_of" else [check]
    return [(c.kind, c.params) for c in parts]


def word(**params: Any) -> dict[str, Any]:
    return {"match": "word", **params}


LEFT_TO_THE_MODEL = {
    "R2 parts": [
        "The explanation should be less than 50 words.",
        "The summary should be in French.",
        "The title should be in all capital letters.",
        "Each paragraph should have at most 3 sentences.",
        "The second sentence must contain the word river.",
        "The first paragraph should be under 40 words.",
        "Your essay must be at least 300 words.",
        "The story should have exactly 3 paragraphs.",
        "The email should end with 'Best regards'.",
        "Your title must be in lowercase.",
        "The conclusion should not use any commas.",
        "Each bullet point should be fewer than 10 words.",
        "The poem should be in French.",
        "Your summary must be shorter than thirty words.",
        "Each response should be entirely in Vietnamese.",
        "The last paragraph must start with the word Finally.",
        "Every sentence should end with a question mark.",
        "Your introduction should be in all capital letters.",
        "The list should have exactly 5 bullet points.",
    ],
    "R3 permission": [
        "Your answer can be more than 100 words.",
        "You may write it in French.",
        "The answer may be written in French.",
        "You can include the word river.",
        "It may contain a URL.",
        "Feel free to use bullet points.",
        "You can use up to 3 bullet points.",
        "The response may not exceed 100 words.",
        "Commas are allowed.",
        "You are allowed to use capital letters.",
        "Optionally, add a postscript starting with P.S.",
        "If you want, answer in Spanish.",
        "Try to answer in fewer than 50 words.",
        "Ideally, use no commas.",
        "You don't have to use bullet points.",
    ],
    "R4 conditions": [
        "If you mention Paris, use fewer than 50 words.",
        "Answer in French if the question is in French.",
        "Unless asked otherwise, answer in English.",
        "Use fewer than 50 words when possible.",
        "In case of doubt, answer in English.",
        "Do not use commas except in lists.",
        "Use lowercase letters other than for names.",
        "Answer in under 100 words, excluding the title.",
        "Depending on the topic, use bullet points.",
        "When you list items, use exactly 3 bullet points.",
    ],
    "R6 units that are no kind's": [
        "Use at most 3 animals.",
        "Answer in fewer than 20 characters.",
        "Mention at least 3 cities.",
        "Include at least 2 examples.",
        "Use no more than 5 lines.",
        "Use fewer than 10 syllables.",
        "Write at most 2 pages.",
        "Give exactly 3 reasons.",
        "Use at least 3 emojis.",
        "Include 3 URLs.",
        "Answer in fewer than 20 tokens.",
        "Keep it short.",
        "Answer in 20 words",
    ],
    "R7 disjunctions": [
        'Include the word "cat" or "dog".',
        'Include either "cat" or "dog".',
        'Use "cat" and/or "dog".',
        "Mention river or stone.",
        "Use the words 'red' or 'blue' at least twice.",
    ],
    "R8 clauses that cannot all be read": [
        "Answer in fewer than 20 words and mention Paris.",
        "Don't write more than 50 words and 3 sentences.",
        "Never use capital letters and commas.",
        "Use bullet points and be polite.",
        "Answer in French or in Spanish.",
        "Write a poem and do not use commas.",
        "Answer in fewer than 50 words, and explain your reasoning.",
        "Use no commas; be concise.",
    ],
    "R9 negations without a kind": [
        "Do not answer in French.",
        "Don't write in all capital letters.",
        "The answer should not be in English.",
        "Do not include a title.",
        "Don't end with a question.",
        "Do not use exactly 3 bullet points.",
        "Do not wrap your response in double quotation marks.",
        "The response must not contain a URL.",
        "Do not start with 'Hello'.",
        "No JSON.",
        "Do not add a postscript.",
        "Your answer should not be in JSON.",
        "Do not write in lowercase.",
        "The answer must not be a single sentence.",
        "Do not leave out the exclamation marks.",
    ],
    "R11 requests put as questions, wants and casual tails, where they still say no kind": [
        "Can you make it funny?",
        "Could the answer be under 50 words?",
        "Can you keep it under 50 words if possible?",
        "I want a poem about rain.",
        "I want the title in capitals.",
        "I'd like the summary in French.",
        "Can I use more than 100 words?",
        "Would you say it is under 50 words?",
        "Keep it short, and friendly.",
        "Can you include the word river if it fits?",
        "I want to use 3 bullet points.",
        "Could you end it with a question, or a call to action?",
        "Fit the summary into 2 sentences.",
        "Put the phone number in the footer.",
        "Can you write fewer than 20 characters?",
        "Can you fit it all on one page?",
        "Give me the JSON for the title.",
        "Get the words right in the answer.",
        "Work the phrases into your answer.",
        "Put the words in bold in your answer.",
        "I want capitals in the title.",
        "Can you keep the title under 5 words?",
        "all lowercase in the title pls",
        "Can you fit each paragraph into 2 sentences?",
        "Sign the email off with 'Best'.",
        "I'd like at most 50 words in the intro, thanks.",
        "Give me the JSON and a summary.",
    ],
    "R10 marks and links that are no character count or URL": [
        "You can use exclamation marks.",
        "Use exclamation marks.",
        "No exclamation marks in the title.",
        "Include a link between the two ideas.",
    ],
}


@pytest.mark.parametrize("text", [t for texts in LEFT_TO_THE_MODEL.values() for t in texts], ids=lambda t: t[:60])
def test_texts_that_change_meaning_on_the_way_to_code_are_left_to_the_model(text):
    assert reading(text) is None


READ_AS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    # R5: counts keep their relation
    (
        "Include exactly 2 placeholders, such as [name].",
        [("number_placeholders", {"num_placeholders": 2, "relation": "exactly"})],
    ),
    ("Limit your answer to exactly 3 sentences.", [("number_sentences", {"num_sentences": 3, "relation": "exactly"})]),
    ("Limit your answer to 3 sentences.", [("number_sentences", {"num_sentences": 3, "relation": "at most"})]),
    (
        "Highlight exactly 2 sections with markdown.",
        [("number_highlighted_sections", {"num_highlights": 2, "relation": "exactly"})],
    ),
    ("Use exactly 3 bullet points.", [("number_bullet_lists", {"num_bullets": 3, "relation": "exactly"})]),
    ("Answer in exactly 50 words.", [("number_words", {"num_words": 50, "relation": "exactly"})]),
    (
        "Write exactly 4 paragraphs.",
        [("number_paragraphs", {"num_paragraphs": 4, "separator": "\n\n", "relation": "exactly"})],
    ),
    (
        "The word 'river' should appear exactly twice.",
        [("keyword_frequency", word(keyword="river", frequency=2, relation="exactly"))],
    ),
    ("No more than 40 words, please.", [("number_words", {"num_words": 40, "relation": "at most"})]),
    # requests put as questions, wants, casual tails ("pls", "for this", "in there")
    ("Can you end it with a question?", [("ends_with_question", {})]),
    ("Could you keep it under 50 words?", [("number_words", {"num_words": 50, "relation": "less than"})]),
    ("I want at least 60 words for this.", [("number_words", {"num_words": 60, "relation": "at least"})]),
    ("Keep it short, 25 words tops.", [("number_words", {"num_words": 25, "relation": "at most"})]),
    ("all lowercase pls", [("all_lowercase", {"english": False})]),
    ("Can you fit it all in a single sentence?", [("number_sentences", {"num_sentences": 1, "relation": "exactly"})]),
    ("Fit your answer into 3 sentences.", [("number_sentences", {"num_sentences": 3, "relation": "at most"})]),
    ("Put an actual number in there.", [("contains_number", {})]),
    ("Work the word 'sustainable' into it.", [("include_keywords", {"keywords": ["sustainable"], "match": "word"})]),
    ("Sign it off with 'Cheers, Tom'.", [("end_phrase", {"end_phrase": "Cheers, Tom"})]),
    ("I need 3 bullet points.", [("number_bullet_lists", {"num_bullets": 3, "relation": "exactly"})]),
    ("Only give me the JSON, no extra text.", [("json_format", {})]),
    (
        "Your entire response (including the repeated request) should have 45 or less words.",
        [("number_words", {"num_words": 45, "relation": "at most"})],
    ),
    ("The answer should be 600+ words long.", [("number_words", {"num_words": 600, "relation": "at least"})]),
    (
        'Make sure to use the word "the" once or less.',
        [("keyword_frequency", word(keyword="the", frequency=1, relation="at most"))],
    ),
    ("Never write fewer than 50 words.", [("number_words", {"num_words": 50, "relation": "at least"})]),
    ("Answer in between 50 and 100 words.", [("word_range", {"min_words": 50, "max_words": 100})]),
    ("Use 50-100 words.", [("word_range", {"min_words": 50, "max_words": 100})]),
    (
        "Organize your entire response in 5 or 6 sentences.",
        [
            ("number_sentences", {"num_sentences": 5, "relation": "at least"}),
            ("number_sentences", {"num_sentences": 6, "relation": "at most"}),
        ],
    ),
    (
        "Your response must have 3 sections. Mark the beginning of each section with Section X.",
        [("multiple_sections", {"num_sections": 3, "section_spliter": "Section", "relation": "exactly"})],
    ),
    # R7: keyword lists
    (
        'Include the keywords "salt and pepper" and "oil".',
        [("include_keywords", word(keywords=["salt and pepper", "oil"]))],
    ),
    (
        'Do not use the words "black and white" or "grey".',
        [("forbidden_words", word(forbidden_words=["black and white", "grey"]))],
    ),
    ("Include the words 'don't' and 'won't'.", [("include_keywords", word(keywords=["don't", "won't"]))]),
    ('Include the phrase "rock and roll".', [("include_keywords", word(keywords=["rock and roll"]))]),
    ('Use the words "bread", "butter" and "jam".', [("include_keywords", word(keywords=["bread", "butter", "jam"]))]),
    ('Avoid the words "cat" or "dog".', [("forbidden_words", word(forbidden_words=["cat", "dog"]))]),
    (
        "Include keywords ['forests', 'riddle'] in the response.",
        [("include_keywords", word(keywords=["forests", "riddle"]))],
    ),
    ("Include the words river and stone.", [("include_keywords", word(keywords=["river", "stone"]))]),
    ('Make sure the word "lantern" shows up somewhere.', [("include_keywords", word(keywords=["lantern"]))]),
    (
        "The words startup and capsule cannot be in the response.",
        [("forbidden_words", word(forbidden_words=["startup", "capsule"]))],
    ),
    # R1/R2: wording people use for the whole response
    ("Everything you write must be in uppercase.", [("all_capitals", {"english": False})]),
    ("Write everything in capital letters.", [("all_capitals", {"english": False})]),
    ("Reply in valid JSON and nothing else.", [("json_format", {})]),
    ("Include a phone number.", [("contains_phone_number", {})]),
    ("Include a link to the website.", [("contains_url", {})]),
    ("No exclamation marks.", [("letter_frequency", {"letter": "!", "let_frequency": 1, "let_relation": "less than"})]),
    (
        "Your reply must not contain any question marks.",
        [("letter_frequency", {"letter": "?", "let_frequency": 1, "let_relation": "less than"})],
    ),
    ("Give an email address.", [("contains_email", {})]),
    ("End with a question.", [("ends_with_question", {})]),
    (
        "In your response, the letter # should appear at least 4 times.",
        [("letter_frequency", {"letter": "#", "let_frequency": 4, "let_relation": "at least"})],
    ),
    (
        'Don\'t contain the letter "p" in your reply.',
        [("letter_frequency", {"letter": "p", "let_frequency": 1, "let_relation": "less than"})],
    ),
    ("Please answer in lower case letters.", [("all_lowercase", {"english": False})]),
    ("Put double quotation marks around your entire one-sentence response.", [("quotation", {})]),
    (
        "Finish your response with this exact phrase Any other questions?. No other words should follow this phrase.",
        [("end_phrase", {"end_phrase": "Any other questions?"})],
    ),
    (
        "End your response with the exact question: Is there anything else I can help with?",
        [("end_phrase", {"end_phrase": "Is there anything else I can help with?"})],
    ),
    (
        "First repeat the request word for word without change, then give your answer. "
        "Do not say any words or characters before repeating the request.",
        [("repeat_prompt", {"prompt_to_repeat": None})],
    ),
    (
        'Answer with one of the following options: "My answer is yes.", "My answer is no.", "My answer is maybe."',
        [("constrained_response", {"options": ["My answer is yes.", "My answer is no.", "My answer is maybe."]})],
    ),
    # R8: clauses that are each read
    (
        "Your response should contain at least 30 sentences and exactly 2 bullet points.",
        [
            ("number_sentences", {"num_sentences": 30, "relation": "at least"}),
            ("number_bullet_lists", {"num_bullets": 2, "relation": "exactly"}),
        ],
    ),
    (
        "The answer should be 600+ words long and be wrapped with double quotation marks.",
        [("number_words", {"num_words": 600, "relation": "at least"}), ("quotation", {})],
    ),
    (
        "Do not use any commas and highlight at least 3 sections with markdown.",
        [("no_comma", {}), ("number_highlighted_sections", {"num_highlights": 3, "relation": "at least"})],
    ),
    (
        'Please do not use the word die in your response, but mention the word "dose" for at least 5 times.',
        [
            ("forbidden_words", word(forbidden_words=["die"])),
            ("keyword_frequency", word(keyword="dose", frequency=5, relation="at least")),
        ],
    ),
    (
        "The entire reply must be less than 20 words and contain a title in double angular brackets, i.e. <<title>>.",
        [("number_words", {"num_words": 20, "relation": "less than"}), ("title", {})],
    ),
]
if HAS_LANGID:
    READ_AS += [
        ("Answer in French and do not use any commas.", [("response_language", {"language": "fr"}), ("no_comma", {})]),
        (
            "Make sure the entire response is in English and no capital letters are used.",
            [("response_language", {"language": "en"}), ("all_lowercase", {"english": False})],
        ),
        (
            "Your ENTIRE response should be in Kannada language, no other language is allowed.",
            [("response_language", {"language": "kn"})],
        ),
    ]


@pytest.mark.parametrize(("text", "expected"), READ_AS, ids=[t[:60] for t, _ in READ_AS])
def test_texts_are_read_with_every_kind_and_parameter_they_state(text, expected):
    assert reading(text) == expected


def test_the_adversarial_set_keeps_its_size():
    assert sum(len(texts) for texts in LEFT_TO_THE_MODEL.values()) >= 80 and len(READ_AS) >= 40
