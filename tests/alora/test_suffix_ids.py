"""The ids that extend a cached conversation with a check: equal to tokenizing the whole check prompt, found
without tokenizing the conversation again when the chat template ends the output's turn with a special token."""

from __future__ import annotations

from typing import Any

import pytest

from gencomp_alora.prompt import check_prompt_ids, check_suffix_ids, text_ids

GP = "<|im_start|>check\n"
REQ = "Mentions Paris."


def _conversation(n_words: int) -> list[dict[str, str]]:
    document = " ".join(f"river{i % 7} stone bridge" for i in range(n_words))
    return [
        {"role": "user", "content": f"Summarize: {document}"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ]


def _tail_of_whole(tokenizer: Any, conv: list[dict[str, str]]) -> list[int]:
    """What follows the conversation's ids in the whole check prompt, tokenized in one piece."""
    head = tokenizer.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True) + conv[-1]["content"]
    return check_prompt_ids(tokenizer, conv, REQ, GP)[len(text_ids(tokenizer, head)) :]


@pytest.fixture
def tokenized(tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the tokenizer is asked to tokenize (recorded, then tokenized as usual)."""
    texts: list[str] = []
    original = type(tokenizer).__call__

    def record(self: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
        texts.append(text)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", record)
    return texts


def test_the_suffix_of_a_long_conversation_is_found_without_tokenizing_the_conversation(tokenizer, tokenized):
    conv = _conversation(400)
    expected = _tail_of_whole(tokenizer, conv)
    tokenized.clear()
    assert check_suffix_ids(tokenizer, conv, REQ, GP) == expected
    assert max(len(t) for t in tokenized) < 100 < len(conv[0]["content"])


def test_without_a_special_token_after_the_output_the_whole_prompt_is_tokenized_and_the_suffix_is_exact(
    tokenizer, tokenized, monkeypatch
):
    # a template whose turns end with plain text: nothing tells where the tokenizer splits, so it must check
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
    template += "{% if add_generation_prompt %}assistant: {% endif %}"
    monkeypatch.setattr(tokenizer, "chat_template", template)
    conv = _conversation(50)
    expected = _tail_of_whole(tokenizer, conv)
    tokenized.clear()
    assert check_suffix_ids(tokenizer, conv, REQ, GP) == expected
    assert max(len(t) for t in tokenized) > len(conv[0]["content"])
