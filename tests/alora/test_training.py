"""Training requirement-check adapters: label functions, data loading, `gencomp alora train`, shared-prefix scoring."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gencomp_alora.compat import quiet_peft
from gencomp_alora.training.data import DataError, load_examples
from gencomp_alora.training.datagen import build_examples, edit_response, write_dataset
from gencomp_alora.training.families import FAMILIES, HELD_OUT_FAMILIES, TRAINED_FAMILIES

GENERATION_PROMPT = "<|im_start|>check\n"

RESPONSES = [
    {"instruction": "Explain tea in one sentence.", "response": "Tea is a drink made from the leaves of a plant."},
    {
        "instruction": "List three facts about the moon.",
        "response": "1. The moon orbits Earth.\n2. It has no air.\n3. It is about 4 billion years old.",
    },
    {
        "instruction": "Write a short paragraph about coffee.",
        "response": "Coffee is brewed from roasted beans. Many people drink it every morning. It contains caffeine.",
    },
    {"instruction": "Why is sleep important?", "response": "Sleep restores the body and the mind, and helps memory."},
    {
        "instruction": "Write a bulleted list of reasons to learn about chess.",
        "response": "- Chess trains planning.\n- It teaches patience.\n- It is fun to play with friends.",
    },
    {
        "instruction": "What is the most interesting thing about penguins?",
        "response": "Penguins cannot fly but swim fast.",
    },
]

# (family, response, parameter, expected label): hand-written positives and negatives for every family.
LABEL_CASES = [
    ("mentions_word", "Paris is the capital of France.", "paris", True),
    ("mentions_word", "Parisian cafes are famous.", "Paris", False),
    ("avoids_word", "Rome is old.", "Paris", True),
    ("avoids_word", "I love PARIS in spring.", "paris", False),
    ("all_capitals", "HELLO, WORLD! 42", None, True),
    ("all_capitals", "HELLO, World!", None, False),
    ("all_capitals", "123 456", None, False),
    ("bulleted_list", "- one\n- two\n* three", None, True),
    ("bulleted_list", "Here are the points:\n• one\n• two", None, True),
    ("bulleted_list", "- only one item", None, False),
    ("bulleted_list", "- one\ntwo without bullet\n- three", None, False),
    ("numbered_list", "1. first\n2) second", None, True),
    ("numbered_list", "Steps:\n1. wake up\n2. eat", None, True),
    ("numbered_list", "- first\n- second", None, False),
    ("valid_json", '{"answer": "yes", "n": 2}', None, True),
    ("valid_json", '```json\n["a", "b"]\n```', None, True),
    ("valid_json", '{"answer": "yes"', None, False),
    ("valid_json", '"just a string"', None, False),
    ("valid_json", 'Here it is: {"a": 1}', None, False),
    ("starts_with_word", "Sure, here you go.", "sure", True),
    ("starts_with_word", "  Yes! It works.", "Yes", True),
    ("starts_with_word", "Surely not.", "Sure", False),
    ("contains_number", "It costs 5 euros.", None, True),
    ("contains_number", "It costs five euros.", None, False),
    ("single_sentence", "The sky is blue because of scattering.", None, True),
    ("single_sentence", "It weighs 3.5 kg in total.", None, True),
    ("single_sentence", "The sky is blue. Grass is green.", None, False),
    ("single_sentence", "- first item\n- second item", None, False),
    ("shorter_than", "one two three four", 5, True),
    ("shorter_than", "one two three four five", 5, False),
    ("all_lowercase", "all lower case, 123.", None, True),
    ("all_lowercase", "not All lower.", None, False),
    ("ends_with_question", "Do you want more?  ", None, True),
    ("ends_with_question", "Is it? No.", None, False),
    ("at_least_words", "one two three", 3, True),
    ("at_least_words", "one two", 3, False),
]


@pytest.mark.parametrize(("family", "response", "param", "expected"), LABEL_CASES)
def test_family_checkers_label_hand_written_examples(family: str, response: str, param: Any, expected: bool) -> None:
    assert FAMILIES[family].label(response, param) is expected


def test_every_family_has_a_positive_and_a_negative_hand_written_case() -> None:
    seen = {(f, e) for f, _, _, e in LABEL_CASES}
    assert all((name, True) in seen and (name, False) in seen for name in FAMILIES)


def test_edits_are_labelled_by_the_checkers_and_balanced_per_family() -> None:
    examples = build_examples(RESPONSES, list(FAMILIES), 6, random.Random(0), variants=8)
    by_family: dict[str, list[bool]] = {}
    for ex in examples:
        param_free = FAMILIES[ex["family"]].param is None
        if param_free:  # the stored label is the checker's verdict on the stored response
            assert FAMILIES[ex["family"]].label(ex["response"], None) is ex["label"]
        by_family.setdefault(ex["family"], []).append(ex["label"])
    assert set(by_family) == set(FAMILIES)
    for labels in by_family.values():
        assert labels.count(True) == labels.count(False) > 0


def test_edit_response_makes_the_named_edit() -> None:
    rng = random.Random(3)
    edits = [edit_response(RESPONSES[2]["response"], rng) for _ in range(60)]
    uppers = [t for t, e, _ in edits if e.endswith("+upper")]
    assert uppers and all(FAMILIES["all_capitals"].label(t, None) for t in uppers)
    jsons = [t for t, e, _ in edits if e.split("+")[0] in {"json_object", "json_list"} and "+" not in e]
    assert jsons and all(FAMILIES["valid_json"].label(t, None) for t in jsons)
    broken = [t for t, e, _ in edits if e.split("+")[0] == "broken_json"]
    assert broken and not any(FAMILIES["valid_json"].label(t, None) for t in broken)


def test_dataset_splits_share_no_response_and_hold_out_whole_families(tmp_path: Path) -> None:
    many = [
        {"instruction": f"{r['instruction']} ({i})", "response": r["response"].replace("It", f"It{i}")}
        for i in range(5)
        for r in RESPONSES
    ]
    counts = write_dataset(many, tmp_path, per_label=(4, 2, 2), heldout_per_label=2)
    rows = {s: [json.loads(x) for x in (tmp_path / f"{s}.jsonl").read_text().splitlines()] for s in counts}
    assert all(counts[s] == len(rows[s]) > 0 for s in counts)
    instr = {s: {r["instruction"].split("\n")[0] for r in rows[s]} for s in ("train", "val", "test")}
    assert not (instr["train"] & instr["val"]) and not (instr["train"] & instr["test"])
    assert {r["family"] for r in rows["train"]} <= set(TRAINED_FAMILIES)
    assert {r["family"] for r in rows["heldout"]} <= set(HELD_OUT_FAMILIES)


def _responses_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / f"responses-{n}.jsonl"
    lines = [
        {"instruction": f"{RESPONSES[i % 6]['instruction']} ({i})", "response": RESPONSES[i % 6]["response"]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.mark.parametrize("n", [3, 6, 9])
def test_datagen_gives_every_split_examples_of_its_own_even_from_a_few_responses(
    n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    out = tmp_path / "data"
    assert main(["alora", "datagen", "--out", str(out), "--responses", str(_responses_file(tmp_path, n))]) == 0
    counts = json.loads(capsys.readouterr().out)
    rows = {s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()] for s in counts}
    assert all(counts[s] == len(rows[s]) > 0 for s in ("train", "val", "test", "heldout")), counts
    instr = {s: {r["instruction"].split("\n")[0] for r in rows[s]} for s in ("train", "val", "test")}
    assert (
        not (instr["train"] & instr["val"])
        and not (instr["train"] & instr["test"])
        and not (instr["val"] & instr["test"])
    )


@pytest.mark.parametrize("n", [1, 2])
def test_datagen_refuses_too_few_responses_for_its_splits_and_writes_nothing(
    n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    out = tmp_path / "data"
    assert main(["alora", "datagen", "--out", str(out), "--responses", str(_responses_file(tmp_path, n))]) == 2
    err = capsys.readouterr().err
    assert f"responses to {n} instruction(s) cannot be split by instruction into train, val, test" in err
    assert "at least 3 are needed" in err and not out.exists()
    one = ["--per-label", "5", "0", "0"]  # only a training split asked for: one instruction is enough
    assert main(["alora", "datagen", "--out", str(out), "--responses", str(_responses_file(tmp_path, 1)), *one]) == 2
    assert "into train, test" in capsys.readouterr().err  # the held-out families need test instructions


def test_datagen_refuses_bad_responses_lines_and_too_many_instructions_before_loading_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    bad = tmp_path / "responses.jsonl"
    bad.write_text('{"instruction": "a", "response": "b"}\n{oops\n["a", "b"]\n{"instruction": "c", "response": ""}\n')
    out = tmp_path / "data"
    assert main(["alora", "datagen", "--out", str(out), "--responses", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "3 bad line(s) in --responses" in err and f"{bad}:2: not valid JSON" in err
    assert f"{bad}:3: expected an object" in err and f"{bad}:4: expected an object" in err and not out.exists()
    missing_model = ["--base-model", str(tmp_path / "no-model")]
    assert main(["alora", "datagen", "--out", str(out), "--instructions", "100000", *missing_model]) == 2
    assert "--instructions 100000: the instruction pool has 480" in capsys.readouterr().err and not out.exists()


def test_several_responses_to_one_instruction_stay_in_one_split(tmp_path: Path) -> None:
    many = [
        {"instruction": f"{r['instruction']} ({i})", "response": r["response"] + suffix}
        for i in range(4)
        for r in RESPONSES
        for suffix in ("", " Indeed.", " That is all.")
    ]
    counts = write_dataset(many, tmp_path, per_label=(4, 2, 2), heldout_per_label=2)
    rows = {s: [json.loads(x) for x in (tmp_path / f"{s}.jsonl").read_text().splitlines()] for s in counts}
    instr = {s: {r["instruction"].split("\n")[0] for r in rows[s]} for s in ("train", "val", "test")}
    assert all(instr.values())
    assert (
        not (instr["train"] & instr["val"])
        and not (instr["train"] & instr["test"])
        and not (instr["val"] & instr["test"])
    )


def test_bad_data_lines_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    good = {"instruction": "Say hi.", "response": "Hi.", "requirement": "Be short.", "label": True}
    path = tmp_path / "data.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({**good, "label": "maybe"}),
                "",
                json.dumps({k: v for k, v in good.items() if k != "requirement"}),
                json.dumps({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
                            "requirement": "R", "label": "N"}),
            ]
        )
    )  # fmt: skip
    with pytest.raises(DataError) as err:
        load_examples(path)
    message = str(err.value)
    assert "3 bad line(s)" in message
    assert f"{path}:2: not valid JSON" in message
    assert f"{path}:3: 'label' must be" in message
    assert f"{path}:5: missing field(s) 'requirement'" in message
    assert ":1:" not in message and ":6:" not in message


def test_messages_lines_load_as_instruction_and_response(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    msgs = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    path.write_text(json.dumps({"messages": msgs, "requirement": "R", "label": "Y", "family": "f"}) + "\n")
    (ex,) = load_examples(path)
    assert (ex.instruction, ex.response, ex.requirement, ex.label, ex.family, ex.line) == (
        "Q?",
        "A.",
        "R",
        True,
        "f",
        1,
    )


def _hi_checks(tok: Any) -> list[tuple[list[int], list[int]]]:
    """(conversation ids, check prompt ids) of three checks on each of two answers."""
    from gencomp_alora.training.prompts import check_ids, conversation_ids

    return [
        (conversation_ids(tok, "Say hi.", r), check_ids(tok, "Say hi.", r, q, GENERATION_PROMPT))
        for r in ("Hello there.", "HI")
        for q in ("Mention hi.", "Use capitals only, please.", "Be short.")
    ]


def test_shared_prefix_scoring_equals_the_uncached_adapter_forward(tiny_model_path: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gencomp_alora.training.scoring import encode_groups, group_logits

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    inv = tok.encode(GENERATION_PROMPT, add_special_tokens=False)
    cfg = LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"], alora_invocation_tokens=inv,
                     init_lora_weights=False)  # fmt: skip
    with quiet_peft():
        model = get_peft_model(base, cfg).eval()
    items = _hi_checks(tok)
    groups = encode_groups(items)
    assert len(groups) == 2 and all(len(g.prefix) > 10 for g in groups)
    with torch.no_grad():
        shared = {i: row for g in groups for i, row in zip(g.indices, group_logits(model, g, pad_id=0), strict=True)}
        for i, (_, ids) in enumerate(items):
            full = model(input_ids=torch.tensor([ids])).logits[0, -1]
            with model.disable_adapter():
                plain = model(input_ids=torch.tensor([ids])).logits[0, -1]
            assert torch.allclose(shared[i], full, atol=1e-4)
            assert not torch.allclose(plain, full, atol=1e-3)  # the adapter really acts after the invocation


def _tiny_alora(path: str, top: int, targets: list[str]) -> tuple[Any, Any, list[int]]:
    """``(tokenizer, model, invocation ids)``: the tiny model, a random (non-zero) aLoRA on its top ``top`` layers."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    base = AutoModelForCausalLM.from_pretrained(path)
    n_layers = base.config.num_hidden_layers
    inv = tok.encode(GENERATION_PROMPT, add_special_tokens=False)
    layers = list(range(n_layers - top, n_layers)) if top < n_layers else None
    cfg = LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=targets, layers_to_transform=layers,
                     alora_invocation_tokens=inv, init_lora_weights=False)  # fmt: skip
    with quiet_peft():
        return tok, get_peft_model(base, cfg).eval(), inv


