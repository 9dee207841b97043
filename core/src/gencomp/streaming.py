"""Streaming, cancellation and async plumbing shared by sessions and backends.

A session hands the generation it runs a :class:`GenerationControl` through a context variable
(:func:`current_control`), never through the backend's signature, so every backend keeps the seed's
``generate_from_context`` and works with it unchanged:

- a backend that can stream calls :meth:`GenerationControl.push` with each piece of text as it is
  generated, and stops when ``push`` returns ``False`` (cancelled, or a requirement failed on the
  prefix: :attr:`GenerationControl.early_stop`);
- a backend that cannot stream does nothing: the base class pushes its whole answer at once;
- a backend that runs long steps checks :meth:`GenerationControl.stop_requested` between them.

The requirement checks of a call never see the control: only the answer is streamed.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from gencomp.errors import GencompError

if TYPE_CHECKING:
    from gencomp.components import Requirement, ValidationResult

__all__ = [
    "AsyncResultStream",
    "EarlyStop",
    "GenerationCancelled",
    "GenerationControl",
    "ResultStream",
    "StreamChunk",
    "StreamMisuseError",
    "candidate_controls",
    "controlled",
    "controlled_candidates",
    "current_control",
    "run_in_thread",
    "run_sync",
]

T = TypeVar("T")


class GenerationCancelled(GencompError):
    """A generation was stopped because its caller cancelled it or closed its stream."""


class StreamMisuseError(GencompError, RuntimeError):
    """A stream was used in a way it cannot serve (its result read after it was closed, no event loop...)."""


@dataclass(frozen=True)
class StreamChunk:
    """A piece of an answer as it is generated; ``attempt`` counts from 1 (a retry starts a new attempt).

    After each attempt of a call with requirements comes a chunk with no text whose ``checks`` are
    that attempt's ``(requirement, verdict)`` pairs.
    """

    text: str
    attempt: int
    checks: tuple[tuple[Requirement, ValidationResult], ...] | None = None


@dataclass(frozen=True)
class EarlyStop:
    """A requirement decided on a prefix of the answer, so the generation was stopped there."""

    requirement: Requirement
    result: ValidationResult
    token: int
    """How many answer tokens had been generated when the generation stopped (0 when the backend does not count)."""


class GenerationControl:
    """One generation's link to its caller: where its text goes and whether it must stop.

    ``on_text`` receives each pushed piece; ``prefix_checks`` are requirements that can decide on a
    prefix of the answer (:attr:`Requirement.prefix_fn`). Thread-safe: a backend may push from a
    worker thread while the caller cancels from another. ``first_text_ns`` is when the first streamed
    piece arrived (:func:`time.time_ns`; ``None`` until then, and for an answer pushed whole).
    """

    def __init__(
        self,
        on_text: Callable[[str], None] | None = None,
        prefix_checks: Sequence[Requirement] = (),
        *,
        cancelled: threading.Event | None = None,
    ) -> None:
        self.on_text = on_text
        self.prefix_checks = [r for r in prefix_checks if r.prefix_fn is not None]
        self.cancelled = cancelled if cancelled is not None else threading.Event()
        self.early_stop: EarlyStop | None = None
        self._parts: list[str] = []
        self.pushed = False
        self.first_text_ns: int | None = None

    @property
    def text(self) -> str:
        """The answer pushed so far (kept as pieces, joined when read: a long stream stays linear)."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def cancel(self) -> None:
        """Ask the generation to stop as soon as it can."""
        self.cancelled.set()

    def stop_requested(self) -> bool:
        """Whether the generation should stop now (cancelled, or a requirement failed on the prefix)."""
        return self.cancelled.is_set() or self.early_stop is not None

    def push(self, text: str, *, tokens: int = 0, whole: bool = False) -> bool:
        """Hand on the next piece of the answer; ``tokens`` is the answer's length so far. ``False``: stop.

        ``whole`` marks the complete answer of a backend that does not stream (the base class sends
        it): it is not checked on a prefix, since nothing was stopped early.
        """
        if self.stop_requested():
            return False
        self.pushed = True
        if not text:
            return True
        if self.first_text_ns is None and not whole:
            self.first_text_ns = time.time_ns()
        self._parts.append(text)
        if self.on_text is not None:
            self.on_text(text)
        if whole:
            return True
        for requirement in self.prefix_checks:
            assert requirement.prefix_fn is not None
            verdict = requirement.prefix_fn(self.text)
            if verdict is not None and not verdict.result:
                self.early_stop = EarlyStop(requirement, verdict, tokens)
                return False
        return True


