"""When to probe for a free slot and how often to poll, from the budget and the service.

Why a separate policy: the engine moves jobs through their states; this decides how
the shared request budget is split between creates, probe creates and polls. With
probes on, polls only collect results (about one per task, late); the probes, sent
when a slot is probably free, keep the open-task slots busy (see occupancy.py).

With `probe_at_limit` probes go at `max_open` itself, judged by the learned task
durations (durations.py); the odds a probe needs float so that refusals stay near
PROBE_AIM of the refusal budget (more refusals than that: surer probes), and a
filler spends budget nobody wants on polling the task nearest to having ended,
which both frees a known slot and sharpens the durations.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from pipeline.synth.budget import AIMDGate, RefusalBudget, TokenBucket
from pipeline.synth.clock import Clock
from pipeline.synth.durations import DurationModel
from pipeline.synth.occupancy import Occupancy
from pipeline.synth.options import Stats, SynthOptions
from pipeline.synth.polling import PollEstimator

SPARE_ODDS = 0.025  # landing odds a probe needs per unit of spare budget: 8.5 % spare -> 0.3
POLLS_WITH_PROBES = 1.0  # polls per task to aim for when probes find the free slots
SCOUT_STEP = 0.3  # the run's first task is polled this often until some task has ended,
SCOUT_POLLS = 4  # at most this many times
POLL_MARGIN = 1.0  # without probes, polls may use this share of what creates leave (creates go first anyway)
PROBE_AIM = 0.8  # at the limit, refusals aim at this part of the refusal budget
ODDS_START, ODDS_FLOOR, ODDS_CEILING = 0.5, 0.1, 0.95  # the landing odds a probe at the limit needs
ODDS_GAIN = 0.02  # per refused probe up, per request by PROBE_AIM * budget * gain down
FILL_ODDS = 0.05  # the filler polls a task only when it has ended with at least these odds
FILL_AIM = 0.75  # ... the one whose odds are nearest these
FILL_TICKS = 0.5  # the filler looks for an idle budget this many token periods apart
LATE_STEP = 0.05  # at the limit, after a late poll saw "waiting": this part of the late age


class Pacer:
    """Probe and poll timing for one run; reads the engine's counters, never writes them.

    Time comes from `clock` (by default the bucket's), the one the run's tasks are dated by."""

    def __init__(self, options: SynthOptions, bucket: TokenBucket, gate: AIMDGate, stats: Stats,
                 clock: Clock | None = None) -> None:
        self.options, self.bucket, self.gate, self.stats = options, bucket, gate, stats
        self.clock = clock or bucket.clock
        self.occupancy = Occupancy(self.clock.time())
        self.estimator = PollEstimator(options.poll_initial)
        self._scout_taken = False
        self.may_risk: Callable[[], bool] = lambda: True  # the key's refusal budget has room
        self.durations = DurationModel()
        self.refusals: RefusalBudget | None = None  # the key's (set with may_risk)
        self._odds_offset = 0.0  # anti-windup of the odds controller
        self._filler: asyncio.Task[None] | None = None

    def take_scout(self) -> bool:
        """True once per run: that task is polled often until the first task ends.

        Why: the poll schedule (and probes, when a lowered ceiling leaves them room) need
        evidence of how fast tasks end; without it every slot freed in the first seconds
        waits for the (cautious) first polls. One task polled every SCOUT_STEP costs a few
        requests per run, while the budget is idle anyway.
        """
        taken, self._scout_taken = self._scout_taken, True
        return not taken and self.options.probe_odds > 0

    @property
    def at_limit(self) -> bool:
        """Probes at max_open itself, on learned durations (once they are learned)."""
        return self.options.probe_at_limit and self.durations.ready

    def probes_possible(self) -> bool:
        """Probes only fill the room a 101004 left between the ceiling and max_open (the hard
        ceiling), unless `probe_at_limit`, and only while the refusal budget has room:
        otherwise polls alone must find ended tasks, so they are timed for that."""
        if self.at_limit:
            return self.may_risk()
        return self.options.probe_odds > 0 and self.gate.ceiling < self.gate.max_open and self.may_risk()

    def may_probe(self) -> bool:
        """Whether to send a create now although every slot seems busy."""
        if not self.probes_possible():
            return False
        now = self.clock.time()
        if self.at_limit:
            held, ceiling = self.gate.open, self.gate.ceiling
            return self.occupancy.p_free_aged(now, held, ceiling, self.durations) >= self.limit_odds()
        mean = self.estimator.mean_duration()
        if mean:  # Little's law: ceiling running tasks of `mean` seconds end at ceiling/mean per s
            self.occupancy.rate_floor = min(len(self.occupancy), self.gate.ceiling) / mean
        odds = self.probe_odds(now)
        return odds <= 1.0 and self.occupancy.p_free(now, self.gate.open, self.gate.ceiling) >= odds

    def probe_odds(self, now: float) -> float:
        """Landing odds a probe needs: the less request budget to spare, the surer.

        Each task needs a create and its polls; at the pace tasks now end that is
        `demand` requests/s. A refused probe spends what is left, so with little spare
        only near-certain probes go, and none when the budget itself is the bottleneck.
        """
        demand = self.occupancy.rate(now) * (1.0 + POLLS_WITH_PROBES)  # the polls aimed for
        spare = 1.0 - demand / self.bucket.rate
        if spare <= 0:
            return math.inf
        return max(self.options.probe_odds, SPARE_ODDS / spare)

    def limit_odds(self) -> float:
        """Landing odds a probe at the limit needs: an integral controller on refusals.

        Each refusal raises the odds by ODDS_GAIN, each request lowers them by PROBE_AIM *
        budget * ODDS_GAIN, so they settle where refusals are that share of requests;
        clamped (with anti-windup) to [floor, ODDS_CEILING], the floor being probe_odds.
        """
        refused = self.refusals.refused if self.refusals is not None else 0
        aim = PROBE_AIM * self.options.refusal_budget
        raw = ODDS_START + ODDS_GAIN * (refused - aim * self.bucket.granted) - self._odds_offset
        floor = max(ODDS_FLOOR, self.options.probe_odds)
        clamped = min(ODDS_CEILING, max(floor, raw))
        self._odds_offset += raw - clamped
        return clamped

    def first_delay(self, chars: int, elapsed: float) -> float:
        """Delay before a task's first poll: at the limit, when it has almost surely ended
        (probes find the freed slots, this poll only fetches), else the estimator's."""
        if self.at_limit:
            return max(0.0, self.durations.late_age() - elapsed)
        return self.estimator.first_delay(chars, elapsed)

    def first_step(self, chars: int, elapsed: float) -> float:
        if self.at_limit:
            return max(0.02, LATE_STEP * self.durations.late_age())
        return self.estimator.first_step(chars, elapsed)

    def after_waiting(self, step: float, chars: int, elapsed: float) -> float:
        """Delay after a "waiting": the step, but at the limit never before the late age
        (a filler poll that came early must not start an early schedule)."""
        return max(step, self.first_delay(chars, elapsed)) if self.at_limit else step

    def observe(self, key: str, chars: int, lo: float, elapsed: float, polls: int) -> None:
        """A query found the task ended: both duration models learn, the poll target follows.
        The estimator takes every lower bound; the durations only proven ones."""
        self.estimator.observe(chars, max(lo, self.occupancy.running_age(key)), elapsed, polls)
        self.durations.observe(max(lo, self.occupancy.running_age(key, proven=True)), elapsed)
        self.retarget_polls()

    def start_filler(self) -> None:
        """At the limit: make sure the filler runs (it ends by itself with no task open)."""
        if self.options.probe_at_limit and (self._filler is None or self._filler.done()):
            self._filler = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        """Poll an open task whenever the budget sits full (its creates' token kept) and idle.

        Why: that request would be lost anyway. Once durations are learned it goes to the
        task whose odds of having ended are nearest FILL_AIM: it finds an ended task (a
        known free slot) with good odds, and its answer narrows a duration interval where
        the model is least sure. Before, it goes to the task unseen the longest, so that
        the first intervals come early. Never above the rate: the budget's token is taken;
        and never the same task again within LATE_STEP of the late age (a generous rate
        limit must not turn into a stream of queries)."""
        tick = FILL_TICKS / self.bucket.rate
        while self.occupancy.tasks:
            await self.clock.sleep(tick)
            if self.bucket.idle_for() <= 0:
                continue
            now = self.clock.time()
            if self.at_limit:
                gap = LATE_STEP * self.durations.late_age()  # no task polled more often than that
                best = self.occupancy.nearest_odds(now, self.durations, FILL_AIM, gap)
                key = best[0] if best is not None and best[1] >= FILL_ODDS else None
            else:
                key = self.occupancy.least_seen(now)
            nudge = self.occupancy.nudge(key) if key is not None else None
            if nudge is not None:
                nudge.set()

    def retarget_polls(self) -> None:
        """Polls per task the budget affords while every slot is busy.

        Without probes, each slot cycles through one create and P polls per cycle (the
        measured seconds from submission to the poll that saw the task end), so with
        `ceiling` slots the budget R allows P = R * cycle / ceiling - 1.
        With probes, polls need not find ended tasks early: about one per task.
        """
        cycle = self.estimator.mean_detected()
        if cycle is None:
            return
        target = POLL_MARGIN * self.bucket.rate * cycle / self.gate.ceiling - 1.0
        if self.probes_possible():
            target = min(target, POLLS_WITH_PROBES)
        self.estimator.set_target(target)
