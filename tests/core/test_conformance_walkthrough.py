"""The example of CONTRIBUTING.md's "Write a backend", built from the file's own code blocks, passes the kit.

The blocks headed ``# pyproject.toml``, ``# src/gencomp_mybackend/...`` and ``# tests/test_conformance.py``
are written into a project folder as they stand; only the model client (``gencomp_mybackend/client.py``) is
a stand-in: the kit's word model (``kit_reference.answer``), one piece every 5 ms. The project is
pip-installed (its entry point and all) and its conformance test is run by pytest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gencomp.testing import BackendConformance

pytest.importorskip("gencomp_template_formatter", reason="the example renders with gencomp-template-formatter")

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CLIENT = '''"""Stands in for the model client of CONTRIBUTING's example: the kit's word model, one piece every 5 ms."""

import contextlib
import time

from kit_reference import answer


class Client:
    @contextlib.contextmanager
    def stream(self, messages, format=None, max_tokens=None, seed=None, temperature=None, stop=None):
        given = {"num_predict": max_tokens, "seed": seed, "temperature": temperature, "stop": stop}
        pieces = answer(messages, {k: v for k, v in given.items() if v is not None}, format)

        def one_by_one():
            for piece in pieces:
                time.sleep(0.005)
                yield piece

        yield one_by_one()


def connect(model_id):
    return Client()
'''


def contributing_blocks() -> dict[str, str]:
    """CONTRIBUTING.md's code blocks whose first line is ``# <path>``, by path."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    return {
        m.group(1).rstrip(":"): m.group(0).split("\n", 1)[1].rsplit("```", 1)[0]
        for m in re.finditer(r"```(?:python|toml)\n# (\S+)[^\n]*\n.*?```", text, re.DOTALL)
    }


def test_the_documented_blocks_make_a_whole_distribution() -> None:
    blocks = contributing_blocks()
    for path in ("pyproject.toml", "src/gencomp_mybackend/plugin.py", "src/gencomp_mybackend/backend.py"):
        assert path in blocks, f"CONTRIBUTING.md has no code block headed '# {path}'"
    assert "tests/test_conformance.py" in blocks


@pytest.mark.slow
def test_the_documented_backend_installed_from_the_docs_passes_the_conformance_kit(tmp_path: Path) -> None:
    project, target = tmp_path / "gencomp-mybackend", tmp_path / "site"
    for path, code in contributing_blocks().items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(code, encoding="utf-8")
    (project / "src/gencomp_mybackend/__init__.py").write_text("")
    (project / "src/gencomp_mybackend/client.py").write_text(CLIENT)
    pip = ["pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-build-isolation"]
    subprocess.run([sys.executable, "-m", *pip, "--target", str(target), str(project)], check=True)
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", "tests"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(HERE)])},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.is_file(), run.stdout + run.stderr
    cases = {case.attrib["name"]: case for case in ET.parse(report).getroot().iter("testcase")}
    failed = {
        name for name, case in cases.items() if case.find("failure") is not None or case.find("error") is not None
    }
    skipped = {name for name, case in cases.items() if case.find("skipped") is not None}
    assert not failed, f"the documented backend failed {sorted(failed)}:\n{run.stdout[-6000:]}"
    standard = {n for n in vars(BackendConformance) if n.startswith("test_")}
    assert set(cases) == standard
    # no generate_raw in the example, and no server to be unreachable
    assert skipped == {
        "test_raw_batch_gives_one_output_and_log_per_prompt",
        "test_an_unreachable_backend_raises_a_gencomp_connection_error",
    }
