"""Find, for each enforceable kind, 20 prompts the embedded model fails without enforcement; cache them.

For every kind in ``KINDS`` (one requirement, fixed parameters) and each candidate task, the embedded
default model (SmolLM2-135M-Instruct) answers the instruction with the requirement, greedily, within
``MAX_NEW_TOKENS`` tokens, without any constraint, the way the tests run it:

- in-process: the HF backend, one left-padded batch of chat prompts per kind (``generate_raw``); the 20
  kept are verified again as the one batch the test runs (padding changes a batch's numbers slightly);
- on llama-server: the remote backend, one chat request per prompt at temperature 0 (the server's Q4_1
  GGUF of the same model), 8 at a time.

A prompt is kept for a backend when that backend's answer fails the requirement's code check. The
answers and the checks' reasons are written to ``prompts.json`` (next to this file), which
``tests/integration/test_enforce_embedded.py`` and ``tests/openai_backend/test_enforce_llama_server.py``
read. Run it again after changing the model, the kinds or the prompts:

    OMP_NUM_THREADS=1 .venv/bin/python datasets/enforce_prompts/build.py [--only KIND ...] [--no-server]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "prompts.json"
MAX_NEW_TOKENS = 16
KEEP = 20

TOPICS = [
    "a river", "the moon", "your favourite food", "a busy city", "the ocean", "a forest", "winter",
    "a good teacher", "bread", "learning to swim", "a mountain trip", "coffee", "a rainy day", "cats",
    "the internet", "a birthday party", "football", "gardening", "the sun", "a library", "trains", "music",
    "a small village", "the desert", "friendship", "chess", "volcanoes", "a bakery", "space travel", "bees",
    "a lighthouse", "the first day of school", "tea", "dinosaurs", "a market", "bicycles", "a storm", "honey",
    "paper", "snow",
]  # fmt: skip

# kind: (params of checks.make, task template): the requirement is shown to the model as its description.
KINDS: dict[str, tuple[dict[str, Any], str]] = {
    "no_comma": ({}, "Write one sentence that lists three things you might see in {t}."),
    "all_lowercase": ({"english": False}, "Write two sentences about {t}."),
    "all_capitals": ({"english": False}, "Write a sentence about {t}."),
    "starts_with": ({"start_phrase": "Dear John"}, "Translate 'hello' about {t} into French."),
    "end_phrase": ({"end_phrase": "Is there anything else I can help with?"}, "Tell me one fact about {t}."),
    "quotation": ({}, "Describe {t} in one sentence."),
    "title": ({}, "Is {t} big?"),
    "json_format": ({}, "Describe {t} with a name and two facts."),
    "constrained_response": ({}, "Is {t} important to most people?"),
    "number_words": ({"num_words": 8, "relation": "less than"}, "Describe {t} in detail."),
    "number_sentences": ({"num_sentences": 1, "relation": "at most"}, "Give two reasons to visit {t}."),
    "postscript": ({"postscript_marker": "P.S."}, "Write a short letter to a friend about {t}."),
    "number_bullet_lists": ({"num_bullets": 3}, "Give some facts about {t}."),
    "forbidden_words": ({"forbidden_words": ["is", "are"]}, "Explain what {t} is."),
    "include_keywords": ({"keywords": ["purple"]}, "Describe {t}."),
    "number_paragraphs": ({"num_paragraphs": 2}, "Write about {t}."),
    "nth_paragraph_first_word": (
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"},
        "Write about {t}.",
    ),
    "number_placeholders": ({"num_placeholders": 2}, "Write an invitation to an event about {t}."),
    "number_highlighted_sections": ({"num_highlights": 2}, "Describe {t}."),
    "multiple_sections": ({"num_sections": 2}, "Write a short guide to {t}."),
    "letter_frequency": ({"letter": "e", "let_frequency": 5, "let_relation": "less than"}, "Describe {t}."),
    "repeat_prompt": ({}, "What is special about {t}?"),
    "word_range": ({"min_words": 1, "max_words": 8}, "Describe {t} in detail."),
    "ends_with_question": ({}, "Tell me one fact about {t}."),
    "contains_email": ({}, "Write a short note to a neighbour about {t}."),
}
"""Every enforceable kind whose grammar decides its whole check (two_responses leaves part to the check; of
word_range, the grammar enforces the 8 and the check its 1)."""


EXTRA_TASKS: dict[str, list[str]] = {
    "no_comma": ["List five colours you might see in {t}."],
    "number_sentences": ["Write three short sentences about {t}."],
}
"""More tasks for a kind, after its first ones, where a backend failed fewer than 20 of those."""


def requirement(kind: str, task: str) -> Any:
    """The requirement of ``kind`` for ``task`` (``repeat_prompt`` repeats the task itself)."""
    from gencomp import checks

    params = dict(KINDS[kind][0])
    if kind == "repeat_prompt":
        params["prompt_to_repeat"] = task
    return checks.make(kind, **params)


def tasks(kind: str) -> list[str]:
    return [template.format(t=t) for template in (KINDS[kind][1], *EXTRA_TASKS.get(kind, [])) for t in TOPICS]


def chat_prompts(backend: Any, kind: str, items: list[str]) -> list[str]:
    """The chat prompts the HF backend builds for the instructions (as ``Session.instruct`` sends them)."""
    from gencomp import Instruction, LinearContext

    options = backend.translate_options(None)
    out = []
    for task in items:
        request = backend.prepare(Instruction(task, requirements=[requirement(kind, task)]), LinearContext(), options)
        out.append(backend.prompts.chat_prompt(request.messages, request.tools, request.options.template))
    return out


def hf_answers(backend: Any, kind: str, items: list[str], constraint: Any = None) -> list[str]:
    """One left-padded batch of ``items`` on the HF backend (with ``constraint`` when given)."""
    from gencomp import CBlock, ModelOption

    options: dict[str, Any] = {ModelOption.MAX_NEW_TOKENS: MAX_NEW_TOKENS}
    if constraint is not None:
        options[ModelOption.CONSTRAINT] = constraint
    actions = [CBlock(p) for p in chat_prompts(backend, kind, items)]
    outs = asyncio.run(backend.agenerate_from_raw(actions, model_options=options))
    return [o.value or "" for o in outs]


async def server_answers(backend: Any, kind: str, items: list[str], *, enforce: bool = False) -> list[str]:
    """Each of ``items`` as one chat request to the server, 8 at a time."""
    from gencomp import Instruction, LinearContext, ModelOption
    from gencomp.constraints import constraint_of

    gate = asyncio.Semaphore(8)

    async def one(task: str) -> str:
        req = requirement(kind, task)
        options: dict[str, Any] = {ModelOption.MAX_NEW_TOKENS: MAX_NEW_TOKENS, ModelOption.TEMPERATURE: 0.0}
        if enforce:
            options[ModelOption.CONSTRAINT] = constraint_of(req)
        async with gate:
            out = await backend.agenerate_from_context(
                Instruction(task, requirements=[req]), LinearContext(), model_options=options
            )
        return out.value or ""

    return list(await asyncio.gather(*(one(t) for t in items)))


def failing(kind: str, items: list[str], answers: list[str]) -> list[dict[str, str]]:
    out = []
    for task, answer in zip(items, answers, strict=True):
        result = requirement(kind, task).validation_fn.check_text(answer)
        if not result.result:
            out.append({"task": task, "answer": answer, "reason": result.reason or ""})
    return out


def build_hf(kinds: list[str]) -> dict[str, list[dict[str, str]]]:
    from gencomp import start_session

    backend = start_session().backend
    found: dict[str, list[dict[str, str]]] = {}
    for kind in kinds:
        start = time.perf_counter()
        if kind == "repeat_prompt":  # a requirement per task: one constraint cannot serve a batch
            fails = []
            for task in tasks(kind):
                fails.extend(failing(kind, [task], hf_answers(backend, kind, [task])))
                if len(fails) == KEEP:
                    break
            found[kind] = fails
            print(f"hf {kind}: {len(fails)} failing ({time.perf_counter() - start:.0f} s)", flush=True)
            continue
        candidates = tasks(kind)
        kept = failing(kind, candidates, hf_answers(backend, kind, candidates))[:KEEP]
        for _ in range(4):  # the test runs the kept ones as one batch: they must fail as that batch too
            items = [k["task"] for k in kept]
            again = {f["task"]: f for f in failing(kind, items, hf_answers(backend, kind, items))}
            if len(again) == len(kept):
                kept = [again[t] for t in items]
                break
            kept = [again[t] for t in items if t in again]
        found[kind] = kept
        print(f"hf {kind}: {len(kept)} failing as one batch ({time.perf_counter() - start:.0f} s)", flush=True)
    return found


def build_server(kinds: list[str]) -> dict[str, list[dict[str, str]]]:
    from gencomp_hf_backend.default_model import gguf_path
    from gencomp_openai import OpenAIBackend
    from gencomp_openai.llama_cpp import LlamaServer

    found: dict[str, list[dict[str, str]]] = {}
    with LlamaServer(Path(gguf_path()), context=8192, parallel=8, extra_args=["--no-repack"]) as server:
        backend = OpenAIBackend(base_url=server.base_url)
        try:
            for kind in kinds:
                start = time.perf_counter()
                items = tasks(kind)
                answers = asyncio.run(server_answers(backend, kind, items))
                found[kind] = failing(kind, items, answers)[:KEEP]
                print(f"server {kind}: {len(found[kind])} failing ({time.perf_counter() - start:.0f} s)", flush=True)
        finally:
            backend.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="kinds to (re)build; default: all")
    parser.add_argument("--no-hf", action="store_true", help="keep the cached in-process prompts")
    parser.add_argument("--no-server", action="store_true", help="keep the cached llama-server prompts")
    args = parser.parse_args()
    kinds = args.only or list(KINDS)
    data = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {"kinds": {}}
    data.update(
        {
            "model": "SmolLM2-135M-Instruct (embedded; llama-server: its Q4_1 GGUF)",
            "max_new_tokens": MAX_NEW_TOKENS,
            "decoding": "greedy",
        }
    )
    hf = {} if args.no_hf else build_hf(kinds)
    server = {} if args.no_server else build_server(kinds)
    for kind in kinds:
        entry = data["kinds"].setdefault(kind, {})
        entry["params"] = KINDS[kind][0]
        entry["task"] = KINDS[kind][1]
        if kind in hf:
            entry["hf"] = hf[kind]
        if kind in server:
            entry["server"] = server[kind]
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    short = {
        k: (len(v.get("hf", [])), len(v.get("server", [])))
        for k, v in data["kinds"].items()
        if len(v.get("hf", [])) < KEEP or len(v.get("server", [])) < KEEP
    }
    print(f"wrote {OUT}" + (f"; fewer than {KEEP} (hf, server): {short}" if short else ""))


if __name__ == "__main__":
    main()