_control: contextvars.ContextVar[GenerationControl | None] = contextvars.ContextVar("gencomp_control", default=None)


def current_control() -> GenerationControl | None:
    """The control of the generation running in this context, if its caller set one."""
    return _control.get()


@contextlib.contextmanager
def controlled(control: GenerationControl | None) -> Iterator[None]:
    """Run the body with ``control`` as :func:`current_control` (``None`` hides an outer one)."""
    token = _control.set(control)
    try:
        yield
    finally:
        _control.reset(token)


_candidates: contextvars.ContextVar[Sequence[GenerationControl] | None] = contextvars.ContextVar(
    "gencomp_candidate_controls", default=None
)


def candidate_controls() -> Sequence[GenerationControl] | None:
    """The controls of the candidates a batched generation produces, one per output, if its caller set them.

    A backend that generates several candidates at once (``Backend.generate_n``) pushes each one's
    text to its own control and stops that candidate alone when its control asks to stop.
    """
    return _candidates.get()


@contextlib.contextmanager
def controlled_candidates(controls: Sequence[GenerationControl] | None) -> Iterator[None]:
    """Run the body with ``controls`` as :func:`candidate_controls` (``None`` hides outer ones)."""
    token = _candidates.set(controls)
    try:
        yield
    finally:
        _candidates.reset(token)


