"""Calibration of p(yes): ECE, reliability bins, the uncertain margin, the plot, and `gencomp alora eval`."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gencomp_alora.training.calibration import (
    choose_margin,
    expected_calibration_error,
    margin_curve,
    reliability,
    reliability_svg,
)


def _calibrated(n: int, seed: int = 0) -> tuple[list[float], list[bool]]:
    rng = random.Random(seed)
    p_yes = [rng.random() for _ in range(n)]
    return p_yes, [rng.random() < p for p in p_yes]


def test_a_calibrated_path_has_a_small_ece_and_a_confidently_wrong_one_a_large_ece():
    p_yes, labels = _calibrated(20000)
    assert expected_calibration_error(p_yes, labels) < 0.02
    wrong = [0.95 if not label else 0.05 for label in labels]
    assert expected_calibration_error(wrong, labels) == pytest.approx(0.95)


def test_reliability_bins_count_every_check_once_and_hold_their_means():
    bins = reliability([0.05, 0.15, 0.15, 0.95, 1.0], [False, True, False, True, True], bins=10)
    assert [b.n for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1].mean_p_yes == pytest.approx(0.15) and bins[1].share_met == 0.5
    assert bins[9].share_met == 1.0 and bins[2].mean_p_yes is None


def test_the_margin_is_the_smallest_whose_decided_verdicts_reach_the_target():
    # near 0.5 the verdicts are coin flips; far from it they are right
    p_yes = [0.46, 0.54, 0.48, 0.52] * 10 + [0.05] * 20 + [0.95] * 20
    labels = [True, False, False, True] * 10 + [False] * 20 + [True] * 20
    curve = {round(m.margin, 2): m for m in margin_curve(p_yes, labels)}
    assert curve[0.0].decided == 80 and curve[0.0].decided_accuracy == 0.75
    assert curve[0.05].decided == 40 and curve[0.05].decided_accuracy == 1.0
    assert choose_margin(p_yes, labels) == 0.05
    assert choose_margin(p_yes, labels, min_decided=41) == 0.5  # never enough decided verdicts: all uncertain


def test_bad_inputs_are_refused_with_what_was_wrong():
    with pytest.raises(ValueError, match="2 p\\(yes\\) values for 1 labels"):
        reliability([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        expected_calibration_error([1.5], [True])
    with pytest.raises(ValueError, match="no checks"):
        margin_curve([], [])


def test_the_reliability_plot_is_an_svg_with_one_series_per_method():
    p_yes, labels = _calibrated(200)
    svg = reliability_svg({"aLoRA (ECE 0.03)": reliability(p_yes, labels), "judge": reliability(labels, labels)}, "t")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "aLoRA (ECE 0.03)" in texts and "judge" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 2


def test_gencomp_alora_eval_writes_predictions_calibration_and_a_plot(
    adapter_path: str, tiny_model_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    data = tmp_path / "checks.jsonl"
    rows = [
        {"instruction": "Say hi.", "response": r, "requirement": q, "label": lab, "family": f}
        for r, q, lab, f in [
            ("HELLO", "Write in capitals.", True, "caps"),
            ("hello", "Write in capitals.", False, "caps"),
            ("I'm sorry.", "Apologize.", True, "apology"),
            ("Fine.", "Apologize.", False, "apology"),
        ]
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = {k: tmp_path / f"out.{k}" for k in ("jsonl", "json", "svg")}
    args = ["alora", "eval", str(data), "--adapter", adapter_path, "--base-model", tiny_model_path, "--quiet"]
    extra = ["--methods", "alora", "judge", "--predictions", str(out["jsonl"])]
    assert main([*args, *extra, "--calibration", str(out["json"]), "--plot", str(out["svg"])]) == 0
    printed = capsys.readouterr().out
    assert "alora: ECE " in printed and "judge: ECE " in printed
    predictions = [json.loads(x) for x in out["jsonl"].read_text().splitlines()]
    assert [p["requirement"] for p in predictions] == [r["requirement"] for r in rows]
    assert all(0 <= p["alora"] <= 1 and 0 <= p["judge"] <= 1 for p in predictions)
    summary = json.loads(out["json"].read_text())
    assert set(summary) == {"alora", "judge"} and summary["alora"]["n"] == 4
    assert set(summary["alora"]["families"]) == {"caps", "apology"}
    assert sum(b["n"] for b in summary["judge"]["bins"]) == 4 and 0 <= summary["judge"]["margin"] <= 0.5
    assert ET.fromstring(out["svg"].read_text()).tag.endswith("svg")


def test_gencomp_alora_eval_refuses_calibration_without_a_model_method_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    data = tmp_path / "checks.jsonl"
    data.write_text(json.dumps({"instruction": "a", "response": "b", "requirement": "c", "label": True}) + "\n")
    assert main(["alora", "eval", str(data), "--methods", "majority", "--calibration", str(tmp_path / "c.json")]) == 2
    assert "need a model method" in capsys.readouterr().err
    assert main(["alora", "eval", str(data), "--plot", str(tmp_path / "missing" / "p.svg")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_gencomp_alora_eval_writes_the_validation_section_an_adapter_verdict_rests_on(
    adapter_path: str, tiny_model_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main
    from gencomp_alora.validation import validation_for

    data = tmp_path / "checks.jsonl"
    rows = [
        ("HELLO THERE", "Every letter should be a capital.", True, "all_capitals"),
        ("hello there", "Every letter should be a capital.", False, "all_capitals"),
        ("Sorry about that!", "Say sorry for the wait.", True, "apology"),
        ("It is ready.", "Say sorry for the wait.", False, "apology"),
        ("Use only capital letters.", "Use only capital letters.", True, "all_capitals"),  # recognised: not routed
        ("It is ready.", "Don't say sorry.", True, "apology"),  # negated
        ("Sorry, it is late.", "Don't say sorry.", False, "apology"),
    ]
    data.write_text(
        "".join(
            json.dumps({"instruction": "Reply.", "response": r, "requirement": q, "label": lab, "family": f}) + "\n"
            for r, q, lab, f in rows
        )
    )
    out = tmp_path / "validation.json"
    args = ["alora", "eval", str(data), "--adapter", adapter_path, "--base-model", tiny_model_path, "--quiet"]
    assert main([*args, "--methods", "alora-path", "judge-path", "--validation", str(out)]) == 0
    assert "validation section written to" in capsys.readouterr().out
    section = json.loads(out.read_text())
    assert set(section["families"]) == {"all_capitals", "apology"}
    assert section["families"]["all_capitals"]["n"] == 3 and section["families"]["apology"]["trained"] is True
    assert 0 <= section["families"]["apology"]["judge_accuracy"] <= 1
    scopes = {s["name"]: s["n"] for s in section["unrecognised"]}
    assert scopes == {
        "verifiable kinds in wording the recogniser does not take (checks.jsonl)": 2,
        "everyday semantic requirements (checks.jsonl)": 4,
    }
    assert section["negated"]["n"] == 2 and 0 <= section["negated"]["accuracy"] <= 1
    assert 0 <= section["uncertain_margin"] <= 0.5 and section["calibration"]["n"] == 6
    assert section["calibration"]["target"] == 0.95 and 0 <= section["calibration"]["decidable"] <= 6
    assert validation_for(section, "Apologise for the delay.").text.startswith("measured ")
    assert validation_for(section, "Never apologise.").text.endswith("% on negated requirements worded by hand (n=2)")
    calibrated = tmp_path / "calibration.json"
    assert (
        main([*args, "--methods", "alora-path", "--calibration", str(calibrated), "--routed", "--target", "0.8"]) == 0
    )
    assert "margin for 80% decided accuracy" in capsys.readouterr().out
    summary = json.loads(calibrated.read_text())["alora-path"]
    assert summary["n"] == 6 and summary["target"] == 0.8  # the recognised check is left out
    assert main([*args, "--methods", "alora", "--validation", str(out)]) == 2
    assert "add alora-path" in capsys.readouterr().err


def test_a_check_without_a_family_is_grouped_by_its_type(tmp_path: Path) -> None:
    from gencomp_alora.training.data import load_examples

    data = tmp_path / "checks.jsonl"
    line = {"instruction": "a", "response": "b", "requirement": "c", "label": True}
    data.write_text("\n".join(json.dumps(x) for x in ({**line, "type": "semantic"}, {**line, "family": "f"}, line)))
    assert [e.family for e in load_examples(data)] == ["semantic", "f", ""]
