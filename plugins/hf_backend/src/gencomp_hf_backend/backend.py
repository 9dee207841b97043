"""``LocalHFBackend``: runs gencomp components on a Hugging Face transformers model, locally."""

from __future__ import annotations

import contextlib
import threading
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gencomp import (
    Formatter,
    FormatterBackend,
    Generation,
    GenerationOptions,
    GenerationRequest,
    ModelOutputThunk,
    RawRequest,
    default_formatter,
)
from gencomp.cache import Cache
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.selection import resolve_model_id
from gencomp.streaming import current_control
from gencomp_hf_backend import attention as gqa_attention
from gencomp_hf_backend.compat import output_cache
from gencomp_hf_backend.generation import DEFAULT_MAX_NEW_TOKENS, FORMAT_SLACK_TOKENS, Generator
from gencomp_hf_backend.guards import check_fits, context_window
from gencomp_hf_backend.judge import JudgeScorer
from gencomp_hf_backend.kv import KVCacheEntry, row_cache
from gencomp_hf_backend.options import HF_OPTION_MAP, RESERVED_HINTS, generate_keys, template_variables
from gencomp_hf_backend.prefix_cache import PrefixCache
from gencomp_hf_backend.prompts import PromptBuilder
from gencomp_hf_backend.sources import check_model_source
from gencomp_hf_backend.threads import apply_threads, resolve_threads

