"""Everyday semantic requirement families, with labels that hold by construction.

A semantic requirement ("The answer is polite.", "The answer apologizes.") has no exact checker,
so its training data is *built* to meet it or not: a base response (a generated answer of the
response pool, or a hand-written scenario) is framed with a fragment that has the property (a
polite opener, an apology, a greeting, a recommendation, a given fact...) or with one that
clearly lacks it (a rude opener, a thank-you instead of an apology, a non-greeting opener, a
mention of an item that does not recommend it, a contrasting fact...). The label is the
construction's, so it is known, not guessed. Some families also have requirements of the opposite
sense ("The answer is rude."), whose label is the negation, so that the adapter must read the
requirement, not only the response. Besides a few fixed phrasings, each family is asked in the ways
people ask (:data:`ASKING`: "Please ...", "Make sure you ...", "Remember to ..."...) around several
imperative cores, so that the adapter meets many wordings of one request, not five.

Families: ``polite``, ``greeting``, ``apology``, ``tone`` (positive, negative, formal, casual),
``person`` (first, second, third), ``recommendation``, ``answers_question`` (the response answers
the instruction's question, or one about something else) and ``mentions_fact`` (the response
states a given fact, or a contrasting one). :func:`build_semantic_examples` makes balanced,
labelled examples from a split's responses; hand-written scenarios are split by a stable hash of
their instruction, so no scenario crosses the train/val/test splits.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ASKING",
    "SEMANTIC_FAMILIES",
    "SemanticFamily",
    "asked",
    "build_semantic_examples",
    "phrasings",
    "scenario_split",
]

Checks = list[tuple[str, bool]]
"""``(requirement, label)`` pairs checked on one conversation."""

Built = tuple[str, str, Checks, bool, str]
"""``(instruction, response, checks, label, edit)`` of one built conversation: with no checks, the builder asks the
family's phrasings, whose label is ``label`` (and the negation for its phrasings of opposite sense)."""


@dataclass(frozen=True)
class Draw:
    """What one example is built on: a base ``(instruction, response)``, a scenario of the family (or ``None``),
    and ``other``: the response to another instruction, on another topic (for answers that miss the question)."""

    instruction: str
    base: str
    scenario: Any = None
    other: str | None = None


def scenario_split(instruction: str) -> str:
    """The split (``train``/``val``/``test``) of a hand-written scenario: a stable hash of its instruction, 70/10/20."""
    bucket = zlib.crc32(instruction.encode("utf-8")) % 10
    return "train" if bucket < 7 else "val" if bucket == 7 else "test"


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CUE_WORDS = re.compile(
    r"\b(sorry|apolog\w*|regret|please|thank\w*|hello|hi|hey|greetings|welcome|recommend\w*|suggest\w*|should|"
    r"glad|happy|love|hate|awful|terrible|wonderful|i|me|my|mine|we|our|us|you|your|yours)\b",
    re.IGNORECASE,
)


def _plain(response: str) -> str | None:
    """The first complete prose sentence (6 to 30 words) of a generated response, if it carries no semantic cue."""
    if "\n" in response.strip() or response.lstrip().startswith(("{", "[", "`")):
        return None
    parts = [p.strip() for p in _SENTENCE.split(response.strip()) if p.strip()]
    text = next((p for p in parts if p[-1] in ".!?"), "")
    if not 6 <= len(text.split()) <= 30 or _CUE_WORDS.search(text):
        return None
    return text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


ASKING = (
    "{C}.",
    "Please {c}.",
    "Make sure you {c}.",
    "Be sure to {c}.",
    "Remember to {c}.",
    "You should {c}.",
    "I'd like you to {c}.",
    "Your reply needs to {c}.",
)
"""How people ask for something: frames around an imperative core (``{c}``; ``{C}`` capitalised)."""


def asked(*cores: str) -> tuple[str, ...]:
    """Every frame of :data:`ASKING` around every core: requirement wordings beyond a family's fixed phrasings."""
    return tuple(f.format(c=c, C=c[:1].upper() + c[1:]) for c in cores for f in ASKING)


# ---------------------------------------------------------------------------------------------
# politeness

