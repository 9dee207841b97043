"""Constraints on the remote backend: llama-server decodes under each kind's GBNF grammar; a server with only
a JSON mode gets ``response_format``; an answer cut at the token limit is completed to its grammar."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from gencomp import ConstraintRefusedError, GencompError, LinearContext, Message, ModelOption, Session, checks
from gencomp.constraints import constraint_of
from gencomp.testing import ENFORCEABLE_EXAMPLES
from gencomp_openai import OpenAIBackend
from gencomp_openai.llama_cpp import LlamaServer

from .fakes import ScriptedTransport, chat_answer

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("enforce_prompts", ROOT / "datasets" / "enforce_prompts" / "build.py")
assert _spec is not None and _spec.loader is not None
prompts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prompts)
DATA = json.loads((ROOT / "datasets" / "enforce_prompts" / "prompts.json").read_text(encoding="utf-8"))


@pytest.fixture
def backend(llama_server: LlamaServer) -> Iterator[OpenAIBackend]:
    b = OpenAIBackend(base_url=llama_server.base_url)
    yield b
    b.close()


@pytest.fixture(scope="module")
def wide_server(smollm2_gguf: Path) -> Iterator[LlamaServer]:
    """llama-server with 8 slots, for the sweep of 20 prompts per kind (as datasets/enforce_prompts/build.py)."""
    with LlamaServer(smollm2_gguf, context=8192, parallel=8, extra_args=["--no-repack"]) as s:
        yield s


@pytest.mark.embedded
@pytest.mark.parametrize("kind", list(prompts.KINDS))
def test_twenty_prompts_the_model_fails_alone_all_pass_on_the_first_attempt_when_enforced(wide_server, kind):
    cached = DATA["kinds"][kind]["server"]
    tasks = [p["task"] for p in cached]
    assert len(tasks) == prompts.KEEP
    # today's check still fails each cached unconstrained answer (else rebuild: datasets/enforce_prompts/build.py)
    passing = [
        p["answer"] for p in cached if prompts.requirement(kind, p["task"]).validation_fn.check_text(p["answer"]).result
    ]
    assert not passing, f"{kind}: cached answers that pass today's check: {passing[:3]}"
    backend = OpenAIBackend(base_url=wide_server.base_url)

    async def one(task: str, gate: asyncio.Semaphore):
        async with gate:
            return await Session(backend).ainstruct(
                task, requirements=[prompts.requirement(kind, task)], strategy="enforce", loop_budget=1,
                model_options={ModelOption.MAX_NEW_TOKENS: prompts.MAX_NEW_TOKENS, ModelOption.TEMPERATURE: 0.0},
                return_sampling_results=True,
            )  # fmt: skip

    async def sweep():
        gate = asyncio.Semaphore(8)
        return await asyncio.gather(*(one(t, gate) for t in tasks))

    try:
        results = asyncio.run(sweep())
    finally:
        backend.close()
    failed = [(r.result.value, r.attempts[0].verdicts) for r in results if not r.success]
    assert not failed, f"{kind}: enforced answers that fail: {failed[:3]}"
    assert all(len(r.attempts) == 1 and r.attempts[0].verdicts[0][1].enforced for r in results)


@pytest.mark.embedded
def test_llama_server_says_it_enforces_gbnf_grammars(backend):
    assert backend.constraint_syntaxes == frozenset({"gbnf", "json"})


@pytest.mark.embedded
@pytest.mark.parametrize(("kind", "params"), ENFORCEABLE_EXAMPLES, ids=[k for k, _ in ENFORCEABLE_EXAMPLES])
def test_an_answer_under_a_kinds_gbnf_grammar_passes_its_check(backend, kind, params):
    requirement = checks.make(kind, **params)
    constraint = constraint_of(requirement)
    out = backend.generate_from_context(
        Message("user", "Tell me about rivers."), LinearContext(),
        model_options={ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 24},
    )  # fmt: skip
    text = out.value or ""
    assert constraint.matches(text), repr(text)
    result = requirement.validation_fn.check_text(text)
    assert result.result, f"{kind}: {text!r} fails its check: {result.reason}"


@pytest.mark.embedded
def test_an_intersection_goes_to_the_server_as_one_rule_per_state_and_holds(backend):
    constraint = constraint_of(checks.max_words(6)) & constraint_of(checks.starts_with("Rivers"))
    assert constraint.gbnf().startswith("root ::= s0")  # the automaton form: GBNF has no intersection
    out = backend.generate_from_context(
        Message("user", "Tell me about rivers."), LinearContext(),
        model_options={ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 24},
    )  # fmt: skip
    text = out.value or ""
    # starts_with ignores case, as its check does
    assert constraint.matches(text) and text.lower().startswith("rivers")
    for requirement in (checks.max_words(6), checks.starts_with("Rivers")):
        assert requirement.validation_fn.check_text(text).result, text


@pytest.mark.embedded
def test_an_answer_cut_at_the_token_limit_is_completed_to_its_grammar_and_says_so(backend):
    constraint = constraint_of(checks.end_phrase("That is all, thank you.")) & constraint_of(checks.quotation())
    out = backend.generate_from_context(
        Message("user", "Tell me a long story about rivers."), LinearContext(),
        model_options={ModelOption.CONSTRAINT: constraint, ModelOption.MAX_NEW_TOKENS: 6},
    )  # fmt: skip
    text = out.value or ""
    assert constraint.matches(text) and text.lower().endswith('that is all, thank you."')
    added = out.meta["constraint_completion"]
    assert text.endswith(added) and out.meta["finish_reason"] == "length"


@pytest.mark.embedded
def test_the_enforce_strategy_on_llama_server_meets_the_enforced_requirements_first_time(backend):
    reqs = [checks.no_comma(), checks.all_lowercase(english=False), checks.max_words(12), checks.min_words(3)]
    result = Session(backend).instruct(
        "Describe a river, its banks, its fish, and the town by it.", requirements=reqs, strategy="enforce",
        loop_budget=1, model_options={ModelOption.MAX_NEW_TOKENS: 32}, return_sampling_results=True,
    )  # fmt: skip
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, True, True, False]
    assert all(v.result for v in verdicts[:3])


def test_a_grammar_llama_server_refuses_is_checked_instead_and_every_verdict_says_so(backend, monkeypatch):
    from gencomp.constraints import Constraint

    # the fault is ours (a GBNF that does not parse); the refusal is the real server's
    monkeypatch.setattr(Constraint, "gbnf", lambda self, limit=4000: 'root ::= ( "a" ')
    reqs = [checks.no_comma(), checks.max_words(12)]  # checked on prefixes: the answer is streamed
    result = Session(backend).instruct(
        "Describe a river.", requirements=reqs, strategy="enforce", loop_budget=1,
        model_options={ModelOption.MAX_NEW_TOKENS: 16}, return_sampling_results=True,
    )  # fmt: skip
    [attempt] = result.attempts
    assert attempt.output is not None and attempt.output.value
    for _, v in attempt.verdicts or []:
        assert v.enforced is False and v.ran
        assert "failed to parse grammar" in (v.enforcement_note or "")
    assert "the backend refused the grammar" in result.selection


# -- a server that offers only a JSON mode (a scripted transport: no such server runs here) -------------


def _json_only(replies: list) -> tuple[OpenAIBackend, ScriptedTransport]:
    transport = ScriptedTransport(replies)
    return OpenAIBackend(base_url="http://fake/v1", transport=transport), transport


def test_a_json_only_server_gets_json_mode_for_json_format_and_nothing_else_is_enforced():
    backend, transport = _json_only([httpx2.Response(200, json=chat_answer('{"river": "Nile"}'))])
    assert backend.constraint_syntaxes == frozenset({"json"})
    result = Session(backend).instruct(
        "Describe a river as JSON.", requirements=[checks.json_format(), checks.title()], strategy="enforce",
        loop_budget=1, return_sampling_results=True,
    )  # fmt: skip
    [(_, _, body)] = transport.requests
    assert body["response_format"] == {"type": "json_object"} and "grammar" not in body
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, False]
    assert "enforces only JSON answers" in (verdicts[1].enforcement_note or "")


def test_a_json_only_server_refuses_another_constraint_by_name():
    backend, _ = _json_only([])
    with pytest.raises(GencompError, match="cannot enforce"):
        backend.generate_from_context(
            Message("user", "Hi."),
            LinearContext(),
            model_options={ModelOption.CONSTRAINT: constraint_of(checks.no_comma())},
        )


def test_a_grammar_goes_to_llama_server_in_the_grammar_field():
    models = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "llamacpp"}]}
    lora = httpx2.Response(200, json=[])
    transport = ScriptedTransport([], models=models)
    transport.replies = [httpx2.Response(200, json={}), lora, httpx2.Response(200, json=chat_answer("no commas here"))]
    backend = OpenAIBackend(base_url="http://fake/v1", transport=transport)
    constraint = constraint_of(checks.no_comma())
    out = backend.generate_from_context(
        Message("user", "Hi."), LinearContext(), model_options={ModelOption.CONSTRAINT: constraint}
    )
    body = transport.requests[-1][2]
    assert body["grammar"] == constraint.gbnf() and out.value == "no commas here"
    assert json.dumps(body)  # the request is plain JSON


def test_a_posted_request_whose_grammar_the_server_refuses_raises_constraint_refused():
    models = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "llamacpp"}]}
    refusal = {"error": {"code": 400, "message": "Failed to initialize samplers: failed to parse grammar"}}
    transport = ScriptedTransport([], models=models)
    transport.replies = [
        httpx2.Response(200, json={}),
        httpx2.Response(200, json=[]),
        httpx2.Response(400, json=refusal),
    ]
    backend = OpenAIBackend(base_url="http://fake/v1", transport=transport)
    with pytest.raises(ConstraintRefusedError, match="failed to parse grammar"):
        backend.generate_from_context(
            Message("user", "Hi."), LinearContext(),
            model_options={ModelOption.CONSTRAINT: constraint_of(checks.no_comma())},
        )  # fmt: skip


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("requirement", "prompt"),
    [
        (checks.no_comma(), "What is 2 plus 2?"),
        (checks.max_words(30), "Name a colour."),
        (checks.forbidden_words(["banana"]), "Name a colour."),
    ],
)
def test_enforcement_does_not_change_an_answer_the_grammar_already_allows(backend, requirement, prompt):
    constraint = constraint_of(requirement)
    options = {ModelOption.MAX_NEW_TOKENS: 24, ModelOption.TEMPERATURE: 0.0}  # the server samples by default
    alone = backend.generate_from_context(Message("user", prompt), LinearContext(), model_options=options)
    text = alone.value or ""
    assert requirement.validation_fn.check_text(text).result and constraint.matches(text), (
        f"the premise: {text!r} passes and the grammar allows every token of it"
    )
    enforced = backend.generate_from_context(
        Message("user", prompt), LinearContext(), model_options={**options, ModelOption.CONSTRAINT: constraint}
    )
    assert enforced.value == text and "constraint_completion" not in enforced.meta


@pytest.mark.embedded
def test_an_intersection_too_large_for_gbnf_is_left_to_the_check_with_a_note(backend):
    reqs = [checks.max_words(100), checks.end_phrase("Any other questions?"), checks.quotation()]
    result = Session(backend).instruct(
        "Describe a river.", requirements=reqs, strategy="enforce", loop_budget=1,
        model_options={ModelOption.MAX_NEW_TOKENS: 32, ModelOption.TEMPERATURE: 0.0}, return_sampling_results=True,
    )  # fmt: skip
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, False, True]
    assert "GBNF" in (verdicts[1].enforcement_note or "") and verdicts[0].result and verdicts[2].result


@pytest.mark.embedded
def test_json_with_a_forbidden_word_is_enforced_in_gbnf_as_json_nested_less_deeply(backend):
    reqs = [checks.json_format(), checks.forbidden_words(["nickname"])]
    result = Session(backend).instruct(
        "Describe a famous horse as JSON, with its name and nickname.", requirements=reqs, strategy="enforce",
        loop_budget=1, model_options={ModelOption.MAX_NEW_TOKENS: 64}, return_sampling_results=True,
    )  # fmt: skip
    verdicts = [v for _, v in result.attempts[0].verdicts or []]
    assert [v.enforced for v in verdicts] == [True, True] and all(v.result for v in verdicts), verdicts