async def run_in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run blocking ``fn`` in a worker thread without blocking the event loop; cancellation reaches it.

    The thread runs in a copy of the caller's context. When the awaiting task is cancelled, the
    current control (or a fresh one made for the call) is cancelled, and the task waits for the
    thread to return (so a backend's lock is released) before it re-raises ``CancelledError``.
    """
    import asyncio  # here, not at the top: ``import gencomp`` stays free of asyncio's import cost

    control = current_control()
    own = control is None
    if own:
        control = GenerationControl()
    ctx = contextvars.copy_context()
    if own:
        ctx.run(_control.set, control)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, functools.partial(ctx.run, fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        assert control is not None
        control.cancel()
        with contextlib.suppress(BaseException):
            await future
        raise


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to completion from synchronous code.

    In a thread without a running event loop it gets its own loop; inside a running loop's thread
    (where ``asyncio.run`` is not allowed) it runs in a helper thread. The context is carried over.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(make))
    ctx = contextvars.copy_context()
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, ctx.run(asyncio.run, _awaited(make))))
        except BaseException as exc:
            box.append((False, exc))

    worker = threading.Thread(target=target, name="gencomp-run-sync")
    worker.start()
    worker.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_DONE = object()


class ResultStream(Generic[T]):
    """The chunks of a call's answer as they are generated (iterate it), then the call's result.

    The call starts in a worker thread when the iteration starts (or :attr:`result` is read); a
    stream closed before that never runs. Iterating yields :class:`StreamChunk`s, for every attempt;
    :attr:`result` is what the non-streaming call returns (it consumes the rest of the stream).
    Closing the stream early (``close()``, leaving a ``with`` block, leaving the ``for`` loop before
    its end by ``break`` or an exception, or garbage collection) cancels the call: the generation
    stops, and the session's context is left as it was before the call; :attr:`result` then raises
    :class:`GenerationCancelled`.
    """

    def __init__(self, run: Callable[[Callable[[StreamChunk], None], GenerationControl], T]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._control = GenerationControl()
        self._result: T | None = None
        self._error: BaseException | None = None
        self._finished = False
        self._done = False
        ctx = contextvars.copy_context()
        self._thread = threading.Thread(target=ctx.run, args=(self._work, run), name="gencomp-stream", daemon=True)

    def _work(self, run: Callable[[Callable[[StreamChunk], None], GenerationControl], T]) -> None:
        try:
            self._result = run(self._queue.put, self._control)
            self._done = True
        except BaseException as exc:
            self._error = exc
        finally:
            self._queue.put(_DONE)

    def __iter__(self) -> Iterator[StreamChunk]:
        if not self._finished and self._thread.ident is None:
            self._thread.start()
        try:
            while not self._finished:
                item = self._queue.get()
                if item is _DONE:
                    self._finish()
                    break
                yield item
        finally:
            if not self._finished:  # the consumer left the loop before the end: the stream is abandoned
                self.close()

    def text(self) -> Iterator[str]:
        """Only the text of the chunks."""
        for chunk in self:
            yield chunk.text

    def _finish(self) -> None:
        self._finished = True
        self._thread.join()
        if self._error is not None:
            raise self._error

    @property
    def result(self) -> T:
        """The call's result; iterates the rest of the stream first if needed.

        Raises :class:`GenerationCancelled` when the stream was closed (or left) before its call ended.
        """
        for _ in self:
            pass
        if not self._done:
            raise GenerationCancelled(
                "the stream was closed before its call ended (close(), a with block, or leaving its for loop "
                "early), so the call was cancelled and has no result; iterate it to the end to get one"
            )
        return self._result  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the call (if it still runs) and wait for it; the session's context stays as before the call."""
        if self._finished:
            return
        self._finished = True
        self._control.cancel()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> ResultStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_finished", True):
            self._control.cancel()


class AsyncResultStream(Generic[T]):
    """The async counterpart of :class:`ResultStream`: ``async for`` the chunks, then :attr:`result`.

    The call runs as a task on the running loop; ``aclose()``, leaving an ``async with`` block,
    leaving the ``async for`` loop before its end, or garbage collection cancels it.
    """

    def __init__(self, run: Callable[[Callable[[StreamChunk], None], GenerationControl], Awaitable[T]]) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise StreamMisuseError(
                "an async stream (ainstruct_stream, achat_stream) needs a running event loop: create it inside "
                "async code, or use the synchronous instruct_stream / chat_stream"
            ) from None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._control = GenerationControl()

        def emit(chunk: StreamChunk) -> None:  # pushed from worker threads as well as from the loop
            loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

        self._task: asyncio.Task[T] = loop.create_task(self._work(run, emit))
        self._finished = False

    async def _work(
        self,
        run: Callable[[Callable[[StreamChunk], None], GenerationControl], Awaitable[T]],
        emit: Callable[[StreamChunk], None],
    ) -> T:
        import asyncio

        try:
            return await run(emit, self._control)
        finally:
            asyncio.get_running_loop().call_soon(self._queue.put_nowait, _DONE)

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        try:
            while not self._finished:
                item = await self._queue.get()
                if item is _DONE:
                    self._finished = True
                    await self._task  # raises the call's error
                    break
                yield item
        finally:
            if not self._finished:  # the consumer left the loop before the end: the stream is abandoned
                self._abandon()

    def _abandon(self) -> None:
        self._finished = True
        self._control.cancel()
        self._task.cancel()

    async def result(self) -> T:
        """The call's result, once its stream is consumed (consumes the rest).

        Raises :class:`GenerationCancelled` when the stream was closed (or left) before its call ended.
        """
        import asyncio

        async for _ in self:
            pass
        try:
            return await self._task
        except asyncio.CancelledError:
            if self._task.cancelled() and not _current_task_cancelling():
                raise GenerationCancelled(
                    "the stream was closed before its call ended (aclose(), an async with block, or leaving its "
                    "async for loop early), so the call was cancelled and has no result"
                ) from None
            raise

    async def aclose(self) -> None:
        """Cancel the call if it still runs, and wait until it has stopped."""
        import asyncio

        if self._task.done():
            self._finished = True
            return
        self._abandon()
        with contextlib.suppress(asyncio.CancelledError, GenerationCancelled):
            await self._task

    async def __aenter__(self) -> AsyncResultStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            self._control.cancel()
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                task.cancel()


def _current_task_cancelling() -> bool:
    import asyncio

    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