POLITE_OPENERS = (
    "Of course!",
    "Certainly, happy to help.",
    "Thank you for asking.",
    "Good question, thanks for raising it.",
    "I'd be glad to explain.",
    "Sure, with pleasure.",
    "Thanks for reaching out.",
    "Absolutely, let me help.",
    "Thank you for your patience.",
    "What a kind question.",
    "I appreciate you asking.",
    "Gladly.",
)
POLITE_CLOSERS = (
    "I hope this helps!",
    "Please let me know if you have any other questions.",
    "Thank you, and have a lovely day.",
    "Feel free to ask if anything is unclear.",
    "Kind regards.",
    "Thanks again for your question.",
    "I'm happy to help further if you need it.",
    "Wishing you all the best.",
    "Please don't hesitate to ask more.",
    "Take care!",
)
RUDE_OPENERS = (
    "Ugh, fine.",
    "Obviously.",
    "What a silly question.",
    "Pay attention this time.",
    "Whatever.",
    "Do I really have to explain this?",
    "Seriously, look it up yourself next time.",
    "Listen carefully, because I won't repeat it.",
    "That's a dumb thing to ask.",
    "Fine, if you must know.",
    "Honestly, everyone knows this.",
    "Stop wasting my time.",
)
RUDE_CLOSERS = (
    "Don't ask me again.",
    "Figure out the rest yourself.",
    "Try to keep up.",
    "Now stop bothering me.",
    "It's not that hard.",
    "Next time, use your brain.",
    "Go away.",
    "I have better things to do.",
    "Nobody cares anyway.",
    "Deal with it.",
)
REQUESTS = (
    ("Ask someone to pass the salt.", "Could you pass me the salt, please?", "Pass the salt. Now."),
    (
        "Ask a colleague to send the report.",
        "Would you mind sending me the report when you have a moment? Thanks!",
        "Send me the report. You're late as usual.",
    ),
    (
        "Ask your neighbour to turn the music down.",
        "Sorry to bother you, but could you please turn the music down a little?",
        "Turn that noise down, it's unbearable.",
    ),
    ("Ask a waiter for the bill.", "Excuse me, could we have the bill, please? Thank you.", "Bill. Hurry up."),
    (
        "Ask a friend to return your book.",
        "Hi! Whenever it suits you, could you return my book? No rush.",
        "Give me my book back already. You always forget.",
    ),
    (
        "Ask the hotel for a late checkout.",
        "Good morning, would it be possible to check out an hour later? Many thanks.",
        "I'm checking out late. Don't argue.",
    ),
    (
        "Ask your manager for a day off.",
        "Would it be alright if I took Friday off? I'd really appreciate it.",
        "I'm taking Friday off. Deal with it.",
    ),
    (
        "Ask a stranger for directions to the station.",
        "Excuse me, could you tell me the way to the station, please?",
        "Where's the station? Speak up, I'm in a hurry.",
    ),
    ("Ask someone to wait a moment.", "Could you wait just a moment, please? Thank you so much.", "Wait. Don't move."),
    (
        "Ask the shop to refund a broken kettle.",
        "Hello, the kettle I bought stopped working. Could I get a refund, please?",
        "Your kettle is junk. Give me my money back.",
    ),
    (
        "Ask a student to hand in homework.",
        "Please hand in your homework by Friday. Thank you!",
        "Homework. Friday. No excuses, I don't care.",
    ),
    (
        "Ask your roommate to wash the dishes.",
        "Would you mind washing the dishes tonight? I'd be grateful.",
        "Wash your dirty dishes. I'm sick of it.",
    ),
    (
        "Ask a colleague to speak more quietly.",
        "Sorry, could you keep your voice down a little? Thanks a lot.",
        "Shut up, some of us are working.",
    ),
    (
        "Ask the driver to stop at the next corner.",
        "Could you stop at the next corner, please? Thank you.",
        "Stop at the corner. Are you deaf?",
    ),
)


def _polite(d: Draw, want: bool, rng: random.Random) -> Built:
    """Polite framing (openers, closers, courteous requests) or rude framing."""
    if d.scenario is not None and rng.random() < 0.5:
        instruction, polite, rude = d.scenario
        return instruction, polite if want else rude, [], want, "request"
    openers, closers = (POLITE_OPENERS, POLITE_CLOSERS) if want else (RUDE_OPENERS, RUDE_CLOSERS)
    where = rng.choice(["open", "close", "both"])
    parts = [rng.choice(openers)] if where in ("open", "both") else []
    parts.append(d.base)
    if where in ("close", "both"):
        parts.append(rng.choice(closers))
    return d.instruction, " ".join(parts), [], want, f"frame-{where}"


# ---------------------------------------------------------------------------------------------
# greetings

GREETINGS = (
    "Hello!",
    "Hi there!",
    "Good morning!",
    "Hey!",
    "Greetings!",
    "Hi, nice to hear from you.",
    "Hello and welcome!",
    "Good evening,",
    "Hi!",
    "Hello, friend!",
    "Good afternoon!",
    "Hey there, how are you?",
    "Howdy!",
    "Hi, hope you're well.",
    "Hello everyone,",
)
NON_GREETINGS = (
    "Sure.",
    "Well,",
    "Right,",
    "Okay,",
    "To answer briefly,",
    "In short,",
    "First of all,",
    "As it happens,",
    "Interesting.",
    "Let me think.",
    "Here is the answer.",
    "Briefly put,",
    "Goodbye for now.",
    "So,",
)


def _greeting(d: Draw, want: bool, rng: random.Random) -> Built:
    """A greeting before the response, or a non-greeting opener (or none)."""
    if want:
        return d.instruction, f"{rng.choice(GREETINGS)} {d.base}", [], True, "greeting"
    if rng.random() < 0.6:
        return d.instruction, f"{rng.choice(NON_GREETINGS)} {_lower_first(d.base)}", [], False, "other-opener"
    return d.instruction, d.base, [], False, "plain"


# ---------------------------------------------------------------------------------------------
# apologies