@pytest.mark.parametrize("top", [1, 2], ids=["top-layer", "all-layers"])
def test_training_from_precomputed_base_states_runs_only_the_invocation_and_is_exact(
    tiny_model_path: str, top: int
) -> None:
    import torch

    from gencomp_alora.training.scoring import encode_groups, group_logits
    from gencomp_alora.training.toplayers import merge, only_top_layers, precompute, top_logits

    tok, model, inv = _tiny_alora(tiny_model_path, top, ["q_proj", "v_proj", "down_proj"])
    n_layers = model.get_base_model().config.num_hidden_layers
    items = _hi_checks(tok)
    groups = encode_groups(items)
    pre = precompute(model, groups, top, inv, pad_id=0)
    assert all(x.hidden.shape[1] == len(inv) for x in pre)  # a step runs only the invocation tokens
    with torch.no_grad():
        full = torch.cat([group_logits(model, g, pad_id=0) for g in groups])
        plain = torch.cat([group_logits(model, g, pad_id=0, use_adapter=False) for g in groups])
        with only_top_layers(model, top):
            fast = torch.cat([top_logits(model, x) for x in pre])
            fast_plain = torch.cat([top_logits(model, x, use_adapter=False) for x in pre])
            merged = top_logits(model, merge(pre))  # groups of different lengths in one batch
    assert torch.allclose(merged, fast, atol=1e-5)
    assert torch.allclose(fast, full, atol=1e-4) and not torch.allclose(fast, plain, atol=1e-3)
    assert torch.allclose(fast_plain, plain, atol=1e-4)
    assert len(model.get_base_model().model.layers) == n_layers  # the layers are restored after the block


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_precomputed_states_held_in_half_precision_take_what_state_bytes_says_and_keep_the_verdicts(
    tiny_model_path: str, dtype: str
) -> None:
    import torch

    from gencomp_alora.training.scoring import encode_groups
    from gencomp_alora.training.toplayers import merge, only_top_layers, precompute, state_bytes, top_logits

    top = 2  # the tiny model's layers, all of them
    tok, model, inv = _tiny_alora(tiny_model_path, top, ["q_proj", "v_proj"])
    config = model.get_base_model().config
    groups = encode_groups(_hi_checks(tok))
    exact = precompute(model, groups, top, inv, pad_id=0)
    held = precompute(model, groups, top, inv, pad_id=0, dtype=getattr(torch, dtype))

    def nbytes(x: Any) -> int:
        kv = [t for part in (x.prefix_kv, x.rows_kv) if part is not None for pair in part for t in pair]
        assert {t.dtype for t in kv} == {getattr(torch, dtype)}
        return sum(t.nbytes for t in (*kv, x.hidden, x.mask, x.positions))

    assert sum(nbytes(x) for x in held) == state_bytes(config, groups, top, inv, getattr(torch, dtype))
    with torch.no_grad(), only_top_layers(model, top):
        want = top_logits(model, merge(exact))
        got = top_logits(model, merge(held))
    assert got.dtype == torch.float32  # the states are cast back: the step runs in the model's dtype
    assert torch.allclose(got, want, atol={"float32": 0, "float16": 0.02, "bfloat16": 0.2}[dtype])
    assert (got.argmax(-1) == want.argmax(-1)).all()


