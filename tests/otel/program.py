"""A gencomp program as a user writes it: nothing here knows of OpenTelemetry.

Run by the viewer test (and screenshot.py) with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at Phoenix:
the installed gencomp-otel plugin sends the trace there. Prints what the program saw, as JSON.
"""

from __future__ import annotations

import json

import gencomp

session = gencomp.start_session()  # the HF backend on the embedded default model
result = session.instruct(
    "Write one sentence about the moon.",
    requirements=["The answer contains a number.", "The answer mentions the moon."],
    loop_budget=2,
    model_options={gencomp.ModelOption.MAX_NEW_TOKENS: 64},
    return_sampling_results=True,
)
print(
    json.dumps(
        {
            "model": session.backend.model_id_str,
            "success": result.success,
            "attempts": [
                {
                    "number": a.number,
                    "text": a.output.value if a.output is not None else None,
                    "verdicts": [
                        {
                            "requirement": r.description,
                            "path": v.check_path,
                            "passed": v.result,
                            "p_yes": getattr(v.verdict, "p_yes", None),
                            "computed_tokens": getattr(v.verdict, "computed_tokens", None),
                        }
                        for r, v in a.verdicts or []
                    ],
                }
                for a in result.attempts
            ],
        }
    )
)