APOLOGIES = (
    "I'm sorry about that.",
    "Sorry for the trouble.",
    "My apologies for the mix-up.",
    "I apologize for the delay.",
    "We are sorry for the inconvenience.",
    "Please accept our apologies.",
    "I'm really sorry this happened.",
    "Apologies for the confusion.",
    "We regret the error and apologize.",
    "Sorry, that was our mistake.",
    "I'm so sorry for the wait.",
    "Our sincere apologies.",
)
NON_APOLOGIES = (
    "Thanks for your message.",
    "Here is what I found.",
    "Let me explain.",
    "Thank you for letting us know.",
    "This is how it works.",
    "We have checked your account.",
    "Good news:",
    "Here are the details.",
    "Our records show the following.",
    "We have received your request.",
    "Noted.",
    "That is expected.",
)
COMPLAINTS = (
    ("My package arrived two days late.", "Your package was delayed at the sorting centre and is now delivered."),
    ("You charged me twice for one order.", "The second charge has been reversed and will show within five days."),
    ("The soup I ordered was cold.", "We will bring you a fresh, hot bowl right away."),
    ("My train ticket was not accepted.", "The ticket machine had a fault; your ticket is valid for the next train."),
    ("The hotel room was not cleaned.", "Housekeeping will clean your room within the hour."),
    ("I waited an hour on the phone.", "A support agent will now call you back at a time you choose."),
    ("The shoes I received are the wrong size.", "A pair in the right size is on its way, with a free return label."),
    ("My flight was cancelled without notice.", "You have been rebooked on the morning flight at no extra cost."),
    ("The app deleted my notes.", "Your notes were restored from last night's backup."),
    ("The delivery driver left my parcel in the rain.", "A replacement parcel will be sent tomorrow."),
    ("I was given the wrong medicine dosage on the label.", "The pharmacist has printed a corrected label for you."),
    ("The concert started forty minutes late.", "Every ticket holder will receive a partial refund."),
    ("My internet has been down since Monday.", "An engineer will visit on Thursday morning to fix the line."),
    ("The library fined me for a book I returned.", "The fine has been removed from your account."),
    ("The taxi took a much longer route.", "The difference in fare has been refunded to your card."),
    ("My bank card was blocked for no reason.", "Your card is unblocked and works again now."),
    ("The course video has no sound.", "A fixed version of the video has been uploaded."),
    ("The pizza was missing two toppings.", "The next pizza is on us, with every topping you chose."),
    ("My email to support was never answered.", "Your request is now open and assigned to an agent."),
    ("The gym locker broke and my bag was stuck.", "The locker has been repaired and your bag is at the desk."),
)


def _apology(d: Draw, want: bool, rng: random.Random) -> Built:
    """An apology sentence before or after the response, or a non-apology sentence (or none)."""
    instruction, base = d.scenario if d.scenario is not None and rng.random() < 0.6 else (d.instruction, d.base)
    first = rng.random() < 0.6
    if want:
        extra = rng.choice(APOLOGIES)
    elif rng.random() < 0.7:
        extra = rng.choice(NON_APOLOGIES)
    else:
        return instruction, base, [], False, "plain"
    response = f"{extra} {base}" if first else f"{base} {extra}"
    return instruction, response, [], want, "apology" if want else "other-sentence"


# ---------------------------------------------------------------------------------------------
# tone

TONE_TOPICS = (
    "the new library",
    "the weekend trip",
    "the hotel",
    "this phone",
    "the city park",
    "the museum visit",
    "the training course",
    "the new bakery",
    "the football match",
    "the film",
    "the restaurant",
    "the concert",
    "the school play",
    "the bike ride",
    "the new office",
    "the camping trip",
    "the book club",
    "the neighbourhood",
    "the beach holiday",
    "the team meeting",
)
POSITIVE = (
    "{T} was wonderful from start to finish.",
    "I loved every minute of {t}.",
    "{T} made the whole day brighter.",
    "Everyone was delighted with {t}.",
    "{T} is a real joy and well worth it.",
    "We had a fantastic time at {t}.",
    "{T} exceeded all our hopes.",
    "What a lovely experience {t} turned out to be!",
    "{T} left us smiling.",
    "The best part? {T} was even better than last year.",
)
NEGATIVE = (
    "{T} was a complete disappointment.",
    "I hated almost everything about {t}.",
    "{T} ruined the whole day.",
    "Everyone was unhappy with {t}.",
    "{T} is dreary and not worth the money.",
    "We had a miserable time at {t}.",
    "{T} fell far short of what was promised.",
    "What a frustrating mess {t} turned out to be.",
    "{T} left us annoyed and tired.",
    "Sadly, {t} was even worse than last year.",
)
FORMAL = (
    ("Dear Sir or Madam,", "Yours faithfully."),
    ("I would like to inform you that", "Kind regards."),
    ("Please be advised that", "Thank you for your attention."),
    ("It is my pleasure to confirm that", "Sincerely."),
    ("We hereby inform you that", "Respectfully yours."),
    ("With reference to your enquiry,", "Best regards."),
)
CASUAL = (
    ("Hey!! So basically,", "lol"),
    ("Yeah so,", "cheers mate!"),
    ("Okay so get this:", "pretty cool, huh?"),
    ("Haha, well,", "anyway, catch ya later!"),
    ("Dude,", "no biggie."),
    ("So like,", "ya know? :)"),
)
TONE_REQUIREMENTS = {
    "positive": (
        "The tone of the answer is positive.",
        "Keep the tone upbeat.",
        "The response sounds cheerful.",
        "Write with an optimistic tone.",
        *asked("keep it upbeat", "sound positive", "write in a cheerful way", "keep the mood bright"),
    ),
    "negative": (
        "The tone of the answer is negative.",
        "The response sounds unhappy.",
        "Write with a pessimistic tone.",
        *asked("sound disappointed", "keep the tone negative", "write in a gloomy way"),
    ),
    "formal": (
        "The answer is written in a formal tone.",
        "Use formal language.",
        "The response sounds professional and formal.",
        *asked("write formally", "keep the language formal", "sound businesslike"),
    ),
    "casual": (
        "The answer is written in a casual tone.",
        "Use informal, chatty language.",
        "The response sounds relaxed and informal.",
        *asked("keep it casual", "write in a relaxed, chatty way", "sound laid-back"),
    ),
}


