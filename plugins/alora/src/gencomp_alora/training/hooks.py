"""Plugin hooks of the training package: the ``gencomp alora`` commands and the shipped adapter.

Light at import: torch, transformers and peft are imported only when a command runs or when a
backend on the embedded default model is created.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

from gencomp import GencompError, hookimpl
from gencomp.cli import int_at_least, text_argument

__all__ = [
    "SHIPPED_ADAPTER",
    "default_model_folder",
    "gencomp_backend_created",
    "gencomp_register_commands",
    "is_default_model",
    "shipped_adapter_dir",
]

METHODS = ("alora", "judge", "alora-path", "judge-path", "majority")
"""What ``gencomp alora eval`` compares (the same names as ``gencomp_alora.training.evaluate.METHODS``)."""

SHIPPED_ADAPTER = "constraint-smollm2-135m"
"""Folder name (under ``gencomp_alora/adapters``) of the requirement-check aLoRA for the default model."""


def shipped_adapter_dir() -> Path:
    """The folder of the shipped requirement-check aLoRA for the embedded default model."""
    return Path(__file__).resolve().parent.parent / "adapters" / SHIPPED_ADAPTER


def default_model_folder() -> str | None:
    """The converted embedded default model's folder (converting it once if needed), or ``None`` if unavailable."""
    try:
        from gencomp_hf_backend.default_model import ensure_default_model
    except ImportError:
        return None
    return str(ensure_default_model())


def is_default_model(backend: Any) -> bool:
    """Whether ``backend`` runs the embedded default model (its model was loaded from the default model's folder)."""
    try:
        from gencomp_hf_backend.default_model import MODEL_NAME, default_model_dir
    except ImportError:
        return False
    model = getattr(backend, "model", None)
    loaded_from = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
    try:
        if loaded_from and Path(loaded_from).resolve() == default_model_dir().resolve():
            return True
    except Exception:  # the default model's package is missing: not the default model
        return False
    return str(getattr(backend, "model_id", "")) == MODEL_NAME and not loaded_from


@hookimpl
def gencomp_backend_created(backend: Any) -> None:
    """Load the shipped aLoRA as ``"constraint"`` on a ``LocalHFBackend`` running the embedded default model."""
    from gencomp_alora.registry import is_hf_backend, registry

    if not is_hf_backend(backend):
        return
    adapters = registry(backend)
    if adapters.get("constraint") is not None or not is_default_model(backend):
        return
    folder = shipped_adapter_dir()
    if not (folder / "adapter_config.json").is_file():
        return
    from gencomp_alora.alora import HFAlora
    from gencomp_alora.training.prompts import read_metadata

    try:
        meta = read_metadata(folder)
        adapters.add(
            HFAlora(
                "constraint", str(folder), meta["generation_prompt"], backend, yes_text=meta["yes"], no_text=meta["no"]
            )
        )
    except Exception as exc:  # never break backend creation: checks fall back to the judge path
        warnings.warn(
            f"could not load the shipped requirement-check aLoRA from {folder} ({type(exc).__name__}: {exc}); "
            "requirements are checked by the model as judge instead. Reinstall gencomp-alora to repair it.",
            stacklevel=2,
        )


