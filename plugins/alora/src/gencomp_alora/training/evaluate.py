"""``gencomp alora eval``: accuracy per requirement family of an aLoRA, the base model as judge, the majority class.

- ``alora``: the adapter's verdict on the check prompt (``Y`` vs ``N`` logits after the generation prompt).
- ``judge``: the same base model without adapter, asked the default ``Requirement`` template's
  question after the conversation; ``Yes`` vs ``No`` logits of its first answer token.
- ``alora-path``/``judge-path``: the same checks through gencomp's real validation path
  (``validate_requirements`` on a ``LocalHFBackend``, a context holding the instruction and the
  response): ``ALoraRequirement`` with the adapter loaded, and ``LLMaJRequirement``, gencomp's own
  judge prompt and verdict reading. Slower (one check at a time), but what a session does.
- ``majority``: the most frequent label of each family in the evaluated file itself (an upper
  bound for any constant answer; 50% on balanced data).

Every model method also records each check's p(yes) (``Results.p_yes``), for calibration
(:func:`calibration`, :mod:`.calibration`).
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

__all__ = ["METHODS", "Results", "calibration", "evaluate", "format_table", "validation_section"]

METHODS = ("alora", "judge", "alora-path", "judge-path", "majority")


@dataclass
class Results:
    """Correct counts per method and family, for the examples of each evaluated file."""

    files: dict[str, list[Example]] = field(default_factory=dict)
    correct: dict[str, dict[str, list[bool]]] = field(default_factory=dict)
    """``correct[method][file]`` is one flag per example of that file."""
    p_yes: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """``p_yes[method][file]``: each example's p(yes), for the model methods."""


def _predict(
    model: Any, items: Sequence[tuple[list[int], list[int]]], yes: int, no: int, *, pad_id: int, use_adapter: bool,
    desc: str, progress: bool,
) -> list[float]:  # fmt: skip
    """Each item's p(yes): the softmax of its yes and no logits."""
    from tqdm import tqdm

    groups = encode_groups(items, max_group=32)
    p_yes: list[float] = [0.0] * len(items)
    with torch.no_grad(), tqdm(total=len(items), desc=desc, disable=not progress, file=sys.stderr) as bar:
        for g in groups:
            logits = group_logits(model, g, use_adapter=use_adapter, pad_id=pad_id).float()
            pairs = torch.softmax(torch.stack([logits[:, yes], logits[:, no]], dim=1), dim=1)[:, 0]
            for i, p in zip(g.indices, pairs.tolist(), strict=True):
                p_yes[i] = float(p)
            bar.update(len(g.indices))
    return p_yes


EVALUATED = "evaluated"
"""The name under which ``alora-path`` loads an adapter other than the shipped one."""


