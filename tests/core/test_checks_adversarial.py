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
        "You can include my email, sam@example.com.",
        "Feel free to add our website, greenleafcafe.com.",
    ],
    "R1 closing words that are no mere comment": [
        "Under 50 words, it's for the intro.",
        "Keep it under 50 words for the product description.",
        "Max 40 words so it fits on one line.",
        "Use fewer than 30 words, my boss said 3 sentences.",
        "No commas, it's going in the first paragraph.",
        "Answer in French so it has 3 paragraphs.",
        "Don't write more than 50 words and no commas.",
        "Under 50 words, it is fine to use commas.",
        "Under 50 words so it sounds friendly.",
        "Keep it under 50 words, it should sound friendly.",
    ],
    "R10 given values that are not an obligation to include them, or that name a part": [
        "Don't include my email sam@example.com.",
        "My email is sam@example.com.",
        "Put my email sam@example.com at the end.",
        "Put my email sam@example.com in the signature.",
        "Include my phone number, sam@example.com.",
        "If they ask, give them my email sam@example.com.",
        "Include greenleafcafe.com.",
        "Include 2024-01-15.",
        "Never share the link https://example.org/admin.",
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
    "R2 and R6 everyday wording naming a part, a topic, or what no kind checks (JSON keys, digits, numbering)": [
        "Add a contact email at the end.",
        'Answer in JSON format only: keys "city" and "reason"',
        "Output only valid JSON with a 'title' and 'author' key",
        "Give me the answer as valid JSON with keys name and age",
        "Make sure you mention the deposit.",
        "mention sunscreen",
        "It should mention Tuesday.",
        "The last line should be 'Thanks for reading!'",
        "Make the last word 'tomorrow'",
        "Make the first word of the title 'Dear'",
        "Kick the title off with 'Quick'",
        "Begin the email with 'Hi'",
        "The message for my boss should end with 'Thanks'.",
        "The word 'allergies' has to be in the title.",
        "Keep the word 'problem' out of the title.",
        "I don't want the word 'very' in the intro",
        "No 'Dear Sir' in the title",
        "no capital letters in the title",
        "Two sentences, no more, for the summary",
        "Put a phone number in the footer so people can call us",
        "Put an email address in the signature so people can reach us.",
        "Include at least one number (digits) in the answer.",
        "Include at least one digit (0-9).",
        "numbered list, exactly 3 steps",
        "Give me exactly four numbered points",
        "bullet list, 3 numbered items",
        "Make it short, it's for a sign",
    ],
    "R3, R4 and R9 everyday wording that softens, permits, negates or sets a condition": [
        "Try not to use the word 'just'.",
        "Try to stay below 12 words.",
        "You can write it all in lowercase.",
        "You can skip commas.",
        "It may mention 'Tuesday'.",
        "'ocean' may be in there",
        "Don't make it all lowercase.",
        "Don't put the whole thing in uppercase.",
        "can you not use 'synergy'",
        "Put the whole thing in uppercase if it's for a sign",
        "Can you make it all lowercase if it's a poem?",
        "Leave out the word 'amazing' unless it fits",
        "Give me four bullet points or five",
        "Write the whole thing in French or in uppercase.",
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
    # everyday casual wording: requests put as questions, "the whole thing", "your message", reasons after the ask
    ("ALL CAPS please, it's for a sign", [("all_capitals", {"english": False})]),
    ("Could you write the whole thing in uppercase letters?", [("all_capitals", {"english": False})]),
    ("WRITE IT IN ALL CAPS", [("all_capitals", {"english": False})]),
    ("Put the whole thing in uppercase.", [("all_capitals", {"english": False})]),
    ("no capital letters anywhere", [("all_lowercase", {"english": False})]),
    ("can u make it all lower case", [("all_lowercase", {"english": False})]),
    ("lowercase only, no caps", [("all_lowercase", {"english": False})]),
    ("Make it all lowercase, it's for an aesthetic instagram bio", [("all_lowercase", {"english": False})]),
    ("i want it in all lowercase letters", [("all_lowercase", {"english": False})]),
    ("Please reference the word 'refund'.", [("include_keywords", word(keywords=["refund"]))]),
    ("The word 'allergies' has to be in there.", [("include_keywords", word(keywords=["allergies"]))]),
    ("say the word 'receipt' somewhere in it", [("include_keywords", word(keywords=["receipt"]))]),
    ("make sure you say 'thank you'", [("include_keywords", word(keywords=["thank you"]))]),
    ("make sure 'ocean' is in there somewhere", [("include_keywords", word(keywords=["ocean"]))]),
    ("It needs to mention 'Tuesday'.", [("include_keywords", word(keywords=["Tuesday"]))]),
    ("work in the word 'patience' thx", [("include_keywords", word(keywords=["patience"]))]),
    ("I don't want the word 'very' in it", [("forbidden_words", word(forbidden_words=["very"]))]),
    ("Leave out the word 'amazing'.", [("forbidden_words", word(forbidden_words=["amazing"]))]),
    ("avoid saying 'awesome'", [("forbidden_words", word(forbidden_words=["awesome"]))]),
    ("Keep the word 'problem' out of it.", [("forbidden_words", word(forbidden_words=["problem"]))]),
    ("No 'basically' pls", [("forbidden_words", word(forbidden_words=["basically"]))]),
    ("Don't say 'no problem'.", [("forbidden_words", word(forbidden_words=["no problem"]))]),
    ("Kick it off with 'Quick question:'", [("starts_with", {"start_phrase": "Quick question:"})]),
    ("First word needs to be 'Sure'", [("starts_with", {"start_phrase": "Sure"})]),
    ("make the first word 'Dear'", [("starts_with", {"start_phrase": "Dear"})]),
    (
        "Begin the message with the word 'Congratulations'.",
        [("starts_with", {"start_phrase": "Congratulations"})],
    ),
    ("Please end your message with 'Cheers!'", [("end_phrase", {"end_phrase": "Cheers!"})]),
    ("end on the phrase 'talk soon'", [("end_phrase", {"end_phrase": "talk soon"})]),
    ("wrap up with 'Happy cooking!' pls", [("end_phrase", {"end_phrase": "Happy cooking!"})]),
    ("Finish the message with a question.", [("ends_with_question", {})]),
    ("Two sentences, no more.", [("number_sentences", {"num_sentences": 2, "relation": "at most"})]),
    (
        "Three sentences, no more, no less.",
        [("number_sentences", {"num_sentences": 3, "relation": "exactly"})],
    ),
    ("Can you do it in a single sentence?", [("number_sentences", {"num_sentences": 1, "relation": "exactly"})]),
    ("I want it short, max 35 words.", [("number_words", {"num_words": 35, "relation": "at most"})]),
    ("The response should contain zero commas.", [("no_comma", {})]),
    ("No commas in the response, ok?", [("no_comma", {})]),
    ("Can you do it with no commas?", [("no_comma", {})]),
    ("write it without a single comma", [("no_comma", {})]),
    ("I need this comma-free.", [("no_comma", {})]),
    ("Give me the answer as valid JSON, no extra text", [("json_format", {})]),
    ("Make sure to include a phone number they can call.", [("contains_phone_number", {})]),
    ("Please put a phone number in it.", [("contains_phone_number", {})]),
    ("Put an email address in there so people can reach us.", [("contains_email", {})]),
    ("Please list a contact email.", [("contains_email", {})]),
    ("Give me exactly four bullet points", [("number_bullet_lists", {"num_bullets": 4, "relation": "exactly"})]),
    ("bullet list, 3 bullets", [("number_bullet_lists", {"num_bullets": 3, "relation": "exactly"})]),
    (
        "Use at least two bracketed placeholders.",
        [("number_placeholders", {"num_placeholders": 2, "relation": "at least"})],
    ),
    # a quoted keyword is the user's own words: no list of two, no "it's" rewritten
    ("don't use the word 'sorry' anywhere", [("forbidden_words", word(forbidden_words=["sorry"]))]),
    ("It needs to mention the word 'budget' somewhere", [("include_keywords", word(keywords=["budget"]))]),
    ('The answer starts with the word "It\'s".', [("starts_with", {"start_phrase": "It's"})]),
    ("Include the phrase 'it's time'.", [("include_keywords", word(keywords=["it's time"]))]),
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
    # R1: a closing comment adds nothing to check
    ("Write it in no more than 20 words.", [("number_words", {"num_words": 20, "relation": "at most"})]),
    ("Max 40 words, it's going on a sticker.", [("number_words", {"num_words": 40, "relation": "at most"})]),
    (
        "It must be 25 words or fewer so it fits on the card.",
        [("number_words", {"num_words": 25, "relation": "at most"})],
    ),
    ("Less than 10 words. Seriously.", [("number_words", {"num_words": 10, "relation": "less than"})]),
    ("Close on a question so people comment.", [("ends_with_question", {})]),
    # everyday wording of kinds
    ("Zero question marks.", [("letter_frequency", {"letter": "?", "let_frequency": 1, "let_relation": "less than"})]),
    (
        "No more than one exclamation mark.",
        [("letter_frequency", {"letter": "!", "let_frequency": 1, "let_relation": "at most"})],
    ),
    ("Make the last sentence a question.", [("ends_with_question", {})]),
    ("Make sure there's a contact email in it.", [("contains_email", {})]),
    ("Somewhere between 100 and 150 words, please.", [("word_range", {"min_words": 100, "max_words": 150})]),
    ("Keep it in the 30 to 40 word range.", [("word_range", {"min_words": 30, "max_words": 40})]),
    ("Please don't capitalize anything.", [("all_lowercase", {"english": False})]),
    ("all lowercase, no capitals at all", [("all_lowercase", {"english": False})]),
    # R8: "no X" after an affirmative clause is a clause of its own; a count never takes "No" as its verb
    ("Under 50 words and no commas.", [("number_words", {"num_words": 50, "relation": "less than"}), ("no_comma", {})]),
    (
        "No exclamation marks and fewer than 4 sentences, it's going to my manager.",
        [
            ("letter_frequency", {"letter": "!", "let_frequency": 1, "let_relation": "less than"}),
            ("number_sentences", {"num_sentences": 4, "relation": "less than"}),
        ],
    ),
    # a value written out is that value, not any one of its kind
    (
        "Make sure my email address, sam.ortiz@mailbox.com, is in there.",
        [("contains_email", {"value": "sam.ortiz@mailbox.com"})],
    ),
    (
        "Please put the link to our site (https://greenleafcafe.com) in the post.",
        [("contains_url", {"value": "https://greenleafcafe.com"})],
    ),
    ("Include my number, 555-0142.", [("contains_phone_number", {"value": "555-0142"})]),
    ("Give them our phone number 020 7946 0958.", [("contains_phone_number", {"value": "020 7946 0958"})]),
    ("Add our website greenleafcafe.com.", [("contains_url", {"value": "greenleafcafe.com"})]),
    ("sam@example.com should appear in the reply.", [("contains_email", {"value": "sam@example.com"})]),
    ("The reply must include our URL https://x.org/menu", [("contains_url", {"value": "https://x.org/menu"})]),
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
        ("Write it in Portuguese, my clients are in Brazil.", [("response_language", {"language": "pt"})]),
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