def _quiet_loading() -> None:
    """No per-load "Loading weights" bar: a command shows its own progress (or none with ``--quiet``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _input_file(path: str | None, what: str) -> None:
    if path is None:
        return
    p = Path(path)
    if not p.is_file():
        raise GencompError(f"{what} {path!r}: {'a folder, not a file' if p.is_dir() else 'no such file'}")


def _adapter_folder(path: str | None, what: str) -> None:
    if path is None:
        return
    p = Path(path)
    if not p.is_dir():
        raise GencompError(f"{what} {path!r}: {'a file, not a folder' if p.exists() else 'no such folder'}")
    if not (p / "adapter_config.json").is_file():
        raise GencompError(
            f"{what} {path!r} has no adapter_config.json: give a folder written by `gencomp alora train` "
            "(or PEFT's save_pretrained)"
        )


def _output_folder(path: str, force: bool) -> None:
    """Refuse an ``--out`` that is a file, not writable, or (without ``force``) a non-empty folder; creates nothing."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise GencompError(f"--out {path!r} is a file; give a folder for the adapter")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise GencompError(
            f"--out {path!r} is not empty (it may hold an adapter); pass --force to replace it, "
            "or choose another folder"
        )
    if out.is_dir():
        try:
            probe = out / ".gencomp-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise GencompError(f"--out {path!r} is not writable: {exc.strerror or exc}") from exc
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise GencompError(f"--out {path!r} is inside {str(parent)!r}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GencompError(f"--out {path!r} cannot be created: {str(parent)!r} is not writable")


def _cmd_train(args: argparse.Namespace) -> int:
    for path in args.data:
        _input_file(path, "training data")
    for path in args.val or ():
        _input_file(path, "--val")
    _adapter_folder(args.init_adapter, "--init-adapter")
    if args.init_note is not None and args.init_adapter is None:
        raise GencompError("--init-note describes --init-adapter: give both, or neither")
    _output_folder(args.out, args.force)
    _quiet_loading()
    from gencomp_alora.training.train import TrainConfig, train

    train(
        TrainConfig(
            data=args.data, base_model=args.base_model, out=args.out, adapter=args.adapter, invocation=args.invocation,
            val_data=args.val, val_fraction=args.val_fraction, epochs=args.epochs, lr=args.lr, rank=args.rank,
            alpha=args.alpha or 2 * args.rank, top_layers=args.top_layers, target_modules=args.target_modules,
            batch_size=args.batch_size, max_examples=args.max_examples, seed=args.seed, threads=args.threads,
            device=args.device, progress=not args.quiet, init_adapter=args.init_adapter, init_note=args.init_note,
            store_dtype=args.store_dtype, state_dtype=args.state_dtype,
        )
    )  # fmt: skip
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    for path in args.data:
        _input_file(path, "evaluation data")
    _adapter_folder(args.adapter, "--adapter")
    if (args.calibration or args.plot or args.predictions) and set(args.methods) <= {"majority"}:
        raise GencompError("--predictions, --calibration and --plot need a model method (alora, judge, alora-path...)")
    if args.validation and "alora-path" not in args.methods:
        raise GencompError("--validation measures gencomp's real path: add alora-path (and judge-path) to --methods")
    for option in ("markdown", "predictions", "calibration", "plot", "validation"):
        target = getattr(args, option)
        if target is not None and not Path(target).absolute().parent.is_dir():
            raise GencompError(
                f"--{option} {target!r}: the folder {str(Path(target).absolute().parent)!r} does not exist"
            )
    adapter = args.adapter
    if adapter is not None and Path(adapter).resolve() == shipped_adapter_dir().resolve():
        adapter = None  # the shipped adapter: its base model is the embedded default model
    _quiet_loading()
    from gencomp_alora.training.evaluate import evaluate, format_table

    results = evaluate(
        args.data, adapter=adapter, base_model=args.base_model, methods=args.methods,
        max_examples=args.max_examples, threads=args.threads, progress=not args.quiet,
    )  # fmt: skip
    table = format_table(results)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
    _write_calibration(args, results)
    return 0


def _write_calibration(args: argparse.Namespace, results: Any) -> None:
    """``--predictions`` (each check's p(yes) per model method), ``--calibration`` (JSON) and ``--plot`` (SVG)."""
    import json

    from gencomp_alora.training.calibration import Bin, reliability_svg
    from gencomp_alora.training.evaluate import calibration

    methods = list(results.p_yes)
    if args.validation:
        from gencomp_alora.training.evaluate import validation_section

        section = validation_section(results, target=args.target)
        Path(args.validation).write_text(json.dumps(section, indent=2) + "\n", encoding="utf-8")
        print(f"validation section written to {args.validation} (uncertain margin {section['uncertain_margin']:.2f})")
    if args.predictions:
        with Path(args.predictions).open("w", encoding="utf-8") as f:
            for path, examples in results.files.items():
                for i, e in enumerate(examples):
                    row = {"file": path, "line": e.line, "family": e.family, "requirement": e.requirement,
                           "label": e.label, **{m: results.p_yes[m][path][i] for m in methods}}  # fmt: skip
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if not (args.calibration or args.plot):
        return
    summaries = {m: calibration(results, m, target=args.target, routed=args.routed) for m in methods}
    if args.calibration:
        Path(args.calibration).write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
    for m, c in summaries.items():
        print(f"{m}: ECE {c['ece']:.3f}, margin for {100 * c['target']:.0f}% decided accuracy: {c['margin']:.2f}")
    if args.plot:
        series = {f"{m} (ECE {c['ece']:.3f}, n={c['n']})": [Bin(**b) for b in c["bins"]] for m, c in summaries.items()}
        files = ", ".join(Path(p).name for p in results.files)
        title = f"Reliability of p(yes) on {files}"
        if args.routed:  # the file names would not fit beside it
            title = "Reliability of p(yes), checks routed to an adapter"
        Path(args.plot).write_text(reliability_svg(series, title), encoding="utf-8")


def _read_responses(path: str) -> list[dict[str, str]]:
    """The ``{"instruction", "response"}`` lines of a responses file; every bad line is reported by number."""
    import json

    from gencomp_alora.training.data import DataError

    items: list[dict[str, str]] = []
    bad: list[str] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            bad.append(f"{path}:{n}: not valid JSON")
            continue
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k].strip() for k in ("instruction", "response")
        ):
            bad.append(f'{path}:{n}: expected an object with non-empty strings "instruction" and "response"')
            continue
        items.append(item)
    if bad:
        raise DataError(
            f"{len(bad)} bad line(s) in --responses: " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        )
    return items