def _tone(d: Draw, want: bool, rng: random.Random) -> Built:
    """Positive or negative remarks on a topic, or a formal or casual framing of a response; asked both tones."""
    axis = rng.choice(["sentiment", "sentiment", "register"])
    if axis == "sentiment":
        topic = rng.choice(TONE_TOPICS)
        sense = rng.choice(["positive", "negative"])
        pool = POSITIVE if sense == "positive" else NEGATIVE
        lines = rng.sample(pool, 2)
        response = " ".join(s.format(t=topic, T=topic[:1].upper() + topic[1:]) for s in lines)
        instruction = rng.choice(["How was {t}?", "Tell me about {t}.", "What did you think of {t}?", "Review {t}."])
        instruction = instruction.format(t=topic)
        has, lacks = sense, "negative" if sense == "positive" else "positive"
    else:
        style = rng.choice(["formal", "casual"])
        opener, closer = rng.choice(FORMAL if style == "formal" else CASUAL)
        instruction, response = d.instruction, f"{opener} {_lower_first(d.base)} {closer}"
        has, lacks = style, "casual" if style == "formal" else "formal"
    checks = [(rng.choice(TONE_REQUIREMENTS[has]), True), (rng.choice(TONE_REQUIREMENTS[lacks]), False)]
    return instruction, response, checks if want else checks[::-1], want, f"{axis}"


# ---------------------------------------------------------------------------------------------
# person

PERSON_TOPICS = (
    "cooking",
    "running",
    "the sea",
    "gardening",
    "old trains",
    "chess",
    "jazz",
    "winter",
    "painting",
    "city life",
    "camping",
    "learning a language",
    "baking bread",
    "cycling",
    "bird watching",
    "yoga",
    "photography",
    "sailing",
)
FIRST = (
    "I have loved {t} since I was a child.",
    "In my experience, {t} takes patience.",
    "My favourite thing about {t} is the calm.",
    "I spend most weekends on {t}.",
    "I think {t} teaches me a lot.",
    "We tried {t} together last summer.",
    "For me, {t} is a way to relax.",
    "I first learned about {t} from my grandmother.",
    "Our family enjoys {t} every year.",
)
SECOND = (
    "You will find that {t} takes patience.",
    "If you try {t}, you will enjoy the calm.",
    "Your first week of {t} may feel slow.",
    "You can start {t} with very little equipment.",
    "When you practise {t}, you get better quickly.",
    "You should give {t} a try this year.",
    "Your friends might join you for {t}.",
)
THIRD = (
    "{T} takes patience.",
    "Many people enjoy {t} because it is calm.",
    "{T} has a long history.",
    "Beginners often find {t} slow at first.",
    "Experts say {t} improves focus.",
    "{T} needs very little equipment.",
    "Some families practise {t} every weekend.",
    "Teachers describe {t} as a calming activity.",
)
PERSON_REQUIREMENTS = {
    "first": (
        "The answer is written in the first person.",
        "Write from your own point of view, using I.",
        "The response uses first-person pronouns like I and my.",
        *asked("write in the first person", "speak as I", "use I and my"),
    ),
    "second": (
        "The answer addresses the reader directly as you.",
        "Speak to the reader in the second person.",
        "The response talks directly to the reader.",
        *asked("write in the second person", "speak to the reader as you", "address the reader in person"),
    ),
    "third": (
        "The answer is written in the third person.",
        "Use only the third person.",
        "The response avoids I, me, you and your.",
        *asked("write in the third person", "avoid I and you", "describe it from the outside, in the third person"),
    ),
}


def _person(d: Draw, want: bool, rng: random.Random) -> Built:
    """Two or three sentences about a topic, all in the first, second or third person; asked its person and another."""
    topic = rng.choice(PERSON_TOPICS)
    person = rng.choice(["first", "second", "third"])
    pool = {"first": FIRST, "second": SECOND, "third": THIRD}[person]
    lines = rng.sample(pool, rng.choice([2, 3]))
    response = " ".join(s.format(t=topic, T=topic[:1].upper() + topic[1:]) for s in lines)
    other = rng.choice([p for p in PERSON_REQUIREMENTS if p != person])
    checks = [(rng.choice(PERSON_REQUIREMENTS[person]), True), (rng.choice(PERSON_REQUIREMENTS[other]), False)]
    instruction = rng.choice(["Write a few sentences about {t}.", "Say something about {t}.", "Describe {t}."])
    return instruction.format(t=topic), response, checks if want else checks[::-1], want, person


