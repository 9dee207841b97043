"""``LocalHFBackend``: runs gencomp components on a Hugging Face transformers model, locally."""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
import typing
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from gencomp import (
    CBlock,
    Component,
    Context,
    Formatter,
    FormatterBackend,
    GencompError,
    GenerateLog,
    LRUCache,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    TemplateRepresentation,
    default_formatter,
    plugins,
)
from gencomp.base import backend_name
from gencomp.cache import Cache
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.selection import resolve_model_id
from gencomp_hf_backend import attention as gqa_attention
from gencomp_hf_backend.compat import output_cache, with_cache
from gencomp_hf_backend.kv import HFAloraCacheInfo, clone_cache, common_prefix_length
from gencomp_hf_backend.options import HF_OPTION_MAP, generate_keys, template_variables, unknown_option_error
from gencomp_hf_backend.streaming import generate_kwargs

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
    ``custom_config`` gives the tokenizer, model and device. ``formatter`` defaults to
    :func:`gencomp.default_formatter`. With ``use_caches`` every standard generation stores an
    :class:`HFAloraCacheInfo` in ``cache`` (default: the ``gencomp_make_cache`` hook, ``LRUCache(3)``)
    under a fresh key put in ``thunk.meta["hf_cache_key"]``; a later prompt that extends a stored
    one reuses its KV cache. ``model_options`` are the defaults merged under each call's options.

    ``attn_implementation`` (``"sdpa"``, ``"eager"``...) selects the model's attention. By default a
    loaded model that would use ``"sdpa"`` uses :data:`gencomp_hf_backend.attention.ATTN_IMPLEMENTATION`
    (the same attention without copying grouped key/value heads); a ``custom_config`` model keeps its
    own unless this is given.

    Attributes other plugins (the aLoRA plugin) rely on: ``_model`` (the base transformers model),
    ``_tokenizer``, ``_device``, ``_lock`` (an ``RLock`` held around every use of the model and the
    caches), ``formatter``, ``default_to_constraint_checking_alora`` and ``_aloras`` (name -> aLoRA).
    """

    def __init__(
        self,
        model_id: str | ModelIdentifier,
        formatter: Formatter | None = None,
        use_caches: bool = True,
        cache: Cache | None = None,
        custom_config: TransformersTorchConfig | tuple[Any, Any, Any] | None = None,
        default_to_constraint_checking_alora: bool = True,
        model_options: dict[str, Any] | None = None,
        *,
        attn_implementation: str | None = None,
    ) -> None:
        if custom_config is None:
            self._device = best_device()
            path = resolve_model_id(model_id_string(model_id))
            self._tokenizer, self._model = _load(path, self._device, attn_implementation)
        else:
            config = TransformersTorchConfig.of(custom_config)
            self._device = torch.device(config.device)
            self._tokenizer = config.tokenizer
            self._model = config.model.to(self._device).eval()  # type: ignore[arg-type]
            if attn_implementation is not None:
                gqa_attention.register()
                self._model.set_attn_implementation(attn_implementation)
        if formatter is None:
            formatter = default_formatter(model_id)
        super().__init__(model_id, formatter, model_options)
        self.default_to_constraint_checking_alora = default_to_constraint_checking_alora
        self._lock = threading.RLock()
        self._aloras: dict[str, Any] = {}
        self._judge_tokens: tuple[list[int], list[int]] | None = None
        self._alora_model: Any = None
        self._adapter_layers: list[tuple[Any, str, Any]] | None = None  # PEFT wrappers in _model, found on first use
        self._use_caches = use_caches
        self._index: dict[str, weakref.ref[HFAloraCacheInfo]] = {}
        self._cache: Cache | None = None
        if use_caches:
            self._cache = cache if cache is not None else plugins.hook().gencomp_make_cache(backend=self)
            if isinstance(self._cache, LRUCache):
                self._cache.on_evict = _chain(self._cache.on_evict, self._release)
        self._option_map: dict[str, str] | None = None
        self._ll_tok: Any = None
        self._closing: Any = None
        self._grammars: dict[type, str] = {}
        self._tool_schemas: dict[Callable[..., Any], dict[str, Any]] = {}
        eos = self._model.generation_config.eos_token_id
        if eos is None:
            eos = self._tokenizer.eos_token_id
        self._eos_ids: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        pad = self._tokenizer.pad_token_id
        self._pad_id: int = pad if pad is not None else (min(self._eos_ids) if self._eos_ids else 0)
        plugins.hook().gencomp_backend_created(backend=self)

    # -- caches ---------------------------------------------------------------------------------

    def cache_get(self, id: str) -> HFAloraCacheInfo | None:
        """Retrieve from cache (``None`` when caching is off or the entry is gone)."""
        if self._cache is None:
            return None
        info = self._cache.get(id)
        return info if info is None or info.kv_cache is not None else None

    def cache_put(self, id: str, v: HFAloraCacheInfo) -> None:
        """Put into cache (nothing happens when caching is off).

        The entry also becomes a candidate for prefix reuse, so its ``kv_cache`` must hold base-model
        keys and values for ``merged_token_ids``. A 1-D ``merged_token_ids`` (or attention) is
        reshaped to ``(1, n)``; an entry that cannot be used raises ``TypeError``/``ValueError``.
        """
        if self._cache is None:
            return
        _check_entry(v)
        with self._lock:
            self._index[id] = weakref.ref(v)
            self._cache.put(id, v)

    def _release(self, key: str, value: Any) -> None:
        """Eviction callback: drop the entry's KV tensors so their memory is freed."""
        ref = self._index.get(key)
        if ref is not None and ref() in (value, None):  # not a newer entry put under the same key
            self._index.pop(key, None)
        if isinstance(value, HFAloraCacheInfo):
            value.kv_cache = None

    def _best_prefix(self, ids: torch.Tensor) -> tuple[HFAloraCacheInfo | None, int]:
        """The cached entry sharing the longest reusable prefix with ``ids`` (1-D), and that length."""
        best: HFAloraCacheInfo | None = None
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

    def _to_gencomp_map(self) -> dict[str, str]:
        """``{backend_key: ModelOption key}``: this backend's map, then other plugins' answers."""
        if self._option_map is None:
            merged = dict(HF_OPTION_MAP)
            for answer in plugins.hook().gencomp_model_option_map(backend=self):
                for k, v in (answer or {}).items():
                    merged.setdefault(k, v)
            self._option_map = merged
        return self._option_map

    def _from_gencomp_map(self) -> dict[str, str]:
        """``{ModelOption key: backend_key}`` for the backend keys ``generate`` or the chat template accept."""
        accepted = generate_keys() | template_variables(self._tokenizer.chat_template)
        return {mo: k for k, mo in self._to_gencomp_map().items() if k in accepted}

    def _simplify_and_merge(self, model_options: dict[str, Any] | None) -> dict[str, Any]:
        """Simplify ``model_options`` to ``ModelOption`` keys and merge them over the backend's options.

        Within one dict an existing ``ModelOption`` key wins over a backend key that maps to it; when
        merging, the call's options win (``gencomp_merge_model_options``). So a backend key of the call
        replaces a ``ModelOption`` key of the backend's defaults. Returns a new dict.
        """
        to_gencomp = self._to_gencomp_map()
        defaults = ModelOption.replace_keys(self.model_options, to_gencomp)
        if not model_options:
            return defaults
        call = ModelOption.replace_keys(model_options, to_gencomp)
        merged = plugins.hook().gencomp_merge_model_options(backend=self, defaults=defaults, overrides=call)
        return dict(merged)

    def _make_backend_specific_and_remove(self, model_options: dict[str, Any]) -> dict[str, Any]:
        """Map ``ModelOption`` keys to this backend's names (``max_new_tokens``...) and drop the other special keys.

        Returns a new dict.
        """
        return ModelOption.remove_special_keys(ModelOption.replace_keys(model_options, self._from_gencomp_map()))

    def _split_options(self, backend_options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(generate kwargs, chat-template kwargs)``; an option neither accepts raises ``UnknownModelOptionError``."""
        gen_keys = generate_keys()
        tpl_keys = template_variables(self._tokenizer.chat_template)
        gen: dict[str, Any] = {}
        tpl: dict[str, Any] = {}
        for k, v in backend_options.items():
            if k in gen_keys:
                gen[k] = v
            elif k in tpl_keys:
                tpl[k] = v
            else:
                known = gen_keys | tpl_keys | set(self._to_gencomp_map())
                raise unknown_option_error(k, known)
        temperature = gen.get("temperature")
        if temperature is not None and temperature <= 0:
            del gen["temperature"]
            gen.setdefault("do_sample", False)
        elif temperature is not None:
            gen.setdefault("do_sample", True)
        if "max_new_tokens" not in gen and "max_length" not in gen:
            gen["max_new_tokens"] = self._model.generation_config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        gen.setdefault("pad_token_id", self._pad_id)
        return gen, tpl

    def _prepare(self, model_options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        options = self._simplify_and_merge(model_options)
        gen, tpl = self._split_options(self._make_backend_specific_and_remove(options))
        return options, gen, tpl

    # -- generation -----------------------------------------------------------------------------

    def _generate_from_context(
        self,
        action: Component | CBlock,
        ctx: Context,
        *,
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        # Requirement checks reach an aLoRA through the gencomp-alora plugin's gencomp_generate hook,
        # before this method; what arrives here is the base model's work.
        return self._generate_from_context_standard(
            action,
            ctx,
            format=format,
            model_options=model_options or {},
            generate_logs=generate_logs,
            tool_calls=tool_calls,
        )

    def _generate_from_context_standard(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        *,
        model_options: dict[str, Any],
        generate_logs: list[GenerateLog] | None = None,
        tool_calls: bool = False,
    ) -> ModelOutputThunk:
        """Generate for ``action`` after ``ctx`` with the base model.

        Chat contexts go through the formatter's messages and the tokenizer's chat template; other
        contexts are rendered as plain text (``print_context``, then the action).
        """
        start = time.perf_counter()
        options, gen, tpl = self._prepare(model_options)
        tools: dict[str, Callable[..., Any]] = {}
        history = ctx.render_for_generation()
        if ctx.is_chat_context:
            if tool_calls:  # tools in the options are offered only when the call asks for tool calls
                tools = self._collect_tools(options.get(ModelOption.TOOLS), [*history, action])
            messages = [self._message_dict(m) for m in self.formatter.to_chat_messages([*history, action])]
            system = options.get(ModelOption.SYSTEM_PROMPT)
            if system:
                messages.insert(0, {"role": "system", "content": str(system)})
            if not self._tokenizer.chat_template:
                raise GencompError(
                    f"model {self.model_id_str!r} has no chat template, so it cannot run a chat context; "
                    f"use a non-chat context (LinearContext(is_chat_context=False)) or a chat model"
                )
            prompt = self._tokenizer.apply_chat_template(
                messages,
                tools=[self._schema(t) for t in tools.values()] or None,
                add_generation_prompt=True,
                tokenize=False,
                **tpl,
            )
            special = False
        else:
            before = self.formatter.print_context(ctx)
            prompt = f"{before}\n{self.formatter.print(action)}" if before else self.formatter.print(action)
            special = True
        with self._lock:
            ids = self._tokenizer(prompt, add_special_tokens=special, return_tensors="pt").input_ids.to(self._device)
            judging = isinstance(action, Requirement) and format is None
            if judging:
                gen = {**gen, "output_logits": True}
            seq, past, reused, first_logits = self._generate_one(ids, gen, format, options.get(ModelOption.SEED))
            n = ids.shape[1]
            text = self._tokenizer.decode(seq[0, n:], skip_special_tokens=True)
            meta: dict[str, Any] = self._judge_verdict(first_logits) if judging else {}
            if self._cache is not None and past is not None:
                key = uuid.uuid4().hex
                self.cache_put(key, HFAloraCacheInfo(past, seq, torch.ones_like(seq), n))
                meta["hf_cache_key"] = key
        generated = time.perf_counter()
        thunk = ModelOutputThunk(text, meta=meta)
        if tools:
            thunk.tool_calls = self._extract_model_tool_requests(tools, text)
        self.formatter.parse(action, thunk)
        if generate_logs is not None:
            log = GenerateLog(
                prompt=prompt,
                backend=backend_name(self),
                model_options=options,
                model_output=seq[0, n:].clone(),  # a view would pin the whole sequence
                action=action,
                result=thunk,
                extra={
                    "prompt_tokens": n,
                    "new_tokens": seq.shape[1] - n,
                    "reused_tokens": reused,
                    "seconds": generated - start,
                    "hf_cache_key": meta.get("hf_cache_key"),
                },
            )
            thunk.generate_log = log
            generate_logs.append(log)
        return thunk

    def _judge_verdict(self, first_logits: torch.Tensor | None) -> dict[str, Any]:
        """A requirement judge's verdict from its first answer token: ``Yes`` against ``No`` logits.

        Small models often start a correct verdict with another word ("The answer meets..."), so the
        comparison of the two answer tokens reads the model's judgement more reliably than its text.
        """
        if first_logits is None:
            return {}
        if self._judge_tokens is None:
            yes, no = ({self._tokenizer.encode(w, add_special_tokens=False)[0] for w in words} for words in JUDGE_WORDS)
            self._judge_tokens = (sorted(yes), sorted(no))
        yes_ids, no_ids = self._judge_tokens
        row = first_logits[0].float()
        pair = torch.stack([torch.logsumexp(row[yes_ids], 0), torch.logsumexp(row[no_ids], 0)])
        p_yes = float(torch.softmax(pair, 0)[0])
        return {"verdict": p_yes > 0.5, "p_yes": p_yes, "check_path": "llm-as-a-judge"}

    def _generate_one(
        self, ids: torch.Tensor, gen: dict[str, Any], format: type[Any] | None, seed: Any
    ) -> tuple[torch.Tensor, Any, int, torch.Tensor | None]:
        """Generate after one prompt (1, n), reusing the best cached prefix.

        Returns the sequences, the KV cache, the number of reused tokens and, when ``gen`` asks for
        ``output_logits``, the first step's logits.
        """
        past, reused = None, 0
        if self._cache is not None:
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
        return out.sequences, (output_cache(out) if self._cache is not None else None), reused, first

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
        with self._lock, torch.no_grad(), self._seeded(seed), self._base_only():
            return self._model.generate(
                input_ids=ids,
                attention_mask=attention,
                **with_cache(past),
                logits_processor=processors,
                return_dict_in_generate=True,
                use_cache=True,
                **generate_kwargs(self._tokenizer, ids.shape[0]),  # streaming and cancellation of the call
                **gen,
            )

    def _base_only(self) -> contextlib.AbstractContextManager[Any]:
        """Run ``_model`` without the adapter layers an aLoRA model injected into it.

        Puts the original modules back in place of PEFT's wrappers for the duration (a few hundred
        attribute swaps), so base generation neither pays the wrappers' per-call cost nor PEFT's
        ``disable_adapter()``, which walks every module and checks the model's status on exit.
        """
        if self._alora_model is None:
            return contextlib.nullcontext()
        if self._adapter_layers is None:
            self._adapter_layers = _injected_layers(self._model)
        return _unwrapped(self._adapter_layers)

    @contextlib.contextmanager
    def _seeded(self, seed: Any) -> Iterator[None]:
        """Seed torch's RNG for one call, leaving the global RNG state as it was."""
        if seed is None:
            yield
            return
        devices = [self._device] if self._device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            yield

    def _ll_tokenizer(self) -> Any:
        if self._ll_tok is None:
            from gencomp_hf_backend.constrained import make_ll_tokenizer

            n_vocab = self._model.get_output_embeddings().weight.shape[0]
            self._ll_tok = make_ll_tokenizer(self._tokenizer, n_vocab)
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

    @staticmethod
    def _message_dict(m: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"role": m.role, "content": m.content}
        name = getattr(m, "name", None)
        if m.role == "tool" and name:
            d["name"] = name
        return d

    @staticmethod
    def _collect_tools(option: Any, items: list[Component | CBlock]) -> dict[str, Callable[..., Any]]:
        """Tools offered: context's and action's ``TemplateRepresentation.tools``, then ``ModelOption.TOOLS``."""
        tools: dict[str, Callable[..., Any]] = {}
        for c in items:
            if isinstance(c, CBlock):
                continue
            rep = c.format_for_llm()
            if isinstance(rep, TemplateRepresentation) and rep.tools:
                tools.update(rep.tools)
        if isinstance(option, Mapping):
            tools.update(option)
        elif option:
            for f in option:
                tools[getattr(f, "__name__", str(f))] = f
        return tools

    def _generate_from_raw(
        self,
        actions: list[Component | CBlock],
        format: type[Any] | None = None,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk]:
        """Generate using the completions api: each rendered action is a whole prompt, no templating.

        One batched, left-padded ``generate`` call; returns one thunk (and appends one log) per action.
        """
        if not actions:
            return []
        start = time.perf_counter()
        options, gen, _ = self._prepare(model_options)
        prompts = [self.formatter.print(a) for a in actions]
        with self._lock:
            rows = self._tokenizer(prompts, add_special_tokens=True).input_ids
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                if r:
                    ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
                    attention[i, width - len(r) :] = 1
            out = self._run_generate(
                ids.to(self._device), attention.to(self._device), gen, format, options.get(ModelOption.SEED)
            )
            new = out.sequences[:, width:].tolist()
            texts = [self._tokenizer.decode(self._until_eos(r), skip_special_tokens=True) for r in new]
        seconds = time.perf_counter() - start
        results = []
        for action, prompt, text, row, n in zip(actions, prompts, texts, new, rows, strict=True):
            thunk = ModelOutputThunk(text)
            self.formatter.parse(action, thunk)
            if generate_logs is not None:
                log = GenerateLog(
                    prompt=prompt,
                    backend=backend_name(self),
                    model_options=options,
                    model_output=torch.tensor(self._until_eos(row), dtype=torch.long),
                    action=action,
                    result=thunk,
                    extra={"prompt_tokens": len(n), "batch_size": len(actions), "seconds": seconds},
                )
                thunk.generate_log = log
                generate_logs.append(log)
            results.append(thunk)
        return results

    def _until_eos(self, row: list[int]) -> list[int]:
        for i, t in enumerate(row):
            if t in self._eos_ids:
                return row[:i]
        return row

    # -- aLoRA (filled in by the gencomp-alora plugin) ----------------------------------------

    @property
    def alora_model(self) -> Any:
        """The aLoRA model (a PEFT model around ``_model``), or ``None``."""
        return self._alora_model

    @alora_model.setter
    def alora_model(self, model: Any) -> None:
        """Sets the aLoRA model. This should only happen once in a backend's lifetime."""
        if self._alora_model is not None:
            raise GencompError("this backend's alora_model is already set; it can be set only once")
        self._alora_model = model

    def add_alora(self, alora: Any) -> None:
        """Loads an aLoRA for this backend (``alora.load_into(self)``), under ``alora.name``."""
        with self._lock:
            if alora.name in self._aloras:
                raise GencompError(
                    f"an aLoRA named {alora.name!r} is already loaded on this backend; pick another name"
                )
            alora.load_into(self)
            self._aloras[alora.name] = alora
            self._adapter_layers = None  # a new adapter may target more modules

    def get_alora(self, alora_name: str) -> Any:
        """Returns the aLoRA by name, or ``None`` if that aLoRA isn't loaded."""
        return self._aloras.get(alora_name)

    def get_aloras(self) -> list[Any]:
        """Returns a list of all loaded aLoRA adapters."""
        return list(self._aloras.values())

    def _generate_from_context_alora(
        self,
        action: Component | CBlock,
        ctx: Context,
        format: type[Any] | None = None,
        *,
        model_options: dict[str, Any],
        generate_logs: list[GenerateLog] | None = None,
    ) -> ModelOutputThunk:
        """Answer ``action`` (a requirement check) with an aLoRA adapter; provided by ``gencomp-alora``."""
        try:
            from gencomp_alora.generate import generate_from_context_alora
        except ImportError as exc:
            raise GencompError(
                f"aLoRA generation needs the gencomp-alora plugin: `pip install gencomp-alora` ({exc})"
            ) from exc
        return generate_from_context_alora(
            self, action, ctx, format=format, model_options=model_options, generate_logs=generate_logs
        )