def _cmd_datagen(args: argparse.Namespace) -> int:
    import json

    from gencomp_alora.training.datagen import generate_responses, instructions, split_sizes, write_dataset

    _input_file(args.responses, "--responses")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GencompError(f"--out {args.out!r} is a file; give a folder for the dataset")
    per_label = tuple(args.per_label)
    responses = _read_responses(args.responses) if args.responses else None
    if responses is None:
        pool = len(instructions())
        if args.instructions > pool:
            raise GencompError(
                f"--instructions {args.instructions}: the instruction pool has {pool}; ask for at most that"
            )
    asked = len({r["instruction"] for r in responses}) if responses is not None else args.instructions
    split_sizes(asked, per_label)  # enough instructions for every split, before any model loads?
    out.mkdir(parents=True, exist_ok=True)
    responses_path = out / "responses.jsonl"
    _quiet_loading()
    if responses is None:
        from gencomp_alora.training.train import resolve_base_model

        responses = generate_responses(
            resolve_base_model(args.base_model), instructions(args.instructions, seed=args.seed), responses_path,
            max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, threads=args.threads,
        )  # fmt: skip
    semantic = tuple(args.semantic_per_label) if any(args.semantic_per_label) else None
    counts = write_dataset(
        responses, out, seed=args.seed, per_label=per_label, train_variants=args.train_variants,  # type: ignore[arg-type]
        semantic_per_label=semantic,  # type: ignore[arg-type]
    )  # fmt: skip
    print(json.dumps(counts))
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    if value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {value}")
    return value


