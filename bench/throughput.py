"""Synthesis throughput against the emulator's limits, and how close it gets to the bound.

Run: /work/venv/bin/python bench/throughput.py [--rate-limit 20] [--max-open 8]
     [--task-time 0.3:1.5] [--segments 400] [--runs 3] [--audio tone] [--workers C]
     [--budget R] [--our-max-open C] [--probe-odds 0.1]

Starts `audiobook emulator` (a separate process, 127.0.0.1, its own port), builds a
generated book of about --segments one-to-two-credit segments with packaging skipped
(BuildOptions(skip_package=True), i.e. `build --no-package`), and prints per run: wall
time of synthesis, the bound, their ratio, polls per task, and the 101003 (rate) and
101004 (concurrency) replies drawn; then the medians. Also: probe creates sent (creates
with every slot seemingly busy) and how many were refused (those are the 101004s: no
task, no charge); from the emulator's timeline, the mean `refill` delay between a task's
end and the create that took its slot, idle slot-seconds per task, and the `tail` from
the last task's end to the end of synthesis.

The bound: every task needs at least one create and one get, all drawn from R requests
per second, so wall >= 2N/R; and at most C tasks are open at once, each open for its
processing time, so wall >= Σ task seconds / C. If the emulator runs fewer workers than
C, only `workers` tasks are processed at once (the rest wait in its queue, still open),
so C is really min(max_open, workers). Downloads are not rate-limited and not counted.
Targets: ratio <= 1.15 and <= 2 polls per task.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # `python bench/throughput.py` puts bench/ itself on sys.path
    from _emulator import EmulatorProcess, start_emulator, write_book
except ImportError:  # `python -m bench.throughput`
    from bench._emulator import EmulatorProcess, start_emulator, write_book
from pipeline.build import BuildOptions, build, fresh_plan
from pipeline.recipe import load_recipe
from pipeline.tts.choice import BackendChoice

MAX_CHARS = 200


@dataclass(frozen=True)
class RunFigures:
    tasks: int
    wall: float
    bound: float
    request_bound: float
    slot_bound: float
    polls_per_task: float
    max_polls: int
    rate_limited: int  # 101003 replies (emulator's count)
    concurrency_limited: int  # 101004 replies (emulator's count)
    task_seconds: float
    probes_landed: int  # creates sent with every slot seemingly busy that landed
    probes_refused: int  # ... that drew 101004 (part of the 101004 column)
    refill: float  # mean seconds from a task's end to the create that took its slot
    idle: float  # open-task slot-seconds unused while the emulator ran, per task
    tail: float  # seconds from the emulator's last task end to the end of synthesis

    @property
    def ratio(self) -> float:
        return self.wall / self.bound if self.bound else float("inf")


def write_recipe(path: Path, book: Path, out: Path, budget: float, max_open: int, odds: float = 0.1) -> None:
    path.write_text(
        f"book: {book}\nlanguage: en\nmax_chars: {MAX_CHARS}\n"
        f"synthesis:\n  max_open: {max_open}\n  rate_limit: {budget}\n  confirm_above: 100000000\n"
        f"  probe_odds: {odds}\n"
        f"output:\n  directory: {out}\n",
        encoding="utf-8",
    )


def make_book(work: Path, segments: int) -> Path:
    """A book whose plan has about `segments` segments (one calibration pass)."""
    book, recipe = work / "book.md", work / "probe.yaml"
    chars = segments * 150
    for _ in range(3):
        write_book(book, chars)
        write_recipe(recipe, book, work / "probe", 10, 8)
        got = len(fresh_plan(load_recipe(recipe), "audiocleaner").jobs)
        if abs(got - segments) <= max(5, segments // 50):
            break
        chars = int(chars * segments / max(1, got))
    return book


def one_run(em: EmulatorProcess, recipe: Path, rate: float, slots: int) -> RunFigures:
    em.reset()
    choice = BackendChoice("audiocleaner", em.url, em.key)
    result = build(load_recipe(recipe), choice, BuildOptions(yes=True, skip_package=True))
    synth: dict[str, Any] = result.report.to_dict()["synthesis"]  # type: ignore[assignment]
    time.sleep(0.2)  # let the emulator's last task bookkeeping settle
    stats = em.stats()
    refill, idle, span = slot_use(em.timeline(), slots)
    n = int(stats["tasks_created"])
    request_bound = 2 * n / rate
    slot_bound = float(stats["task_seconds"]) / slots
    return RunFigures(
        tasks=n, wall=float(synth["wall_time"]), bound=max(request_bound, slot_bound),
        request_bound=request_bound, slot_bound=slot_bound,
        polls_per_task=float(synth["polls_per_task"]), max_polls=int(synth["max_polls"]),
        rate_limited=int(stats["rate_limited"]), concurrency_limited=int(stats["concurrency_limited"]),
        task_seconds=float(stats["task_seconds"]),
        probes_landed=int(synth["probes_landed"]), probes_refused=int(synth["probes_refused"]),
        refill=refill, idle=idle, tail=max(0.0, float(synth["wall_time"]) - span),
    )


def slot_use(timeline: dict[str, Any], slots: int) -> tuple[float, float, float]:
    """(mean refill delay, idle slot-seconds per task, emulator span) from its timeline.

    Refill: each task end is matched, in order, with the first later create; the gap is
    how long that slot sat free. Idle: slots minus open tasks, integrated over the span.
    """
    tasks = [t for t in timeline["tasks"] if t[2] is not None]
    if not tasks:
        return 0.0, 0.0, 0.0
    creates = sorted(t[0] for t in tasks)
    ends = sorted(t[2] for t in tasks)
    gaps, j = [], slots  # the first `slots` creates filled empty slots
    for end in ends:
        while j < len(creates) and creates[j] < end:
            j += 1
        if j >= len(creates):
            break
        gaps.append(creates[j] - end)
        j += 1
    start, stop = creates[0], ends[-1]
    busy = sum(min(e, stop) - c for c, _, e in tasks)
    idle = (slots * (stop - start) - busy) / len(tasks)
    return (statistics.mean(gaps) if gaps else 0.0), idle, stop - start


def print_table(runs: list[RunFigures]) -> None:
    head = f"{'run':>6} {'tasks':>6} {'wall s':>8} {'2N/R':>7} {'Σt/C':>7} {'bound':>7} {'ratio':>6} " \
           f"{'polls/t':>7} {'maxpoll':>7} {'101003':>6} {'101004':>6} {'probes':>6} {'refused':>7} " \
           f"{'refill':>6} {'idle/t':>6} {'tail':>5}"
    print(head)
    rows = [(str(i + 1), r) for i, r in enumerate(runs)]
    for label, r in rows:
        print(f"{label:>6} {r.tasks:>6} {r.wall:>8.2f} {r.request_bound:>7.2f} {r.slot_bound:>7.2f} "
              f"{r.bound:>7.2f} {r.ratio:>6.3f} {r.polls_per_task:>7.2f} {r.max_polls:>7} "
              f"{r.rate_limited:>6} {r.concurrency_limited:>6} {r.probes_landed + r.probes_refused:>6} "
              f"{r.probes_refused:>7} {r.refill:>6.3f} {r.idle:>6.3f} {r.tail:>5.2f}")
    med = statistics.median
    print(f"{'median':>6} {med(r.tasks for r in runs):>6.0f} {med(r.wall for r in runs):>8.2f} "
          f"{med(r.request_bound for r in runs):>7.2f} {med(r.slot_bound for r in runs):>7.2f} "
          f"{med(r.bound for r in runs):>7.2f} {med(r.ratio for r in runs):>6.3f} "
          f"{med(r.polls_per_task for r in runs):>7.2f} {med(r.max_polls for r in runs):>7.0f} "
          f"{med(r.rate_limited for r in runs):>6.0f} {med(r.concurrency_limited for r in runs):>6.0f} "
          f"{med(r.probes_landed + r.probes_refused for r in runs):>6.0f} {med(r.probes_refused for r in runs):>7.0f} "
          f"{med(r.refill for r in runs):>6.3f} {med(r.idle for r in runs):>6.3f} {med(r.tail for r in runs):>5.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate-limit", type=float, default=20.0, help="emulator R, requests/s (create+get)")
    p.add_argument("--max-open", type=int, default=8, help="emulator C, open tasks per key")
    p.add_argument("--task-time", default="0.3:1.5", help="emulator processing seconds MIN:MAX")
    p.add_argument("--workers", type=int, default=None, help="emulator workers (default: = --max-open)")
    p.add_argument("--segments", type=int, default=400)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--audio", choices=("tone", "speech"), default="tone")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--budget", type=float, default=None, help="our request budget, req/s (default: = R)")
    p.add_argument("--our-max-open", type=int, default=None, help="our open-task ceiling (default: = C)")
    p.add_argument("--probe-odds", type=float, default=0.1, help="our synthesis.probe_odds (least odds; 0 = no probes)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    workers = a.workers or a.max_open
    budget = a.budget or a.rate_limit
    our_open = a.our_max_open or a.max_open
    slots = min(a.max_open, workers)
    args = ["--rate-limit", str(a.rate_limit), "--max-open", str(a.max_open), "--task-time", a.task_time,
            "--workers", str(workers), "--audio", a.audio, "--seed", str(a.seed)]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        work = Path(tmp)
        book = make_book(work, a.segments)
        print(f"emulator: R={a.rate_limit:g} req/s, C={a.max_open}, workers={workers}, task time {a.task_time} s, "
              f"audio {a.audio}; ours: budget {budget:g} req/s, max_open {our_open}; slots in bound = {slots}")
        runs: list[RunFigures] = []
        with start_emulator(args) as em:
            for i in range(a.runs):
                recipe = work / f"run{i}.yaml"
                write_recipe(recipe, book, work / f"out{i}", budget, our_open, a.probe_odds)
                runs.append(one_run(em, recipe, a.rate_limit, slots))
        print_table(runs)
    ratio = statistics.median(r.ratio for r in runs)
    polls = statistics.median(r.polls_per_task for r in runs)
    verdict = "OK" if ratio <= 1.15 and polls <= 2 else "MISSED"
    print(f"target ratio <= 1.15 and polls/task <= 2: {verdict} (ratio {ratio:.3f}, polls/task {polls:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
