"""The evaluation split ``disjoint.jsonl`` shares no requirement text, template or response with training."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gencomp_alora.training.disjoint import DISJOINT_PATH, build
from gencomp_alora.training.families import FAMILIES
from gencomp_alora.training.semantic import SEMANTIC_FAMILIES, phrasings

GENERATED = Path(__file__).resolve().parents[2] / "datasets" / "requirement_checks"
TRAINING = ("train", "val", "written", "written-2", "written-3", "written-val")
"""What the shipped adapter was trained and validated on: generated from templates, and written by hand."""


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _template_pattern(phrasing: str) -> re.Pattern[str]:
    parts = re.split(r"\{[wnfk]\}", phrasing)
    return re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE)


def test_the_disjoint_file_is_what_build_makes():
    assert _rows(DISJOINT_PATH) == build()


def test_no_requirement_text_or_response_of_the_disjoint_split_occurs_in_the_generated_data():
    disjoint = _rows(DISJOINT_PATH)
    generated = [r for name in (*TRAINING, "test", "heldout", "responses") for r in _rows(GENERATED / f"{name}.jsonl")]
    requirements = {str(r["requirement"]).lower() for r in generated if "requirement" in r}
    responses = {str(r["response"]).strip() for r in generated}
    assert requirements and responses
    assert not [r["requirement"] for r in disjoint if str(r["requirement"]).lower() in requirements]
    assert not [r["response"] for r in disjoint if str(r["response"]).strip() in responses]


def test_no_requirement_of_the_disjoint_split_is_worded_by_a_training_template():
    patterns = [_template_pattern(p) for f in FAMILIES.values() for p in f.phrasings]
    patterns += [_template_pattern(p) for p in phrasings()]
    worded = [
        r["requirement"] for r in _rows(DISJOINT_PATH) if any(p.fullmatch(str(r["requirement"])) for p in patterns)
    ]
    assert not worded


def test_the_disjoint_labels_are_the_family_checkers_verdicts_and_both_occur_in_every_family():
    rows = _rows(DISJOINT_PATH)
    for family in FAMILIES:
        labels = {r["label"] for r in rows if r["family"] == family}
        assert labels == {True, False}, family
    for r in rows:
        if r["family"] in FAMILIES:
            assert r["label"] is FAMILIES[str(r["family"])].label(str(r["response"]), r["param"])


def test_every_semantic_family_has_hand_written_disjoint_checks_half_met_and_half_not():
    rows = [r for r in _rows(DISJOINT_PATH) if r["family"] in SEMANTIC_FAMILIES]
    for family in SEMANTIC_FAMILIES:
        labels = [r["label"] for r in rows if r["family"] == family]
        assert len(labels) >= 20 and labels.count(True) == labels.count(False), family
    assert {str(r["family"]) for r in _rows(DISJOINT_PATH)} <= set(FAMILIES) | set(SEMANTIC_FAMILIES)


def _pairs(rows: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    """The rows of each requirement; asserts each has exactly one met and one unmet response."""
    pairs: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        pairs.setdefault(str(r["requirement"]).lower(), []).append(r)
    for requirement, pair in pairs.items():
        assert sorted(bool(r["label"]) for r in pair) == [False, True], requirement
    return pairs


def test_the_hand_written_training_checks_pair_a_met_and_an_unmet_response_for_each_requirement():
    written = [name for name in TRAINING if name.startswith("written") and name != "written-val"]
    train = [r for name in written for r in _rows(GENERATED / f"{name}.jsonl")]
    val = _rows(GENERATED / "written-val.jsonl")
    for rows in (train, val):
        for one, other in _pairs(rows).values():
            assert one["instruction"] == other["instruction"] and one["response"] != other["response"]
    assert len(train) >= 1000 and len(val) >= 100
    assert not {str(r["requirement"]).lower() for r in train} & {str(r["requirement"]).lower() for r in val}


EVERYDAY_SETS = sorted((Path(__file__).resolve().parents[2] / "datasets" / "everyday_checks").glob("*.jsonl"))


@pytest.mark.parametrize("path", EVERYDAY_SETS, ids=[p.name for p in EVERYDAY_SETS])
def test_each_everyday_benchmark_set_shares_no_requirement_and_no_response_with_training(path: Path):
    everyday = _rows(path)
    assert len({r["requirement"] for r in everyday}) >= 100
    assert [r["label"] for r in everyday].count(True) == len(everyday) // 2
    _pairs(everyday)
    generated = [r for name in (*TRAINING, "test", "heldout") for r in _rows(GENERATED / f"{name}.jsonl")]
    requirements = {str(r["requirement"]).lower() for r in generated}
    responses = {str(r["response"]).strip() for r in generated}
    assert not [r["requirement"] for r in everyday if str(r["requirement"]).lower() in requirements]
    assert not [r["response"] for r in everyday if str(r["response"]).strip() in responses]
    patterns = [_template_pattern(p) for f in FAMILIES.values() for p in f.phrasings]
    patterns += [_template_pattern(p) for p in phrasings()]
    assert not [r["requirement"] for r in everyday if any(p.fullmatch(str(r["requirement"])) for p in patterns)]


def test_the_everyday_benchmark_sets_share_no_requirement_with_each_other():
    seen: dict[str, str] = {}
    for path in EVERYDAY_SETS:
        for requirement in {str(r["requirement"]).lower() for r in _rows(path)}:
            assert requirement not in seen, f"{requirement!r} is in {seen.get(requirement)} and {path.name}"
            seen[requirement] = path.name
