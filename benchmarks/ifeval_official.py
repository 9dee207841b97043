"""Grade IFEval responses with IFEval's official checkers, offline, in their own venv.

The checkers are google-research's ``instruction_following_eval`` code as lm-eval ships it
(``lm_eval/tasks/ifeval/``, from the ``lm-eval`` package on PyPI; installed without its
dependencies, and loaded by path so that nothing else of lm-eval is imported). Nothing of it is
in this repository. Offline, as FIELD-NOTES.md describes: ``nltk.download`` does nothing, and the
sentence splitting that needs NLTK's downloaded punkt model uses an untrained
``PunktSentenceTokenizer()`` instead (sentence counts, and the words ``capital_word_frequency``
counts); langdetect is seeded; and ``keywords:letter_frequency`` keeps any one character as its
letter, as google-research's own ``instructions.py`` does (lm-eval's copy replaces a letter outside
a-z, such as ``#``, by a random one). ``--validate`` first checks that this setup reproduces the official
``strict`` verdicts stored with GPT-4's responses (``gpt4_responses_verdicts.jsonl``).

    python3 -m venv .bench/ifeval-official-venv
    .bench/ifeval-official-venv/bin/pip install --no-deps lm-eval==0.4.13
    .bench/ifeval-official-venv/bin/pip install langdetect nltk immutabledict absl-py packaging
    .bench/ifeval-official-venv/bin/python benchmarks/ifeval_official.py --data ../shared/ifeval --validate \\
        benchmarks/ifeval/*/llama/*.responses.jsonl

Each ``X.responses.jsonl`` gets ``X.official.json`` beside it: prompt-level and instruction-level
strict accuracy over the prompts it answers (``benchmarks/ifeval.py --report`` shows them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import types
from pathlib import Path
from typing import Any


def checkers() -> Any:
    """lm-eval's copy of IFEval's ``utils`` module, importable offline (see the module docstring)."""
    import langdetect
    import nltk
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    langdetect.DetectorFactory.seed = 0
    nltk.download = lambda *a, **k: True  # type: ignore[assignment]
    sentences = PunktSentenceTokenizer()
    words = NLTKWordTokenizer()
    nltk.word_tokenize = lambda text, *a, **k: [t for s in sentences.tokenize(text) for t in words.tokenize(s)]  # type: ignore[assignment]
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lm-eval is not installed in this venv: see this script's docstring")
    root = Path(next(iter(spec.submodule_search_locations)))
    packages = {"lm_eval": root, "lm_eval.tasks": root / "tasks", "lm_eval.tasks.ifeval": root / "tasks" / "ifeval"}
    for name, path in packages.items():
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    from lm_eval.tasks.ifeval import instructions, instructions_util, utils

    instructions_util._get_sentence_tokenizer = lambda: sentences
    letters = instructions.LetterFrequencyChecker
    lm_eval_build = letters.build_description

    def build(self: Any, *, letter: str | None = None, **kwargs: Any) -> Any:
        if not isinstance(letter, str) or len(letter) != 1:
            return lm_eval_build(self, letter=letter, **kwargs)
        lm_eval_build(self, letter="a", **kwargs)  # then the letter as given, as google-research's own code keeps it
        self._letter = letter.strip().lower()
        return self._description_pattern.format(
            letter=self._letter, let_frequency=self._frequency, let_relation=self._comparison_relation
        )

    letters.build_description = build
    return utils


def grade(utils: Any, inputs: dict[str, dict[str, Any]], responses: list[dict[str, str]]) -> dict[str, Any]:
    """Strict verdicts of ``responses`` (``{"prompt", "response"}``) against their input lines."""
    per_prompt = []
    for r in responses:
        row = inputs[r["prompt"]]
        example = utils.InputExample(row["key"], row["instruction_id_list"], row["prompt"], row["kwargs"])
        out = utils.test_instruction_following_strict(example, r["response"])
        per_prompt.append(out.follow_instruction_list)
    n_instr = sum(len(f) for f in per_prompt)
    return {
        "prompts": len(per_prompt),
        "prompt": 100 * sum(all(f) for f in per_prompt) / len(per_prompt),
        "instruction": 100 * sum(sum(f) for f in per_prompt) / n_instr,
        "followed": per_prompt,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder of input_data.jsonl")
    parser.add_argument("--validate", action="store_true", help="reproduce the stored GPT-4 verdicts first")
    parser.add_argument("responses", nargs="*", type=Path)
    args = parser.parse_args()
    utils = checkers()
    inputs = {}
    for line in (args.data / "input_data.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        inputs[row["prompt"]] = row
    if args.validate:
        rows = [json.loads(x) for x in (args.data / "gpt4_responses_verdicts.jsonl").read_text().splitlines() if x]
        got = grade(utils, inputs, rows)
        same = sum(g == r["strict"] for g, r in zip(got["followed"], rows, strict=True))
        print(f"GPT-4's responses: {got['prompt']:.1f}% prompt / {got['instruction']:.1f}% instruction strict; "
              f"verdicts equal to the stored official ones on {same} of {len(rows)} prompts")  # fmt: skip
        if same != len(rows):
            raise SystemExit("this setup does not reproduce the official verdicts")
    for path in args.responses:
        responses = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        result = grade(utils, inputs, responses)
        result["responses_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()  # ifeval.py: graded these
        out = path.with_name(path.name.replace(".responses.jsonl", ".official.json"))
        out.write_text(json.dumps(result) + "\n", encoding="utf-8")
        print(f"{path}: {result['prompts']} prompts, {result['prompt']:.1f}% prompt / "
              f"{result['instruction']:.1f}% instruction strict")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
