"""The alora entry-point module stays light, and routing decisions need no model."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_plugin_module_imports_no_torch_or_peft():
    code = (
        "import sys, gencomp_alora, gencomp_alora.plugin; "
        "heavy = [m for m in ('torch', 'peft', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
