"""`gencomp chat` on a real model: a full context window, a message too long for it, Ctrl-C, bad input bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gencomp import hookimpl, plugins
from gencomp.cli import main

WINDOW = 384
"""The context window the tests give the tiny model (through gencomp.toml), so that a few turns fill it."""


class Recorder:
    """Keeps the log of every generation, as a user's observability plugin would."""

    def __init__(self) -> None:
        self.logs: list[Any] = []

    @hookimpl
    def gencomp_after_generate(self, backend, action, result, log):
        self.logs.append(log)


@pytest.fixture
def recorder():
    plugin = Recorder()
    plugins.register_plugin(plugin, name="recorder")
    yield plugin
    plugins.unregister_plugin(plugin)


@pytest.fixture
def small_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gencomp.toml"
    config.write_text(f'[model_options]\n"@@@context_window@@@" = {WINDOW}\n')
    monkeypatch.setenv("GENCOMP_CONFIG", str(config))


def _chat(tiny_model_path: str, messages: list[str], *more: str) -> int:
    argv = ["chat", "-m", tiny_model_path, "--max-new-tokens", "8", *more]
    for m in messages:
        argv += ["-M", m]
    return main(argv)


def _prompt_text(log: Any) -> str:
    return "\n".join(m["content"] for m in log.prompt) if isinstance(log.prompt, list) else str(log.prompt)


def test_a_full_window_drops_old_turns_in_blocks_so_most_turns_still_reuse_the_cache(
    tiny_model_path, small_window, recorder, capsys
) -> None:
    messages = [f"Message {i}: tell me one thing about rivers and the sea." for i in range(30)]
    assert _chat(tiny_model_path, messages) == 0
    err = capsys.readouterr().err
    logs = recorder.logs
    assert len(logs) == 30  # every message answered
    prompt = [log.extra["prompt_tokens"] for log in logs]
    reused = [log.extra["reused_tokens"] for log in logs]
    assert max(p + 8 for p in prompt) <= WINDOW
    cut = [i for i in range(1, 30) if prompt[i] < prompt[i - 1]]  # turns after old turns were dropped
    assert len(cut) >= 3 and err.count("gencomp: note: dropped the") == len(cut)
    recomputed = [i for i in range(1, 30) if reused[i] < prompt[i] // 2]
    assert recomputed == cut  # the cache is lost only where the conversation was cut...
    after_first_cut = 30 - cut[0]
    assert len(cut) <= after_first_cut // 3  # ...which, once the window is full, is not every turn
    for i in cut:  # each cut keeps half of the room for the conversation, not one turn less than full
        assert prompt[i] + 8 <= (WINDOW + 8) // 2


def test_a_message_too_long_for_the_window_is_refused_and_the_chat_goes_on(
    tiny_model_path, small_window, recorder, capsys
) -> None:
    huge = "rivers " * 2000
    code = _chat(tiny_model_path, ["First: remember the word lighthouse.", huge, "Second: what was the word?"])
    err = capsys.readouterr().err
    assert code == 1  # the chat went on, and its exit code says a message was refused
    errors = [line for line in err.splitlines() if line.startswith("gencomp: error:")]
    assert len(errors) == 1 and "does not fit the model's context window even on its own" in errors[0]
    assert "The conversation is unchanged" in errors[0]
    assert len(recorder.logs) == 2
    last = _prompt_text(recorder.logs[-1])
    assert "remember the word lighthouse" in last and "rivers rivers" not in last  # the first turn was kept
    assert "dropped" not in err


class _Terminal:
    """Standard input of an interactive chat: scripted lines; a SIGINT instead of the lines marked ``^C``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        line = self.lines.pop(0) if self.lines else ""
        if line == "^C":
            signal.raise_signal(signal.SIGINT)
        return line


class _InterruptingOutput:
    """A terminal as output that sends a real SIGINT the first time text containing ``trigger`` is written.

    ``trigger=""`` fires on the first chunk of an answer (the first text that is not the prompt ``"> "``).
    """

    def __init__(self, trigger: str, stream: Any) -> None:
        self.trigger, self.stream, self.fired = trigger, stream, False

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.stream.write(text)
        if not self.fired and text.strip() not in ("", ">") and self.trigger in text:
            self.fired = True
            signal.raise_signal(signal.SIGINT)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


@pytest.fixture
def long_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers of exactly 1500 tokens: still being generated long after their first chunk is printed."""
    config = tmp_path / "gencomp.toml"
    config.write_text("[model_options]\nmin_new_tokens = 1500\n")
    monkeypatch.setenv("GENCOMP_CONFIG", str(config))


def _interactive(monkeypatch, capsys, tiny_model_path, lines, interrupt_on: tuple[str, str] | None) -> int:
    monkeypatch.setattr(sys, "stdin", _Terminal(lines))
    if interrupt_on is not None:
        where, trigger = interrupt_on
        monkeypatch.setattr(sys, where, _InterruptingOutput(trigger, getattr(sys, where)))
    return main(["chat", "-m", tiny_model_path, "--max-new-tokens", "1500"])


def test_ctrl_c_during_an_answer_cancels_it_and_the_chat_goes_on_with_the_context_unchanged(
    tiny_model_path, long_answers, recorder, monkeypatch, capsys
) -> None:
    lines = ["Tell me about the lighthouse.\n", "Now about the sea.\n", "/exit\n"]
    code = _interactive(monkeypatch, capsys, tiny_model_path, lines, ("stdout", ""))  # at the answer's first chunk
    err = capsys.readouterr().err
    assert code == 0
    assert "gencomp: note: answer cancelled; the conversation is as it was before this message" in err
    cancelled, answered = recorder.logs
    assert cancelled.extra["new_tokens"] < 1500  # the generation stopped early
    prompt = _prompt_text(answered)
    assert "Now about the sea." in prompt and "lighthouse" not in prompt  # the cancelled turn is not in it
    assert answered.extra["new_tokens"] == 1500


def test_ctrl_c_at_the_prompt_quits_the_chat(tiny_model_path, recorder, monkeypatch, capsys) -> None:
    code = _interactive(monkeypatch, capsys, tiny_model_path, ["Hello.\n", "^C", "Never sent.\n"], None)
    assert code == 130 and len(recorder.logs) == 1


def test_a_second_ctrl_c_while_an_answer_is_cancelled_quits_the_chat(
    tiny_model_path, long_answers, recorder, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(sys, "stderr", _InterruptingOutput("cancelling the answer", sys.stderr))
    lines = ["Tell me about the lighthouse.\n", "Never sent.\n"]
    code = _interactive(monkeypatch, capsys, tiny_model_path, lines, ("stdout", ""))
    assert code == 130
    (cancelled,) = recorder.logs  # the second message was never sent
    assert cancelled.extra["new_tokens"] < 1500  # and the first answer's generation was stopped, not left running


def test_input_lines_that_are_not_utf8_are_refused_and_the_chat_goes_on(tiny_model_path, tmp_path) -> None:
    """Real bytes on standard input, read with strict decoding (as under most UTF-8 locales)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8:strict"}
    done = subprocess.run(
        [sys.executable, "-m", "gencomp.cli", "chat", "-m", tiny_model_path, "--max-new-tokens", "4"],
        input=b"Hello.\ncaf\xe9 au lait\nGoodbye.\n",
        capture_output=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert err.count("gencomp: error:") == 1
    assert "this line was not sent: byte 0xe9, at character 4, is not valid UTF-8 in 'caf\\xe9 au lait'" in err
    assert len(done.stdout.decode().splitlines()) == 2  # the two other lines were answered
