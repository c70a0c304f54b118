"""Virtual time for engine tests: an event loop whose clock jumps to the next timer.

Why: engine tests against the in-memory fake assert counts that depend on timing
(refusals while tasks are open, a storm of 101003 kept short). On real time those
counts shift with how busy the machine is; here every sleep, poll delay, rate window
and task duration is exact, and a run of minutes takes milliseconds. Only while no
callback is ready and no socket or thread has something for the loop does time
jump, so real I/O still works (it just takes no virtual time).
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """select(timeout) that, with nothing ready, moves `now` on by `timeout` instead of waiting."""

    def __init__(self, start: float) -> None:
        super().__init__()
        self.now = start

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer at all: only a socket or a thread can wake the loop
            return super().select(None)  # type: ignore[no-any-return]
        self.now += timeout
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (see the module docstring)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._jumping = _JumpingSelector(start)
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


class LoopClock:
    """The engine's Clock read from the running loop (virtual under VirtualLoop).

    `time()` is the wall clock at the loop's start plus the loop's elapsed time, so
    timestamps persisted by one run still make sense to the next."""

    def __init__(self) -> None:
        self._wall0: float | None = None
        self._loop0 = 0.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        now = self.monotonic()
        if self._wall0 is None:
            self._wall0, self._loop0 = time.time(), now
        return self._wall0 + (now - self._loop0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a VirtualLoop."""
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(main)
