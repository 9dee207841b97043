"""`gencomp instruct` and `gencomp chat` stream to a terminal; piped output has the same content."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

GENCOMP = [sys.executable, "-c", "import sys; from gencomp.cli import main; sys.exit(main())"]
TIMING = re.compile(r"model loaded in [0-9.]+s, answered in [0-9.]+s")


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with its standard output on a pseudo-terminal; returns the exit code and the output."""
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*GENCOMP, *argv], stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        out += data
    os.close(master)
    proc.wait(timeout=120)
    return proc.returncode, out.decode().replace("\r\n", "\n")


def _piped(argv: list[str]) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*GENCOMP, *argv], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout


def test_instruct_streams_to_a_terminal_with_the_same_content_as_piped_output(tiny_model_path):
    argv = ["instruct", "Say hello.", "-m", tiny_model_path, "--max-new-tokens", "12", "--loop-budget", "2"]
    argv += ["--req", "Is polite."]
    code_tty, tty = _on_a_terminal(argv)
    code_pipe, piped = _piped(argv)
    assert code_tty == code_pipe
    assert TIMING.sub("", tty) == TIMING.sub("", piped)
    assert re.search(r"\[(pass|FAIL|\?{4})\] Is polite\.", tty)  # [????]: an uncertain verdict


def test_chat_streams_to_a_terminal_with_the_same_content_as_piped_output(tiny_model_path):
    argv = ["chat", "-m", tiny_model_path, "--max-new-tokens", "8", "-M", "Hello.", "-M", "And again."]
    assert _on_a_terminal(argv) == _piped(argv)
