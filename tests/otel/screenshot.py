"""Make the plugin README's picture: the viewer test's program, traced into a real Phoenix, in headless Chromium.

    .venv/bin/python tests/otel/screenshot.py plugins/otel/docs/phoenix-trace.png

Needs Phoenix (``make phoenix``) and Debian's Chromium (``apt-get install chromium``). Not a test: it
starts Phoenix, runs ``program.py`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, opens the trace with
the last aLoRA check selected, and saves the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from viewer import Phoenix

CHROMIUM = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
CHROMIUM += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(out: Path) -> None:
    with Phoenix() as phoenix:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.url, "OTEL_METRICS_EXPORTER": "none"}
        subprocess.run([sys.executable, str(Path(__file__).with_name("program.py"))], env=env, check=True)
        (project,) = phoenix.get("/v1/projects")["data"]
        spans = phoenix.spans(project["name"])
        checks = [s for s in spans if s["attributes"].get("gencomp.check_path", "").startswith("alora:")]
        shown = max(checks, key=lambda s: s["start_time"])
        trace = f"{phoenix.url}/projects/{project['id']}/traces/{shown['context']['trace_id']}"
        url = f"{trace}?selectedSpanNodeId={shown['id']}"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [*CHROMIUM, f"--user-data-dir={profile}", "--window-size=1600,1000", "--virtual-time-budget=15000",
                 f"--screenshot={out.resolve()}", url],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
    print(f"screenshot: {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
