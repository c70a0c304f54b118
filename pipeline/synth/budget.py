"""Request budget (token bucket), open-task gate (AIMD) and backoff delays.

Why one bucket: the vendor may count creates and queries against the same rate
limit, so both draw from one budget; a 101003 pauses the whole budget, not one caller.
Why AIMD: 101004 may mean open tasks or requests in flight; halving our own ceiling
and creeping back up finds the service's limit without knowing it (at the configured
ceiling, which is usually the real limit, one step down is enough).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable

from pipeline.synth.clock import Clock, SystemClock

RATE_CUT = 0.75  # a 101003 lowers the request rate to this share (the service's limit may be below ours)
RATE_STEP = 0.01  # each accepted request gives back this share of the configured rate
RATE_FLOOR = 0.05  # the rate never drops below this share of the configured one
REFUSAL_AIM = 0.9  # risked refusals (those already refused and those in flight) stay within this part of the budget
PROBE_TICK = 0.003  # seconds between re-checks of the odds that a slot is free
EPSILON = 1e-9  # a token short by a rounding error is a whole one (else the wait rounds to no time)


def full_jitter(attempt: int, base: float = 0.25, cap: float = 20.0, rng: random.Random | None = None) -> float:
    """AWS-style full jitter: uniform(0, min(cap, base * 2**attempt))."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return (rng or random).uniform(0.0, ceiling)


def bounded_backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Retry delay for transient faults: exponential, capped, half-jittered."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return ceiling / 2 + random.uniform(0.0, ceiling / 2)


class TokenBucket:
    """`rate` tokens per second, small burst; `penalize` pauses every caller.

    Refills and waits on `clock`, so a test can drive the budget without real time."""

    def __init__(self, rate: float, burst: float = 1.0, clock: Clock | None = None, reserve: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = self.configured = rate
        self.reserve = max(0.0, reserve)  # tokens on top of the burst that only urgent callers may take
        self.burst = max(1.0, burst) + self.reserve
        self.may_risk: Callable[[], bool] = lambda: True  # the key's refusal budget has room
        self.clock = clock or SystemClock()
        self._tokens = self.burst
        self._last = self.clock.monotonic()
        self._paused_until = 0.0
        self._locks = {False: asyncio.Lock(), True: asyncio.Lock()}
        self._urgent = 0
        self.granted = 0
        self._mark_at, self._mark_granted, self._last_slack = self._last, 0, 1.0
        self.penalties = 0
        self._strikes = 0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, urgent: bool = False) -> None:
        """Wait for one token; `urgent` callers (creates) go before queued polls.

        Why: a create refills an open-task slot the service has already freed, so it is
        worth more than a poll; each class is FIFO through its own lock.
        """
        if urgent:
            self._urgent += 1
        try:
            async with self._locks[urgent]:
                while True:
                    now = self.clock.monotonic()
                    if now < self._paused_until:
                        await self.clock.sleep(self._paused_until - now)
                        continue
                    self._refill(now)
                    if not urgent and self._urgent:
                        await self.clock.sleep(max(0.005, (1.0 - self._tokens) / self.rate))
                        continue
                    need = 1.0 if urgent else 1.0 + self.reserve
                    if self._tokens >= need - EPSILON:
                        self._tokens = max(0.0, self._tokens - 1.0)
                        self.granted += 1
                        return
                    await self.clock.sleep((need - self._tokens) / self.rate)
        finally:
            if urgent:
                self._urgent -= 1

    def idle_for(self) -> float:
        """Seconds the bucket has sat full with nobody waiting (0 while anyone waits)."""
        now = self.clock.monotonic()
        if now < self._paused_until or any(lock.locked() for lock in self._locks.values()):
            return 0.0
        full_at = self._last + max(0.0, self.burst - self._tokens) / self.rate
        return max(0.0, now - full_at)

    def slack(self, window: float = 2.0) -> float:
        """Fraction of the budget unused in the last `window`-ish seconds (0..1)."""
        now = self.clock.monotonic()
        elapsed = now - self._mark_at
        if elapsed < window:
            return self._last_slack
        used = (self.granted - self._mark_granted) / (elapsed * self.rate)
        self._last_slack = min(1.0, max(0.0, 1.0 - used))
        self._mark_at, self._mark_granted = now, self.granted
        return self._last_slack

    def penalize(self) -> float:
        """101003: pause the whole budget for a full-jitter exponential delay, and slow down.

        Why slow down: a 101003 while we keep to `rate` means the service allows less
        (a smaller plan, another client on the key); pausing alone would hit it again at once.
        """
        self.penalties += 1
        self.rate = max(self.configured * RATE_FLOOR, self.rate * RATE_CUT)
        self._strikes += 1
        delay = max(1.0 / self.rate, full_jitter(self._strikes))
        until = self.clock.monotonic() + delay
        self._paused_until = max(self._paused_until, until)
        self._tokens = 0.0
        return delay

    def success(self) -> None:
        """A request went through: forget earlier strikes; creep back to the configured rate
        while the refusal budget can pay for finding the limit again."""
        self._strikes = 0
        if self.rate < self.configured and self.may_risk():
            self.rate = min(self.configured, self.rate + self.configured * RATE_STEP)