# ---------------------------------------------------------------------------------------------
# recommendations

ITEMS = {
    "book": ("'Moby-Dick'", "'Pride and Prejudice'", "'The Little Prince'", "'Dune'", "'Jane Eyre'", "'Middlemarch'"),
    "film": ("'Casablanca'", "'Spirited Away'", "'The Godfather'", "'Amelie'", "'Up'", "'Paddington 2'"),
    "place to visit": ("Lisbon", "Kyoto", "the Scottish Highlands", "Lake Bled", "Granada", "Cape Town"),
    "dish": ("a mushroom risotto", "lentil soup", "a Greek salad", "pad thai", "shakshuka", "a vegetable curry"),
    "exercise": ("swimming", "brisk walking", "rowing", "pilates", "cycling to work", "jumping rope"),
    "app": ("a budgeting app", "a language-learning app", "a habit tracker", "a sleep timer", "a note-taking app"),
}
RECOMMEND = (
    "I recommend {x}.",
    "You should try {x}.",
    "A good choice would be {x}.",
    "Consider {x}.",
    "My suggestion is {x}.",
    "I'd strongly suggest {x}.",
    "Why not give {x} a go?",
    "{X} is my top pick for you.",
    "Go for {x}.",
    "If I were you, I'd choose {x}.",
)
MENTION_ONLY = (
    "{X} is well known.",
    "Some people have heard of {x}.",
    "{X} was mentioned in the news.",
    "{X} exists in many versions.",
    "{X} is discussed a lot.",
    "Many people compare things to {x}.",
)
REC_REQUIREMENTS = (
    "The answer recommends something.",
    "Give a recommendation.",
    "The response includes a suggestion.",
    "Recommend something specific.",
    "The reply suggests an option to the user.",
    *asked("recommend something", "suggest an option", "give a concrete suggestion", "offer a recommendation"),
)
REC_KIND_REQUIREMENTS = (
    "The answer recommends a {k}.",
    "Suggest a {k}.",
    "The response must recommend a {k}.",
    *asked("tell me which {k} to go for", "suggest a good {k}", "name a {k} worth trying", "point me to a {k}"),
)


def _recommendation(d: Draw, want: bool, rng: random.Random) -> Built:
    """A recommendation of an item of some kind, or a mention of it that recommends nothing.

    Asked whether it recommends something, and whether it recommends a thing of its kind or of another kind.
    """
    kind = rng.choice(sorted(ITEMS))
    other = rng.choice([k for k in ITEMS if k != kind])
    item = rng.choice(ITEMS[kind])
    instruction = rng.choice(
        ["What should I try next?", "I'm bored this weekend.", "Any ideas for me?", "I need something new.",
         "Help me decide.", "What do you suggest?", d.instruction]
    )  # fmt: skip
    line = rng.choice(RECOMMEND if want else MENTION_ONLY)
    sentence = line.format(x=item, X=item[:1].upper() + item[1:])
    response = f"{d.base} {sentence}" if rng.random() < 0.5 else sentence
    asked = kind if not want or rng.random() < 0.5 else other
    checks = [
        (rng.choice(REC_REQUIREMENTS), want),
        (rng.choice(REC_KIND_REQUIREMENTS).format(k=asked), want and asked == kind),
    ]
    return instruction, response, checks, want, "recommends" if want else "mentions-only"


# ---------------------------------------------------------------------------------------------
# answering the question asked

