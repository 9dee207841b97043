"""Fixtures for core tests: example plugin distributions really installed, and a clean plugin state."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gencomp import plugins

EXAMPLES = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture(scope="session")
def example_plugin_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example plugin distribution in tests/plugins, pip-installed into a folder of its own."""
    dirs = {}
    for project in sorted(p for p in EXAMPLES.iterdir() if (p / "pyproject.toml").is_file()):
        target = tmp_path_factory.mktemp(project.name)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(project),
            ],
            check=True,
        )
        dirs[project.name] = target
    return dirs


@pytest.fixture(autouse=True)
def clean_plugin_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts with no GENCOMP_* variables, no config file and a fresh plugin manager."""
    for var in (
        "GENCOMP_PLUGINS",
        "GENCOMP_DISABLE_PLUGINS",
        "GENCOMP_STRICT_PLUGINS",
        "GENCOMP_TRACE_PLUGINS",
        "GENCOMP_BACKEND",
        "GENCOMP_MODEL",
        "GENCOMP_CONFIG",
        "GENCOMP_THREADS",
        "GENCOMP_DEBUG",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, example_plugin_dirs: dict[str, Path]) -> Callable[..., None]:
    """Put example plugin distributions on sys.path, as if pip-installed into this environment."""

    def activate(*names: str) -> None:
        for name in names:
            monkeypatch.syspath_prepend(str(example_plugin_dirs[name]))
        plugins.reset()

    return activate
