"""Service health and the create breaker: how hard we may push a service that misbehaves.

Why two mechanisms:
- `Health` watches every API call. While calls fail with no readable reply (5xx,
  timeouts, refused connections), requests go out one at a time after a growing pause
  (a half-open circuit), so an outage costs a handful of requests, not a storm; when
  nothing readable has come back for `outage_after` seconds the run stops (resumable).
- `CreateBreaker` watches creates only, because an unreadable create reply may hide a
  task that is billed but never heard of. Creates go one at a time until one reply has
  been read (so a broken service costs one uncertain create, not `max_open`), and again
  after any uncertain reply; `limit` uncertain creates in a row stop the run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pipeline.synth.clock import Clock


class Health:
    """Consecutive transient failures of API calls, a shared pause, and outage detection."""

    def __init__(self, clock: Clock, outage_after: float, base: float = 0.5, cap: float = 30.0) -> None:
        self.clock = clock
        self.outage_after = outage_after
        self.base, self.cap = base, cap
        self.failures = 0
        self.last_ok = clock.monotonic()
        self.resume_at = 0.0  # while failing, the next call waits until then
        self.turn = asyncio.Lock()  # while failing, calls go one at a time (RunState.admit)

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def down(self) -> bool:
        """No readable reply for `outage_after` seconds while calls kept failing."""
        return self.failing and self.clock.monotonic() - self.last_ok >= self.outage_after

    def down_for(self) -> float:
        return self.clock.monotonic() - self.last_ok

    def ok(self) -> None:
        """A readable reply (success or a documented code): the service is answering."""
        self.failures = 0
        self.last_ok = self.clock.monotonic()

    def fault(self) -> None:
        """A call without a readable reply: pause everyone, longer each time (jittered)."""
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** (self.failures - 1))
        delay = ceiling / 2 + random.uniform(0.0, ceiling / 2)
        self.resume_at = max(self.resume_at, self.clock.monotonic() + delay)


class CreateBreaker:
    """Uncertain creates in a row; creates are serialized until a reply has been read."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.streak = 0  # uncertain creates since the last readable create reply
        self.proven = False  # a create reply was read in this run
        self._turn = asyncio.Lock()

    @property
    def tripped(self) -> bool:
        return self.streak >= self.limit

    @property
    def serial(self) -> bool:
        return not self.proven or self.streak > 0

    def readable(self) -> None:
        self.streak = 0
        self.proven = True

    def uncertain(self) -> None:
        self.streak += 1

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Around one create: free when proven and healthy, else one create at a time."""
        if not self.serial:
            yield
            return
        async with self._turn:
            yield