@hookimpl
def gencomp_register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``gencomp alora train|eval|datagen``."""
    from gencomp_alora.training.prompts import DEFAULT_GENERATION_PROMPT, STATE_DTYPES, STORE_DTYPES

    group = subparsers.add_parser("alora", help="train and evaluate requirement-check aLoRA adapters")
    sub = group.add_subparsers(dest="alora_command", metavar="{train,eval,datagen}")
    group.set_defaults(func=lambda _args: (group.print_help(), 2)[1])

    p = sub.add_parser("train", help="train a requirement-check aLoRA (or LoRA) adapter on JSONL files")
    p.add_argument("data", nargs="+", help="JSONL: instruction, response (or messages), requirement, label[, family]")
    p.add_argument("--base-model", default="default", help="model folder or id ('default': the embedded model)")
    p.add_argument("--out", required=True, help="output folder (loads with HFAlora)")
    p.add_argument("--adapter", choices=["alora", "lora"], default="alora")
    p.add_argument(
        "--invocation", type=text_argument("the invocation"), default=DEFAULT_GENERATION_PROMPT,
        help="generation prompt / invocation string",
    )  # fmt: skip
    p.add_argument("--val", nargs="+", help="JSONL of held-out examples (default: split off --val-fraction of DATA)")
    p.add_argument("--val-fraction", type=_fraction, default=0.1, help="0 <= x < 1")
    p.add_argument(
        "--epochs", type=int_at_least(0), default=2,
        help="0: save the starting weights (those of --init-adapter; a new adapter starts as a no-op)",
    )  # fmt: skip
    p.add_argument("--lr", type=_positive_float, default=5e-4)
    p.add_argument("--rank", type=int_at_least(1), default=8)
    p.add_argument("--alpha", type=int_at_least(0), default=0, help="LoRA alpha (default: 2 x rank)")
    p.add_argument("--top-layers", type=int_at_least(0), default=0, help="adapt only the top N layers (0: all)")
    p.add_argument("--target-modules", nargs="+", default=["q_proj", "k_proj", "v_proj", "o_proj"])
    p.add_argument("--batch-size", type=int_at_least(1), default=16, help="examples per optimizer step")
    p.add_argument(
        "--max-examples", type=int_at_least(0), default=0, help="train on a random subset of this size (0: all)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int_at_least(0), default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="replace what --out holds")
    p.add_argument(
        "--init-adapter", metavar="DIR",
        help="start from this adapter's weights (its rank, alpha, targets, top layers and invocation must match)",
    )  # fmt: skip
    p.add_argument(
        "--init-note", type=text_argument("the note"),
        help="what --init-adapter is, for the metadata's init_adapter (default: its path)",
    )  # fmt: skip
    p.add_argument(
        "--store-dtype", choices=list(STORE_DTYPES), default="float32",
        help="store the weights in this dtype (training runs in float32; the shipped adapter is float16)",
    )  # fmt: skip
    p.add_argument(
        "--state-dtype", choices=list(STATE_DTYPES), default="auto",
        help="hold an aLoRA's precomputed base-model keys and values in this dtype (auto: float32 where it fits "
        "the available memory, else float16, else refuse with what each needs)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="accuracy per family: aLoRA vs the base model as judge vs majority class")
    p.add_argument("data", nargs="+", help="JSONL files of labelled checks")
    p.add_argument("--adapter", help="adapter folder (default: the shipped one, on the embedded model)")
    p.add_argument("--base-model", help="model folder or id (default: the adapter's base model)")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=["alora", "judge", "majority"],
        help="alora/judge: batched, the training prompts; alora-path/judge-path: gencomp's real validation path",
    )
    p.add_argument("--max-examples", type=int_at_least(0), default=0, help="first N examples of each file (0: all)")
    p.add_argument("--threads", type=int_at_least(0), default=0)
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--predictions", help="write each check's p(yes) per model method to this JSONL file")
    p.add_argument("--calibration", help="write ECE, reliability bins and the uncertain margin per method (JSON)")
    p.add_argument("--plot", help="write a reliability plot of the model methods (SVG)")
    p.add_argument(
        "--validation", help="write the adapter metadata's 'validation' section measured here (JSON; needs alora-path)"
    )
    p.add_argument(
        "--target", type=_fraction, default=0.95, help="accuracy the decided verdicts must reach (chooses the margin)"
    )
    p.add_argument(
        "--routed", action="store_true",
        help="calibrate and plot only the checks the default routing sends an adapter (texts not recognised)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("datagen", help="generate a labelled requirement-check dataset")
    p.add_argument("--out", required=True, help="output folder (responses/train/val/test/heldout .jsonl)")
    p.add_argument("--base-model", default="default")
    p.add_argument("--responses", help="reuse this responses.jsonl instead of generating")
    p.add_argument("--instructions", type=int_at_least(1), default=240)
    p.add_argument("--max-new-tokens", type=int_at_least(1), default=40)
    p.add_argument("--batch-size", type=int_at_least(1), default=24)
    p.add_argument("--per-label", type=int_at_least(0), nargs=3, default=[70, 10, 30], metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--train-variants", type=int_at_least(0), default=4, help="edited variants per training response")
    p.add_argument(
        "--semantic-per-label", type=int_at_least(0), nargs=3, default=[0, 0, 0], metavar=("TRAIN", "VAL", "TEST"),
        help="examples per label of each everyday semantic family (politeness, greetings, ...; 0 0 0: none)",
    )  # fmt: skip
    p.add_argument("--threads", type=int_at_least(0), default=0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_datagen)
