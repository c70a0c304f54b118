"""Our view of the service's open tasks, and the odds that one has ended unseen.

Why: the service frees a task's open slot the moment processing ends, but we only
learn which task ended from a query. A create sent when every slot *seems* busy
finds out in one request whether *any* of them has ended: it succeeds if one has,
and is refused with 101004 (no task, no charge) if none has. So when the odds that
a slot is free pass a threshold, a create is sent as a probe.

The odds come from a small filter over X, the number of our open tasks that have
ended without our knowing: X grows like a Poisson process at the rate queries have
been finding tasks ended lately (in steady state, the rate they end), a refused
probe caps X, a landed one bounds it from below, and a query that finds a task
ended takes one off. It needs no model of task durations,
which the polls alone cannot learn well when they come late on purpose.

At the limit itself (`probe_at_limit`) the odds come instead from each task's age
under the learned durations (durations.py): task i has ended with odds p_i given
the latest age it was known running at, and a slot is free when enough of them have
(a Poisson-binomial sum over our open tasks).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

from pipeline.synth.durations import DurationModel

RATE_WINDOW = 4.0  # seconds of seen task ends that estimate how fast tasks end


@dataclass
class OpenTask:
    chars: int
    created: float  # wall-clock seconds when the create was accepted
    running: float  # latest age (seconds since created) at which it was known to be running
    proven: float = 0.0  # ... proved running (a query's "waiting", a refusal that leaves no doubt)
    nudge: asyncio.Event = field(default_factory=asyncio.Event)  # set: poll it now


class Occupancy:
    """Tasks accepted by the service that no query has yet shown ended."""

    def __init__(self, now: float = 0.0) -> None:
        self.tasks: dict[str, OpenTask] = {}
        self.unseen = [1.0]  # unseen[j] = P(X = j)
        self.at = now
        self.ended: deque[float] = deque()  # when queries found tasks ended
        self.first_end: float | None = None
        self.rate_floor = 0.0  # ends/s implied by the mean duration (set by the pacer)

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, key: str, chars: int, created: float) -> None:
        self.tasks[key] = OpenTask(chars, created, 0.0)

    def remove(self, key: str) -> None:
        self.tasks.pop(key, None)

    def revealed(self, key: str, now: float) -> None:
        """A query found this task ended: it was one of the X, now seen."""
        if key in self.tasks:
            self._advance(now)  # while the task still counts towards X's cap
            del self.tasks[key]
            self.ended.append(now)
            self.first_end = now if self.first_end is None else self.first_end
            self._condition(lo=1)
            self.unseen = self.unseen[1:] or [1.0]

    def running_age(self, key: str, proven: bool = False) -> float:
        task = self.tasks.get(key)
        return 0.0 if task is None else task.proven if proven else task.running

    def saw_running(self, key: str, at: float) -> None:
        """A query answered "waiting" at wall time `at`."""
        task = self.tasks.get(key)
        if task is not None:
            task.running = task.proven = max(task.running, at - task.created)

    def rate(self, now: float) -> float:
        """Tasks seen ended per second lately (at least `rate_floor` once one has been seen).

        Before any task was seen ended there is no evidence that they end: no probes.
        """
        while self.ended and self.ended[0] < now - RATE_WINDOW:
            self.ended.popleft()
        if self.first_end is None:
            return 0.0
        if now - self.first_end >= RATE_WINDOW:
            seen = len(self.ended) / RATE_WINDOW
        else:  # early: since the first end
            seen = max(0, len(self.ended) - 1) / max(0.25, now - self.first_end)
        return max(seen, self.rate_floor)

    def refused(self, now: float, others: int, ceiling: int, exact: bool = False) -> None:
        """A probe drew 101004: at most `others - ceiling` of our other tasks had ended.

        The youngest `ceiling` are the likeliest to have been running: their ages are
        lower bounds on their durations, which sharpens the poll schedule. They are
        `proven` only when that leaves no doubt (no more tasks than `ceiling`): learned
        durations (durations.py) would be skewed long by every wrong guess.
        """
        self._advance(now)
        self._condition(hi=others - ceiling)
        live = sorted(self.tasks.values(), key=lambda t: t.created, reverse=True)
        sure = len(live) <= ceiling
        for task in live[:ceiling]:
            task.running = max(task.running, now - task.created)
            task.proven = task.running if sure else task.proven

    def landed(self, now: float, others: int, ceiling: int) -> None:
        """A probe was accepted: at least `others - ceiling + 1` of our other tasks had ended."""
        self._advance(now)
        self._condition(lo=others - ceiling + 1)

    def p_free(self, now: float, held: int, ceiling: int) -> float:
        """Probability that the service has a free slot now (1.0 when we know it has).

        `held` counts our slots: open tasks plus creates still awaiting a reply.
        """
        need = max(held, len(self.tasks)) - ceiling + 1  # unseen ended tasks for one free slot
        if need <= 0:
            return 1.0
        self._advance(now)
        return sum(self.unseen[need:])

    def p_free_aged(self, now: float, held: int, ceiling: int, model: DurationModel) -> float:
        """Like p_free, from each task's age under the learned durations (at the limit)."""
        need = max(held, len(self.tasks)) - ceiling + 1
        if need <= 0:
            return 1.0
        dist = [1.0]  # P(j of the tasks seen so far have ended)
        for task in self.tasks.values():
            p = model.ended_odds(now - task.created, task.running)
            dist = [a * (1 - p) + b * p for a, b in zip(dist + [0.0], [0.0] + dist)]
        return sum(dist[need:])

    def nearest_odds(self, now: float, model: DurationModel, aim: float,
                     unseen_for: float = 0.0) -> tuple[str, float] | None:
        """The open task whose odds of having ended unseen are nearest `aim`, and those odds,
        among those not known running for at least `unseen_for` seconds."""
        best: tuple[str, float] | None = None
        for key, task in self.tasks.items():
            if now - task.created - task.running < unseen_for:
                continue
            p = model.ended_odds(now - task.created, task.running)
            if best is None or abs(p - aim) < abs(best[1] - aim):
                best = (key, p)
        return best

    def least_seen(self, now: float, share: float = 0.25, floor: float = 0.05) -> str | None:
        """The open task unseen the longest (model-free: for warming up), among those unseen
        for at least `share` of their age (and `floor` seconds): polls spaced geometrically."""
        spans = {key: now - t.created - t.running for key, t in self.tasks.items()}
        due = [k for k, span in spans.items() if span >= max(floor, share * (now - self.tasks[k].created))]
        return max(due, key=lambda k: spans[k]) if due else None

    def nudge(self, key: str) -> asyncio.Event | None:
        task = self.tasks.get(key)
        return task.nudge if task else None

    def _advance(self, now: float) -> None:
        """Let time pass: X gains Poisson(rate * dt) ended tasks, capped at our task count."""
        dt, self.at = max(0.0, now - self.at), now
        cap = len(self.tasks)
        mean = self.rate(now) * dt
        if mean > 0:
            pois = [math.exp(-mean)]
            for k in range(1, cap + 1):
                pois.append(pois[-1] * mean / k)
            out = [0.0] * (cap + 1)
            for j, pj in enumerate(self.unseen):
                for k, pk in enumerate(pois):
                    out[min(cap, j + k)] += pj * pk
                out[cap] += pj * max(0.0, 1.0 - sum(pois))
            self.unseen = out
        elif len(self.unseen) > cap + 1:
            self.unseen = self.unseen[:cap] + [sum(self.unseen[cap:])]

    def _condition(self, lo: int = 0, hi: int | None = None) -> None:
        """Keep only lo <= X <= hi (what a probe's answer proved), renormalised."""
        kept = [p if lo <= j and (hi is None or j <= hi) else 0.0 for j, p in enumerate(self.unseen)]
        total = sum(kept)
        if total > 1e-12:
            self.unseen = [p / total for p in kept]
        else:  # the answer contradicts the model: trust the answer
            j = max(0, min(lo, len(self.unseen) - 1) if hi is None else min(max(lo, 0), hi))
            self.unseen = [0.0] * j + [1.0]
