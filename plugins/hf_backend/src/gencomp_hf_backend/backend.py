"""``LocalHFBackend``: runs gencomp components on a Hugging Face transformers model, locally."""

from __future__ import annotations

import contextlib
import inspect
import threading
import typing
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from gencomp import (
    Formatter,
    FormatterBackend,
    GencompError,
    Generation,
    GenerationOptions,
    GenerationRequest,
    ModelOutputThunk,
    RawRequest,
    default_formatter,
    translate_options,
)
from gencomp.cache import Cache
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.selection import resolve_model_id
from gencomp_hf_backend import attention as gqa_attention
from gencomp_hf_backend.compat import output_cache, with_cache
from gencomp_hf_backend.guards import check_fits, check_no_special_tokens, context_window, special_token_texts
from gencomp_hf_backend.kv import KVCacheEntry, clone_cache, common_prefix_length
from gencomp_hf_backend.options import HF_OPTION_MAP, RESERVED_HINTS, generate_keys, template_variables
from gencomp_hf_backend.sources import check_model_source
from gencomp_hf_backend.streaming import generate_kwargs
from gencomp_hf_backend.threads import apply_threads, resolve_threads

if typing.TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "FORMAT_SLACK_TOKENS", "LocalHFBackend", "TransformersTorchConfig", "best_device"]

DEFAULT_MAX_NEW_TOKENS = 256
JUDGE_WORDS = (("Yes", "yes", "YES"), ("No", "no", "NO"))
"""The first answer tokens compared when the model judges a requirement (yes words, no words)."""
"""``max_new_tokens`` when neither the options nor the model's generation config set a limit."""

_MEMO_SIZE = 128
"""At most this many compiled grammars and tool schemas are kept per backend."""

FORMAT_SLACK_TOKENS = 64
"""With ``format=``, how many tokens past ``max_new_tokens`` may be spent closing the JSON so that it parses."""


class TransformersTorchConfig(NamedTuple):
    """An already loaded tokenizer and model, and the device to run them on (overrides loading from the id).

    A tuple: the seed's ``(tokenizer, model, device)`` form is accepted wherever this is.
    """

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    device: torch.device | str

    @classmethod
    def of(cls, config: TransformersTorchConfig | tuple[Any, ...]) -> TransformersTorchConfig:
        """``config`` as a ``TransformersTorchConfig``; raises ``TypeError`` for anything but a 3-tuple."""
        if isinstance(config, cls):
            return config
        if not isinstance(config, tuple) or len(config) != 3:
            raise TypeError(
                f"custom_config must be a TransformersTorchConfig or a (tokenizer, model, device) tuple, "
                f"got {type(config).__name__}"
            )
        return cls(*config)


