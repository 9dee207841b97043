"""Mistakes with the ``gencomp alora`` commands are one error line before any model loads; nothing is lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gencomp import Message, SimpleContext

GENERATION_PROMPT = "<|im_start|>check\n"
LINE = '{"instruction": "Say hi.", "response": "hi", "requirement": "Be short.", "label": true, "family": "f"}\n'


@pytest.fixture
def no_model_load(monkeypatch):
    """Loading a base model or converting the default one fails the test: the checks must come first."""
    import gencomp_alora.training.train as train
    import gencomp_hf_backend.default_model as dm

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(train, "load_base", refuse)
    monkeypatch.setattr(dm, "ensure_converted", refuse)


def cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    data = tmp / "data.jsonl"
    data.write_text(LINE * 4)
    full = tmp / "full"
    full.mkdir()
    (full / "adapter_config.json").write_text("{}")
    a_file = tmp / "a-file"
    a_file.write_text("x")
    d, o = str(data), str(tmp / "new-out")
    return {
        "rank 0": (["train", d, "--out", o, "--rank", "0"], "--rank: must be at least 1, got 0"),
        "epochs -1": (["train", d, "--out", o, "--epochs", "-1"], "--epochs: must be at least 0"),
        "lr 0": (["train", d, "--out", o, "--lr", "0"], "--lr: must be above 0"),
        "val fraction 1": (["train", d, "--out", o, "--val-fraction", "1"], "--val-fraction: must be at least 0"),
        "missing data": (["train", str(tmp / "nope.jsonl"), "--out", o], "no such file"),
        "out not empty": (["train", d, "--out", str(full)], "is not empty"),
        "out is a file": (["train", d, "--out", str(a_file)], "is a file"),
        "out inside a file": (["train", d, "--out", str(a_file / "x")], "which is a file"),
        "methods bogus": (["eval", d, "--methods", "bogus"], "invalid choice: 'bogus'"),
        "adapter missing": (["eval", d, "--adapter", str(tmp / "missing")], "--adapter"),
        "adapter without config": (["eval", d, "--adapter", str(tmp)], "has no adapter_config.json"),
        "responses missing": (
            ["datagen", "--out", str(tmp / "ds"), "--responses", str(tmp / "missing.jsonl")],
            "--responses",
        ),
    }


CASES = [
    "rank 0", "epochs -1", "lr 0", "val fraction 1", "missing data", "out not empty", "out is a file",
    "out inside a file", "methods bogus", "adapter missing", "adapter without config", "responses missing",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_alora_command_mistakes_are_one_error_line_before_any_model_loads(
    case, no_model_load, tmp_path, capsys
) -> None:
    from gencomp.cli import main

    argv, expected = cases(tmp_path)[case]
    code = main(["alora", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gencomp: error: "), err
    assert expected in lines[0]
    assert not (tmp_path / "new-out").exists()


def test_train_replaces_a_non_empty_out_only_with_force(tiny_model_path: str, tmp_path: Path, capsys) -> None:
    from gencomp.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text(LINE * 8)
    out = tmp_path / "adapter"
    out.mkdir()
    keep = out / "adapter_config.json"
    keep.write_text('{"kept": true}')
    args = ["--base-model", tiny_model_path, "--out", str(out), "--val", str(data), "--epochs", "1", "--quiet"]
    assert main(["alora", "train", str(data), *args, "--invocation", GENERATION_PROMPT]) == 2
    assert json.loads(keep.read_text()) == {"kept": True}
    capsys.readouterr()
    assert main(["alora", "train", str(data), *args, "--invocation", GENERATION_PROMPT, "--force"]) == 0
    assert "alora_invocation_tokens" in json.loads(keep.read_text())
    err = capsys.readouterr().err
    assert "Loading weights" not in err and "Warning" not in err and "%|" not in err  # --quiet is quiet


def test_a_failed_add_alora_leaves_no_adapter_layers_in_the_base_model(tiny_model_path, adapter_path, tmp_path):
    from gencomp_alora import HFAlora
    from gencomp_alora.errors import AloraError
    from gencomp_hf_backend import LocalHFBackend

    broken = tmp_path / "broken"
    shutil.copytree(adapter_path, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    backend = LocalHFBackend(tiny_model_path)
    names_before = [n for n, _ in backend.model.named_modules()]
    before = backend.generate_from_context(Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 5})
    with pytest.raises(AloraError):
        backend.add_alora(HFAlora("constraint", str(broken), GENERATION_PROMPT, backend))
    assert [n for n, _ in backend.model.named_modules()] == names_before
    assert backend.alora_model is None and backend.get_aloras() == []
    after = backend.generate_from_context(Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 5})
    assert after.value == before.value
    backend.add_alora(HFAlora("constraint", adapter_path, GENERATION_PROMPT, backend))  # a good one still loads
    assert backend.get_alora("constraint") is not None


@pytest.mark.embedded
def test_a_corrupt_shipped_metadata_warns_and_leaves_the_backend_as_it_was(tmp_path, monkeypatch) -> None:
    import gencomp_alora.training.hooks as hooks
    from gencomp_hf_backend import LocalHFBackend

    copy = tmp_path / hooks.SHIPPED_ADAPTER
    shutil.copytree(hooks.shipped_adapter_dir(), copy)
    (copy / "gencomp_alora.json").write_text("{not json")
    monkeypatch.setattr(hooks, "shipped_adapter_dir", lambda: copy)
    with pytest.warns(UserWarning, match="could not load the shipped requirement-check aLoRA"):
        backend = LocalHFBackend("smollm2-135m-instruct")
    assert backend.get_alora("constraint") is None and backend.alora_model is None
    assert not any(hasattr(m, "base_layer") for m in backend.model.modules())


@pytest.mark.embedded
def test_eval_accepts_the_shipped_adapters_folder(tmp_path, capsys) -> None:
    import gencomp_alora.training.hooks as hooks
    from gencomp.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text(LINE * 2)
    argv = ["alora", "eval", str(data), "--adapter", str(hooks.shipped_adapter_dir()), "--quiet", "--threads", "1"]
    assert main([*argv, "--methods", "alora", "majority"]) == 0
    assert "| data.jsonl |" in capsys.readouterr().out
