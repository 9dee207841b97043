"""Everyday semantic families: examples built to meet a requirement or not, with the label of their construction."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from gencomp_alora.training.datagen import write_dataset
from gencomp_alora.training.semantic import (
    APOLOGIES,
    ASKING,
    FACTS,
    GREETINGS,
    ITEMS,
    SEMANTIC_FAMILIES,
    asked,
    build_semantic_examples,
    phrasings,
    scenario_split,
)

RESPONSES = [
    {
        "instruction": "Explain tea in one sentence.",
        "response": "Tea is a drink made from the dried leaves of a plant.",
    },
    {"instruction": "Why is sleep important?", "response": "Sleep restores the body and helps memory form overnight."},
    {
        "instruction": "Write a short paragraph about trains.",
        "response": "Trains carry people and goods across long distances.",
    },
    {"instruction": "Describe the moon as a JSON object.", "response": '{"name": "moon"}'},  # no prose: never a base
    {
        "instruction": "Explain volcanoes in one sentence.",
        "response": "Volcanoes erupt when molten rock rises through the crust.",
    },
]


def _examples(per_label: int = 12, seed: int = 0, split: str = "train") -> list[dict]:
    return build_semantic_examples(RESPONSES, per_label, random.Random(seed), split=split)


def test_every_semantic_family_gets_both_labels_in_equal_numbers():
    counts = Counter((e["family"], e["label"]) for e in _examples())
    for family in SEMANTIC_FAMILIES:
        assert counts[(family, True)] == counts[(family, False)] == 12, family


def test_the_labels_are_the_constructions():
    for e in _examples(20):
        response, requirement, label = e["response"], e["requirement"], e["label"]
        if e["family"] == "apology" and e["edit"] in ("apology", "other-sentence", "plain"):
            says_sorry = any(a in response for a in APOLOGIES)
            assert says_sorry is (label != requirement.startswith("The answer does not")), e
        if e["family"] == "greeting" and e["edit"] != "greeting":
            assert not any(response.startswith(g) for g in GREETINGS)
            assert label is requirement.startswith("The answer does not"), e
        if e["family"] == "mentions_fact":
            fact = next(f for f in FACTS if f[0] in requirement)
            assert any(s in response for s in fact[1]) is label, e
        if e["family"] == "recommendation" and re.search(r"recommend a |Suggest a ", requirement):
            kind = next(k for k in ITEMS if requirement.rstrip(".").endswith(k))
            if label:
                assert any(item in response or item.capitalize() in response for item in ITEMS[kind]), e


def test_most_conversations_carry_two_checks_with_different_requirements():
    by_conversation = defaultdict(list)
    for e in _examples(20):
        by_conversation[(e["instruction"], e["response"])].append(e)
    sizes = Counter(len(v) for v in by_conversation.values())
    assert sizes[2] > sizes[1]
    for checks in by_conversation.values():
        assert len({c["requirement"] for c in checks}) == len(checks)


def test_requirements_of_opposite_sense_have_the_opposite_label_on_one_response():
    by_conversation = defaultdict(dict)
    for e in _examples(20):
        by_conversation[(e["instruction"], e["response"])][e["requirement"]] = e["label"]
    pairs = [
        ("The answer is polite.", "The answer is rude."),
        ("The answer apologizes.", "The answer does not apologize."),
        ("The tone of the answer is positive.", "The tone of the answer is negative."),
    ]
    seen = 0
    for checks in by_conversation.values():
        for yes, no in pairs:
            if yes in checks and no in checks:
                assert checks[yes] is not checks[no]
                seen += 1
    assert seen


def test_scenarios_never_cross_splits_and_the_builder_is_deterministic():
    assert _examples(seed=3) == _examples(seed=3)
    instructions = {s: {e["instruction"] for e in _examples(split=s)} for s in ("train", "val", "test")}
    qa = {q for q, _, _ in SEMANTIC_FAMILIES["answers_question"].scenarios}
    for split, seen in instructions.items():
        assert all(scenario_split(q) == split for q in seen & qa)


def test_no_response_of_a_generated_pool_is_used_unless_it_is_a_plain_sentence():
    for e in _examples(20):
        assert '{"name": "moon"}' not in e["response"]


def test_write_dataset_adds_the_semantic_families_after_each_splits_lines_and_leaves_them_unchanged(tmp_path: Path):
    many = [
        {"instruction": f"{r['instruction']} ({i})", "response": r["response"]} for i in range(6) for r in RESPONSES
    ]
    plain = write_dataset(many, tmp_path / "plain", per_label=(4, 2, 2), heldout_per_label=2)
    both = write_dataset(
        many, tmp_path / "both", per_label=(4, 2, 2), heldout_per_label=2, semantic_per_label=(6, 2, 2)
    )
    for split in ("train", "val", "test", "heldout"):
        before = (tmp_path / "plain" / f"{split}.jsonl").read_text().splitlines()
        after = (tmp_path / "both" / f"{split}.jsonl").read_text().splitlines()
        assert after[: len(before)] == before and len(before) == plain[split]
        added = [json.loads(x) for x in after[len(before) :]]
        assert len(after) == both[split]
        assert {r["family"] for r in added} <= set(SEMANTIC_FAMILIES)
        assert (split == "heldout") is (not added)


def test_the_phrasings_list_holds_every_requirement_the_builder_asks():
    templates = [re.compile(".+".join(map(re.escape, re.split(r"\{[fk]\}", p)))) for p in phrasings()]
    for e in _examples(20):
        assert any(t.fullmatch(e["requirement"]) for t in templates), e["requirement"]


def test_every_family_is_asked_in_the_ways_people_ask_not_only_its_fixed_phrasings():
    frames = [re.compile(".+".join(map(re.escape, f.split("{c}")))) for f in ASKING if "{c}" in f]  # not the bare one
    asked_by = defaultdict(set)
    for e in _examples(60):
        asked_by[e["family"]] |= {i for i, frame in enumerate(frames) if frame.fullmatch(e["requirement"])}
    for family in SEMANTIC_FAMILIES:
        assert len(asked_by[family]) >= 3, (family, asked_by[family])
    assert asked("say hello first")[:2] == ("Say hello first.", "Please say hello first.")
