"""How long the service's tasks take, learned from what polls and probes proved.

Why: a create sent while every slot seems busy (a probe at the limit) is worth
sending only when one of our open tasks has probably ended, and that depends on how
long tasks take. Our polls never see a duration, only an interval: the task was
still running at the last "waiting" (or when a refused probe proved it), and had
ended by the "success". With late polls those intervals are wide, so the mean of
their midpoints is badly biased; the distribution is instead the nonparametric
maximum-likelihood fit to interval-censored data (Turnbull's EM), smoothed a little
after each step (EMS) so that one odd interval cannot put all the mass in one bin.
"""

from __future__ import annotations

import bisect
from collections import deque

WINDOW = 96  # recent intervals the fit uses (a service's speed drifts)
MIN_INTERVALS = 8  # fewer: no model (no probes at the limit yet)
REFIT_EVERY = 8
BINS = 60
ITERATIONS = 40
SMOOTHING = 2  # passes of a [1/4, 1/2, 1/4] kernel after each EM step
LATE_QUANTILE = 0.99  # a task this old has ended with these odds: poll it then


class DurationModel:
    """A task-duration distribution fitted to (running-at, ended-by] intervals."""

    def __init__(self) -> None:
        self._intervals: deque[tuple[float, float]] = deque(maxlen=WINDOW)
        self._since_fit = 0
        self._edges: list[float] = []  # bin upper edges
        self._cdf: list[float] = []  # P(duration <= edge)

    def observe(self, running: float, ended: float) -> None:
        """A task was running at age `running` and had ended by age `ended` (seconds)."""
        if ended > 0:
            self._intervals.append((max(0.0, min(running, ended)), ended))
            self._since_fit += 1

    @property
    def ready(self) -> bool:
        if len(self._intervals) < MIN_INTERVALS:
            return False
        if not self._cdf or self._since_fit >= REFIT_EVERY:
            self._fit()
        return True

    def cdf(self, age: float) -> float:
        """P(a task ends within `age` seconds), linear between bin edges."""
        if not self.ready or age <= 0:
            return 0.0
        j = bisect.bisect_left(self._edges, age)
        if j >= len(self._edges):
            return 1.0
        lo_edge = self._edges[j - 1] if j else 0.0
        lo_cdf = self._cdf[j - 1] if j else 0.0
        width = self._edges[j] - lo_edge
        return lo_cdf + (self._cdf[j] - lo_cdf) * ((age - lo_edge) / width if width > 0 else 1.0)

    def ended_odds(self, age: float, running: float) -> float:
        """P(a task of this age has ended, given it was running at age `running`)."""
        left = 1.0 - self.cdf(running)
        if left <= 1e-9:  # it outlived everything seen: the model knows nothing of it
            return 0.5
        return max(0.0, min(1.0, (self.cdf(age) - self.cdf(running)) / left))

    def late_age(self) -> float:
        """An age by which tasks have almost surely ended: when to poll without hurry."""
        if not self.ready:
            return 0.0
        j = bisect.bisect_left(self._cdf, LATE_QUANTILE)
        quantile = self._edges[min(j, len(self._edges) - 1)]
        longest_running = max(lo for lo, _ in self._intervals)
        return max(quantile, longest_running * 1.02)

    def _fit(self) -> None:
        intervals = list(self._intervals)
        top = max(hi for _, hi in intervals)
        step = top / BINS
        mids = [(j + 0.5) * step for j in range(BINS)]
        cover = [self._cover(mids, lo, hi, step) for lo, hi in intervals]
        p = [1.0 / BINS] * BINS
        for _ in range(ITERATIONS):
            acc = [0.0] * BINS
            for lo_j, hi_j in cover:
                total = sum(p[lo_j:hi_j])
                for j in range(lo_j, hi_j):
                    acc[j] += p[j] / total if total > 0 else 1.0 / (hi_j - lo_j)
            p = _smooth([a / len(cover) for a in acc])
        self._edges = [(j + 1) * step for j in range(BINS)]
        running = 0.0
        self._cdf = []
        for q in p:
            running += q
            self._cdf.append(min(1.0, running))
        self._since_fit = 0

    @staticmethod
    def _cover(mids: list[float], lo: float, hi: float, step: float) -> tuple[int, int]:
        """The bins [first, last) whose midpoints fall in (lo, hi] (at least one)."""
        first = bisect.bisect_right(mids, lo)
        last = bisect.bisect_right(mids, hi + 1e-9)
        if last <= first:
            first = min(len(mids) - 1, int(hi / step))
            last = first + 1
        return first, last


def _smooth(p: list[float]) -> list[float]:
    for _ in range(SMOOTHING):
        n = len(p)
        p = [0.25 * p[max(0, j - 1)] + 0.5 * p[j] + 0.25 * p[min(n - 1, j + 1)] for j in range(n)]
    return p