QA = (
    (
        "What time does the bakery open?",
        "The bakery opens at seven in the morning.",
        "The bakery sells rye bread and croissants.",
    ),
    (
        "How long should I boil an egg?",
        "Boil it for about eight minutes for a firm yolk.",
        "Eggs come in brown and white shells.",
    ),
    (
        "Where is the nearest pharmacy?",
        "The nearest pharmacy is on Station Road, next to the post office.",
        "Pharmacies sell medicine and plasters.",
    ),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa.", "The Mona Lisa hangs behind glass."),
    ("How many days are in a leap year?", "A leap year has 366 days.", "Leap years were introduced by the Romans."),
    (
        "What is the boiling point of water at sea level?",
        "Water boils at 100 degrees Celsius at sea level.",
        "Water covers most of the Earth's surface.",
    ),
    (
        "Which planet is closest to the sun?",
        "Mercury is the planet closest to the sun.",
        "The sun is a medium-sized star.",
    ),
    (
        "How do I reset my password?",
        "Click 'Forgot password' on the login page and follow the link in the email.",
        "Passwords should be long and unique.",
    ),
    (
        "Is it going to rain tomorrow?",
        "Yes, rain is expected from the afternoon onward.",
        "Rain helps farmers grow crops.",
    ),
    ("How much does the museum ticket cost?", "An adult ticket costs twelve euros.", "The museum has three floors."),
    (
        "What language is spoken in Brazil?",
        "Portuguese is the main language of Brazil.",
        "Brazil is famous for football.",
    ),
    (
        "Can I bring my dog on the bus?",
        "Yes, small dogs may travel on the bus if they are on a lead.",
        "Dogs are loyal companions.",
    ),
    ("When was the first moon landing?", "The first moon landing was in July 1969.", "The moon has no atmosphere."),
    (
        "How far is it from Paris to Lyon?",
        "Paris and Lyon are about 470 kilometres apart.",
        "Lyon is known for its food.",
    ),
    (
        "What should I wear for a job interview?",
        "A clean, simple outfit such as a shirt and dark trousers works well.",
        "Job interviews can be stressful.",
    ),
    ("Why do cats purr?", "Cats purr when they are content, and sometimes to calm themselves.", "Cats sleep a lot."),
    (
        "How many players are on a football team?",
        "Each football team has eleven players on the pitch.",
        "Football is played in most countries.",
    ),
    ("What is the capital of Canada?", "Ottawa is the capital of Canada.", "Canada has long, cold winters."),
    (
        "How do I make a cup of tea?",
        "Pour boiling water over a tea bag, wait three minutes, then remove the bag.",
        "Tea is popular in many countries.",
    ),
    (
        "What does a thermometer measure?",
        "A thermometer measures temperature.",
        "Thermometers are made of glass or plastic.",
    ),
    ("Which ocean is the largest?", "The Pacific is the largest ocean.", "Oceans contain salt water."),
    (
        "When does the library close on Sundays?",
        "On Sundays the library closes at four in the afternoon.",
        "The library has a quiet reading room.",
    ),
    ("How many legs does an insect have?", "An insect has six legs.", "Insects are found on every continent."),
    (
        "What is the main ingredient of guacamole?",
        "Guacamole is made mainly from avocado.",
        "Guacamole is served at parties.",
    ),
    ("Who wrote 'Romeo and Juliet'?", "William Shakespeare wrote 'Romeo and Juliet'.", "The play is set in Verona."),
    (
        "How can I save money on groceries?",
        "Plan your meals, write a list and buy store brands.",
        "Grocery stores open early.",
    ),
    (
        "What is the speed limit on this motorway?",
        "The limit is 120 kilometres per hour.",
        "Motorways have several lanes.",
    ),
    (
        "Why is the sea salty?",
        "Rivers carry dissolved minerals into the sea, and evaporation leaves the salt behind.",
        "The sea is home to many fish.",
    ),
    ("How often should I water a cactus?", "Water a cactus about once every two weeks.", "Cacti grow in deserts."),
    (
        "Where was the Olympic Games held in 2012?",
        "The 2012 Olympic Games were held in London.",
        "The Olympics include summer and winter games.",
    ),
)
ANSWER_REQUIREMENTS = (
    "The answer responds to the question that was asked.",
    "Answer the question.",
    "The response stays on topic.",
    "The reply is relevant to the user's request.",
    "The answer gives the information the user asked for.",
    "Respond to what the user actually asked.",
    *asked(
        "answer the question",
        "address the question directly",
        "keep to the topic of the question",
        "give the answer the user asked for",
        "respond to the actual request",
    ),
)


def _answers_question(d: Draw, want: bool, rng: random.Random) -> Built:
    """The instruction's own answer; or an answer to another instruction, or a related remark that answers nothing."""
    if d.scenario is not None and (rng.random() < 0.6 or d.other is None):
        question, answer, remark = d.scenario
        return question, answer if want else remark, [], want, "qa" if want else "qa-remark"
    if want or d.other is None:
        return d.instruction, d.base, [], True, "own-answer"
    return d.instruction, d.other, [], False, "other-answer"


# ---------------------------------------------------------------------------------------------
# mentioning a given fact