def _check_entry(v: Any) -> None:
    """Validate a cache entry for prefix reuse, reshaping 1-D id and attention tensors to ``(1, n)``."""
    if not isinstance(v, HFAloraCacheInfo):
        raise TypeError(f"cache_put takes an HFAloraCacheInfo, got {type(v).__name__}")
    if v.kv_cache is not None and not callable(getattr(v.kv_cache, "get_seq_length", None)):
        raise TypeError(
            f"HFAloraCacheInfo.kv_cache must be a transformers Cache (such as DynamicCache) or None, "
            f"got {type(v.kv_cache).__name__}"
        )
    for name in ("merged_token_ids", "merged_attention"):
        t = getattr(v, name)
        if not isinstance(t, torch.Tensor) or t.dim() not in (1, 2) or (t.dim() == 2 and t.shape[0] != 1):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"HFAloraCacheInfo.{name} must be a tensor of shape (1, n) or (n,), got {shape}")
        if t.dim() == 1:
            setattr(v, name, t.unsqueeze(0))
    n = v.merged_token_ids.shape[1]
    kv_len = v.kv_cache.get_seq_length() if v.kv_cache is not None else 0
    if kv_len > n:
        raise ValueError(f"HFAloraCacheInfo.kv_cache covers {kv_len} positions but merged_token_ids has only {n}")


def _injected_layers(model: Any) -> list[tuple[Any, str, Any]]:
    """``(parent, attribute, wrapper)`` for every PEFT adapter wrapper in ``model``."""
    found = []
    for name, module in model.named_modules():
        if name and hasattr(module, "base_layer") and hasattr(module, "_disable_adapters"):
            parent_name, _, attr = name.rpartition(".")
            found.append((model.get_submodule(parent_name), attr, module))
    return found


@contextlib.contextmanager
def _unwrapped(layers: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Swap each wrapper for the module it wraps for the duration."""
    for parent, attr, wrapper in layers:
        setattr(parent, attr, wrapper.base_layer)
    try:
        yield
    finally:
        for parent, attr, wrapper in layers:
            setattr(parent, attr, wrapper)


def _chain(first: Callable[[str, Any], None] | None, second: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    if first is None:
        return second

    def both(key: str, value: Any) -> None:
        first(key, value)
        second(key, value)

    return both