class AIMDGate:
    """Ceiling on open tasks: +1 per window of successes, halve on congestion."""

    def __init__(self, max_open: int, start: int | None = None, clock: Clock | None = None) -> None:
        self.max_open = max(1, max_open)
        self.clock = clock or SystemClock()
        self.limit = float(min(self.max_open, start or self.max_open))
        self.open = 0
        self.confirmed = 0  # open slots whose create the service accepted
        self.history: list[int] = [int(self.limit)]
        self._cond = asyncio.Condition()
        self._last_cut = -math.inf
        self.probes_out = 0  # probe creates not yet answered
        self.refused_at: int | None = None  # open tasks the service last refused a create at, below max_open
        self.probe_room = 0  # probes at the limit: this many slots above max_open may be held
        self.may_risk: Callable[[], bool] = lambda: True  # the key's refusal budget has room

    @property
    def ceiling(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self, probe: Callable[[], bool] | None = None) -> bool:
        """Take a slot; True means it is a probe (every slot seemed busy, see occupancy.py).

        With `probe`, the odds are re-checked every PROBE_TICK seconds, since they grow
        with time rather than with any event; one probe is out at a time (at the limit,
        several: their odds count the probes out as held slots). A probe only
        ever fills the room between a lowered ceiling and `max_open`: max_open is a hard
        ceiling on tasks that may be open, whatever the odds say (a service whose own
        limit is higher would otherwise accept every probe). Only probes at the limit
        (`probe_room`) may hold more slots, for tasks that have probably ended unseen.
        """
        async with self._cond:
            while True:
                if self.open < self.ceiling:
                    self.open += 1
                    return False
                if probe is not None and self._probe_may_go() and probe():
                    self.open += 1
                    self.probes_out += 1
                    return True
                try:
                    async with asyncio.timeout(PROBE_TICK if probe is not None else None):
                        await self._cond.wait()
                except TimeoutError:
                    pass

    def _probe_may_go(self) -> bool:
        if self.probe_room:
            return self.open < self.max_open + self.probe_room
        return not self.probes_out and self.open < self.max_open

    async def probe_done(self) -> None:
        """The probe's create was answered: another may go."""
        async with self._cond:
            self.probes_out = max(0, self.probes_out - 1)
            self._cond.notify_all()

    async def release(self) -> None:
        async with self._cond:
            self.open = max(0, self.open - 1)
            self._cond.notify_all()

    def retire(self) -> None:
        """A task we stopped watching may still hold a slot on the service: one fewer here."""
        self.max_open = max(1, self.max_open - 1)
        self.limit = min(self.limit, float(self.max_open))
        self._record()

    def _record(self) -> None:
        if int(self.limit) != self.history[-1]:
            self.history.append(int(self.limit))

    async def on_success(self) -> None:
        """Additive increase: +1 after about `limit` successes."""
        async with self._cond:
            raised = min(float(self.max_open), self.limit + 1.0 / max(1.0, self.limit))
            if int(raised) > int(self.limit) and self._refused_above(int(raised)) and not self.may_risk():
                return  # the service refused at this ceiling before: try it again only on budget
            self.limit = raised
            self._record()
            self._cond.notify_all()

    def _refused_above(self, ceiling: int) -> bool:
        return self.refused_at is not None and ceiling > self.refused_at

    def on_congestion(self, hold: float = 0.25) -> None:
        """Decrease once per window of replies: -1 at the configured ceiling, else halve.

        Why: the configured max_open is usually the service's real limit, and a 101004
        there comes from a race (our count and the service's differ for a moment), so
        one slot less is enough. When fewer than max_open accepted tasks are open, the
        service's limit is below ours: halve, and never above the tasks it had accepted
        (`refused_at`, which on_success passes again only on the refusal budget).
        """
        now = self.clock.monotonic()
        if now - self._last_cut < hold:
            return
        self._last_cut = now
        if int(self.limit) >= self.max_open and self.confirmed >= self.max_open > 1:
            self.limit = float(self.max_open - 1)
        else:
            self.refused_at = max(1, self.confirmed)
            self.limit = max(1.0, min(self.limit / 2, float(self.refused_at)))
        self._record()