def _real_path(
    examples: Sequence[Example], method: str, *, adapter: str | None, base: str, progress: bool
) -> tuple[list[bool], list[float]]:
    """Verdicts and p(yes) of ``examples`` through ``validate_requirements`` on a fresh ``LocalHFBackend``."""
    from tqdm import tqdm

    import gencomp
    from gencomp import ALoraRequirement, Instruction, LinearContext, LLMaJRequirement, ModelOutputThunk
    from gencomp.session import validate_requirements
    from gencomp_alora.registry import registry

    session = gencomp.start_session("hf", None if base == "default" else base)
    backend = session.backend
    name = "constraint"
    if method == "alora-path" and (adapter is not None or registry(backend).get(name) is None):
        from gencomp_alora.alora import HFAlora
        from gencomp_alora.training.hooks import shipped_adapter_dir

        folder = adapter or str(shipped_adapter_dir())
        meta = read_metadata(folder)
        name = EVALUATED
        registry(backend).add(
            HFAlora(name, folder, meta["generation_prompt"], backend, yes_text=meta["yes"], no_text=meta["no"])
        )
    preds, p_yes = [], []
    for e in tqdm(examples, desc=method, disable=not progress, file=sys.stderr):
        ctx = LinearContext()
        ctx.insert_turn(Instruction(e.instruction), ModelOutputThunk(e.response))
        req = ALoraRequirement(e.requirement, alora=name) if method == "alora-path" else LLMaJRequirement(e.requirement)
        (verdict,) = validate_requirements([req], backend, ctx)
        if verdict.score is None:
            raise RuntimeError(f"{method} gave no p(yes) for {e.requirement!r}: the backend reports none")
        preds.append(bool(verdict.result))
        p_yes.append(float(verdict.score))
    return preds, p_yes


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
    if any(m not in METHODS for m in methods):
        raise ValueError(f"unknown method in {list(methods)!r}; known: {', '.join(METHODS)}")
    tok: Any
    model: Any
    tok, model = load_base(base) if {"alora", "judge"} & set(methods) else (None, None)
    pad_id = (tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id) if tok is not None else 0
    if model is not None:
        model.eval()
    if "alora" in methods:
        with quiet_peft():
            model = PeftModel.from_pretrained(model, adapter_dir, adapter_name="constraint", is_trainable=False)
        model.eval()
    for method in methods:
        results.correct[method] = {}
        if method != "majority":
            results.p_yes[method] = {}
        for path, examples in results.files.items():
            labels = [e.label for e in examples]
            if method == "majority":
                by_family: dict[str, Counter[bool]] = defaultdict(Counter)
                for e in examples:
                    by_family[e.family][e.label] += 1
                preds = [by_family[e.family].most_common(1)[0][0] for e in examples]
            elif method in ("alora-path", "judge-path"):
                preds, results.p_yes[method][path] = _real_path(
                    examples, method, adapter=adapter, base=base, progress=progress
                )
            elif method == "alora":
                yes, no = verdict_ids(tok, meta["yes"], meta["no"])
                items = [
                    (conversation_ids(tok, e.instruction, e.response),
                     check_ids(tok, e.instruction, e.response, e.requirement, meta["generation_prompt"]))
                    for e in examples
                ]  # fmt: skip
                results.p_yes[method][path] = _predict(
                    model, items, yes, no, pad_id=pad_id, use_adapter=True, desc=f"alora {Path(path).name}",
                    progress=progress,
                )  # fmt: skip
                preds = [p > 0.5 for p in results.p_yes[method][path]]
            elif method == "judge":
                yes, no = (tok.encode(w, add_special_tokens=False)[0] for w in (JUDGE_YES, JUDGE_NO))  # first tokens
                items = [
                    (conversation_ids(tok, e.instruction, e.response),
                     judge_ids(tok, e.instruction, e.response, e.requirement))
                    for e in examples
                ]  # fmt: skip
                results.p_yes[method][path] = _predict(
                    model, items, yes, no, pad_id=pad_id, use_adapter=False, desc=f"judge {Path(path).name}",
                    progress=progress,
                )  # fmt: skip
                preds = [p > 0.5 for p in results.p_yes[method][path]]
            else:
                raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
            results.correct[method][path] = [p == y for p, y in zip(preds, labels, strict=True)]
    return results


def calibration(results: Results, method: str, *, target: float = 0.95, routed: bool = False) -> dict[str, Any]:
    """Calibration of ``method`` over every evaluated file (:func:`.calibration.summary`), overall and per family.

    With ``routed``, only the checks whose text gencomp's recogniser does not take (what the default
    routing sends an adapter).
    """
    from gencomp.checks import recognised_kind
    from gencomp_alora.training.calibration import summary

    if method not in results.p_yes:
        raise ValueError(f"no p(yes) recorded for {method!r}; recorded: {', '.join(results.p_yes) or 'none'}")
    pairs = [
        (p, e)
        for path in results.files
        for p, e in zip(results.p_yes[method][path], results.files[path], strict=True)
        if not routed or recognised_kind(e.requirement) is None
    ]
    if not pairs:
        raise ValueError("no evaluated check is routed to the adapter: every requirement text is recognised")
    p_yes = [p for p, _ in pairs]
    examples = [e for _, e in pairs]
    out = summary(p_yes, [e.label for e in examples], target=target)
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by_family[e.family].append(i)
    out["families"] = {
        family: {
            "n": len(idx),
            "accuracy": sum((p_yes[i] > 0.5) == examples[i].label for i in idx) / len(idx),
            "mean_p_yes_met": _mean([p_yes[i] for i in idx if examples[i].label]),
            "mean_p_yes_unmet": _mean([p_yes[i] for i in idx if not examples[i].label]),
        }
        for family, idx in sorted(by_family.items())
    }
    return out


def _shown(path: str) -> str:
    """A data file as the metadata names it: as given when relative (to the repository root), else its name."""
    return path if not Path(path).is_absolute() else Path(path).name


def _scope(family: str) -> str:
    from gencomp_alora.training.families import FAMILIES
    from gencomp_alora.training.semantic import SEMANTIC_FAMILIES

    if family in FAMILIES:
        return "verifiable kinds in wording the recogniser does not take"
    if family in SEMANTIC_FAMILIES:
        return "everyday semantic requirements"
    return f"{family or 'unlabelled'} checks"


