"""A shared/exclusive lock: many holders share it, or one holds it alone (waiting exclusive holders go first)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator

__all__ = ["SharedExclusiveLock"]


class SharedExclusiveLock:
    """Many threads may hold it shared at once; an exclusive holder waits for them and blocks new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    def acquire_shared(self) -> None:
        """Take a shared hold (blocks while an exclusive holder has it or waits for it)."""
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextlib.asynccontextmanager
    async def ashared(self) -> AsyncIterator[None]:
        """:meth:`shared` for asyncio: waits in a worker thread, so the event loop is never blocked."""
        with self._cond:
            free = not (self._exclusive or self._waiting)
            if free:
                self._shared += 1
        if not free:
            waiting = asyncio.get_running_loop().run_in_executor(None, self.acquire_shared)
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                await waiting  # the thread takes the hold in the end: give it back
                self.release_shared()
                raise
        try:
            yield
        finally:
            self.release_shared()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
