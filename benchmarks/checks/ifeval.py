"""gencomp's checks and recogniser on IFEval's development half, against IFEval's official checkers.

Three measurements, on the files of ``../shared/ifeval/`` (IFEval's prompts with even keys, with
GPT-4's published responses and the official checkers' verdicts; see that folder's README):

1. **Agreement**: every instruction checked by code (``checks.from_ifeval``: IFEval's semantics
   where a user asks for them) on GPT-4's response, against the official ``strict`` verdict, per
   kind. A verdict code leaves undecided (language identified below the floor) is counted apart.
2. **Official description texts**: each instruction's description as IFEval's ``build_description``
   writes it (``benchmarks/ifeval_data.py``'s templates, from google-research ``instruction_following_eval/
   instructions.py``, Apache-2.0), filled with its kwargs, through ``checks.recognise``: coverage
   and wrong kinds or parameters.
3. **The prompts' own sentences**: every sentence of every prompt (``checks.sentences``), and every
   two neighbouring sentences, through ``checks.recognise``. Recall: the prompt's instructions whose
   kind and parameters a sentence gives. Every recognised sentence that is none of its prompt's
   instructions is listed, judged by hand in ``ifeval_judged.json``.

Counts are compared as integer ranges ("less than 46" is "at most 45"); keyword lists as sets.

    .venv/bin/python benchmarks/checks/ifeval.py ../shared/ifeval [--write]

``--write`` puts the tables into ``benchmarks/checks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import write_section  # noqa: E402
from ifeval_data import description  # noqa: E402  (IFEval's build_description texts, one copy)

from gencomp import checks  # noqa: E402
from gencomp.verdicts import CheckFallback  # noqa: E402

JUDGED = HERE / "ifeval_judged.json"
RESULTS = HERE / "RESULTS.md"
START = "<!-- ifeval.py: start -->"
END = "<!-- ifeval.py: end -->"
INF = 10**9


# -- comparing a recognised check with an IFEval instruction -------------------------------------------


def interval(relation: str, n: int) -> tuple[int, int]:
    """The counts a ``relation n`` bound accepts, as an integer range."""
    return {
        "less than": (0, n - 1),
        "at most": (0, n),
        "exactly": (n, n),
        "at least": (n, INF),
        "more than": (n + 1, INF),
    }[relation]


IFEVAL_RELATIONS = {
    "number_sentences": ("num_sentences", "relation", "less than"),
    "number_words": ("num_words", "relation", "less than"),
    "keyword_frequency": ("frequency", "relation", "at least"),
    "letter_frequency": ("let_frequency", "let_relation", "at least"),
    "capital_word_frequency": ("capital_frequency", "capital_relation", "at least"),
    "number_placeholders": ("num_placeholders", "relation", "at least"),
    "number_bullet_lists": ("num_bullets", "relation", "exactly"),
    "number_highlighted_sections": ("num_highlights", "relation", "at least"),
    "multiple_sections": ("num_sections", "relation", "at least"),
    "number_paragraphs": ("num_paragraphs", "relation", "exactly"),
}


def expected(instruction_id: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The kind and the IFEval parameters an instruction stands for, counts as ranges."""
    kind = {v: k for k, v in checks.IFEVAL_IDS.items()}[instruction_id]
    params = {k: v for k, v in kwargs.items() if v is not None}
    return kind, canonical(kind, params, ifeval=True)


def canonical(kind: str, params: dict[str, Any], *, ifeval: bool = False) -> dict[str, Any]:
    """Parameters in a comparable form: a count and its relation as one range, lists as sorted sets.

    Parameters IFEval has no counterpart for (``match``, ``english``, ``separator``,
    ``prompt_to_repeat``) are left out here and judged apart (see :func:`same`).
    """
    out = dict(params)
    if kind in IFEVAL_RELATIONS:
        n_key, rel_key, default = IFEVAL_RELATIONS[kind]
        rel = out.pop(rel_key, default)
        out[n_key] = interval(rel, out[n_key])
    for key in ("keywords", "forbidden_words"):
        if key in out:
            out[key] = sorted({str(w).lower() for w in out[key]})
    for key in ("keyword", "first_word", "letter", "end_phrase"):
        if key in out:
            out[key] = str(out[key]).lower().strip()
    for key in ("match", "english", "separator", "prompt_to_repeat", "options"):
        out.pop(key, None)
    return out