FACTS = (
    (
        "the shop opens at nine",
        ("The shop opens at 9 a.m.", "Doors open at nine in the morning."),
        "The shop closes at six.",
    ),
    (
        "the meeting is on Tuesday",
        ("We meet on Tuesday.", "The meeting takes place on Tuesday."),
        "The meeting room is on the second floor.",
    ),
    (
        "the tickets cost 20 euros",
        ("Each ticket is 20 euros.", "Tickets are priced at twenty euros."),
        "Tickets are sold at the entrance.",
    ),
    (
        "the train leaves from platform 4",
        ("Your train departs from platform 4.", "Go to platform four for the train."),
        "The train has a quiet carriage.",
    ),
    (
        "the recipe needs two eggs",
        ("You will need two eggs.", "Add 2 eggs to the bowl."),
        "The recipe needs flour and milk.",
    ),
    (
        "the park is free to enter",
        ("Entry to the park is free.", "You don't pay anything to enter the park."),
        "The park has a small lake.",
    ),
    (
        "the flight lasts three hours",
        ("The flight takes about three hours.", "You'll be in the air for 3 hours."),
        "The flight serves a light meal.",
    ),
    (
        "the hotel has a pool",
        ("There is a swimming pool at the hotel.", "Guests can use the hotel's pool."),
        "The hotel is near the station.",
    ),
    (
        "the course starts in March",
        ("The course begins in March.", "Classes start in March."),
        "The course is taught online.",
    ),
    (
        "the bridge is closed for repairs",
        ("The bridge is shut while it is repaired.", "Repairs have closed the bridge."),
        "The bridge was built in 1890.",
    ),
    (
        "the dog is vaccinated",
        ("The dog has had all its vaccinations.", "Our dog is fully vaccinated."),
        "The dog is three years old.",
    ),
    (
        "the parcel weighs two kilos",
        ("The parcel weighs 2 kg.", "It's a two-kilo parcel."),
        "The parcel is wrapped in brown paper.",
    ),
    (
        "the restaurant is closed on Mondays",
        ("The restaurant doesn't open on Mondays.", "On Mondays the restaurant is closed."),
        "The restaurant serves Italian food.",
    ),
    (
        "the offer ends on Friday",
        ("The offer runs until Friday.", "You have until Friday to get the offer."),
        "The offer applies to all shoes.",
    ),
    (
        "the apartment has two bedrooms",
        ("The flat has 2 bedrooms.", "There are two bedrooms in the apartment."),
        "The apartment has a sunny balcony.",
    ),
    (
        "the concert is sold out",
        ("No tickets are left for the concert.", "The concert has sold out."),
        "The concert starts at eight.",
    ),
    (
        "the water is safe to drink",
        ("You can safely drink the tap water.", "The water is drinkable."),
        "The water comes from a mountain spring.",
    ),
    (
        "the battery lasts ten hours",
        ("The battery runs for 10 hours.", "You get ten hours from one charge."),
        "The battery charges over USB.",
    ),
    (
        "the school is next to the church",
        ("The school stands beside the church.", "You'll find the school right next to the church."),
        "The school has five hundred pupils.",
    ),
    (
        "the medicine should be taken with food",
        ("Take the medicine with a meal.", "Swallow each tablet with food."),
        "The medicine comes in a blue box.",
    ),
    (
        "the road is icy",
        ("The road is covered in ice.", "Watch out, the road is icy."),
        "The road leads to the village.",
    ),
    (
        "the museum is closed today",
        ("The museum is shut today.", "Today the museum is not open."),
        "The museum has a new dinosaur hall.",
    ),
    (
        "the car needs new tyres",
        ("The car's tyres must be replaced.", "Your car needs a new set of tyres."),
        "The car is painted blue.",
    ),
    (
        "the film is two hours long",
        ("The film runs for two hours.", "It's a 120-minute film."),
        "The film is set in Rome.",
    ),
    (
        "the lake is too cold for swimming",
        ("The lake is too cold to swim in.", "Nobody should swim: the lake is freezing."),
        "The lake is surrounded by pine trees.",
    ),
    (
        "the printer is out of paper",
        ("The printer has run out of paper.", "There's no paper left in the printer."),
        "The printer is in the hallway.",
    ),
    ("the baby was born in May", ("The baby arrived in May.", "She gave birth in May."), "The baby has curly hair."),
    (
        "the exam lasts ninety minutes",
        ("The exam is 90 minutes long.", "You'll have an hour and a half for the exam."),
        "The exam has twenty questions.",
    ),
    (
        "the garden gets full sun",
        ("The garden is in full sun all day.", "Sunlight reaches the whole garden."),
        "The garden has a wooden fence.",
    ),
    (
        "the package was delivered yesterday",
        ("Your package arrived yesterday.", "The parcel was delivered yesterday."),
        "The package came with a receipt.",
    ),
)
FACT_REQUIREMENTS = (
    "The answer mentions that {f}.",
    "State that {f}.",
    "Make sure to say that {f}.",
    "The response must include the fact that {f}.",
    "Tell the reader that {f}.",
    "The reply points out that {f}.",
    *asked(
        "mention that {f}",
        "let the reader know that {f}",
        "include the fact that {f}",
        "remind them that {f}",
        "tell them that {f}",
    ),
)
FACT_INSTRUCTIONS = (
    "Write a short note for the team.",
    "Give me a quick update.",
    "Write a message to a friend.",
    "Summarize what I need to know.",
    "Draft a short notice.",
    "Tell me the key details.",
)


def _mentions_fact(d: Draw, want: bool, rng: random.Random) -> Built:
    """A response that states the fact (in one of its wordings) or a contrasting one, and another fact's contrast.

    Asked whether it states the fact, and whether it states the other fact (never: only its contrast is there).
    """
    fact, sayings, contrast = d.scenario
    other_fact, _, other_contrast = rng.choice([f for f in FACTS if f[0] != fact])
    line = rng.choice(sayings) if want else contrast
    parts = [other_contrast, line] if rng.random() < 0.5 else [line, other_contrast]
    checks = [
        (rng.choice(FACT_REQUIREMENTS).format(f=fact), want),
        (rng.choice(FACT_REQUIREMENTS).format(f=other_fact), False),  # the response states its contrast only
    ]
    return rng.choice(FACT_INSTRUCTIONS), " ".join(parts), checks, want, "states-fact" if want else "contrast"


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SemanticFamily:
    """A semantic family: requirement phrasings (some of opposite sense) and a builder of labelled examples.

    ``make(draw, want, rng)`` returns a :data:`Built` conversation and its checks (the first with
    label ``want``); with no checks, the builder asks one of ``phrasings`` and, when there are
    any, one of ``inverse`` (phrasings of opposite sense, whose label is the negation).
    ``scenarios`` are hand-written situations of the family, split by :func:`scenario_split`;
    ``needs_scenario`` families are built only from them.
    """

    name: str
    make: Callable[[Draw, bool, random.Random], Built]
    phrasings: tuple[str, ...] = ()
    inverse: tuple[str, ...] = ()
    scenarios: tuple[Any, ...] = ()
    needs_scenario: bool = False


