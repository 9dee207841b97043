"""The shipped requirement-check aLoRA on the embedded default model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gencomp_alora.training.hooks import shipped_adapter_dir

pytestmark = [pytest.mark.embedded, pytest.mark.slow]


def test_the_shipped_adapter_is_a_small_alora_with_its_generation_prompt() -> None:
    folder = shipped_adapter_dir()
    config = json.loads((folder / "adapter_config.json").read_text())
    meta = json.loads((folder / "gencomp_alora.json").read_text())
    assert config["alora_invocation_tokens"] and meta["generation_prompt"] == "<|im_start|>check\n"
    assert (folder / "adapter_model.safetensors").stat().st_size < 8_000_000


@pytest.fixture(scope="module")
def default_backend():
    from gencomp_hf_backend import LocalHFBackend
    from gencomp_hf_backend.default_model import MODEL_NAME

    return LocalHFBackend(MODEL_NAME, model_options={"max_new_tokens": 16})


def test_the_default_model_gets_the_shipped_adapter_as_constraint(default_backend) -> None:
    alora = default_backend.get_alora("constraint")
    assert alora is not None
    assert Path(alora.path_or_model_id) == shipped_adapter_dir()


@pytest.mark.parametrize(
    ("requirement", "passing", "failing"),
    [
        (
            "Write in all caps.",
            "THE SUN IS A STAR AT THE CENTER OF OUR SOLAR SYSTEM.",
            "The sun is a star at the center.",
        ),
        ("Reply in JSON format.", '{"answer": "The sun is a star."}', "The sun is a star."),
    ],
)
def test_requirement_checks_on_the_default_model_use_the_shipped_adapter(
    default_backend, requirement: str, passing: str, failing: str
) -> None:
    from gencomp import ALoraRequirement, LinearContext, Message, Session

    session = Session(default_backend, LinearContext())
    session.ctx.insert(Message("user", "Tell me about the sun."))
    checked = ALoraRequirement(requirement)  # as plain text it is recognised and checked by code instead
    (good,) = session.validate(checked, output=passing)
    (bad,) = session.validate(checked, output=failing)
    assert good.thunk.meta["check_path"] == bad.thunk.meta["check_path"] == "alora:constraint"
    assert good.score > bad.score  # p(yes) orders the two outputs; see RESULTS.md for measured accuracy
