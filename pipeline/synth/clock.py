"""Time for the synthesis engine and the emulator, injectable so tests never depend on how
busy the machine is.

One clock is handed down from the entry point (synthesize/run_synthesis `clock=`,
EmulatorApp/serve/start_emulator `clock`), never read from a module global:
SystemClock in production; ManualClock (time moves when someone sleeps) for unit
tests of one coroutine; SteppedClock (time moves only on `advance`, from any thread)
for a test that drives the emulator on its own thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds for intervals and deadlines within one run."""
        ...

    def time(self) -> float:
        """Wall-clock seconds (persisted timestamps, e.g. when a task was created)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told (or when someone sleeps on it): for unit tests."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class SteppedClock:
    """Time stands still until `advance` (from any thread); sleepers wake once it passes
    their deadline. For a test that drives a server on another thread's loop (the emulator):
    task ends and rate windows come when the test says, however busy the machine is."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    @property
    def sleeping(self) -> int:
        """Sleepers not yet due (a test may wait for one to start before advancing)."""
        with self._lock:
            return len(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            entry = (self.now + seconds, loop, future)
            self._sleepers.append(entry)
        try:
            await future
        finally:
            with self._lock:
                if entry in self._sleepers:
                    self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            due = [s for s in self._sleepers if s[0] <= self.now]
            self._sleepers = [s for s in self._sleepers if s[0] > self.now]
        for _, loop, future in due:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def sleep_or_wake(clock: Clock, delay: float, *wakes: asyncio.Event) -> None:
    """Sleep `delay` seconds on `clock`, returning early once any of `wakes` is set.

    Why not asyncio.wait_for(wake.wait(), delay): that times out on the loop's own clock,
    which a test clock cannot drive."""
    if any(wake.is_set() for wake in wakes) or delay <= 0:
        return
    sleeper = asyncio.ensure_future(clock.sleep(delay))
    waiters = [asyncio.ensure_future(wake.wait()) for wake in wakes]
    try:
        await asyncio.wait((sleeper, *waiters), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        for waiter in waiters:
            waiter.cancel()
