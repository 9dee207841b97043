"""A real Arize Phoenix server on a free port of 127.0.0.1, from the venv scripts/install-phoenix.sh made.

Used by the viewer test and by ``screenshot.py`` beside it. Phoenix receives OTLP over HTTP at
``<url>/v1/traces`` and answers its REST API at ``<url>/v1/...``; its data lives in a folder of its
own, so a new server holds only what was sent to it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class PhoenixMissing(RuntimeError):
    """Phoenix is not installed; the message says how to install it."""


def phoenix_venv() -> Path:
    """The venv of the installed Phoenix; :class:`PhoenixMissing` when it is not installed (this installs nothing)."""
    found = subprocess.run(
        [str(ROOT / "scripts/install-phoenix.sh"), "--find"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise PhoenixMissing(found.stderr.strip() or "Phoenix is not installed; run `make phoenix`")
    return Path(found.stdout.strip())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Phoenix:
    """A Phoenix server process: a context manager that starts it, waits until it answers, and stops it."""

    def __init__(self, startup_timeout: float = 180.0) -> None:
        self.venv = phoenix_venv()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="phoenix-"))
        self.log_path = self.folder / "phoenix.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Phoenix:
        env = {
            **os.environ,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(_free_port()),
            "PHOENIX_WORKING_DIR": str(self.folder),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        for name in [n for n in env if n.startswith("OTEL_")]:  # Phoenix traces itself when told to
            del env[name]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.venv / "bin/phoenix"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Phoenix exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"Phoenix did not answer within {self.startup_timeout:.0f} s:\n{self.log()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as answer:
            return json.loads(answer.read())

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span of ``project``, read back through Phoenix's REST API (all pages)."""
        spans: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(f"/v1/projects/{project}/spans?limit=100" + (f"&cursor={cursor}" if cursor else ""))
            spans.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return spans
