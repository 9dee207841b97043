"""Test utilities: build a tiny, real, randomly initialised chat model on disk, with no download.

``build_tiny_model(path)`` trains a byte-level BPE tokenizer with the ``tokenizers`` library on a
built-in corpus, gives it ChatML special tokens and a SmolLM2-style chat template (which also
renders ``tools``), builds a small ``LlamaForCausalLM`` with seeded random weights, and saves both
with ``save_pretrained``. The folder loads back with ``AutoTokenizer`` / ``AutoModelForCausalLM``.
It takes well under a second; use it from a session-scoped fixture.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_model"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
"""The tokenizer's special tokens: eos of raw text, ChatML turn markers, padding."""

CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{ '<|im_start|>system\\n' }}"
    "{%- if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}"
    "{%- else %}{{ 'You are a helpful AI assistant.' }}{%- endif %}"
    "{{ '\\n\\nYou can call these tools. To call one, reply with "
    '{"name": <tool name>, "arguments": <arguments>}:\\n\' }}'
    "{%- for tool in tools %}{{ tool | tojson }}{{ '\\n' }}{%- endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{%- elif not messages or messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (tools and loop.first and message['role'] == 'system') %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""A ChatML chat template like SmolLM2's (default system prompt; generation prompt), that also lists tools."""

_CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is Madrid.",
    "You are a helpful AI assistant. Answer the question in one sentence.",
    "What is the capital of France? Paris is the capital and largest city of France.",
    "Write a function that returns the square of a number: def square(x): return x * x",
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with one step.",
    'Reply in JSON: {"name": "Alice", "age": 30, "ok": true, "items": [1, 2, 3], "score": 0.5}',
    "Requirements: the answer mentions Paris. The answer is a single sentence. Yes or no? Y N",
    "system user assistant tool tools function arguments name description parameters type object",
    "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000; punctuation , . ; : ! ? ( ) [ ] { } < > = + - * / _ \" '",
    "Hello, how are you today? I am fine, thank you. Tell me a short story about a cat and a dog.",
    "Summarize the text. Translate to French: bonjour, merci, oui, non. Explain step by step.",
    "Please rewrite the sentence so that it is shorter and clearer, and keep its meaning.",
]


def _train_tokenizer(vocab_size: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok


def build_tiny_model(
    path: str | os.PathLike[str],
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
    chat_template: bool = True,
) -> str:
    """Save a tiny random Llama chat model and its tokenizer into ``path``; returns ``path`` as a string.

    The tokenizer is byte-level BPE (any text round-trips) with ``<|im_start|>``/``<|im_end|>``
    (eos), ``<|endoftext|>`` and ``<|pad|>`` (pad). ``chat_template=False`` saves no chat template.
    The weights depend only on ``seed`` (the global torch RNG is left untouched).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if hidden_size % 16:
        raise ValueError(f"hidden_size must be a multiple of 16 (4 heads of even size), got {hidden_size}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(vocab_size),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|pad|>",
        padding_side="left",
        model_max_length=2048,
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    return str(out)