class RefusalBudget:
    """Refused requests (101003 + 101004) allowed on a key, as a share of its requests.

    Why: a vendor may treat a key that keeps hitting its limits as abusive, and a refused
    request is a request spent. Refusals we choose to risk (probe creates, raising the
    request rate or the open-task ceiling back towards where the service last refused)
    are taken only while `refused + in flight + 1 <= 0.9 * share * (requests + 1)`, every
    probe create still unanswered counted as refused; the others (another client on the
    key) are counted and back off as before.
    """

    def __init__(self, share: float, bucket: TokenBucket, in_flight: Callable[[], int] = lambda: 0) -> None:
        self.share, self.bucket, self.in_flight = share, bucket, in_flight
        self.refused = 0

    def note(self) -> None:
        self.refused += 1

    def has_room(self) -> bool:
        """Room for one more risked refusal within REFUSAL_AIM of the share, were every probe
        in flight refused too: the rest is headroom for refusals we did not choose."""
        return self.refused + self.in_flight() + 1 <= REFUSAL_AIM * self.share * (self.bucket.granted + 1)


class Slot:
    """One job's hold on the open-task gate: released when the service's slot frees
    (at the "success" poll, before the download), re-taken only to create again."""

    def __init__(self, gate: AIMDGate, probe: bool = False) -> None:
        self.gate = gate
        self.held = True  # the run loop acquired it for us
        self.probe = probe  # the next create is a probe (every slot seemed busy)
        self.created = False  # counted in gate.confirmed

    def confirm(self) -> None:
        """The service accepted our create: this slot is surely open on its side too."""
        if self.held and not self.created:
            self.created = True
            self.gate.confirmed += 1

    async def acquire(self, stopping: Callable[[], bool], probe: Callable[[], bool] | None = None) -> bool:
        """Hold the gate again (to create again); False when the run is stopping."""
        if not self.held:
            self.probe = await self.gate.acquire(probe)
            self.held = True
        return not stopping()

    async def answered(self) -> bool:
        """The create got a reply; True if it was a probe (and the next may go)."""
        was, self.probe = self.probe, False
        if was:
            await self.gate.probe_done()
        return was

    async def release(self) -> None:
        await self.answered()
        if self.held:
            self.held = False
            if self.created:
                self.created = False
                self.gate.confirmed -= 1
            await self.gate.release()
