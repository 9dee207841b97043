"""The dataset generator: model responses, programmatic edits, computed labels, balanced splits.

Two stages:

1. :func:`generate_responses` asks a model (the embedded default model by default) to answer
   varied instructions (batched greedy generation) and writes ``responses.jsonl``.
2. :func:`build_examples` makes edited variants of every response (capitals, lowercase, bullets,
   numbering, JSON wrapping, broken JSON, truncation, words inserted/removed, numbers added/removed,
   a question appended, ...), pairs them with requirements of every family (:mod:`.families`), and
   labels each pair by running the family's checker. Labels are balanced per family and split.
   Responses are split by instruction (train/val/test: no response text crosses splits); the
   held-out families appear only in ``heldout.jsonl``, built from test instructions.

Each output line is ``{"instruction", "response", "requirement", "label", "family", "edit"}``.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gencomp_alora.training.data import DataError
from gencomp_alora.training.families import FAMILIES, HELD_OUT_FAMILIES, TRAINED_FAMILIES, sentences, words

__all__ = ["build_examples", "edit_response", "generate_responses", "instructions", "split_sizes", "write_dataset"]

TOPICS = [
    "the sun", "the ocean", "coffee", "Paris", "the Python language", "volcanoes", "honey bees", "the moon",
    "bicycles", "chess", "rainforests", "the piano", "electric cars", "the Roman Empire", "vaccines", "tea",
    "mountains", "the internet", "dolphins", "gardening", "recycling", "the human heart", "photosynthesis",
    "airplanes", "soccer", "chocolate", "deserts", "libraries", "earthquakes", "the violin", "penguins",
    "solar panels", "bread", "the Eiffel Tower", "rivers", "sleep", "cats", "trains", "snow", "music",
]  # fmt: skip

TASKS = [
    "Explain {t} in one sentence.",
    "Write a short paragraph about {t}.",
    "List three facts about {t}.",
    "Give a numbered list of tips about {t}.",
    "Write a bulleted list of reasons to learn about {t}.",
    "Describe {t} as a JSON object with keys name and description.",
    "What is the most interesting thing about {t}?",
    "How many interesting facts do you know about {t}? Give numbers.",
    "Write a haiku about {t}.",
    "Tell a very short story about {t}.",
    "Why is {t} important?",
    "Summarize what people should know about {t} in two sentences.",
]

_STOP = set(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "they",
        "them",
        "their",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "not",
        "no",
        "yes",
        "can",
        "will",
        "would",
        "should",
        "could",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "so",
        "such",
        "than",
        "then",
        "also",
        "into",
        "about",
        "over",
        "more",
        "most",
        "very",
        "just",
        "only",
        "other",
        "some",
        "any",
        "each",
        "your",
        "you",
        "our",
        "we",
        "us",
        "he",
        "she",
        "his",
        "her",
        "i",
        "my",
        "me",
        "one",
        "two",
        "three",
    ]
)

INSERT_WORDS = [
    "banana", "quickly", "purple", "ancient", "river", "music", "energy", "people", "water", "history",
    "science", "beautiful", "important", "garden", "future", "simple", "planet", "friend", "light", "city",
]  # fmt: skip


def instructions(n: int | None = None, seed: int = 0) -> list[str]:
    """The instruction pool (topics x tasks), shuffled with ``seed``; the first ``n`` when given."""
    pool = [task.format(t=topic) for topic in TOPICS for task in TASKS]
    random.Random(seed).shuffle(pool)
    return pool[:n] if n is not None else pool


def generate_responses(
    model_path: str,
    prompts: Sequence[str],
    out_path: str | Path,
    *,
    max_new_tokens: int = 40,
    batch_size: int = 16,
    threads: int | None = None,
    progress: bool = True,
) -> list[dict[str, str]]:
    """Answer each prompt with the model in ``model_path`` (greedy, batched); write and return the pairs.

    Lines already in ``out_path`` are kept and their prompts skipped, so an interrupted run resumes.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    out = Path(out_path)
    done: list[dict[str, str]] = []
    if out.is_file():
        done = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    seen = {d["instruction"] for d in done}
    todo = [p for p in prompts if p not in seen]
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path)
    model.eval()
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    bar = _progress(batches, "responses", progress)
    with out.open("a", encoding="utf-8") as f:
        for batch in bar:
            texts = [
                tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                for p in batch
            ]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                ids = model.generate(  # type: ignore[misc]  # transformers types generate's self too narrowly
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
                )
            for prompt, row in zip(batch, ids, strict=True):
                text = str(tok.decode(row[enc["input_ids"].shape[1] :], skip_special_tokens=True)).strip()
                item = {"instruction": prompt, "response": _trim_partial(text)}
                done.append(item)
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
            f.flush()
    return done


