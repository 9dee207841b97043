"""The main job end to end on the embedded default model (SmolLM2-135M-Instruct), offline, nothing configured."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
import torch

import gencomp

pytestmark = pytest.mark.embedded


def _clean_env(mp: pytest.MonkeyPatch, cwd) -> None:
    for name in list(os.environ):
        if name.startswith("GENCOMP_") and name not in ("GENCOMP_MODELS_DIR",):
            mp.delenv(name)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.chdir(cwd)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[gencomp.Session]:
    """``start_session()`` with no configuration at all, in an empty working directory."""
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, tmp_path_factory.mktemp("cwd"))
        yield gencomp.start_session()


def test_capital_of_france_with_nothing_configured(session: gencomp.Session) -> None:
    from gencomp_hf_backend import LocalHFBackend

    assert isinstance(session.backend, LocalHFBackend)
    assert "smollm2-135m-instruct" in str(session.backend.model_id)
    out = session.instruct("What is the capital of France?")
    assert "Paris" in out.value


def test_instruct_returns_the_same_tokens_as_raw_generate_greedy(session: gencomp.Session) -> None:
    s = gencomp.Session(session.backend)
    instruction = "Write one sentence about the Eiffel Tower."
    s.instruct(instruction, model_options={gencomp.ModelOption.MAX_NEW_TOKENS: 16}, loop_budget=1)
    log = s.last_logs[0]
    backend = session.backend
    user_text = backend.formatter.print(gencomp.Instruction(instruction))
    prompt = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )
    assert log.prompt == prompt
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gencomp_hf_backend.default_model import default_model_dir

    # The raw side loads its own copy of the model folder with plain transformers.
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir())
    model = AutoModelForCausalLM.from_pretrained(default_model_dir(), dtype=torch.float32).eval()
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        raw = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False)
    assert log.model_output.tolist() == raw[0, ids.shape[1] :].tolist()


def test_cli_instruct_prints_the_answer_each_verdict_and_the_time(tmp_path, monkeypatch, capsys) -> None:
    from gencomp.cli import main

    _clean_env(monkeypatch, tmp_path)
    code = main(
        [
            "instruct",
            "What is the capital of France?",
            "--req",
            "The answer mentions Paris.",
            "--loop-budget",
            "1",
            "--max-new-tokens",
            "32",
        ]
    )
    out = capsys.readouterr().out
    assert "Paris" in out
    assert re.search(r"\[(pass|FAIL|\?{4})\] The answer mentions Paris\.", out)  # [????]: an uncertain verdict
    assert "model loaded in" in out and "answered in" in out
    assert code in (0, 1)


def test_cli_chat_answers_each_message_on_the_default_model(tmp_path, monkeypatch, capsys) -> None:
    from gencomp.cli import main

    _clean_env(monkeypatch, tmp_path)
    code = main(["chat", "-M", "What is the capital of France?", "--max-new-tokens", "16"])
    assert code == 0
    assert "Paris" in capsys.readouterr().out


def test_local_hf_backend_accepts_the_registered_default_model_name(session: gencomp.Session) -> None:
    from pathlib import Path

    from gencomp_hf_backend import LocalHFBackend
    from gencomp_hf_backend.default_model import default_model_dir

    b = LocalHFBackend("smollm2-135m-instruct", formatter=session.backend.formatter)
    assert Path(b.model.name_or_path).resolve() == default_model_dir().resolve()
    assert b.model_id == "smollm2-135m-instruct"


def test_the_demo_command_prints_answers_and_verdicts_without_library_noise(tmp_path) -> None:
    """What `make demo` runs on a fresh machine, as a process (the one-time conversion included).

    Its output has the answers, the verdicts and one progress bar for the conversion: no warnings,
    deprecation notes, tracebacks, library log lines or nested progress bars.
    """
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("GENCOMP_")}
    env["HF_HUB_OFFLINE"] = "1"
    env["GENCOMP_MODELS_DIR"] = str(tmp_path / "models")  # a fresh cache: the conversion runs
    gencomp_cmd = Path(sys.executable).parent / "gencomp"
    argv = ["instruct", "Write one sentence about the moon.", "--req", "The answer contains a number."]
    argv += ["--loop-budget", "2", "--max-new-tokens", "32"]
    done = subprocess.run([str(gencomp_cmd), *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert "The answer contains a number." in done.stdout and "model loaded in" in done.stdout
    both = done.stdout + done.stderr
    for noise in ("Warning", "warning", "deprecated", "Traceback", "Loading weights", "INFO", "WARNING"):
        assert noise not in both, both
    bars = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert bars and all(line.startswith("gencomp: converting") for line in bars), done.stderr