if typing.TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "FORMAT_SLACK_TOKENS",
    "Generator",
    "JudgeScorer",
    "LocalHFBackend",
    "PrefixCache",
    "PromptBuilder",
    "TransformersTorchConfig",
    "best_device",
]


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

    A thin façade over collaborators, each usable alone: ``prefixes`` (:class:`PrefixCache`, the
    KV-cache entries later prompts extend), ``prompts`` (:class:`PromptBuilder`, the chat template),
    ``generator`` (:class:`Generator`, ``model.generate`` with grammars and seeds), ``judge``
    (:class:`JudgeScorer`, a requirement judge's ``p(yes)``); option translation is
    :func:`gencomp.translate_options`.

    The surface other plugins use: ``model`` (the base transformers model), ``tokenizer``,
    ``device``, ``lock`` (an ``RLock`` held around every use of the model and the caches),
    :meth:`cache_entry`, :meth:`base_only` / :meth:`add_base_model_guard`, and the core's
    :meth:`~gencomp.Backend.chat_messages` and :meth:`~gencomp.Backend.translate_options`.
    """

    option_map = HF_OPTION_MAP
    option_errors = {
        "backend": "the HF backend",
        "accepted": "a transformers GenerationConfig field, nor a variable of the model's chat template",
    }
    option_hints = RESERVED_HINTS
    constraint_syntaxes = frozenset({"lark"})

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
        self._guards: list[Callable[[], contextlib.AbstractContextManager[Any]]] = []
        self.prompts = PromptBuilder(self.tokenizer, model_id_string(model_id))
        self.generator = Generator(self.model, self.tokenizer, self.device, self.lock, self.base_only)
        self.judge = JudgeScorer(self.tokenizer)
        self.prefixes = PrefixCache(None)
        super().__init__(
            model_id,
            formatter if formatter is not None else default_formatter(model_id),
            model_options,
            use_caches=use_caches,
            cache=cache,
            plugin_options=plugin_options,
        )
        self.prefixes.cache = self.cache

    # -- caches ---------------------------------------------------------------------------------

    def cache_get(self, id: str) -> KVCacheEntry | None:
        """Retrieve from cache (``None`` when caching is off or the entry is gone)."""
        return self.prefixes.get(id)

    def cache_put(self, id: str, v: KVCacheEntry) -> None:
        """Put into cache (nothing happens when caching is off).

        The entry also becomes a candidate for prefix reuse, so its ``kv_cache`` must hold base-model
        keys and values for ``merged_token_ids``. A 1-D ``merged_token_ids`` (or attention) is
        reshaped to ``(1, n)``; an entry that cannot be used raises ``TypeError``/``ValueError``.
        """
        with self.lock:
            self.prefixes.put(id, v)

    def cache_entry(self, output: ModelOutputThunk) -> KVCacheEntry | None:
        """The cache entry stored with ``output`` (its exact ids and base-model KV cache), or ``None``."""
        key = output.meta.get("hf_cache_key") if output.meta else None
        return self.cache_get(key) if key is not None else None

    def on_cache_evict(self, key: str, value: Any) -> None:
        """Drop an evicted entry's KV tensors so their memory is freed."""
        self.prefixes.release(key, value)

    def cached_keys(self) -> list[str]:
        """The keys of the entries that are candidates for prefix reuse."""
        return self.prefixes.keys()

    # -- options --------------------------------------------------------------------------------

    def template_keys(self) -> frozenset[str]:
        """The variables of the tokenizer's chat template a caller may set (``enable_thinking``...)."""
        return template_variables(self.tokenizer.chat_template)

    def generation_args(self, options: GenerationOptions) -> dict[str, Any]:
        """The keyword arguments of ``model.generate`` for ``options`` (:meth:`Generator.arguments`)."""
        return self.generator.arguments(dict(options.generate))

    # -- generation -----------------------------------------------------------------------------

    def _prompt_ids(self, request: GenerationRequest, gen: dict[str, Any]) -> tuple[str, Any]:
        """The prompt text and its ids for ``request`` (chat template or text as it is), checked against the window."""
        if request.messages is not None:
            prompt = self.prompts.chat_prompt(request.messages, request.tools, request.options.template)
            special = False
        else:
            prompt = request.prompt or ""
            special = True
        ids = self.tokenizer(prompt, add_special_tokens=special, return_tensors="pt").input_ids.to(self.device)
        budget = gen.get("max_new_tokens")
        if budget is None:
            budget = max(0, int(gen.get("max_length", 0)) - ids.shape[1])
        window = context_window(self.model, request.options.context_window)
        check_fits(ids.shape[1], budget, window, self.model_id_str)
        return prompt, ids

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate for a prepared request with the base model, reusing the best cached prefix.

        Chat requests go through the tokenizer's chat template (with the offered tools' schemas);
        text requests are tokenized as they are. For a requirement check, ``meta["p_yes"]`` compares
        the ``Yes`` and ``No`` logits of the first answer token.
        """
        gen = self.generation_args(request.options)
        judging = request.check is not None and request.format is None
        if judging:
            gen = {**gen, "output_logits": True}
        with self.lock:
            prompt, ids = self._prompt_ids(request, gen)
            past, reused = self.prefixes.reusable(ids[0])
            out = self.generator.run(
                ids, torch.ones_like(ids), gen, request.format, request.options.seed, past, request.options.constraint
            )
            seq = out.sequences
            n = ids.shape[1]
            text = self.tokenizer.decode(seq[0, n:], skip_special_tokens=True)
            meta: dict[str, Any] = {"finish_reason": self._finish_reason(seq[0, n:].tolist(), gen, current_control())}
            if judging and getattr(out, "logits", None):
                meta["p_yes"] = self.judge.p_yes(out.logits[0])
            if self.cache is not None:
                key = uuid.uuid4().hex
                self.cache_put(key, KVCacheEntry(output_cache(out), seq, torch.ones_like(seq), n))
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

    def generate_n(self, request: GenerationRequest, n: int) -> list[Generation]:
        """``n`` samples of one request in one batched ``generate`` whose rows share the prompt's KV cache.

        The prompt is computed once (all but its last token, from the best cached prefix), its cache
        repeated to ``n`` rows, and the candidates decoded together. Each row streams to its own
        control (:func:`gencomp.streaming.candidate_controls`) and ends alone when its control stops
        it (a prefix check failed) or it reaches end of sequence; the batch ends with its last row.
        Each output's KV cache is a view of its row, stored as one group under one cache key
        (``meta["hf_cache_key"]`` is ``"<key>/<i>"``), so checks reuse it. A seed seeds the batch.
        """
        from gencomp.streaming import candidate_controls

        gen = self.generation_args(request.options)
        controls = candidate_controls()
        with self.lock:
            prompt, ids = self._prompt_ids(request, gen)
            p = ids.shape[1]
            past, reused = self._prompt_cache(ids)
            batch = ids.expand(n, -1).contiguous()
            if past is not None:
                past.batch_repeat_interleave(n)
            out = self.generator.run(
                batch,
                torch.ones_like(batch),
                gen,
                request.format,
                request.options.seed,
                past,
                request.options.constraint,
            )
            cache = output_cache(out)
            kv_len = cache.get_seq_length() if cache is not None else 0
            rows = []
            for i in range(n):
                control = controls[i] if controls is not None and len(controls) == n else None
                new = self.generator.until_eos(out.sequences[i, p:].tolist())
                if control is not None and control.early_stop is not None and control.early_stop.token:
                    new = new[: control.early_stop.token]
                ended = out.sequences[i, p : p + len(new) + 1].tolist()  # with its end-of-sequence id, if any
                rows.append((new, ended, self._finish_reason(ended, gen, control)))
            meta_keys: list[str | None] = [None] * n
            if self.cache is not None and cache is not None:
                entries: list[KVCacheEntry] = []
                for i, (_, ended, _) in enumerate(rows):
                    seq = torch.cat([ids[0], torch.tensor(ended, dtype=torch.long, device=ids.device)]).unsqueeze(0)
                    covered = min(kv_len, seq.shape[1] - 1)  # one token left uncached, as for a single output
                    entries.append(KVCacheEntry(row_cache(cache, i, covered), seq, torch.ones_like(seq), p))
                meta_keys = list(self.prefixes.put_group(uuid.uuid4().hex, entries)) or meta_keys
        outputs = []
        for i, (new, _, reason) in enumerate(rows):
            meta: dict[str, Any] = {"finish_reason": reason}
            if meta_keys[i] is not None:
                meta["hf_cache_key"] = meta_keys[i]
            outputs.append(
                Generation(
                    self.tokenizer.decode(new, skip_special_tokens=True),
                    meta=meta,
                    prompt=prompt,
                    model_output=torch.tensor(new, dtype=torch.long),
                    extra={
                        "prompt_tokens": p,
                        "new_tokens": len(new),
                        "reused_tokens": reused,
                        "shared_prompt_tokens": p - 1 if n > 1 else 0,
                        "hf_cache_key": meta_keys[i],
                    },
                )
            )
        return outputs

    def _prompt_cache(self, ids: torch.Tensor) -> tuple[Any, int]:
        """A private cache of all but the last token of ``ids`` (``(1, p)``), from the best stored prefix, and
        how many of those positions were reused rather than computed; ``(None, 0)`` for a one-token prompt."""
        past, reused = self.prefixes.reusable(ids[0])
        p = ids.shape[1]
        if p - 1 <= reused:
            return past, reused
        from transformers import DynamicCache

        from gencomp_hf_backend.compat import with_cache

        if past is None:
            past = DynamicCache(config=self.model.config)
        with torch.no_grad(), self.base_only():
            self.model(input_ids=ids[:, reused : p - 1], **with_cache(past), use_cache=True)
        return past, reused

    def _finish_reason(self, new: list[int], gen: dict[str, Any], control: Any) -> str:
        """``"stop"`` (end of sequence), ``"stopped"`` (its control stopped it) or ``"length"`` (the budget)."""
        if new and new[-1] in self.generator.eos_ids:
            return "stop"
        if control is not None and control.stop_requested():
            return "stopped"
        budget = gen.get("max_new_tokens")
        return "length" if budget is not None and len(new) >= budget else "stop"

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        """Each prompt as it is, no templating: one batched, left-padded ``generate`` call."""
        gen = self.generation_args(request.options)
        pad = self.generator.pad_id
        with self.lock:
            rows = self.tokenizer(request.prompts, add_special_tokens=True).input_ids
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                if r:
                    ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
                    attention[i, width - len(r) :] = 1
            out = self.generator.run(
                ids.to(self.device),
                attention.to(self.device),
                gen,
                request.format,
                request.options.seed,
                constraint=request.options.constraint,
            )
            new = [self.generator.until_eos(r) for r in out.sequences[:, width:].tolist()]
            texts = [self.tokenizer.decode(r, skip_special_tokens=True) for r in new]
        return [
            Generation(text, model_output=torch.tensor(row, dtype=torch.long), extra={"prompt_tokens": len(n)})
            for text, row, n in zip(texts, new, rows, strict=True)
        ]

    # -- guards ---------------------------------------------------------------------------------

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