SEMANTIC_FAMILIES: dict[str, SemanticFamily] = {
    f.name: f
    for f in [
        SemanticFamily(
            "polite",
            _polite,
            (
                "The answer is polite.",
                "Be polite.",
                "Reply courteously.",
                "The response must be respectful and kind.",
                "Use polite language.",
                *asked(
                    "be polite",
                    "stay courteous",
                    "keep a respectful tone",
                    "use kind, respectful words",
                    "write politely",
                    "treat the reader with respect",
                ),
            ),
            ("The answer is rude.", "The response is impolite."),
            REQUESTS,
        ),
        SemanticFamily(
            "greeting",
            _greeting,
            (
                "The answer starts with a greeting.",
                "Greet the user first.",
                "Begin by saying hello.",
                "Open the response with a greeting.",
                "The reply greets the reader.",
                *asked(
                    "say hello first",
                    "start with a greeting",
                    "greet the reader before anything else",
                    "open with a friendly hello",
                    "begin by greeting them",
                ),
            ),
            ("The answer does not greet the user.",),
        ),
        SemanticFamily(
            "apology",
            _apology,
            (
                "The answer apologizes.",
                "Include an apology.",
                "Say sorry to the user.",
                "The response must contain an apology.",
                "Apologize for the problem.",
                *asked(
                    "apologise",
                    "apologize to the reader",
                    "say you are sorry",
                    "include a short apology",
                    "express regret",
                    "offer an apology",
                ),
            ),
            ("The answer does not apologize.",),
            COMPLAINTS,
        ),
        SemanticFamily("tone", _tone),
        SemanticFamily("person", _person),
        SemanticFamily("recommendation", _recommendation),
        SemanticFamily(
            "answers_question", _answers_question, ANSWER_REQUIREMENTS, ("The response ignores the question.",), QA
        ),
        SemanticFamily("mentions_fact", _mentions_fact, (), (), FACTS, needs_scenario=True),
    ]
}
"""The everyday semantic families, by name."""


def _phrased(family: SemanticFamily, label: bool, rng: random.Random) -> Checks:
    checks = [(rng.choice(family.phrasings), label)]
    if family.inverse:
        checks.append((rng.choice(family.inverse), not label))
    return checks


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)}


def build_semantic_examples(
    responses: Sequence[dict[str, str]],
    per_label: int,
    rng: random.Random,
    *,
    split: str,
    families: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """``per_label`` examples of each label per semantic family, built on ``responses`` and the ``split``'s scenarios.

    Each line is ``{"instruction", "response", "requirement", "label", "family", "edit"}``, like
    :func:`gencomp_alora.training.datagen.build_examples`; most conversations carry two checks (often of
    opposite labels, so that the requirement, not only the response, decides); a repeated
    (requirement, response) is left out.
    """
    bases = [(r["instruction"], p) for r in responses if (p := _plain(r["response"])) is not None]
    if not bases:
        bases = [(r["instruction"], r["response"].strip()) for r in responses if r["response"].strip()]
    examples: list[dict[str, Any]] = []
    for name in families or list(SEMANTIC_FAMILIES):
        family = SEMANTIC_FAMILIES[name]
        scenarios = [s for s in family.scenarios if scenario_split(str(s[0])) == split]
        if (family.needs_scenario and not scenarios) or not (bases or scenarios):
            continue
        by_label: dict[bool, list[dict[str, Any]]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for attempt in range(per_label * 20):
            if len(by_label[True]) >= per_label and len(by_label[False]) >= per_label:
                break
            instruction, base = rng.choice(bases) if bases else ("", "")
            topic = _words(instruction) - {"write", "explain", "about", "short", "what", "interesting", "thing"}
            others = [b for _, b in bases if not topic & _words(b)]
            scenario = rng.choice(scenarios) if scenarios else None
            draw = Draw(instruction, base, scenario, rng.choice(others) if others else None)
            if not base and draw.scenario is None:
                continue
            instr, response, checks, label, edit = family.make(draw, attempt % 2 == 0, rng)
            for requirement, value in checks or _phrased(family, label, rng):
                if (requirement, response) in seen or len(by_label[value]) >= per_label:
                    continue
                seen.add((requirement, response))
                by_label[value].append(
                    {"instruction": instr, "response": response, "requirement": requirement, "label": value,
                     "family": name, "edit": edit}
                )  # fmt: skip
        k = min(per_label, len(by_label[True]), len(by_label[False]))
        for label in (True, False):
            examples.extend(by_label[label][:k])
    rng.shuffle(examples)
    return examples


def phrasings() -> list[str]:
    """Every requirement phrasing the semantic families train on (``{f}``: a fact, ``{k}``: a kind of thing)."""
    out = [p for f in SEMANTIC_FAMILIES.values() for p in (*f.phrasings, *f.inverse)]
    out += [p for group in (*TONE_REQUIREMENTS.values(), *PERSON_REQUIREMENTS.values()) for p in group]
    return [*out, *REC_REQUIREMENTS, *REC_KIND_REQUIREMENTS, *FACT_REQUIREMENTS]
