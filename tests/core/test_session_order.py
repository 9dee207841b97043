"""One call at a time per session: abandoned streams are cancelled, turns never land out of order."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from gencomp import Backend, Generation, GenerationRequest, Session
from gencomp.errors import SessionBusyError
from gencomp.streaming import GenerationCancelled, StreamMisuseError, current_control


class Slow(Backend):
    """Answers word by word, slowly, through the current control; records how each generation ended."""

    def __init__(self, words: int = 200, pause: float = 0.01) -> None:
        super().__init__("slow")
        self.words, self.pause = words, pause
        self.ended: list[tuple[str, int]] = []  # (first words of the prompt, words sent)
        self.lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        prompt = " ".join(m["content"] for m in request.messages or [])
        asked = prompt.split("Say the word ")[-1].split(".")[0] if "Say the word" in prompt else "story"
        control = current_control()
        words = 3 if asked != "story" else self.words
        text, sent = "", 0
        for n in range(1, words + 1):
            piece = (" " if text else "") + asked
            text += piece
            sent = n
            if control is not None and not control.push(piece, tokens=n):
                break
            time.sleep(self.pause)
        with self.lock:
            self.ended.append((asked, sent))
        return Generation(text)


def _story_ended(backend: Slow) -> int:
    """Wait until the story's generation has ended (stopped or not); how many words it sent."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with backend.lock:
            sent = [n for asked, n in backend.ended if asked == "story"]
        if sent:
            time.sleep(0.1)  # and give a late turn the time to arrive, if one could
            return sent[0]
        time.sleep(0.01)
    raise AssertionError("the story's generation never ended")


def _turns(s: Session) -> list[str]:
    return [str(getattr(c, "description", None) or getattr(c, "value", c))[:40] for c in s.ctx.full_history()]


def test_a_sync_stream_left_by_break_is_cancelled_and_never_adds_its_turn():
    s = Session(Slow())
    stream = s.instruct_stream("Write a long story.")
    for _ in stream:  # the stream object stays referenced: only leaving the loop abandons it
        break
    s.instruct("Say the word banana.")
    assert _story_ended(s.backend) < 200  # the abandoned generation was stopped, not run to its end
    assert _turns(s) == ["Say the word banana.", "banana banana banana"]
    with pytest.raises(GenerationCancelled, match="closed before its call ended"):
        stream.result  # noqa: B018


def test_an_async_stream_left_by_break_or_an_exception_is_cancelled_before_the_next_call():
    async def main(how: str) -> Session:
        s = Session(Slow())
        try:
            async for _ in s.ainstruct_stream("Write a long story."):
                if how == "raise":
                    raise KeyError("the consumer failed")
                break
        except KeyError:
            pass
        await s.ainstruct("Say the word banana.")
        await asyncio.to_thread(_story_ended, s.backend)
        return s

    for how in ("break", "raise"):
        s = asyncio.run(main(how))
        assert _turns(s) == ["Say the word banana.", "banana banana banana"], how
        assert _story_ended(s.backend) < 200, how


def test_a_garbage_collected_stream_stops_its_generation():
    s = Session(Slow())
    stream = s.instruct_stream("Write a long story.")
    next(iter(stream))
    del stream
    gc.collect()
    deadline = time.monotonic() + 10
    while not s.backend.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.backend.ended and s.backend.ended[0][1] < 200 and len(s.ctx) == 0


def test_overlapping_calls_on_one_session_are_refused_with_a_clear_error():
    async def main() -> list[object]:
        s = Session(Slow(words=30))
        return await asyncio.gather(s.ainstruct("Write a long story."), s.ainstruct("Say the word banana."),
                                    return_exceptions=True)  # fmt: skip

    first, second = asyncio.run(main())
    assert getattr(first, "value", "").startswith("story")
    assert isinstance(second, SessionBusyError) and "must not overlap" in str(second)


def test_a_session_serves_calls_one_after_another_from_several_threads_when_they_do_not_overlap():
    s = Session(Slow(words=3, pause=0))
    for word in ("one", "two"):
        t = threading.Thread(target=s.instruct, args=(f"Say the word {word}.",))
        t.start()
        t.join()
    assert len(s.ctx) == 4


def test_stream_misuse_gets_a_named_error():
    s = Session(Slow(words=3, pause=0))
    with pytest.raises(StreamMisuseError, match="needs a running event loop"):
        s.ainstruct_stream("Say the word x.")
    stream = s.instruct_stream("Say the word x.")
    stream.close()
    with pytest.raises(GenerationCancelled, match="has no result"):
        stream.result  # noqa: B018
