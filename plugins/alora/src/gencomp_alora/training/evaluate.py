"""``gencomp alora eval``: accuracy per requirement family of an aLoRA, the base model as judge, the majority class.

- ``alora``: the adapter's verdict on the check prompt (``Y`` vs ``N`` logits after the generation prompt).
- ``judge``: the same base model without adapter, asked the default ``Requirement`` template's
  question after the conversation; ``Yes`` vs ``No`` logits of its first answer token.
- ``majority``: the most frequent label of each family in the evaluated file itself (an upper
  bound for any constant answer; 50% on balanced data).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gencomp_alora.compat import quiet_peft
from gencomp_alora.training.data import Example, load_examples
from gencomp_alora.training.prompts import JUDGE_NO, JUDGE_YES, check_ids, conversation_ids, judge_ids, read_metadata
from gencomp_alora.training.scoring import encode_groups, group_logits
from gencomp_alora.training.train import load_base, verdict_ids

__all__ = ["METHODS", "Results", "evaluate", "format_table"]

METHODS = ("alora", "judge", "majority")


@dataclass
class Results:
    """Correct counts per method and family, for the examples of each evaluated file."""

    files: dict[str, list[Example]] = field(default_factory=dict)
    correct: dict[str, dict[str, list[bool]]] = field(default_factory=dict)
    """``correct[method][file]`` is one flag per example of that file."""


def _predict(
    model: Any, items: Sequence[tuple[list[int], list[int]]], yes: int, no: int, *, pad_id: int, use_adapter: bool,
    desc: str, progress: bool,
) -> list[bool]:  # fmt: skip
    from tqdm import tqdm

    groups = encode_groups(items, max_group=32)
    preds: list[bool] = [False] * len(items)
    with torch.no_grad(), tqdm(total=len(items), desc=desc, disable=not progress, file=sys.stderr) as bar:
        for g in groups:
            logits = group_logits(model, g, use_adapter=use_adapter, pad_id=pad_id)
            for i, p in zip(g.indices, (logits[:, yes] > logits[:, no]).tolist(), strict=True):
                preds[i] = bool(p)
            bar.update(len(g.indices))
    return preds


def evaluate(
    data: Sequence[str],
    *,
    adapter: str | None = None,
    base_model: str | None = None,
    methods: Sequence[str] = METHODS,
    max_examples: int = 0,
    threads: int = 0,
    progress: bool = True,
) -> Results:
    """Evaluate ``methods`` on each JSONL file of ``data``; ``adapter`` defaults to the shipped one."""
    from peft import PeftModel

    from gencomp_alora.training.hooks import shipped_adapter_dir

    if threads:
        torch.set_num_threads(threads)
    adapter_dir = adapter or str(shipped_adapter_dir())
    meta = read_metadata(adapter_dir)
    base = base_model or ("default" if adapter is None else meta.get("base_model", "default"))
    results = Results()
    for path in data:
        examples = load_examples(path)
        results.files[path] = examples[:max_examples] if max_examples else examples
    tok, model = load_base(base)
    model.eval()
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if "alora" in methods:
        with quiet_peft():
            model = PeftModel.from_pretrained(model, adapter_dir, adapter_name="constraint", is_trainable=False)
        model.eval()
    for method in methods:
        results.correct[method] = {}
        for path, examples in results.files.items():
            labels = [e.label for e in examples]
            if method == "majority":
                by_family: dict[str, Counter[bool]] = defaultdict(Counter)
                for e in examples:
                    by_family[e.family][e.label] += 1
                preds = [by_family[e.family].most_common(1)[0][0] for e in examples]
            elif method == "alora":
                yes, no = verdict_ids(tok, meta["yes"], meta["no"])
                items = [
                    (conversation_ids(tok, e.instruction, e.response),
                     check_ids(tok, e.instruction, e.response, e.requirement, meta["generation_prompt"]))
                    for e in examples
                ]  # fmt: skip
                preds = _predict(
                    model, items, yes, no, pad_id=pad_id, use_adapter=True, desc=f"alora {Path(path).name}",
                    progress=progress,
                )  # fmt: skip
            elif method == "judge":
                yes, no = (tok.encode(w, add_special_tokens=False)[0] for w in (JUDGE_YES, JUDGE_NO))  # first tokens
                items = [
                    (conversation_ids(tok, e.instruction, e.response),
                     judge_ids(tok, e.instruction, e.response, e.requirement))
                    for e in examples
                ]  # fmt: skip
                preds = _predict(
                    model, items, yes, no, pad_id=pad_id, use_adapter=False, desc=f"judge {Path(path).name}",
                    progress=progress,
                )  # fmt: skip
            else:
                raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
            results.correct[method][path] = [p == y for p, y in zip(preds, labels, strict=True)]
    return results


def _pct(flags: Sequence[bool]) -> str:
    return f"{100 * sum(flags) / len(flags):.1f}" if flags else "-"


def format_table(results: Results) -> str:
    """A markdown table: accuracy (%) per family and overall, one column per method, one block per file."""
    methods = list(results.correct)
    lines = ["| data | family | n | " + " | ".join(methods) + " |", "|---|---|---:|" + "---:|" * len(methods)]
    for path, examples in results.files.items():
        name = Path(path).name
        families = sorted({e.family for e in examples})
        for fam in families:
            idx = [i for i, e in enumerate(examples) if e.family == fam]
            cells = [_pct([results.correct[m][path][i] for i in idx]) for m in methods]
            lines.append(f"| {name} | {fam or '-'} | {len(idx)} | " + " | ".join(cells) + " |")
        cells = [f"**{_pct(results.correct[m][path])}**" for m in methods]
        lines.append(f"| {name} | **all** | {len(examples)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