def _progress(items: Sequence[Any], desc: str, enabled: bool) -> Iterable[Any]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return items
    return tqdm(items, desc=desc)


def _trim_partial(text: str) -> str:
    """Cut a response cut off by the token limit back to its last complete sentence or line, if any."""
    if not text or text[-1] in ".!?}]\n" or "\n" in text.strip():
        return text.strip()
    cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: cut + 1].strip() if cut > 20 else text.strip()


_QUESTIONS = ["Would you like to know more?", "What do you think?", "Is there anything else?", "Shall I go on?"]
_INTROS = ["Here are some points:", "Here is a list:", "Key points:", "Sure, here you go:"]
_STARTERS = ["The", "Sure", "Yes", "In", "It", "Here", "This", "A", "Certainly", "Well"]
_NUMBER_PHRASES = ["There are 3 main ideas.", "It is about 100 years old.", "Fact 2 is less known.", "In 1990 it grew."]


def _items(text: str) -> list[str]:
    """The items of a response: its list lines without markers, else its sentences, else its clauses."""
    lines = [re.sub(r"^\s*(?:[-*•+]|\d+[.)])\s+", "", ln).strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if words(ln) and not ln.endswith(":")]
    if len(lines) >= 2:
        return lines
    parts = sentences(text)
    if len(parts) >= 2:
        return [p.strip() for p in parts]
    return [p.strip() for p in re.split(r",\s+", text) if words(p)]


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) >= 4 and w.isalpha() and w.lower() not in _STOP]


def edit_response(response: str, rng: random.Random) -> tuple[str, str, dict[str, str]]:
    """One edited variant of ``response``: ``(text, edit name, facts)``; facts name inserted/removed words."""
    facts: dict[str, str] = {}
    items = _items(response)
    structure = rng.choice(
        ["orig", "orig", "bullets", "bullets", "numbered", "numbered", "intro_bullets", "intro_numbered", "json_object",
         "json_object", "json_list", "broken_json", "first_sentence", "first_words", "paragraph", "question"]
    )  # fmt: skip
    text = response
    if structure in {"bullets", "intro_bullets"} and len(items) >= 2:
        marker = rng.choice(["-", "*", "•"])
        text = "\n".join(f"{marker} {it}" for it in items)
        text = f"{rng.choice(_INTROS)}\n{text}" if structure == "intro_bullets" else text
    elif structure in {"numbered", "intro_numbered"} and len(items) >= 2:
        sep = rng.choice([".", ")"])
        text = "\n".join(f"{i}{sep} {it}" for i, it in enumerate(items, 1))
        text = f"{rng.choice(_INTROS)}\n{text}" if structure == "intro_numbered" else text
    elif structure == "json_object":
        text = json.dumps({rng.choice(["answer", "text", "response"]): " ".join(items)}, indent=rng.choice([None, 2]))
    elif structure == "json_list":
        text = json.dumps(items, indent=rng.choice([None, 2]))
    elif structure == "broken_json":
        body = json.dumps({"answer": " ".join(items)})
        text = rng.choice([body[: -rng.randint(1, 3)], body.replace('"', "", 2), "answer: " + body, body + " Done."])
    elif structure == "first_sentence":
        text = items[0].rstrip(".!?") + "."
    elif structure == "first_words":
        text = " ".join(response.split()[: rng.randint(2, 12)])
    elif structure == "paragraph":
        text = " ".join(it if it[-1] in ".!?" else it + "." for it in items)
    elif structure == "question":
        text = response.rstrip() + " " + rng.choice(_QUESTIONS)
    else:
        structure = "orig"
    edit = [structure]
    before_word_edit = text
    word_edit = rng.choice(["none", "none", "insert", "prefix", "remove", "add_number", "strip_digits"])
    if word_edit == "insert":
        w = rng.choice(INSERT_WORDS)
        tokens = text.split(" ")
        tokens.insert(rng.randint(1, max(1, len(tokens))), w)
        text = " ".join(tokens)
        facts["inserted"] = w
    elif word_edit == "prefix":
        w = rng.choice(_STARTERS + INSERT_WORDS).capitalize()
        text = f"{w}, {text[:1].lower()}{text[1:]}" if not text.lstrip().startswith(("{", "[")) else text
        facts["prefix"] = w
    elif word_edit == "remove":
        cands = _content_words(text)
        if cands:
            w = rng.choice(cands)
            text = re.sub(rf"\s*(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])", "", text, flags=re.IGNORECASE).strip()
            facts["removed"] = w
    elif word_edit == "add_number":
        text = text.rstrip() + " " + rng.choice(_NUMBER_PHRASES) if "\n" not in text else text
    elif word_edit == "strip_digits":
        text = re.sub(r"\s*\d+(?:[.,]\d+)*", "", text)
    if text != before_word_edit:
        edit.append(word_edit)
    case = rng.choices(["orig", "upper", "lower"], weights=[0.55, 0.3, 0.15])[0]
    if case == "upper":
        text = text.upper()
    elif case == "lower":
        text = text.lower()
    if case != "orig":
        edit.append(case)
    return text.strip() or response, "+".join(edit), facts


