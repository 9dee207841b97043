"""A benchmark worker: loads one side module and serves its operations over stdin/stdout, one JSON per line.

Usage: ``python _worker.py SIDE_MODULE.py``. Each request is ``{"op": NAME, "args": {...}}``; the reply is
``{"ok": true, "result": ...}``, ``{"ok": false, "skip": REASON}`` when the side cannot run the operation
(a part is not available yet), or ``{"ok": false, "error": ..., "traceback": ...}``. Library output that
would go to stdout is sent to stderr, so stdout carries only replies. Stdlib only: it runs in both venvs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def main() -> int:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    path = sys.argv[1]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import Skip

    spec = importlib.util.spec_from_file_location("bench_side", path)
    assert spec is not None and spec.loader is not None
    side = importlib.util.module_from_spec(spec)
    sys.modules["bench_side"] = side
    spec.loader.exec_module(side)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("op") == "exit":
            break
        try:
            fn = side.OPS[req["op"]]
            reply = {"ok": True, "result": fn(**req.get("args", {}))}
        except Skip as exc:
            reply = {"ok": False, "skip": str(exc)}
        except Exception as exc:
            traceback.print_exc()
            skip = getattr(side, "skip_reason", lambda e: None)(exc)
            if skip is None and isinstance(exc, ImportError):
                skip = f"not available yet: {type(exc).__name__}: {exc}"
            if skip:
                reply = {"ok": False, "skip": skip}
            else:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