def validation_section(
    results: Results, *, method: str = "alora-path", judge: str | None = "judge-path", target: float = 0.95
) -> dict[str, Any]:
    """The ``"validation"`` section of an adapter's ``gencomp_alora.json`` from an evaluation of it.

    ``"families"``: accuracy of ``method`` (and of ``judge``) per family of the adapter's training
    families (:mod:`.families`, :mod:`.semantic`) in the evaluated files; ``"unrecognised"``: on the
    checks whose text gencomp's recogniser does not take (what the default routing sends the adapter),
    per file and group; ``"negated"``: on those that negate (:data:`gencomp_alora.validation.NEGATION`);
    ``"uncertain_margin"``: the smallest margin around 0.5 whose decided verdicts reach ``target``
    (:func:`.calibration.choose_margin`), among those checks whose kind's measurement leaves them
    decidable (:func:`gencomp_alora.validation.min_accuracy`); ``"calibration"``: ECE and reliability
    bins of all of those checks, and the margin curve of the decidable ones.
    """
    from gencomp.checks import recognised_kind
    from gencomp_alora.training.calibration import summary
    from gencomp_alora.training.families import FAMILIES
    from gencomp_alora.training.semantic import SEMANTIC_FAMILIES
    from gencomp_alora.validation import NEGATION, validation_for

    if method not in results.p_yes:
        raise ValueError(f"no p(yes) recorded for {method!r}; evaluate with --methods {method}")
    judged = judge if judge in results.p_yes else None
    rows = []  # (file, example, p(yes) of the method, p(yes) of the judge)
    for path, examples in results.files.items():
        for i, e in enumerate(examples):
            rows.append((path, e, results.p_yes[method][path][i], results.p_yes[judged][path][i] if judged else None))

    def measured(subset: list[tuple[str, Example, float, float | None]]) -> dict[str, Any]:
        out: dict[str, Any] = {"accuracy": round(sum((p > 0.5) == e.label for _, e, p, _ in subset) / len(subset), 4)}
        if judged:
            out["judge_accuracy"] = round(
                sum((q is not None and q > 0.5) == e.label for _, e, _, q in subset) / len(subset), 4
            )
        return {**out, "n": len(subset)}

    families: dict[str, Any] = {}
    for family in sorted({e.family for _, e, _, _ in rows} & (set(FAMILIES) | set(SEMANTIC_FAMILIES))):
        subset = [r for r in rows if r[1].family == family]
        trained = family in SEMANTIC_FAMILIES or not FAMILIES[family].held_out
        families[family] = {
            **measured(subset),
            "trained": trained,
            "data": ", ".join(sorted({_shown(f) for f, *_ in subset})),
        }
    routed = [r for r in rows if recognised_kind(r[1].requirement) is None]
    if not routed:
        raise ValueError("every evaluated requirement is taken by the recogniser: nothing the adapter is routed")
    scopes: dict[tuple[str, str], list[tuple[str, Example, float, float | None]]] = defaultdict(list)
    for r in routed:
        scopes[(_shown(r[0]), _scope(r[1].family))].append(r)
    negated = [r for r in routed if NEGATION.search(r[1].requirement)]
    section: dict[str, Any] = {
        "note": (
            f"Measured with {method} on requirements and responses written by hand, none from the training data. "
            "'families': per family of the adapter; 'negated': requirements that negate, among those the code "
            "recogniser does not take; 'unrecognised': the checks whose text the recogniser does not take (what "
            "the default routing sends this adapter); 'uncertain_margin': a verdict whose p(yes) lies this close "
            "to 0.5 is uncertain (the smallest margin whose decided verdicts on the unrecognised checks reach "
            "'calibration.target'; 0.5 when none does)."
        ),
        "families": families,
        **(
            {"negated": {**measured(negated), "data": ", ".join(sorted({_shown(r[0]) for r in negated}))}}
            if negated
            else {}
        ),
        "unrecognised": [
            {"name": f"{group} ({Path(name).name})", **measured(subset), "data": name}
            for (name, group), subset in sorted(scopes.items())
        ],
    }
    # the margin is chosen on the verdicts that their kind's measurement leaves decidable
    decidable = [r for r in routed if not _floored(validation_for(section, r[1].requirement))]
    pool = decidable or routed
    curve = summary([p for _, _, p, _ in pool], [e.label for _, e, _, _ in pool], target=target)
    everything = summary([p for _, _, p, _ in routed], [e.label for _, e, _, _ in routed], target=target)
    section["uncertain_margin"] = curve["margin"]
    section["calibration"] = {
        **{k: everything[k] for k in ("n", "accuracy", "ece", "bins")},
        "target": target,
        "decidable": len(decidable),
        "margin_curve": curve["margin_curve"],
    }
    return section


def _floored(measured: Any) -> bool:
    """Whether a verdict resting on ``measured`` is uncertain whatever its p(yes) (unmeasured, or below the floor)."""
    from gencomp_alora.validation import min_accuracy

    return not measured.validated or (measured.n is not None and measured.accuracy < min_accuracy(measured.n))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


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