def _word_params(family: str, text: str, facts: dict[str, str], pool: Sequence[str], rng: random.Random) -> list[Any]:
    present = _content_words(text)
    absent = [w for w in ([facts["removed"]] if "removed" in facts else []) + rng.sample(list(pool), 6)]
    absent = [w for w in absent if not re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]
    if family == "starts_with_word":
        first = words(text)[:1]
        others = [w for w in words(text)[1:6] if w.isalpha()] + rng.sample(_STARTERS, 3)
        return [*first[:1], rng.choice(others)] if others else first
    out: list[Any] = []
    if "inserted" in facts:
        out.append(facts["inserted"])
    elif present:
        out.append(rng.choice(present))
    if absent:
        out.append(absent[0])
    return [w.lower() if rng.random() < 0.5 else w for w in out]


def _number_params(text: str, rng: random.Random) -> list[int]:
    n = len(words(text))
    choices = [3, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60]
    below = [c for c in choices if c <= n]  # "shorter than c" false, "at least c" true
    above = [c for c in choices if c > n]
    return [rng.choice(side) for side in (below, above) if side]


def _list_requirements(examples: list[dict[str, Any]], rng: random.Random, share: float = 0.35) -> None:
    """In a ``share`` of the conversations, show some of their checked requirements in the instruction.

    That is how the default template renders an instruction with requirements; every check on that
    conversation sees the same instruction, so checks of one conversation still share its tokens.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        groups[(ex["instruction"], ex["response"])].append(ex)
    for (instruction, _), members in sorted(groups.items()):
        if rng.random() >= share:
            continue
        reqs = sorted({m["requirement"] for m in members})
        shown = rng.sample(reqs, min(len(reqs), rng.randint(1, 3)))
        listed = "\n".join(f"- {r}" for r in shown)
        for m in members:
            m["instruction"] = f"{instruction}\n\nYour answer must meet all of these requirements:\n{listed}"


def build_examples(
    responses: Sequence[dict[str, str]],
    families: Sequence[str],
    per_label: int,
    rng: random.Random,
    *,
    variants: int = 5,
) -> list[dict[str, Any]]:
    """Labelled examples from ``variants`` edited copies of each response, ``per_label`` true and false per family."""
    convs: list[tuple[str, str, str, dict[str, str]]] = []
    for item in responses:
        seen: set[str] = set()
        for _ in range(variants):
            text, edit, facts = edit_response(item["response"], rng)
            if text not in seen:
                seen.add(text)
                convs.append((item["instruction"], text, edit, facts))
    pool = sorted({w.lower() for item in responses for w in _content_words(item["response"])} | set(INSERT_WORDS))
    examples: list[dict[str, Any]] = []
    for name in families:
        family = FAMILIES[name]
        by_label: dict[bool, list[dict[str, Any]]] = defaultdict(list)
        for instruction, text, edit, facts in convs:
            if family.param == "word":
                params: list[Any] = _word_params(name, text, facts, pool, rng)
            elif family.param == "number":
                params = _number_params(text, rng)
            else:
                params = [None]
            for value in params:
                label = family.label(text, value)
                requirement = family.requirement(value, rng)
                by_label[label].append(
                    {
                        "instruction": instruction,
                        "response": text,
                        "requirement": requirement,
                        "label": label,
                        "family": name,
                        "edit": edit,
                    }
                )
        k = min(per_label, len(by_label[True]), len(by_label[False]))
        for label in (True, False):
            examples.extend(rng.sample(by_label[label], k))
    _list_requirements(examples, rng)
    rng.shuffle(examples)
    return examples


def split_sizes(n: int, per_label: Sequence[int], heldout_per_label: int = 30) -> tuple[int, int, int]:
    """How many of ``n`` instructions (and their responses) go to train, val and test (70/10/20).

    A split that is asked for (``per_label`` above 0; test also for the held-out families, which
    are built on test instructions) gets at least one response, taken from the largest other split;
    fewer instructions than the splits asked for raise :class:`DataError`.
    """
    wanted = [per_label[0] > 0, per_label[1] > 0, per_label[2] > 0 or heldout_per_label > 0]
    names = [name for name, w in zip(("train", "val", "test"), wanted, strict=True) if w]
    if n < len(names):
        raise DataError(
            f"responses to {n} instruction(s) cannot be split by instruction into {', '.join(names)}: each split "
            f"needs instructions of its own, so at least {len(names)} are needed. Give more (--instructions, or a "
            "--responses file with more instructions), or set a split's --per-label to 0."
        )
    shares = (0.7, 0.1, 0.2)
    sizes = [int(n * shares[0]), int(n * shares[1])]
    sizes.append(n - sum(sizes))
    for i in range(3):
        if wanted[i] and not sizes[i]:  # from the split furthest above its share that can spare one
            donors = [j for j in range(3) if sizes[j] > wanted[j]]
            donor = max(donors, key=lambda j: sizes[j] - n * shares[j])
            sizes[donor] -= 1
            sizes[i] += 1
    return sizes[0], sizes[1], sizes[2]


def write_dataset(
    responses: Sequence[dict[str, str]],
    out_dir: str | Path,
    *,
    seed: int = 0,
    per_label: tuple[int, int, int] = (70, 10, 30),
    heldout_per_label: int = 30,
    variants: int = 4,
    train_variants: int | None = None,
) -> dict[str, int]:
    """Split ``responses`` by instruction 70/10/20 and write ``train/val/test/heldout.jsonl``; returns line counts.

    ``per_label`` is the number of true (and of false) examples per trained family in train, val, test;
    ``heldout.jsonl`` holds the held-out families on test instructions. Each split draws from its
    own seeded generator, so changing the training split's size (``per_label[0]``,
    ``train_variants`` edited variants per response) leaves the other files unchanged. Too few
    responses for the splits asked for (:func:`split_sizes`), or a split asked for that gets no
    example, raise :class:`DataError` before any file is written.
    """
    rng = random.Random(seed)
    by_instruction: dict[str, list[dict[str, str]]] = defaultdict(list)
    for item in responses:  # several responses to one instruction stay in one split
        by_instruction[item["instruction"]].append(item)
    order = sorted(by_instruction)
    rng.shuffle(order)
    n_train, n_val, _ = split_sizes(len(order), per_label, heldout_per_label)
    train, val, test = (
        [r for name in names for r in by_instruction[name]]
        for names in (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    )
    splits = {
        "train": (train, TRAINED_FAMILIES, per_label[0]),
        "val": (val, TRAINED_FAMILIES, per_label[1]),
        "test": (test, TRAINED_FAMILIES, per_label[2]),
        "heldout": (test, HELD_OUT_FAMILIES, heldout_per_label),
    }
    built: dict[str, list[dict[str, Any]]] = {}
    for split, (part, fams, k) in splits.items():
        n_variants = train_variants if split == "train" and train_variants else variants
        built[split] = build_examples(part, fams, k, random.Random(f"{seed}-{split}"), variants=n_variants)
        if k and not built[split]:
            raise DataError(
                f"the {split} split got no example from its {len(part)} response(s): no requirement family had "
                "both a passing and a failing variant of them. Give more responses (--instructions, or a longer "
                "--responses file); nothing was written."
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, examples in built.items():
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    return {split: len(examples) for split, examples in built.items()}
