"""An evaluation split disjoint from training: new requirement wording, new responses, exact labels.

The requirement checks of ``datasets/requirement_checks/`` (train, val, test) all come from the
phrasing templates of :mod:`gencomp_alora.training.families` and from one pool of generated
responses, and most test requirements appear word for word in training. This split is written by
hand for evaluation only: every phrasing below is new (none is a family template), every response
is new (none is a generated one), and each label is computed by the family's checker.
:func:`build` makes the split (deterministic); ``DISJOINT_PATH`` holds it, and a test keeps the file
equal to :func:`build` and disjoint from training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from gencomp_alora.training.families import FAMILIES, words

__all__ = ["PHRASINGS", "RESPONSES", "build", "write"]

PHRASINGS: dict[str, tuple[str, ...]] = {
    "mentions_word": (
        "Somewhere in the reply, say {w}.",
        "Make sure {w} appears in what you write.",
        "Work the word '{w}' into your response.",
    ),
    "avoids_word": (
        "Leave out the word {w} entirely.",
        "The word '{w}' should not appear anywhere.",
        "Write it without ever saying {w}.",
    ),
    "all_capitals": (
        "Every letter should be a capital.",
        "Shout it: uppercase throughout.",
        "No lowercase letters allowed.",
    ),
    "bulleted_list": (
        "Give it to me as bullet points.",
        "Lay the reply out as a list with bullets.",
        "Each point on its own line, starting with a bullet.",
    ),
    "numbered_list": (
        "Number each item: 1, 2, 3 and so on.",
        "Present the points as an enumerated list.",
        "Give me a list where every line begins with its number.",
    ),
    "valid_json": (
        "Return a JSON object, no prose.",
        "Your whole reply must parse as JSON.",
        "Respond with machine-readable JSON only.",
    ),
    "starts_with_word": (
        "Open your reply with the word {w}.",
        "Let {w} be the very first word.",
        "Kick off the response with '{w}'.",
    ),
    "contains_number": (
        "Give at least one figure in digits.",
        "Put a numeral somewhere in the text.",
        "Quote some number, written with digits.",
    ),
    "single_sentence": (
        "Say it all in just one sentence.",
        "No more than a single sentence, please.",
        "One sentence, nothing more.",
    ),
    "shorter_than": (
        "Your reply must contain fewer than {n} words.",
        "Stay below {n} words.",
        "Be brief: less than {n} words.",
    ),
    "all_lowercase": (
        "Capital letters are not allowed.",
        "Type everything in small letters.",
    ),
    "ends_with_question": (
        "Close with a question to the reader.",
        "The last character must be a question mark.",
    ),
    "at_least_words": (
        "Write {n} words at minimum.",
        "Don't stop before {n} words.",
    ),
}
"""New phrasings per family, written for this evaluation ({w}: a word, {n}: a number)."""

RESPONSES: tuple[tuple[str, str], ...] = (
    (
        "What do bees do in winter?",
        "Bees cluster together inside the hive and shiver to keep the queen warm until spring returns.",
    ),
    ("What do bees do in winter?", "BEES STAY INSIDE THE HIVE AND SHIVER TOGETHER TO STAY WARM."),
    ("Name some uses of salt.", "- Seasoning food\n- Preserving fish and meat\n- Melting ice on roads"),
    ("Name some uses of salt.", "1. Seasoning food\n2. Preserving meat\n3. De-icing roads in winter"),
    ("Name some uses of salt.", '{"uses": ["seasoning", "preserving", "de-icing"]}'),
    (
        "Name some uses of salt.",
        "Salt seasons food and keeps meat from spoiling. Have you ever tried curing fish at home?",
    ),
    ("Name some uses of salt.", "salt is used to season food, to keep meat from spoiling and to clear icy roads."),
    ("How tall is the Eiffel Tower?", "The Eiffel Tower is about 330 metres tall and was finished in 1889."),
    (
        "Explain how a bicycle stays upright.",
        "A moving bicycle stays upright mostly because the rider steers into any lean. When the bike tips to "
        "the left, the front wheel turns left and brings the wheels back under the rider. The shape of the "
        "fork helps too: it makes the wheel steer itself a little. At walking pace this is much harder, "
        "which is why slow riding feels wobbly.",
    ),
    ("What is a lighthouse for?", "Lighthouses guide ships away from rocks at night."),
    ("Write a short poem about autumn.", "Sure! Leaves fall slowly, the wind turns cold, and the days grow short."),
    ("Can cats see in the dark?", "Yes, cats can see in dim light much better than people can."),
    (
        "How do clouds form?",
        "Clouds form when warm air rises and cools, and the water vapour in it condenses into tiny droplets. "
        "Different heights give different cloud shapes.",
    ),
    ("How many legs does a spider have?", "Spiders have eight legs and most have eight eyes as well."),
    ("Name some uses of salt.", "{uses: seasoning, preserving}"),
    ("Give three health tips.", "* Drink water\n* Sleep well\n* Walk every day"),
    ("Give three health tips.", "Three tips:\n1. Drink water\n2. Sleep eight hours\n3. Walk after dinner"),
    ("What controls the tides?", "THE MOON controls the tides of the ocean."),
    (
        "Why is the sky blue?",
        "Why is the sky blue? Sunlight scatters off air molecules, and blue light scatters the most.",
    ),
    (
        "Tell me about volcanoes.",
        "Volcanoes erupt when pressure from molten rock builds up under the crust. In 2010 an Icelandic "
        "volcano stopped flights across Europe for six days.",
    ),
    ("What is the capital of France?", "Paris."),
    (
        "Why does bread rise?",
        "Bread rises because yeast eats sugar and releases carbon dioxide, which gets trapped in the dough.",
    ),
    ("Should I hike tomorrow?", "Maybe. It depends on the weather, the season and how far you plan to walk."),
    ("How does rain form?", "do you want to know how rain forms? water evaporates, cools and falls again."),
    ("Give three health tips.", '{"tips": ["drink water", "sleep well", "walk daily"], "count": 3}'),
    ("Describe a good breakfast.", "A GOOD BREAKFAST HAS EGGS, FRUIT AND 2 SLICES OF TOAST."),
    ("Describe a good breakfast.", "oatmeal with berries and a cup of tea makes a calm, filling breakfast"),
    ("Describe a good breakfast.", "- Oatmeal with berries\n- Two eggs\nand a glass of juice to finish."),
    ("List the planets nearest the sun.", "Mercury, Venus, Earth and Mars are the four planets nearest the sun."),
    ("List the planets nearest the sun.", "1) Mercury\n2) Venus\n3) Earth\n4) Mars"),
    (
        "Suggest a weekend plan.",
        "A morning at the market, a long lunch and a film in the evening. Which part sounds best to you?",
    ),
    ("Suggest a weekend plan.", "HOW ABOUT A PICNIC BY THE LAKE ON SATURDAY?"),
    ("Ask me something about my garden.", "what do you grow in the shady corner near the fence?"),
    ("Give the boiling point of water.", '[{"unit": "celsius", "value": 100}, {"unit": "fahrenheit", "value": 212}]'),
)
"""New (instruction, response) pairs, written for this evaluation."""

ABSENT_WORDS = ("harbour", "violin", "granite", "orbit", "pepper", "lantern", "meadow", "copper")
"""Words that occur in no response above (for word requirements that a response does not mention)."""

PER_FAMILY = 20
"""Checks drawn per family (half meeting the requirement, half not); a repeated check is left out."""

DISJOINT_PATH = Path(__file__).resolve().parents[5] / "datasets" / "requirement_checks" / "disjoint.jsonl"
"""Where the split lives in a source checkout."""


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) >= 4 and w.isalpha()]


def _candidates(family: str, want: bool) -> list[tuple[int, object]]:
    """``(response index, parameter)`` pairs whose label for ``family`` is ``want``."""
    fam = FAMILIES[family]
    out: list[tuple[int, object]] = []
    for i, (_, response) in enumerate(RESPONSES):
        if fam.param == "word":
            if family == "starts_with_word":
                options: list[object] = [words(response)[0], "Well", "Honestly", "Today"]
            else:
                options = [*_content_words(response)[:3], *ABSENT_WORDS[i % 4 :: 4]]
        elif fam.param == "number":
            n = len(words(response))
            options = [max(n - 3, 2), n + 4, n]
        else:
            options = [None]
        out.extend((i, v) for v in options if fam.label(response, v) == want)
    return out


def build(seed: int = 16) -> list[dict[str, object]]:
    """The disjoint split: up to ``PER_FAMILY`` distinct checks per family, labels about balanced, deterministic."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for family, phrasings in PHRASINGS.items():
        fam = FAMILIES[family]
        for k in range(PER_FAMILY):
            want = k % 2 == 0
            options = _candidates(family, want) or _candidates(family, not want)
            for _ in range(50):  # no check twice
                i, value = rng.choice(options)
                instruction, response = RESPONSES[i]
                requirement = phrasings[k % len(phrasings)].format(w=value, n=value)
                if (requirement, response) not in seen:
                    break
            else:
                continue
            seen.add((requirement, response))
            rows.append(
                {
                    "instruction": instruction,
                    "response": response,
                    "requirement": requirement,
                    "label": fam.label(response, value),
                    "family": family,
                    "param": value,
                    "held_out": fam.held_out,
                }
            )
    return rows


def write(path: Path = DISJOINT_PATH) -> Path:
    """Write :func:`build`'s split to ``path`` (JSON lines)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build()), encoding="utf-8")
    return path