def same(kind: str, params: dict[str, Any], instruction_id: str, kwargs: dict[str, Any], text: str) -> bool:
    """Whether a recognised ``kind``/``params`` is IFEval's instruction, reading ``text``'s own wording.

    ``english`` must say whether the text asks for English; a paragraph count must use IFEval's
    separator (``***`` for ``number_paragraphs``).
    """
    want_kind, want = expected(instruction_id, kwargs)
    if kind != want_kind or canonical(kind, params) != want:
        return False
    if kind in ("all_capitals", "all_lowercase") and params["english"] != bool(re.search(r"english", text, re.I)):
        return False
    return not (kind == "number_paragraphs" and params["separator"] != "***")


def split_bounds(kind: str, params: dict[str, Any], instructions: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """IFEval states "exactly one sentence" as two instructions (less than 2, at least 1): both, when they meet."""
    if kind not in IFEVAL_RELATIONS:
        return []
    n_key = IFEVAL_RELATIONS[kind][0]
    got = canonical(kind, params).get(n_key)
    same_kind = [(i, expected(iid, kw)[1]) for i, (iid, kw) in enumerate(instructions) if expected(iid, kw)[0] == kind]
    if got is None or len(same_kind) < 2:
        return []
    low = max(want[n_key][0] for _, want in same_kind)
    high = min(want[n_key][1] for _, want in same_kind)
    return [i for i, _ in same_kind] if (low, high) == got else []


# -- the three measurements --------------------------------------------------------------------------


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    disagreements, undecided = [], []
    for row in rows:
        for iid, kwargs, official in zip(row["instruction_id_list"], row["kwargs"], row["strict"], strict=True):
            check = checks.code_check(checks.from_ifeval(iid, kwargs))
            assert check is not None
            result = check.check_text(row["response"])
            if isinstance(result.verdict, CheckFallback):
                per_kind[iid]["undecided"] += 1
                undecided.append({"key": row["key"], "id": iid, "official": official, "reason": result.reason})
                continue
            agree = result.result == official
            per_kind[iid]["agree" if agree else "disagree"] += 1
            if not agree:
                disagreements.append(
                    {"key": row["key"], "id": iid, "kwargs": kwargs, "official": official, "gencomp": result.result,
                     "reason": result.reason}
                )  # fmt: skip
    return {"per_kind": per_kind, "disagreements": disagreements, "undecided": undecided}


def recognised(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The (kind, params) ``text`` is recognised as: one, the parts of an ``all_of``, or none."""
    req = checks.recognise(text)
    check = checks.code_check(req) if req is not None else None
    if check is None:
        return []
    parts = [(c.kind, c.params) for c in (check.params["parts"] if check.kind == "all_of" else [check])]
    if ("response_language", {"language": "en"}) in parts:  # "in English and no capital letters": one instruction
        parts = [(k, {**p, "english": True} if k in ("all_capitals", "all_lowercase") else p) for k, p in parts]
    return parts


def descriptions(rows: list[dict[str, Any]], judged: dict[str, str]) -> dict[str, Any]:
    """Each official description through the recogniser; ``judged`` notes ids whose reading follows the
    text where IFEval's checker does not (for example "must have N sections", which IFEval checks as at least N)."""
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    missed: list[str] = []
    wrong: list[dict[str, Any]] = []
    stated: list[dict[str, Any]] = []
    for row in rows:
        for iid, kwargs in zip(row["instruction_id_list"], row["kwargs"], strict=True):
            text = description(iid, kwargs)
            got = recognised(text)
            if not got:
                per_kind[iid]["missed"] += 1
                missed.append(text)
            elif len(got) == 1 and same(*got[0], iid, kwargs, text):
                per_kind[iid]["right"] += 1
            elif iid in judged:
                per_kind[iid]["as stated"] += 1
                stated.append({"text": text, "got": got, "note": judged[iid]})
            else:
                per_kind[iid]["wrong"] += 1
                wrong.append({"text": text, "got": got})
    return {"per_kind": per_kind, "missed": missed, "wrong": wrong, "stated": stated}


def spans(prompt: str) -> list[str]:
    """Each sentence of ``prompt``, and each two neighbouring sentences joined by a space."""
    sents = checks.sentences(prompt)
    return sents + [f"{a} {b}" for a, b in itertools.pairwise(sents)]


def sentences(rows: list[dict[str, Any]], judged: dict[str, dict[str, str]]) -> dict[str, Any]:
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    extra: dict[str, dict[str, Any]] = {}
    wrong = []
    total_sentences = 0
    for row in rows:
        found: set[int] = set()
        own = checks.sentences(row["prompt"])
        total_sentences += len(own)
        singles = {s: recognised(s) for s in own}
        instructions = list(zip(row["instruction_id_list"], row["kwargs"], strict=True))
        for text in spans(row["prompt"]):
            parts = singles[text] if text in singles else recognised(text)
            for kind, params in parts:
                hits = [i for i, (iid, kw) in enumerate(instructions) if same(kind, params, iid, kw, text)]
                hits = hits or split_bounds(kind, params, instructions)
                found.update(hits)
                if hits:
                    continue
                if text not in singles and any((kind, params) in ps for ps in singles.values()):
                    continue  # the same reading as one of the pair's sentences alone: listed once, there
                key = f"{text} => {kind} {json.dumps(params, sort_keys=True, default=repr)}"
                item = {"key": row["key"], "text": text, "got": (kind, params)}
                same_kind = any(checks.IFEVAL_IDS.get(kind) == iid for iid, _ in instructions)
                if same_kind and judged.get(key, {}).get("judgement") != "right":
                    wrong.append(item)
                else:
                    item["same kind"] = same_kind
                    extra[key] = item
        for i, (iid, _) in enumerate(instructions):
            per_kind[iid]["recovered" if i in found else "missed"] += 1
    for key, item in extra.items():
        item["judgement"] = judged.get(key, {}).get("judgement", "not judged")
        item["note"] = judged.get(key, {}).get("note", "")
    return {"per_kind": per_kind, "extra": extra, "wrong": wrong, "sentences": total_sentences}


# -- report -------------------------------------------------------------------------------------------


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def report(agree: dict[str, Any], desc: dict[str, Any], sent: dict[str, Any], n_prompts: int) -> str:
    lines = [START, "## IFEval's development half (`ifeval.py`)", ""]
    lines += [
        "IFEval's 242 prompts with even keys (381 instructions), GPT-4's published responses and the official",
        "checkers' `strict` verdicts (`../shared/ifeval/`). Run with",
        "`.venv/bin/python benchmarks/checks/ifeval.py ../shared/ifeval --write`; no model is involved.",
        "",
        "### 1. Agreement with the official checkers",
        "",
        "Each instruction checked by `checks.from_ifeval(id, kwargs)` (IFEval's semantics where gencomp's default",
        "differs: keywords as substrings, the case kinds in English, paragraphs split at `***`) on GPT-4's",
        "response. A verdict code leaves undecided goes to the model in gencomp; here it is counted apart.",
        "",
        "| instruction | n | agree | disagree | undecided (to the model) |",
        "|---|---:|---:|---:|---:|",
    ]
    tot: Counter[str] = Counter()
    for iid in sorted(agree["per_kind"]):
        c = agree["per_kind"][iid]
        tot.update(c)
        lines.append(f"| `{iid}` | {sum(c.values())} | {c['agree']} | {c['disagree']} | {c['undecided']} |")
    n = sum(tot.values())
    decided = tot["agree"] + tot["disagree"]
    lines.append(f"| **all** | **{n}** | **{tot['agree']}** | **{tot['disagree']}** | **{tot['undecided']}** |")
    lines += [
        "",
        f"Agreement on the verdicts code decides: **{tot['agree']} of {decided} ({pct(tot['agree'], decided)})**; "
        f"code decides {decided} of {n} ({pct(decided, n)}); counting every undecided verdict as a disagreement, "
        f"{tot['agree']} of {n} ({pct(tot['agree'], n)}).",
        "",
        "Every disagreement and undecided verdict, with who is right:",
        "",
        "| key | instruction | official | gencomp | gencomp's reason | who is right |",
        "|---:|---|---|---|---|---|",
    ]
    verdicts = _load_json(JUDGED).get("verdicts", {})
    for d in agree["disagreements"]:
        who = verdicts.get(f"{d['key']} {d['id']}", "not judged")
        lines.append(f"| {d['key']} | `{d['id']}` | {d['official']} | {d['gencomp']} | {_cell(d['reason'])} | {who} |")
    for d in agree["undecided"]:
        who = verdicts.get(f"{d['key']} {d['id']}", "not judged")
        lines.append(f"| {d['key']} | `{d['id']}` | {d['official']} | undecided | {_cell(d['reason'])} | {who} |")

    dt: Counter[str] = Counter()
    for c in desc["per_kind"].values():
        dt.update(c)
    dn = sum(dt.values())
    lines += [
        "",
        "### 2. IFEval's official description texts",
        "",
        "Each instruction's description as IFEval's `build_description` writes it with its kwargs (for example",
        "\"Include keywords ['forests', 'riddle'] in the response.\", \"Finish your response with this exact phrase",
        'Any other questions?. No other words should follow this phrase."), through `checks.recognise`.',
        "",
        f"Recognised with IFEval's kind and parameters: **{dt['right']} of {dn} ({pct(dt['right'], dn)})**; read as "
        f"the text states where IFEval's checker reads it otherwise: {dt['as stated']}; coverage "
        f"**{pct(dt['right'] + dt['as stated'], dn)}**; wrong kind or parameter: **{dt['wrong']}**; left to the "
        f"model: {dt['missed']}.",
        "",
        "| instruction | n | right | as the text states | wrong | left to the model |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for iid in sorted(desc["per_kind"]):
        c = desc["per_kind"][iid]
        lines.append(
            f"| `{iid}` | {sum(c.values())} | {c['right']} | {c['as stated']} | {c['wrong']} | {c['missed']} |"
        )
    if desc["stated"]:
        lines += ["", "Read as the text states, not as IFEval's checker reads it:", ""]
        lines += [f"- {_cell(w['text'])} -> `{w['got']}`: {w['note']}" for w in desc["stated"]]
    if desc["missed"]:
        lines += ["", "Left to the model:", ""] + [f"- {_cell(t)}" for t in sorted(set(desc["missed"]))]
    if desc["wrong"]:
        lines += ["", "Wrong:", ""] + [f"- {_cell(w['text'])} -> `{w['got']}`" for w in desc["wrong"]]

    st: Counter[str] = Counter()
    for c in sent["per_kind"].values():
        st.update(c)
    sn = sum(st.values())
    extra = sent["extra"]
    judged_counts = Counter(item["judgement"] for item in extra.values())
    lines += [
        "",
        "### 3. The prompts' own sentences",
        "",
        f"Every sentence of the {n_prompts} prompts ({sent['sentences']} sentences, split by `checks.sentences`), "
        "and every two neighbouring sentences, through `checks.recognise`. An instruction is recovered when a "
        "sentence (or pair) gives its kind and every parameter.",
        "",
        f"Instructions recovered: **{st['recovered']} of {sn} ({pct(st['recovered'], sn)})**. Recognised sentences "
        f"that are none of their prompt's instructions: {len(extra)} "
        f"({', '.join(f'{v} {k}' for k, v in sorted(judged_counts.items()))}); "
        f"a sentence read as one of its prompt's instructions with a wrong parameter: **{len(sent['wrong'])}**.",
        "",
        "| instruction | n | recovered | recall |",
        "|---|---:|---:|---:|",
    ]
    for iid in sorted(sent["per_kind"]):
        c = sent["per_kind"][iid]
        k = sum(c.values())
        lines.append(f"| `{iid}` | {k} | {c['recovered']} | {pct(c['recovered'], k)} |")
    lines += [
        "",
        "Recognised sentences that are none of their prompt's instructions, judged:",
        "",
        "| key | sentence | read as | judgement | note |",
        "|---:|---|---|---|---|",
    ]
    for item in sorted(extra.values(), key=lambda it: (it["key"], it["text"])):
        kind, params = item["got"]
        lines.append(
            f"| {item['key']} | {_cell(item['text'])} | `{kind}` {_cell(json.dumps(params, default=repr))} | "
            f"{item['judgement']} | {_cell(item['note'])} |"
        )
    if sent["wrong"]:
        lines += ["", "Read with a wrong parameter:", ""]
        lines += [f"- {w['key']}: {_cell(w['text'])} -> `{w['got']}`" for w in sent["wrong"]]
    lines.append(END)
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", "\\n")


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, help="the folder holding IFEval's development half")
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/checks/RESULTS.md")
    args = parser.parse_args()
    rows = [json.loads(x) for x in (args.data / "gpt4_responses_verdicts.jsonl").read_text().splitlines() if x]
    judged = _load_json(JUDGED).get("sentences", {})
    notes = _load_json(JUDGED)
    text = report(
        agreement(rows), descriptions(rows, notes.get("descriptions", {})), sentences(rows, judged), len(rows)
    )
    print(text)
    if args.write:
        write_section(RESULTS, START, END, text)


if __name__ == "__main__":
    main()