def best_device() -> torch.device:
    """The best available device: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _load(path: str, device: torch.device, attn_implementation: str | None = None) -> tuple[Any, Any]:
    """The tokenizer and model of ``path`` on ``device``, in eval mode.

    ``attn_implementation`` goes to ``from_pretrained``; when it is ``None`` and the model resolves
    to ``"sdpa"``, the model uses :data:`~gencomp_hf_backend.attention.ATTN_IMPLEMENTATION` instead.
    """
    from transformers.utils import logging as hf_logging

    gqa = gqa_attention.register()  # before from_pretrained: the caller may name it
    dtype: Any = torch.float32 if device.type == "cpu" else "auto"
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-load "Loading weights" bar is noise in a CLI
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attn_implementation)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if attn_implementation is None and model.config._attn_implementation == "sdpa":
        model.set_attn_implementation(gqa)
    return tokenizer, model.to(device).eval()  # type: ignore[arg-type]


def _tool_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema a chat template lists for a tool: from its docstring, else from its signature."""
    from transformers.utils import get_json_schema

    try:
        return get_json_schema(func)
    except Exception:  # no Google-style docstring or untyped arguments: describe the signature
        props = {
            name: {"type": "string"}
            for name, p in inspect.signature(func).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        return {
            "type": "function",
            "function": {
                "name": func.__name__,
                "description": inspect.getdoc(func) or "",
                "parameters": {"type": "object", "properties": props, "required": list(props)},
            },
        }


class LocalHFBackend(FormatterBackend):
    """Runs an HF transformers causal LM locally, with a :class:`~gencomp.Formatter` turning components into prompts.

    ``model_id`` (a hub id, a local folder or a registered model name such as
    ``"smollm2-135m-instruct"``) is loaded with the Auto classes on :func:`best_device`, unless
    ``custom_config`` gives the tokenizer, model and device. ``formatter`` (a formatter or the name
    of a registered one) defaults to :func:`gencomp.default_formatter`. With ``use_caches`` every
    chat or text generation stores a :class:`KVCacheEntry` in ``cache`` (default: the
    ``gencomp_make_cache`` hook, ``LRUCache(3)``)
    under a fresh key put in ``thunk.meta["hf_cache_key"]``; a later prompt that extends a stored
    one reuses its KV cache. ``model_options`` are the defaults merged under each call's options.
    Other keyword arguments are options for plugins that extend the backend (``plugin_options``).

    ``attn_implementation`` (``"sdpa"``, ``"eager"``...) selects the model's attention. By default a
    loaded model that would use ``"sdpa"`` uses :data:`gencomp_hf_backend.attention.ATTN_IMPLEMENTATION`
    (the same attention without copying grouped key/value heads); a ``custom_config`` model keeps its
    own unless this is given.

    ``threads`` sets torch's intra-op CPU threads for the process (``torch.set_num_threads``) before
    loading: default ``$GENCOMP_THREADS``, else :data:`gencomp_hf_backend.threads.DEFAULT_THREADS`;
    ``0`` leaves torch's setting alone. A model folder without a model or tokenizer, or a hub id that
    cannot be fetched offline, is refused before anything loads; a prompt that does not fit the
    context window with its answer budget, and special-token text in a message, before generating.

    The surface other plugins use: ``model`` (the base transformers model), ``tokenizer``,
    ``device``, ``lock`` (an ``RLock`` held around every use of the model and the caches),
    :meth:`cache_entry`, :meth:`base_only` / :meth:`add_base_model_guard`, and the core's
    :meth:`~gencomp.Backend.chat_messages` and :meth:`~gencomp.Backend.translate_options`.
    """

    option_map = HF_OPTION_MAP

    def __init__(
        self,
        model_id: str | ModelIdentifier,
        formatter: Formatter | str | None = None,
        use_caches: bool = True,
        cache: Cache | None = None,
        custom_config: TransformersTorchConfig | tuple[Any, Any, Any] | None = None,
        *,
        model_options: dict[str, Any] | None = None,
        attn_implementation: str | None = None,
        threads: int | None = None,
        **plugin_options: Any,
    ) -> None:
        apply_threads(resolve_threads(threads))
        self.device: torch.device
        if custom_config is None:
            self.device = best_device()
            path = resolve_model_id(model_id_string(model_id))
            check_model_source(path)
            self.tokenizer, self.model = _load(path, self.device, attn_implementation)
        else:
            config = TransformersTorchConfig.of(custom_config)
            self.device = torch.device(config.device)
            self.tokenizer = config.tokenizer
            self.model = config.model.to(self.device).eval()  # type: ignore[arg-type]
            if attn_implementation is not None:
                gqa_attention.register()
                self.model.set_attn_implementation(attn_implementation)
        self.lock = threading.RLock()
        self.generate_keys = generate_keys()
        self._index: dict[str, weakref.ref[KVCacheEntry]] = {}
        self._guards: list[Callable[[], contextlib.AbstractContextManager[Any]]] = []
        self._judge_tokens: tuple[list[int], list[int]] | None = None
        self._specials: frozenset[str] | None = None
        self._ll_tok: Any = None
        self._closing: Any = None
        self._grammars: dict[type, str] = {}
        self._tool_schemas: dict[Callable[..., Any], dict[str, Any]] = {}
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        pad = self.tokenizer.pad_token_id
        self._pad_id: int = pad if pad is not None else (min(self._eos_ids) if self._eos_ids else 0)
        super().__init__(
            model_id,
            formatter if formatter is not None else default_formatter(model_id),
            model_options,
            use_caches=use_caches,
            cache=cache,
            plugin_options=plugin_options,
        )

    # -- caches ---------------------------------------------------------------------------------

    def cache_get(self, id: str) -> KVCacheEntry | None:
        """Retrieve from cache (``None`` when caching is off or the entry is gone)."""
        info = super().cache_get(id)
        return info if info is None or info.kv_cache is not None else None

    def cache_put(self, id: str, v: KVCacheEntry) -> None:
        """Put into cache (nothing happens when caching is off).

        The entry also becomes a candidate for prefix reuse, so its ``kv_cache`` must hold base-model
        keys and values for ``merged_token_ids``. A 1-D ``merged_token_ids`` (or attention) is
        reshaped to ``(1, n)``; an entry that cannot be used raises ``TypeError``/``ValueError``.
        """
        if self.cache is None:
            return
        _check_entry(v)
        with self.lock:
            self._index[id] = weakref.ref(v)
            self.cache.put(id, v)

    def cache_entry(self, output: ModelOutputThunk) -> KVCacheEntry | None:
        """The cache entry stored with ``output`` (its exact ids and base-model KV cache), or ``None``."""
        key = output.meta.get("hf_cache_key") if output.meta else None
        return self.cache_get(key) if key is not None else None

    def on_cache_evict(self, key: str, value: Any) -> None:
        """Drop an evicted entry's KV tensors so their memory is freed."""
        ref = self._index.get(key)
        if ref is not None and ref() in (value, None):  # not a newer entry put under the same key
            self._index.pop(key, None)
        if isinstance(value, KVCacheEntry):
            value.kv_cache = None

    def cached_keys(self) -> list[str]:
        """The keys of the entries that are candidates for prefix reuse."""
        return list(self._index)

    def _best_prefix(self, ids: torch.Tensor) -> tuple[KVCacheEntry | None, int]:
        """The cached entry sharing the longest reusable prefix with ``ids`` (1-D), and that length."""
        best: KVCacheEntry | None = None
        best_key, best_len = None, 0
        limit = ids.shape[0] - 1  # at least one token must be fed to the model
        for key, ref in list(self._index.items()):
            info = ref()
            if info is None or info.kv_cache is None:
                self._index.pop(key, None)
                continue
            try:
                kv_len = info.kv_cache.get_seq_length()
                n = min(common_prefix_length(info.merged_token_ids[0, :kv_len], ids), limit)
            except (AttributeError, IndexError, RuntimeError, TypeError):  # changed after cache_put: skip it
                continue
            if n > best_len:
                best, best_key, best_len = info, key, n
        if best_key is not None:
            self.cache_get(best_key)  # mark it recently used
        return best, best_len

    # -- options --------------------------------------------------------------------------------

    def template_keys(self) -> frozenset[str]:
        """The variables of the tokenizer's chat template a caller may set (``enable_thinking``...)."""
        return template_variables(self.tokenizer.chat_template)

    def translate_options(self, model_options: Mapping[str, Any] | None) -> GenerationOptions:
        """As :meth:`gencomp.Backend.translate_options`, naming what the HF backend accepts."""
        return translate_options(
            self.model_options,
            model_options,
            option_map=self.model_option_map(),
            generate_keys=self.generate_keys,
            template_keys=self.template_keys(),
            merge=self._merge,
            backend="the HF backend",
            accepted="a transformers GenerationConfig field, nor a variable of the model's chat template",
            hints=RESERVED_HINTS,
        )

    def generation_args(self, options: GenerationOptions) -> dict[str, Any]:
        """The keyword arguments of ``model.generate`` for ``options``: sampling follows ``temperature``."""
        gen = dict(options.generate)
        temperature = gen.get("temperature")
        if temperature is not None and temperature <= 0:
            del gen["temperature"]
            gen.setdefault("do_sample", False)
        elif temperature is not None:
            gen.setdefault("do_sample", True)
        if "max_new_tokens" not in gen and "max_length" not in gen:
            gen["max_new_tokens"] = self.model.generation_config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        gen.setdefault("pad_token_id", self._pad_id)
        return gen

    # -- generation -----------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate for a prepared request with the base model, reusing the best cached prefix.

        Chat requests go through the tokenizer's chat template (with the offered tools' schemas);
        text requests are tokenized as they are. For a requirement check, ``meta["p_yes"]`` compares
        the ``Yes`` and ``No`` logits of the first answer token.
        """
        gen = self.generation_args(request.options)
        if request.messages is not None:
            if not self.tokenizer.chat_template:
                raise GencompError(
                    f"model {self.model_id_str!r} has no chat template, so it cannot run a chat context; "
                    f"use a non-chat context (LinearContext(is_chat_context=False)) or a chat model"
                )
            if self._specials is None:
                self._specials = special_token_texts(self.tokenizer)
            check_no_special_tokens(request.messages, self._specials)
            prompt = self.tokenizer.apply_chat_template(
                request.messages,
                tools=[self._schema(t) for t in request.tools.values()] or None,
                add_generation_prompt=True,
                tokenize=False,
                **request.options.template,
            )
            special = False
        else:
            prompt = request.prompt or ""
            special = True
        judging = request.check is not None and request.format is None
        if judging:
            gen = {**gen, "output_logits": True}
        with self.lock:
            ids = self.tokenizer(prompt, add_special_tokens=special, return_tensors="pt").input_ids.to(self.device)
            budget = gen.get("max_new_tokens")
            if budget is None:
                budget = max(0, int(gen.get("max_length", 0)) - ids.shape[1])
            window = context_window(self.model, request.options.context_window)
            check_fits(ids.shape[1], budget, window, self.model_id_str)
            seq, past, reused, first_logits = self._generate_one(ids, gen, request.format, request.options.seed)
            n = ids.shape[1]
            text = self.tokenizer.decode(seq[0, n:], skip_special_tokens=True)
            meta: dict[str, Any] = {"p_yes": self._p_yes(first_logits)} if judging and first_logits is not None else {}
            if self.cache is not None and past is not None:
                key = uuid.uuid4().hex
                self.cache_put(key, KVCacheEntry(past, seq, torch.ones_like(seq), n))
                meta["hf_cache_key"] = key
        return Generation(
            text,
            meta=meta,
            prompt=prompt,
            model_output=seq[0, n:].clone(),  # a view would pin the whole sequence
            extra={
                "prompt_tokens": n,
                "new_tokens": seq.shape[1] - n,
                "reused_tokens": reused,
                "hf_cache_key": meta.get("hf_cache_key"),
            },
        )

    def _p_yes(self, first_logits: torch.Tensor) -> float:
        """A judge's ``p(yes)`` from its first answer token: ``Yes`` against ``No`` logits.

        Small models often start a correct verdict with another word ("The answer meets..."), so the
        comparison of the two answer tokens reads the model's judgement more reliably than its text.
        """
        if self._judge_tokens is None:
            yes, no = ({self.tokenizer.encode(w, add_special_tokens=False)[0] for w in words} for words in JUDGE_WORDS)
            self._judge_tokens = (sorted(yes), sorted(no))
        yes_ids, no_ids = self._judge_tokens
        row = first_logits[0].float()
        pair = torch.stack([torch.logsumexp(row[yes_ids], 0), torch.logsumexp(row[no_ids], 0)])
        return float(torch.softmax(pair, 0)[0])

    def _generate_one(
        self, ids: torch.Tensor, gen: dict[str, Any], format: type[Any] | None, seed: Any
    ) -> tuple[torch.Tensor, Any, int, torch.Tensor | None]:
        """Generate after one prompt (1, n), reusing the best cached prefix.

        Returns the sequences, the KV cache, the number of reused tokens and, when ``gen`` asks for
        ``output_logits``, the first step's logits.
        """
        past, reused = None, 0
        if self.cache is not None:
            info, reused = self._best_prefix(ids[0])
            if info is not None and info.kv_cache is not None:
                past = clone_cache(info.kv_cache)
                extra = past.get_seq_length() - reused
                if extra > 0:
                    try:
                        past.crop(-extra)
                    except (RuntimeError, ValueError):  # e.g. a sliding-window layer past its window
                        past, reused = None, 0
        out = self._run_generate(ids, torch.ones_like(ids), gen, format, seed, past)
        first = out.logits[0] if getattr(out, "logits", None) else None
        return out.sequences, (output_cache(out) if self.cache is not None else None), reused, first

    def _run_generate(
        self,
        ids: torch.Tensor,
        attention: torch.Tensor,
        gen: dict[str, Any],
        format: type[Any] | None,
        seed: Any,
        past: Any = None,
    ) -> Any:
        processors = LogitsProcessorList()
        if format is not None:
            from gencomp_hf_backend.constrained import GrammarLogitsProcessor

            budget = gen.get("max_new_tokens")
            close_from = None
            if budget is not None:
                # Steer to the grammar's end over the budget's last tokens, with some slack past it,
                # so that a format= output always parses.
                close_from = max(0, budget - max(1, min(16, budget // 4)))
                gen = {**gen, "max_new_tokens": budget + FORMAT_SLACK_TOKENS}
            processors.append(
                GrammarLogitsProcessor(
                    self._ll_tokenizer(),
                    self._grammar(format),
                    *ids.shape,
                    close_from=close_from,
                    classes=self._closing_classes(),
                )
            )
        if gen.get("stop_strings"):
            gen = {**gen, "tokenizer": self.tokenizer}  # generate needs it to match the strings
        with self.lock, torch.no_grad(), self._seeded(seed), self.base_only():
            return self.model.generate(
                input_ids=ids,
                attention_mask=attention,
                **with_cache(past),
                logits_processor=processors,
                return_dict_in_generate=True,
                use_cache=True,
                **generate_kwargs(self.tokenizer, ids.shape[0]),  # streaming and cancellation of the call
                **gen,
            )

    def add_base_model_guard(self, guard: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
        """Run ``guard()`` around every base-model generation (:meth:`base_only`).

        For a plugin that wraps the model's modules (adapters): its guard puts the base model's
        modules back for the duration.
        """
        with self.lock:
            self._guards.append(guard)

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        """Run ``model`` as the base model: every guard of :meth:`add_base_model_guard` holds for the duration."""
        if not self._guards:
            yield
            return
        with contextlib.ExitStack() as stack:
            for guard in self._guards:
                stack.enter_context(guard())
            yield

    @contextlib.contextmanager
    def _seeded(self, seed: Any) -> Iterator[None]:
        """Seed torch's RNG for one call, leaving the global RNG state as it was."""
        if seed is None:
            yield
            return
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            yield

    def _ll_tokenizer(self) -> Any:
        if self._ll_tok is None:
            from gencomp_hf_backend.constrained import make_ll_tokenizer

            n_vocab = self.model.get_output_embeddings().weight.shape[0]
            self._ll_tok = make_ll_tokenizer(self.tokenizer, n_vocab)
        return self._ll_tok

    def _closing_classes(self) -> Any:
        if self._closing is None:
            from gencomp_hf_backend.constrained import closing_token_classes

            self._closing = closing_token_classes(self._ll_tokenizer())
        return self._closing

    def _grammar(self, format: type[Any]) -> str:
        grammar = self._grammars.get(format)
        if grammar is None:
            from gencomp_hf_backend.constrained import json_schema_grammar

            if not hasattr(format, "model_json_schema"):
                raise TypeError(f"format= must be a pydantic BaseModel subclass, got {format!r}")
            if len(self._grammars) >= _MEMO_SIZE:  # classes made on the fly must not pile up
                self._grammars.clear()
            grammar = self._grammars[format] = json_schema_grammar(format)
        return grammar

    def _schema(self, func: Callable[..., Any]) -> dict[str, Any]:
        schema = self._tool_schemas.get(func)
        if schema is None:
            if len(self._tool_schemas) >= _MEMO_SIZE:
                self._tool_schemas.clear()
            schema = self._tool_schemas[func] = _tool_schema(func)
        return schema

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        """Each prompt as it is, no templating: one batched, left-padded ``generate`` call."""
        gen = self.generation_args(request.options)
        with self.lock:
            rows = self.tokenizer(request.prompts, add_special_tokens=True).input_ids
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                if r:
                    ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
                    attention[i, width - len(r) :] = 1
            out = self._run_generate(
                ids.to(self.device), attention.to(self.device), gen, request.format, request.options.seed
            )
            new = [self._until_eos(r) for r in out.sequences[:, width:].tolist()]
            texts = [self.tokenizer.decode(r, skip_special_tokens=True) for r in new]
        return [
            Generation(text, model_output=torch.tensor(row, dtype=torch.long), extra={"prompt_tokens": len(n)})
            for text, row, n in zip(texts, new, rows, strict=True)
        ]

    def _until_eos(self, row: list[int]) -> list[int]:
        for i, t in enumerate(row):
            if t in self._eos_ids:
                return row[:i]
        return row


