"""What one synthesis run shares between its parts (engine, create path, poll path).

Why a separate object: the create path (creates.py) and the poll/download path
(collect.py) both read the same budget, gate, ledger and stop reasons; keeping them
here lets those modules stay small and free of import cycles with the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pipeline.errors import CreditsExhaustedError, FatalKeyError
from pipeline.models import Job
from pipeline.synth.budget import AIMDGate, RefusalBudget, TokenBucket, bounded_backoff
from pipeline.synth.cache import ClipCache
from pipeline.synth.clock import Clock, sleep_or_wake
from pipeline.synth.health import CreateBreaker, Health
from pipeline.synth.ledger import Ledger
from pipeline.synth.options import Stats, SynthOptions
from pipeline.synth.pacing import Pacer
from pipeline.synth.progress import ProgressSink
from pipeline.synth.store import Store
from pipeline.tts.base import Backend


class JobFailed(Exception):
    """Internal: this job cannot be completed in this run (reason in the message)."""


class JobStalled(Exception):
    """Internal: our side could not finish this job now; its job id (if any) is kept."""


class RunHalted(Exception):
    """Internal: the run is stopping (user, dead key, outage, full disk): leave the job as is."""


@dataclass
class Halts:
    """Why creating (or everything) stopped; the first reason of each kind wins."""

    fatal: FatalKeyError | None = None
    credits_out: CreditsExhaustedError | None = None
    cap: str | None = None  # message naming the cap and the spend
    uncertain: str | None = None  # the create breaker tripped
    outage: str | None = None  # no readable reply for outage_after seconds
    disk: str | None = None  # a write hit a full disk

    @property
    def creating_stopped(self) -> bool:
        return any(r is not None for r in (self.fatal, self.credits_out, self.cap, self.uncertain, self.outage,
                                           self.disk))

    @property
    def everything_stopped(self) -> bool:
        """Polls stop too: the key is dead, the service is down, or we cannot write."""
        return self.fatal is not None or self.outage is not None or self.disk is not None


RESERVE = 1.0  # probes at the limit: a token kept for creates, so a probe never waits for one


class KeyLimits:
    """What every run on one key shares: request budget, open-task gate, pacing, service
    health, the create breaker, stop reasons and the stop signal.

    Why shared: the vendor's limits are per key, not per book. A batch gives each book
    its own RunState (store, ledger, stats) over one KeyLimits, so the books together
    stay inside the key's limits and one dead key, outage or empty balance stops them all.
    """

    def __init__(self, options: SynthOptions, stop: asyncio.Event, clock: Clock) -> None:
        self.options, self.stop, self.clock = options, stop, clock
        self.stats = Stats()  # the pacer's view (it only reads stats)
        self.bucket = TokenBucket(options.rate_limit, clock=clock, reserve=RESERVE if options.probe_at_limit else 0.0)
        self.gate = AIMDGate(options.max_open, clock=clock)
        self.refusals = RefusalBudget(options.refusal_budget, self.bucket, lambda: self.gate.probes_out)
        self.pacer = Pacer(options, self.bucket, self.gate, self.stats, clock)
        self.bucket.may_risk = self.gate.may_risk = self.pacer.may_risk = self.refusals.has_room
        self.pacer.refusals = self.refusals
        self.gate.probe_room = self.gate.max_open if options.probe_at_limit else 0
        self.health = Health(clock, options.outage_after)
        self.breaker = CreateBreaker(options.max_uncertain)
        self.halts = Halts()
        self.wake = asyncio.Event()  # set by a stop or a halt of everything: sleepers return


@dataclass
class RunState:
    """The pieces of one run; the engine owns it, the create and poll paths use it.

    `limits` is the key's shared part (a batch passes one to every book); None builds
    a private one, as a single build does."""

    jobs: Sequence[Job]
    backend: Backend
    store: Store
    cache: ClipCache
    options: SynthOptions
    progress: ProgressSink
    stop: asyncio.Event
    clock: Clock
    ledger: Ledger | None
    limits: KeyLimits | None = None
    stats: Stats = field(default_factory=Stats)
    started_wall: float = 0.0

    def __post_init__(self) -> None:
        if self.limits is None:
            self.limits = KeyLimits(self.options, self.stop, self.clock)
            self.limits.stats = self.stats
            self.limits.pacer.stats = self.stats
        k = self.limits
        self.stop, self.clock, self.halts, self.wake = k.stop, k.clock, k.halts, k.wake
        self.bucket, self.gate, self.pacer, self.health, self.breaker = k.bucket, k.gate, k.pacer, k.health, k.breaker
        self.refusals = k.refusals
        self.estimator, self.occupancy = self.pacer.estimator, self.pacer.occupancy
        self.started_wall = self.clock.time()

    def halt_all(self) -> None:
        """After `halts` gained a reason that stops polls too: wake every sleeper now."""
        self.wake.set()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set() or self.halts.everything_stopped

    def no_create(self) -> bool:
        return self.stopping or self.halts.creating_stopped

    def may_probe(self) -> bool:
        """A probe is a refusal we choose to risk: only while the key's refusal budget has room."""
        return not self.no_create() and self.pacer.may_probe()

    def refused(self) -> None:
        """A request drew 101003 or 101004: it counts against the key's refusal budget."""
        self.refusals.note()

    async def sleep(self, delay: float, nudge: asyncio.Event | None = None) -> bool:
        """Sleep unless a stop (or the `nudge`, which is then cleared) comes first; False means stop."""
        if self.stop.is_set():
            self.wake.set()
        if delay > 0 and not self.stopping:
            await sleep_or_wake(self.clock, delay, self.wake, *(() if nudge is None else (nudge,)))
        if nudge is not None:
            nudge.clear()
        return not self.stopping

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Around one API call: free while the service answers; while it fails, one call at a
        time after the shared pause (health.py). Raises RunHalted when the run stops meanwhile."""
        health = self.health
        if not health.failing:
            yield
            return
        async with health.turn:
            await self.sleep(health.resume_at - self.clock.monotonic())
            if self.stopping:
                raise RunHalted()
            yield

    async def backoff(self, attempt: int) -> bool:
        return await self.sleep(bounded_backoff(attempt, self.options.retry_base))

    def check_outage(self) -> None:
        """Stop everything once the service has given no readable reply for too long."""
        if self.halts.outage is None and self.health.down():
            self.halts.outage = (
                f"the service gave no readable reply for {self.health.down_for():.0f} s "
                f"({self.health.failures} failed calls in a row)"
            )
            self.halt_all()

    def spent_now(self) -> int:
        """Credits this run may have spent (ledger), for progress displays."""
        return self.ledger.this_run.spent if self.ledger is not None else 0

    def report(self) -> None:
        self.progress.update(self.stats.requests, self.spent_now())
