"""Adaptive poll timing: learn how long tasks take and poll near their expected finish.

Why: every query spends the shared request budget. Each finished task gives an
interval in which it finished: (last "waiting" poll, "success" poll]. Durations scale
with text length plus a fixed part (queueing behind the service's workers, start-up),
so observations are normalised per (chars + OVERHEAD_CHARS) and a recent window keeps
up with the service's current load. A task that succeeded at its first poll only tells
us "no later than"; we then aim a little earlier next time, so the estimate can fall
as well as rise. Target: about one to two queries per task.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

OVERHEAD_CHARS = 100  # fixed cost of a task, expressed in characters
PROBE_EARLIER = 0.6  # first-poll hits: try this fraction of the observed time next
QUANTILE = 0.7  # aim the first poll past most tasks' finish: fewer queries, little delay
BACKOFF = 1.5
MIN_DELAY = 0.02
MAX_DELAY = 30.0


@dataclass(frozen=True)
class Observation:
    chars: int
    lo: float  # elapsed seconds at the last "waiting" poll (0 if none)
    hi: float  # elapsed seconds at the "success"/"failed" poll


class PollEstimator:
    """Expected task duration from recent observations (upper quantile of scaled samples)."""

    def __init__(self, initial: float | None = None, window: int = 16) -> None:
        self.initial = initial
        self.learn = initial is None
        self._obs: deque[Observation] = deque(maxlen=window)

    def observe(self, chars: int, lo: float, hi: float) -> None:
        if hi > 0:
            self._obs.append(Observation(chars, max(0.0, lo), hi))

    @staticmethod
    def _sample(obs: Observation) -> float:
        """Seconds per normalised char this observation suggests."""
        if obs.lo <= 0:
            guess = obs.hi * PROBE_EARLIER
        else:
            guess = (obs.lo + obs.hi) / 2
        return guess / (obs.chars + OVERHEAD_CHARS)

    def expected(self, chars: int) -> float:
        """Seconds from submission to the first poll for a text of `chars` characters."""
        if not self.learn or not self._obs:
            base = self.initial if self.initial is not None else 1.0 + 0.004 * chars
            return max(MIN_DELAY, base)
        samples = sorted(self._sample(o) for o in self._obs)
        per_char = samples[min(len(samples) - 1, int(QUANTILE * len(samples)))]
        return min(MAX_DELAY, max(MIN_DELAY, per_char * (chars + OVERHEAD_CHARS)))

    def first_delay(self, chars: int, elapsed: float) -> float:
        """Delay before the first poll of a task already `elapsed` seconds old."""
        return max(0.0, self.expected(chars) - elapsed)

    def first_step(self, chars: int, elapsed: float) -> float:
        """After the first "waiting": wait in proportion to the task's age (scale-free)..."""
        return max(MIN_DELAY, 0.3 * self.expected(chars), 0.5 * elapsed)

    @staticmethod
    def next_step(step: float) -> float:
        """...then back off geometrically, so a stuck task costs few queries."""
        return min(MAX_DELAY, max(MIN_DELAY, step * BACKOFF))
