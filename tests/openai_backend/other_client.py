"""Another client of a llama-server, run as its own process by test_shared_server.py.

    python other_client.py BASE_URL gencomp|generate|raw

Until it is killed, it does what an application does: ``gencomp`` runs ``instruct`` with two requirements
on its own ``OpenAIBackend`` (a generation, then two aLoRA checks); ``generate`` is a client that does not
use gencomp and only generates, naming the adapter at scale 0; ``raw`` also sends an aLoRA check after
each generation, as one ``/completion`` request (the conversation computed in the same request as the
check: what gencomp's deployment rule excludes). It prints ``ready`` after its first round.
"""

from __future__ import annotations

import sys

import httpx2

from gencomp import ModelOption, Session
from gencomp_openai import OpenAIBackend


def with_gencomp(base_url: str) -> None:
    backend = OpenAIBackend(base_url=base_url, model_options={"temperature": 0.0, ModelOption.SEED: 0})
    i = 0
    while True:
        Session(backend).instruct(
            f"Write one sentence about river number {i}.",
            requirements=["The answer mentions a river.", "The answer is polite."],
            loop_budget=1,
            model_options={ModelOption.MAX_NEW_TOKENS: 24},
        )
        if i == 0:
            print("ready", flush=True)
        i += 1


def raw(base_url: str, check: bool = True) -> None:
    client = httpx2.Client(base_url=base_url.removesuffix("/v1"), timeout=600)
    i = 0
    while True:
        question = [{"role": "user", "content": f"Question {i}: name a river and a city."}]
        generated = client.post(
            "/v1/chat/completions",
            json={"messages": question, "max_tokens": 24, "temperature": 0, "lora": [{"id": 0, "scale": 0.0}]},
        ).json()
        answer = generated["choices"][0]["message"]["content"]
        if not check:
            if i == 0:
                print("ready", flush=True)
            i += 1
            continue
        conv = [*question, {"role": "assistant", "content": answer}, {"role": "user", "content": "It is polite."}]
        prompt = client.post("/apply-template", json={"messages": conv, "add_generation_prompt": False}).json()
        client.post(
            "/completion",
            json={
                "prompt": prompt["prompt"] + "<|im_start|>check\n",
                "n_predict": 1,
                "n_probs": 10,
                "cache_prompt": True,
                "lora": [{"id": 0, "scale": 1.0}],
            },
        )
        if i == 0:
            print("ready", flush=True)
        i += 1


if __name__ == "__main__":
    if sys.argv[2] == "gencomp":
        with_gencomp(sys.argv[1])
    else:
        raw(sys.argv[1], check=sys.argv[2] == "raw")