def _check_entry(v: Any) -> None:
    """Validate a cache entry for prefix reuse, reshaping 1-D id and attention tensors to ``(1, n)``."""
    if not isinstance(v, KVCacheEntry):
        raise TypeError(f"cache_put takes an KVCacheEntry, got {type(v).__name__}")
    if v.kv_cache is not None and not callable(getattr(v.kv_cache, "get_seq_length", None)):
        raise TypeError(
            f"KVCacheEntry.kv_cache must be a transformers Cache (such as DynamicCache) or None, "
            f"got {type(v.kv_cache).__name__}"
        )
    for name in ("merged_token_ids", "merged_attention"):
        t = getattr(v, name)
        if not isinstance(t, torch.Tensor) or t.dim() not in (1, 2) or (t.dim() == 2 and t.shape[0] != 1):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"KVCacheEntry.{name} must be a tensor of shape (1, n) or (n,), got {shape}")
        if t.dim() == 1:
            setattr(v, name, t.unsqueeze(0))
    n = v.merged_token_ids.shape[1]
    kv_len = v.kv_cache.get_seq_length() if v.kv_cache is not None else 0
    if kv_len > n:
        raise ValueError(f"KVCacheEntry.kv_cache covers {kv_len} positions but merged_token_ids has only {n}")