def test_half_precision_refuses_states_beyond_its_range(tiny_model_path: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gencomp_alora.training.scoring import encode_groups
    from gencomp_alora.training.toplayers import precompute

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with torch.no_grad():  # keys far beyond float16's largest value, 65504
        for layer in model.model.layers:
            layer.self_attn.k_proj.weight.mul_(1e6)
    inv = tok.encode(GENERATION_PROMPT, add_special_tokens=False)
    groups = encode_groups(_hi_checks(tok))
    top = model.config.num_hidden_layers
    with pytest.raises(OverflowError, match=r"exceed torch.float16's range; store them as float32 or bfloat16"):
        precompute(model, groups, top, inv, pad_id=0, dtype=torch.float16)
    assert precompute(model, groups, top, inv, pad_id=0, dtype=torch.bfloat16)  # bfloat16 has float32's range


GB = 10**9


@pytest.mark.parametrize(
    ("wanted", "available", "chosen"),
    [
        ("auto", 40 * GB, "float32"),
        ("auto", 20 * GB, "float16"),
        ("auto", None, "float32"),
        ("float16", 40 * GB, "float16"),
        ("bfloat16", None, "bfloat16"),
    ],
    ids=["auto-fits", "auto-halves", "auto-unknown-memory", "asked", "asked-unknown-memory"],
)
def test_state_dtype_auto_holds_float32_where_it_fits_and_float16_where_only_that_fits(
    wanted: str, available: int | None, chosen: str
) -> None:
    from gencomp_alora.training.train import choose_state_dtype

    need = {"float32": 30 * GB, "float16": 15 * GB, "bfloat16": 15 * GB}
    assert choose_state_dtype(wanted, need, available) == chosen


@pytest.mark.parametrize(
    ("wanted", "available", "expected"),
    [
        ("auto", 10 * GB, "would take 30.0 GB in float32 and 15.0 GB in float16, and 10.0 GB of memory is available"),
        ("float32", 20 * GB, "--state-dtype float32: the base model's precomputed states would take 30.0 GB"),
    ],
    ids=["nothing-fits", "asked-does-not-fit"],
)
def test_states_that_do_not_fit_the_memory_are_refused_with_what_each_dtype_needs(
    wanted: str, available: int, expected: str
) -> None:
    from gencomp_alora.training.train import choose_state_dtype

    need = {"float32": 30 * GB, "float16": 15 * GB, "bfloat16": 15 * GB}
    with pytest.raises(DataError, match="train on fewer examples") as info:
        choose_state_dtype(wanted, need, available)
    assert expected in str(info.value)


def test_train_refuses_before_precomputing_when_the_states_do_not_fit(
    tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from gencomp.cli import main

    monkeypatch.setattr("gencomp_alora.training.train.available_memory", lambda: 1000)  # a full machine
    out = tmp_path / "o"
    argv = ["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), "--quiet"]
    assert main([*argv, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "of memory is available" in err and "precomputing" not in err and not out.exists()


def test_train_holds_the_states_in_the_dtype_asked_and_says_what_they_take(
    tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    out = tmp_path / "o"
    options = ["--epochs", "1", "--rank", "4", "--threads", "1", "--quiet", "--state-dtype", "float16"]
    assert (
        main(["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options]) == 0
    )
    err = capsys.readouterr().err
    assert re.search(r"precomputing the base model's states before each invocation once: \d+\.\d GB as float16 of "
                     r"\d+\.\d GB available", err)  # fmt: skip
    assert (out / "adapter_model.safetensors").is_file()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-data")
    examples = build_examples(RESPONSES, ["all_capitals", "contains_number", "valid_json"], 8, random.Random(1))
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return path


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_path: str, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gencomp.cli import main

    out = tmp_path_factory.mktemp("trained") / "adapter"
    start = time.perf_counter()
    options = ["--epochs", "2", "--lr", "5e-3", "--rank", "4", "--top-layers", "1", "--threads", "1", "--quiet"]
    code = main(["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options])
    assert code == 0
    assert time.perf_counter() - start < 60
    return out


def test_gencomp_alora_train_writes_an_alora_folder_with_its_generation_prompt(
    trained_adapter: Path, tiny_model_path: str
) -> None:
    from transformers import AutoTokenizer

    config = json.loads((trained_adapter / "adapter_config.json").read_text())
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    assert config["alora_invocation_tokens"] == tok.encode(GENERATION_PROMPT, add_special_tokens=False)
    meta = json.loads((trained_adapter / "gencomp_alora.json").read_text())
    assert meta["generation_prompt"] == GENERATION_PROMPT and (meta["yes"], meta["no"]) == ("Y", "N")
    assert len(meta["history"]) == 3 and meta["best_epoch"] in (1, 2)
    assert meta["val_accuracy"] == max(h["val_accuracy"] for h in meta["history"][1:])


def test_the_trained_adapter_loads_with_hfalora_and_changes_only_what_follows_the_invocation(
    trained_adapter: Path, tiny_model_path: str
) -> None:
    import torch

    from gencomp_alora import HFAlora
    from gencomp_alora.training.prompts import check_ids
    from gencomp_hf_backend import LocalHFBackend

    backend = LocalHFBackend(tiny_model_path)
    backend.add_alora(HFAlora("constraint", str(trained_adapter), GENERATION_PROMPT, backend))
    model = backend.alora_model
    ids = check_ids(backend.tokenizer, "Say hi.", "HELLO 42", "Write in all caps.", GENERATION_PROMPT)
    start = len(ids) - len(backend.tokenizer.encode(GENERATION_PROMPT, add_special_tokens=False))
    with torch.no_grad():
        adapted = model(input_ids=torch.tensor([ids])).logits[0]
        with model.disable_adapter():
            base = model(input_ids=torch.tensor([ids])).logits[0]
    assert torch.equal(adapted[:start], base[:start])
    assert not torch.allclose(adapted[start:], base[start:], atol=1e-4)


def test_gencomp_alora_train_lora_writes_a_plain_lora(tiny_model_path: str, tiny_dataset: Path, tmp_path: Path) -> None:
    from gencomp.cli import main

    out = tmp_path / "lora"
    args = ["--adapter", "lora", "--epochs", "1", "--max-examples", "20", "--threads", "1", "--quiet"]
    code = main(["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *args])
    assert code == 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert not config.get("alora_invocation_tokens")


def test_gencomp_alora_train_reads_every_data_file_and_every_val_file(
    tiny_model_path: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    from gencomp.cli import main

    lines = tiny_dataset.read_text().splitlines(keepends=True)
    parts = [tmp_path / f"part{i}.jsonl" for i in range(4)]
    for i, part in enumerate(parts):
        part.write_text("".join(lines[i::4]))
    out = tmp_path / "adapter"
    args = ["--base-model", tiny_model_path, "--out", str(out), "--epochs", "0", "--threads", "1", "--quiet"]
    code = main(["alora", "train", str(parts[0]), str(parts[1]), "--val", str(parts[2]), str(parts[3]), *args])
    assert code == 0
    meta = json.loads((out / "gencomp_alora.json").read_text())
    assert meta["train_examples"] == len(lines[0::4]) + len(lines[1::4])
    assert meta["val_examples"] == len(lines[2::4]) + len(lines[3::4])


def test_gencomp_alora_train_reports_bad_lines_and_exits_with_an_error(
    tiny_model_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    data = tmp_path / "bad.jsonl"
    data.write_text('{"instruction": "a", "response": "b", "requirement": "c", "label": true}\n[1, 2]\n')
    code = main(["alora", "train", str(data), "--base-model", tiny_model_path, "--out", str(tmp_path / "o")])
    assert code == 2
    assert f"{data}:2: expected a JSON object" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("over", ["nothing", "a folder with force"])
def test_train_with_no_epochs_saves_the_untrained_new_adapter_and_says_so(
    over: str, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    from gencomp.cli import main

    out = tmp_path / "adapter"
    force = []
    if over != "nothing":  # what an earlier run left: metadata, no weights
        out.mkdir()
        (out / "gencomp_alora.json").write_text(json.dumps({"generation_prompt": "old", "best_epoch": 7}))
        force = ["--force"]
    options = ["--epochs", "0", "--rank", "4", "--threads", "1", "--quiet", *force]
    assert (
        main(["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options]) == 0
    )
    err = capsys.readouterr().err
    assert f"saved the untrained new adapter (a no-op), epoch 0 (val accuracy 0.500), in {out}" in err
    weights = load_file(str(out / "adapter_model.safetensors"))
    b_matrices = [w for name, w in weights.items() if "lora_B" in name]
    assert b_matrices and all(not w.any() for w in b_matrices)  # PEFT's start: the adapter changes nothing
    meta = json.loads((out / "gencomp_alora.json").read_text())
    assert meta["best_epoch"] == 0 and meta["generation_prompt"] == GENERATION_PROMPT and len(meta["history"]) == 1


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--top-layers", "5"], "--top-layers 5: the base model has 2 layers"),
        (["--lr", "inf"], "argument --lr: must be a finite number, got inf"),
        (["--invocation", " "], "argument --invocation: the invocation is empty"),
        (
            ["--invocation", "<|im_start|>\udcff"],
            "argument --invocation: byte 0xff, at character 13, is not valid UTF-8",
        ),
        (["--device", "abacus"], "--device 'abacus': Expected one of cpu"),
    ],
    ids=["top-layers", "lr", "blank-invocation", "invocation-not-utf8", "device"],
)
def test_train_refuses_an_option_it_cannot_use_before_loading_the_model(
    option: list[str], expected: str, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    from gencomp.cli import main

    out = tmp_path / "o"
    argv = ["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), "--quiet"]
    assert main([*argv, *option]) == 2
    err = capsys.readouterr().err
    assert expected in err and "before training" not in err and "saved" not in err  # nothing ran
    assert not out.exists()


def test_shipped_adapter_is_not_loaded_on_another_model(tiny_model_path: str) -> None:
    from gencomp_hf_backend import LocalHFBackend

    assert LocalHFBackend(tiny_model_path).get_alora("constraint") is None


def test_gencomp_alora_eval_prints_accuracy_per_family_for_each_method(
    trained_adapter: Path, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    md = tmp_path / "results.md"
    args = ["--adapter", str(trained_adapter), "--base-model", tiny_model_path, "--quiet", "--markdown", str(md)]
    assert main(["alora", "eval", str(tiny_dataset), *args]) == 0
    table = capsys.readouterr().out
    assert table.strip() == md.read_text().strip()
    assert table.splitlines()[0] == "| data | family | n | alora | judge | majority |"
    rows = {line.split("|")[2].strip(): line.split("|")[3:-1] for line in table.splitlines()[2:]}
    assert set(rows) == {"all_capitals", "contains_number", "valid_json", "**all**"}
    assert all(cells[-1].strip().strip("*") == "50.0" for cells in rows.values())  # balanced labels


def test_train_from_init_adapter_starts_from_its_weights(
    trained_adapter: Path, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from gencomp.cli import main

    out = tmp_path / "resumed"
    options = ["--epochs", "0", "--rank", "4", "--top-layers", "1", "--threads", "1", "--quiet"]
    args = ["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options]
    assert main([*args, "--init-adapter", str(trained_adapter)]) == 0
    before = load_file(str(trained_adapter / "adapter_model.safetensors"))
    after = load_file(str(out / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and all(before[k].equal(after[k]) for k in before)
    meta = json.loads((out / "gencomp_alora.json").read_text())
    init_meta = json.loads((trained_adapter / "gencomp_alora.json").read_text())
    assert meta["best_epoch"] == 0 and meta["init_adapter"] == str(trained_adapter)
    assert meta["history"][0]["val_accuracy"] == init_meta["val_accuracy"]  # same split (seed 0), same weights


def test_train_stores_the_weights_in_the_dtype_asked_and_the_init_note_in_the_metadata(
    trained_adapter: Path, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from gencomp.cli import main

    out = tmp_path / "shipped"
    options = ["--epochs", "0", "--rank", "4", "--top-layers", "1", "--threads", "1", "--quiet"]
    args = ["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options]
    note = "the adapter of the previous release"
    assert main([*args, "--init-adapter", str(trained_adapter), "--init-note", note, "--store-dtype", "float16"]) == 0
    before = load_file(str(trained_adapter / "adapter_model.safetensors"))
    after = load_file(str(out / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and {v.dtype for v in after.values()} == {torch.float16}
    assert all(after[k].equal(before[k].to(torch.float16)) for k in before)
    meta = json.loads((out / "gencomp_alora.json").read_text())
    assert meta["stored_dtype"] == "float16" and meta["init_adapter"] == note
    loaded = json.loads((trained_adapter / "gencomp_alora.json").read_text())
    assert loaded["stored_dtype"] == "float32"


def test_an_init_note_without_an_init_adapter_is_an_error(
    tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    out = tmp_path / "o"
    args = ["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), "--quiet"]
    assert main([*args, "--init-note", "a note"]) == 2
    assert "--init-note describes --init-adapter" in capsys.readouterr().err and not out.exists()


def test_train_from_init_adapter_of_another_shape_is_an_error(
    trained_adapter: Path, tiny_model_path: str, tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp.cli import main

    out = tmp_path / "o"
    options = ["--epochs", "0", "--rank", "8", "--top-layers", "1", "--quiet", "--init-adapter", str(trained_adapter)]
    assert (
        main(["alora", "train", str(tiny_dataset), "--base-model", tiny_model_path, "--out", str(out), *options]) == 2
    )
    err = capsys.readouterr().err
    assert "does not match the training options" in err and "r: adapter has 4, options give 8" in err
    assert not out.exists()
