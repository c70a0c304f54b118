"""Adaptive poll timing: learn how long tasks take and poll near their expected finish.

Why: every query spends the shared request budget, and every moment between the end
of processing and our "success" poll is an open-task slot the service has freed but
we have not reused. Each finished task gives an interval in which it finished: (last
"waiting" poll, "success" poll]. Two models of duration are kept: absolute seconds,
and seconds per (chars + OVERHEAD_CHARS); the one whose samples spread less (lower
coefficient of variation) is used, so length-independent services are not mis-scaled.
From the recent samples a schedule (first poll at some quantile, then a fixed step)
is chosen that minimises the expected detection lag for a target number of polls per
task; the engine raises or lowers that target with the request budget's slack.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

OVERHEAD_CHARS = 100  # fixed cost of a task, expressed in characters
PROBE_EARLIER = 0.6  # first-poll hits without a learned schedule: try this fraction next
BACKOFF = 1.5
MIN_DELAY = 0.02
MAX_DELAY = 30.0
MIN_SAMPLES = 6  # below this, use the conservative quantile rule
QUANTILE = 0.7
QUANTILES = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
STEP_FRACTIONS = (0.04, 0.06, 0.08, 0.11, 0.15, 0.2, 0.3, 0.45, 0.7)
REFIT_EVERY = 8
MAX_TARGET_POLLS = 8.0  # the most polls per task the budget may buy (see set_target)


@dataclass(frozen=True)
class Observation:
    chars: int
    lo: float  # elapsed seconds at the last "waiting" poll (0 if none)
    hi: float  # elapsed seconds at the "success"/"failed" poll
    polls: int = 0  # queries the task took (0: not counted)
    planned: float = 0.0  # polls per task the schedule in force expected


@dataclass(frozen=True)
class Schedule:
    """Poll plan in model units: first poll at `first`, then every `step`."""

    first: float
    step: float
    polls: float  # expected polls per task over the samples
    lag: float  # expected seconds (model units) between finish and the detecting poll


def plan_schedule(samples: list[float], target_polls: float) -> Schedule:
    """The (first, step) over candidate grids with least lag whose expected polls <= target."""
    s = sorted(samples)
    n = len(s)
    spread = max(s[-1] - s[0], 0.05 * s[-1], 1e-6)
    best: Schedule | None = None
    fallback: Schedule | None = None
    for q in QUANTILES:
        first = s[min(n - 1, int(q * n))]
        for frac in STEP_FRACTIONS:
            step = spread * frac
            polls = lag = 0.0
            for d in s:
                k = 0 if d <= first else math.ceil((d - first) / step - 1e-9)
                polls += 1 + k
                lag += first + k * step - d
            cand = Schedule(first, step, polls / n, lag / n)
            if cand.polls <= target_polls and (best is None or cand.lag < best.lag):
                best = cand
            if fallback is None or cand.polls < fallback.polls:
                fallback = cand
    assert fallback is not None
    return best or fallback


class PollEstimator:
    """Poll delays from recent observations of task durations."""

    def __init__(self, initial: float | None = None, window: int = 64) -> None:
        self.initial = initial
        self.learn = initial is None
        self.target_polls = 1.8
        self._obs: deque[Observation] = deque(maxlen=window)
        self._since_fit = 0
        self._fit: tuple[bool, Schedule] | None = None  # (per_char, schedule)

    def observe(self, chars: int, lo: float, hi: float, polls: int = 0) -> None:
        if hi > 0:
            planned = self._fit[1].polls if self._fit is not None and self.learn else 0.0
            self._obs.append(Observation(chars, max(0.0, lo), hi, polls, planned))
            self._since_fit += 1

    def _poll_bias(self) -> float:
        """Realized over planned polls per task, recently: the model plans on point estimates of
        durations (inside their intervals), so its poll counts are off; the target is corrected
        by what the schedules actually took."""
        seen = [o for o in self._obs if o.polls and o.planned]
        if len(seen) < MIN_SAMPLES:
            return 1.0
        realized = sum(o.polls for o in seen) / len(seen)
        planned = sum(o.planned for o in seen) / len(seen)
        return min(2.0, max(0.5, realized / planned))

    def set_target(self, polls: float) -> None:
        """Polls per task the budget can afford (clamped to 1..MAX_TARGET_POLLS); refit on a real change.

        Why above 2 at all: when the open-task slots, not the request budget, bound the run
        (a generous rate limit, long tasks), polls the budget would leave unused find ended
        tasks sooner, and every second a freed slot goes unseen is lost; where the budget
        binds, the pacer's target stays below 2 by itself."""
        polls = min(MAX_TARGET_POLLS, max(1.0, polls))
        if abs(polls - self.target_polls) >= 0.1:
            self.target_polls = polls
            self._since_fit = REFIT_EVERY

    def _duration(self, obs: Observation) -> float:
        """Best point estimate of one task's duration from its interval."""
        lo = obs.lo if obs.lo > 0 else obs.hi * PROBE_EARLIER
        return (lo + obs.hi) / 2

    def mean_detected(self) -> float | None:
        """Mean seconds from submission to the poll that saw the task end: duration plus
        detection lag, measured rather than modelled (the model's lag is taken from point
        estimates of durations inside their intervals, which understates it)."""
        if not self._obs:
            return None
        return sum(o.hi for o in self._obs) / len(self._obs)

    def mean_duration(self) -> float | None:
        if not self._obs:
            return None
        return sum(self._duration(o) for o in self._obs) / len(self._obs)

    def _model(self) -> tuple[bool, Schedule] | None:
        if len(self._obs) < MIN_SAMPLES:
            return None
        if self._fit is None or self._since_fit >= REFIT_EVERY:
            absolute = [self._duration(o) for o in self._obs]
            scaled = [d / (o.chars + OVERHEAD_CHARS) for d, o in zip(absolute, self._obs)]
            per_char = _cv(scaled) < _cv(absolute)
            target = max(1.0, self.target_polls / self._poll_bias())
            self._fit = (per_char, plan_schedule(scaled if per_char else absolute, target))
            self._since_fit = 0
        return self._fit

    @staticmethod
    def _scale(per_char: bool, chars: int) -> float:
        return (chars + OVERHEAD_CHARS) if per_char else 1.0

    def expected(self, chars: int) -> float:
        """Seconds from submission to the first poll for a text of `chars` characters."""
        model = self._model() if self.learn else None
        if model is None:
            base = self.initial if self.initial is not None else 1.0 + 0.004 * chars
            if self.learn and self._obs:
                durations = sorted(self._duration(o) for o in self._obs)
                base = durations[min(len(durations) - 1, int(QUANTILE * len(durations)))]
            return min(MAX_DELAY, max(MIN_DELAY, base))
        per_char, sched = model
        return min(MAX_DELAY, max(MIN_DELAY, sched.first * self._scale(per_char, chars)))

    def first_delay(self, chars: int, elapsed: float) -> float:
        """Delay before the first poll of a task already `elapsed` seconds old."""
        return max(0.0, self.expected(chars) - elapsed)

    def first_step(self, chars: int, elapsed: float) -> float:
        """After the first "waiting": the learned step, else in proportion to the task's age."""
        model = self._model() if self.learn else None
        if model is not None:
            per_char, sched = model
            return max(MIN_DELAY, sched.step * self._scale(per_char, chars))
        return max(MIN_DELAY, 0.3 * self.expected(chars), 0.5 * elapsed)

    def next_step(self, step: float, elapsed: float = 0.0, chars: int = 0) -> float:
        """Keep the learned step while the task is within the seen range, then back off."""
        model = self._model() if self.learn else None
        if model is not None:
            per_char, sched = model
            longest = max(self._duration(o) / self._scale(per_char, o.chars) for o in self._obs)
            if elapsed <= 1.2 * longest * self._scale(per_char, chars):
                return step
        return min(MAX_DELAY, max(MIN_DELAY, step * BACKOFF))


def _cv(values: list[float]) -> float:
    mean = sum(values) / len(values)
    if mean <= 0:
        return math.inf
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(var) / mean
