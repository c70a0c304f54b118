"""When to probe for a free slot and how often to poll, from the budget and the service.

Why a separate policy: the engine moves jobs through their states; this decides how
the shared request budget is split between creates, probe creates and polls. With
probes on, polls only collect results (about one per task, late); the probes, sent
when a slot is probably free, keep the open-task slots busy (see occupancy.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pipeline.synth.budget import AIMDGate, TokenBucket
from pipeline.synth.clock import Clock
from pipeline.synth.occupancy import Occupancy
from pipeline.synth.options import Stats, SynthOptions
from pipeline.synth.polling import PollEstimator

SPARE_ODDS = 0.025  # landing odds a probe needs per unit of spare budget: 8.5 % spare -> 0.3
POLLS_WITH_PROBES = 1.0  # polls per task to aim for when probes find the free slots
SCOUT_STEP = 0.3  # the run's first task is polled this often until some task has ended,
SCOUT_POLLS = 4  # at most this many times
POLL_MARGIN = 1.0  # without probes, polls may use this share of what creates leave (creates go first anyway)


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

    def take_scout(self) -> bool:
        """True once per run: that task is polled often until the first task ends.

        Why: the poll schedule (and probes, when a lowered ceiling leaves them room) need
        evidence of how fast tasks end; without it every slot freed in the first seconds
        waits for the (cautious) first polls. One task polled every SCOUT_STEP costs a few
        requests per run, while the budget is idle anyway.
        """
        taken, self._scout_taken = self._scout_taken, True
        return not taken and self.options.probe_odds > 0

    def probes_possible(self) -> bool:
        """Probes only fill the room a 101004 left between the ceiling and max_open (the hard
        ceiling), and only while the refusal budget has room: otherwise polls alone must find
        ended tasks, so they are timed for that."""
        return self.options.probe_odds > 0 and self.gate.ceiling < self.gate.max_open and self.may_risk()

    def may_probe(self) -> bool:
        """Whether to send a create now although every slot seems busy."""
        if not self.probes_possible():
            return False
        now = self.clock.time()
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
