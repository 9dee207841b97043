"""An aLoRA check always scores the output under test, whatever the context renders."""

from __future__ import annotations

from typing import Any

import pytest

from gencomp import Context, LinearContext, Requirement, Session, SimpleContext
from gencomp_alora import HFAlora, check_requirement
from gencomp_alora.generate import checked_items
from gencomp_hf_backend import LocalHFBackend

GP = "<|im_start|>check\n"


@pytest.fixture
def backend(tiny_model_path: str, adapter_path: str) -> LocalHFBackend:
    b = LocalHFBackend(tiny_model_path, model_options={"max_new_tokens": 8})
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    return b


def _answered(b: LocalHFBackend, ctx: Context) -> Session:
    s = Session(b, ctx)
    s.instruct("What is the capital of France?", loop_budget=1)
    return s


@pytest.mark.parametrize(
    "make_ctx",
    [LinearContext, SimpleContext, lambda: LinearContext(window_size=0), lambda: LinearContext(window_size=1)],
    ids=["linear", "simple", "window-0", "window-1"],
)
def test_a_check_scores_the_output_under_test_in_every_kind_of_context(backend, make_ctx) -> None:
    reference = _answered(backend, LinearContext())
    s = _answered(backend, make_ctx())
    out = s.ctx.last_output()
    assert out is not None and out.value == reference.ctx.last_output().value
    items = checked_items(s.ctx)
    assert items[-1] is out and len(items) == 2  # the instruction and its output
    entry = backend.cache_entry(out)
    result = check_requirement(backend, "Mentions Paris.", s.ctx)
    assert result.prompt_ids[: entry.merged_token_ids.shape[1]] == entry.merged_token_ids[0].tolist()
    expected = check_requirement(backend, "Mentions Paris.", reference.ctx)
    assert abs(result.p_yes - expected.p_yes) < 1e-4


def test_a_check_in_a_context_that_renders_nothing_equals_the_recomputed_check(backend) -> None:
    s = _answered(backend, SimpleContext())
    cached = check_requirement(backend, "Mentions Paris.", s.ctx)
    recomputed = check_requirement(backend, "Mentions Paris.", s.ctx, reuse_cache=False)
    assert cached.reused_tokens > 0 and recomputed.reused_tokens == 0
    assert abs(cached.yes_logit - recomputed.yes_logit) < 1e-4 and abs(cached.no_logit - recomputed.no_logit) < 1e-4


def test_a_check_without_any_output_falls_back_to_the_judge_with_a_warning(backend) -> None:
    s = Session(backend, LinearContext())
    logs: list[Any] = []
    with pytest.warns(UserWarning, match="no model output to check"):
        result = Requirement("Mentions Paris.").validate(backend, s.ctx, generate_logs=logs)
    assert result.verdict.path == "llm-as-a-judge" and "no model output" in result.verdict.fallback_reason
