"""The ``gencomp`` command's handling of mistakes: one ``gencomp: error:`` line, exit 2, traceback on request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gencomp import __version__, hookimpl, plugins
from gencomp.cli import main

GENCOMP = Path(sys.executable).parent / "gencomp"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gencomp: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["instruct", "hi", "--max-new-tokens", "0"], "--max-new-tokens: must be at least 1, got 0"),
        (["instruct", "hi", "--loop-budget", "0"], "--loop-budget: must be at least 1, got 0"),
        (["instruct", "hi", "--loop-budget", "two"], "--loop-budget: expected a whole number >= 1, got 'two'"),
        (["chat", "--threads", "-1"], "--threads: must be at least 0, got -1"),
        (["instruct"], "the following arguments are required: description"),
    ],
)
def test_numeric_and_missing_arguments_are_one_error_line_from_the_parser(argv, expected, install, capsys) -> None:
    install("gencomp-echo-backend")
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert expected in one_error_line(err)


class Boom:
    @hookimpl
    def gencomp_register_commands(self, subparsers):
        p = subparsers.add_parser("boom")
        p.set_defaults(func=lambda args: (_ for _ in ()).throw(RuntimeError("the disk\nis full")))


@pytest.fixture
def boom():
    plugin = Boom()
    plugins.register_plugin(plugin, name="boom")
    yield
    plugins.unregister_plugin(plugin)


def test_an_unexpected_exception_is_one_line_and_exit_2(boom, capsys) -> None:
    code, _, err = run(["boom"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "RuntimeError: the disk is full" in line and "--debug" in line


@pytest.mark.parametrize("how", ["flag-first", "flag-last", "environment"])
def test_debug_shows_the_traceback(how, boom, capsys, monkeypatch) -> None:
    argv = {"flag-first": ["--debug", "boom"], "flag-last": ["boom", "--debug"], "environment": ["boom"]}[how]
    if how == "environment":
        monkeypatch.setenv("GENCOMP_DEBUG", "1")
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "Traceback (most recent call last)" in err and "RuntimeError: the disk" in err
    assert err.strip().splitlines()[-1].startswith("gencomp: error: RuntimeError")


def test_version_prints_the_core_version(capsys) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"gencomp {__version__}"


def test_an_allowlisted_plugin_that_is_not_installed_is_reported(install, monkeypatch, capsys) -> None:
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_PLUGINS", "echo,ecko-backend")
    records = {r.name: r for r in plugins.plugin_records()}
    assert records["ecko-backend"].status == "missing"
    assert "no installed plugin" in records["ecko-backend"].error
    code, out, err = run(["backends"], capsys)
    assert code == 0 and "echo" in out
    assert "gencomp: warning: GENCOMP_PLUGINS names 'ecko-backend'" in err


def test_a_closed_pipe_ends_the_command_quietly(tmp_path) -> None:
    """``gencomp backends | head -0``: the reader is gone before the command writes."""
    proc = subprocess.Popen([str(GENCOMP), "backends"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err and err == ""


class Noisy:
    @hookimpl
    def gencomp_after_generate(self, backend, action, result, log):
        import warnings

        warnings.warn("a library complains", UserWarning, stacklevel=1)


def test_interactive_chat_prints_no_warning_between_the_prompt_and_the_reply(install, monkeypatch, capsys) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    install("gencomp-echo-backend")
    noisy = Noisy()
    plugins.register_plugin(noisy, name="noisy")
    try:
        monkeypatch.setattr(sys, "stdin", Terminal("hello\n/exit\n"))
        code, out, err = run(["chat", "-b", "echo"], capsys)
        assert code == 0 and "hello" in out
        assert "complains" not in out + err
        code, out, err = run(["chat", "-b", "echo", "-M", "hello"], capsys)  # not interactive: one line per warning
        assert code == 0 and "gencomp: warning: a library complains" in err
    finally:
        plugins.unregister_plugin(noisy)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["instruct", "caf\udcff"], "argument description: byte 0xff, at character 4, is not valid UTF-8"),
        (["instruct", "hi", "--req", "a\ud800b"], "argument --req/-r: character 2 is a lone surrogate (U+D800)"),
        (["chat", "-M", "ok", "-M", "\udcc3("], "argument --message/-M: byte 0xc3, at character 1, is not valid"),
        (["instruct", "hi", "--req", " "], "argument --req/-r: the requirement is empty"),
        (["instruct", ""], "argument description: the instruction is empty"),
        (["chat", "-M", "\n"], "argument --message/-M: the message is empty"),
    ],
    ids=["invalid-utf8-prompt", "lone-surrogate-req", "invalid-utf8-message", "blank-req", "empty-prompt", "blank-msg"],
)
def test_text_that_is_not_utf8_or_is_blank_is_refused_before_any_backend_is_started(argv, expected, capsys) -> None:
    """The backend named does not exist: an error about it would mean the session was started first."""
    code, out, err = run([*argv, "--backend", "no-such-backend"], capsys)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert expected in line and "no-such-backend" not in line


def test_a_chat_line_that_is_not_utf8_is_refused_and_the_chat_goes_on(install, monkeypatch, capsys) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    install("gencomp-echo-backend")
    monkeypatch.setattr(sys, "stdin", Terminal("hello\ncaf\udce9\nagain\n/exit\n"))
    code, out, err = run(["chat", "-b", "echo"], capsys)
    assert code == 1  # the chat ended normally; a message was refused
    assert "hello" in out and "again" in out and "caf" not in out
    line = one_error_line(err)
    assert "this line was not sent: byte 0xe9, at character 4, is not valid UTF-8 in 'caf\\xe9'" in line
