"""The floor polls alone allow: wall / bound for a slot-and-request-balanced key.

Run: python bench/poll_floor.py [--rate 20] [--slots 8] [--task-time 0.3:1.5] [--queue 0.05]

Why: bench/batch.py's bound, max(2N/R, Σ task s / C), assumes every slot is refilled the
moment its task ends. Polls find ends late; more polls find them sooner but take request
budget from creates. For task times uniform in the given range, this searches poll
schedules (first poll, then a fixed step) for the least mean detection lag at each poll
budget, then solves for the slot cycle the budget allows: cycle c must satisfy
c >= mean + lag(P) + queue, where P = R * c / C - 1 polls per task are what creates leave.
Prints the lag table and the resulting floor of wall / bound (no real time involved).
"""

from __future__ import annotations

import argparse

import numpy as np


def best_lag(durations: np.ndarray, polls: float, high: float) -> float:
    """Least mean detection lag over (first, step) schedules using at most `polls` per task."""
    best = float("inf")
    low = float(durations.min())
    for first in np.linspace(low, high, 61):
        for step in np.linspace(0.02, high, 120):
            times = np.arange(first, high + step, step)
            idx = np.minimum(np.searchsorted(times, durations, side="left"), len(times) - 1)
            if (idx + 1).mean() <= polls:
                best = min(best, float((times[idx] - durations).mean()))
    return best


def floor_ratio(rate: float, slots: int, durations: np.ndarray, high: float, queue: float) -> tuple[float, float]:
    """(cycle, wall / bound) where the poll budget and the lag it buys meet."""
    mean = float(durations.mean())
    bound_per_task = max(2.0 / rate, mean / slots)
    for cycle in np.arange(mean, 3 * mean, 0.005):
        polls = rate * cycle / slots - 1.0
        if polls >= 1.0 and mean + best_lag(durations, polls, high) + queue <= cycle:
            return float(cycle), float(cycle / slots / bound_per_task)
    return float("inf"), float("inf")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--task-time", default="0.3:1.5")
    p.add_argument("--queue", type=float, default=0.05, help="seconds a request waits for a token, per task")
    a = p.parse_args()
    low, high = (float(x) for x in a.task_time.split(":"))
    durations = np.random.default_rng(1).uniform(low, high, 4000)
    print(f"task time U({low:g}, {high:g}) s, R={a.rate:g} req/s, C={a.slots}")
    for polls in (1.25, 1.5, 1.75, 2.0, 2.5, 3.0):
        print(f"  polls/task <= {polls:4.2f}: least mean detection lag {best_lag(durations, polls, high):.3f} s")
    for queue in (0.0, a.queue):
        cycle, ratio = floor_ratio(a.rate, a.slots, durations, high, queue)
        print(f"  queueing {queue:.3f} s/task: slot cycle >= {cycle:.3f} s, wall / bound >= {ratio:.3f}")


if __name__ == "__main__":
    main()
