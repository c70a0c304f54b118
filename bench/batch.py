"""A batch of five books on one key: synthesis wall against the bound, vs five builds in a row.

Run: python bench/batch.py [--runs 3] [--settings balanced,slot,request] [--no-package]
     [--scale 1.0] [--probe-odds 0] [--probe-at-limit]

For each setting (the emulator, a separate process on 127.0.0.1, plays the vendor with
those limits) and each run, on fresh output directories:

- batch: `build A B C D E` in one engine (BuildOptions(skip_package=True): synthesis only);
- separate: the same five books built one after the other, five engines;

(wall = the engines' own time: SynthResult.wall_time, summed over the separate builds;
opening the stores is not counted in either)

and prints per run: tasks, the bound of the whole batch, the wall of each and its ratio
to the bound, refused requests (101003 + 101004, the emulator's count) as a share of all
create + get requests, and where the open-task slots sat free (the emulator's timeline,
as in bench/throughput.py: the mean refill delay from a task's end to the next create, and
idle slot-seconds per task), then medians. The bound: every task needs a create and a get
drawn from R requests/s, so wall >= 2N/R; at most C tasks are open at once, each for its
processing time, so wall >= Σ task seconds / C.

With packaging (balanced setting only, default on): the batch again with packaging on
(each book packaged in the worker process while later books synthesize) against the
same synthesis plus every book packaged afterwards one by one (timed in the same run):
what the overlap saved. Targets: ratio <= 1.10 slot- and request-bound, <= 1.20 balanced,
refusals <= 10 % of requests.

--probe-at-limit sets `synthesis.probe_at_limit: true` in the five recipes (opt-in: probes
at max_open on learned task durations, polls late); without it the default policy runs
(no probes at the limit: polls alone find ended tasks).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:  # `python bench/batch.py` puts bench/ itself on sys.path
    from _emulator import EmulatorProcess, start_emulator, write_book
    from throughput import slot_use
except ImportError:  # `python -m bench.batch`
    from bench._emulator import EmulatorProcess, start_emulator, write_book
    from bench.throughput import slot_use
from pipeline.batch import BatchOptions, build_batch
from pipeline.batch_plan import plan_batch
from pipeline.build import BuildOptions, build
from pipeline.build_stages import package_stage
from pipeline.catalogue import BatchInputs, BookEntry
from pipeline.recipe import load_recipe
from pipeline.tts.choice import BackendChoice
from pipeline.workspace import Workspace

BOOK_SHARES = (0.3, 0.15, 0.25, 0.1, 0.2)  # five books of different lengths


@dataclass(frozen=True)
class Setting:
    name: str
    rate: float
    slots: int
    task_time: str
    segments: int  # about this many segments over the five books (sized for ~30 s of synthesis)
    target: float


SETTINGS = {
    "balanced": Setting("balanced", 20, 8, "0.3:1.5", 360, 1.20),
    "slot": Setting("slot", 100, 4, "2:4", 48, 1.10),
    "request": Setting("request", 5, 16, "0.3:1.5", 80, 1.10),
}


@dataclass(frozen=True)
class Run:
    tasks: int
    bound: float
    wall: float
    refused: int
    requests: int
    refill: float  # mean seconds an open-task slot sat free between a task's end and the next create
    idle: float  # idle slot-seconds per task over the emulator's span

    @property
    def ratio(self) -> float:
        return self.wall / self.bound if self.bound else float("inf")

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


def write_books(work: Path, s: Setting, scale: float, probe_odds: float, at_limit: bool) -> list[Path]:
    recipes = []
    for i, share in enumerate(BOOK_SHARES):
        book, recipe = work / f"book{i}.md", work / f"book{i}.yaml"
        write_book(book, int(s.segments * scale * share * 150), chapters=3, seed=100 + i)
        recipe.write_text(
            f"book: {book}\nlanguage: en\nmax_chars: 200\n"
            f"synthesis: {{max_open: {s.slots}, rate_limit: {s.rate:g}, confirm_above: 100000000, "
            f"probe_odds: {probe_odds:g}, probe_at_limit: {str(at_limit).lower()}}}\n"
            "output: {formats: [mp3, m4b], sample_rate: 22050, mp3_bitrate: 64k}\n", encoding="utf-8")
        recipes.append(recipe)
    return recipes


def _figures(em: EmulatorProcess, s: Setting, wall: float) -> Run:
    time.sleep(0.2)  # the emulator's last task bookkeeping
    stats = em.stats()
    tasks = int(stats["tasks_created"])
    bound = max(2 * tasks / s.rate, float(stats["task_seconds"]) / s.slots)
    asked = sum(int(v) for k, v in stats["requests"].items() if k in ("create", "get"))
    refused = int(stats["rate_limited"]) + int(stats["concurrency_limited"])
    refill, idle, _ = slot_use(em.timeline(), s.slots)
    return Run(tasks, bound, wall, refused, asked, refill, idle)


def batch_run(em: EmulatorProcess, recipes: list[Path], out: Path, s: Setting, package: bool) -> Run:
    em.reset()
    inputs = BatchInputs(tuple(BookEntry(load_recipe(r).with_overrides(output=out / r.stem), r.name)
                               for r in recipes), None)
    choice = BackendChoice("audiocleaner", em.url, em.key)
    plan = plan_batch(inputs, choice.name)
    start = time.perf_counter()
    result = build_batch(plan, choice, BatchOptions(BuildOptions(yes=True, skip_package=not package)),
                         out / "batch-report.json")
    wall = time.perf_counter() - start
    assert result.error is None, result.error
    return _figures(em, s, wall if package else result.report.wall_seconds["engine"])


def separate_run(em: EmulatorProcess, recipes: list[Path], out: Path, s: Setting) -> Run:
    em.reset()
    choice = BackendChoice("audiocleaner", em.url, em.key)
    wall = 0.0
    for recipe in recipes:
        r = load_recipe(recipe).with_overrides(output=out / recipe.stem)
        result = build(r, choice, BuildOptions(yes=True, skip_package=True))
        assert result.report.synthesis is not None and result.report.synthesis.result is not None
        wall += result.report.synthesis.result.wall_time
    return _figures(em, s, wall)


def package_afterwards(recipes: list[Path], out: Path) -> float:
    """Package every book of a synthesis-only batch one by one: the time overlap can save."""
    from pipeline.build import fresh_plan

    start = time.perf_counter()
    for recipe in recipes:
        r = load_recipe(recipe).with_overrides(output=out / recipe.stem)
        package_stage(r, fresh_plan(r, "audiocleaner"), Workspace.of(r))
    return time.perf_counter() - start


def print_rows(label: str, runs: list[Run]) -> None:
    for i, r in enumerate(runs):
        print(f"  {label:<9} run {i + 1}: tasks {r.tasks:>4}  bound {r.bound:6.1f} s  wall {r.wall:6.1f} s  "
              f"ratio {r.ratio:5.3f}  refused {r.refused:>4} of {r.requests:>5} ({r.refused_share:5.1%})  "
              f"refill {r.refill * 1000:4.0f} ms  idle {r.idle:5.3f} slot-s/task")
    med = statistics.median
    print(f"  {label:<9} median: ratio {med(r.ratio for r in runs):5.3f}  wall {med(r.wall for r in runs):6.1f} s  "
          f"refused {med(r.refused_share for r in runs):5.1%}  refill {med(r.refill for r in runs) * 1000:4.0f} ms")


def bench_setting(s: Setting, runs: int, scale: float, probe_odds: float, package: bool,
                  at_limit: bool) -> tuple[float, float]:
    args = ["--rate-limit", f"{s.rate:g}", "--max-open", str(s.slots), "--task-time", s.task_time,
            "--workers", str(s.slots), "--audio", "tone"]
    print(f"\n{s.name}: emulator R={s.rate:g} req/s, C={s.slots}, task time {s.task_time} s")
    batch, separate, packaged, overlap = [], [], [], []
    with tempfile.TemporaryDirectory(prefix=f"bench-batch-{s.name}-") as tmp, start_emulator(args) as em:
        work = Path(tmp)
        recipes = write_books(work, s, scale, probe_odds, at_limit)
        for i in range(runs):
            batch.append(batch_run(em, recipes, work / f"batch{i}", s, package=False))
            separate.append(separate_run(em, recipes, work / f"sep{i}", s))
            if package:
                after = package_afterwards(recipes, work / f"batch{i}")
                packaged.append(batch_run(em, recipes, work / f"pkg{i}", s, package=True))
                overlap.append((batch[-1].wall, after, packaged[-1].wall))
    print_rows("batch", batch)
    print_rows("separate", separate)
    med = statistics.median
    print(f"  batch vs separate (same run): wall ratio {med(b.wall / p.wall for b, p in zip(batch, separate)):5.3f}")
    for i, (synth, after, total) in enumerate(overlap):
        print(f"  packaging run {i + 1}: synthesis {synth:6.1f} s + packaging afterwards {after:6.1f} s = "
              f"{synth + after:6.1f} s; overlapped total {total:6.1f} s (saved {synth + after - total:5.1f} s)")
    if overlap:
        print(f"  packaging median: total / (synthesis + packaging afterwards) "
              f"{med(t / (s_ + a) for s_, a, t in overlap):5.3f}")
    return med(r.ratio for r in batch), med(r.refused_share for r in batch)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settings", default="balanced,slot,request")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every setting's segment count")
    p.add_argument("--probe-odds", type=float, default=0.0, help="synthesis.probe_odds of the recipes")
    p.add_argument("--probe-at-limit", action="store_true", help="synthesis.probe_at_limit: true in the recipes")
    p.add_argument("--no-package", action="store_true", help="skip the packaging-overlap comparison")
    a = p.parse_args(argv)
    verdicts = []
    for name in a.settings.split(","):
        s = SETTINGS[name]
        ratio, refused = bench_setting(s, a.runs, a.scale, a.probe_odds, not a.no_package and name == "balanced",
                                       a.probe_at_limit)
        ok = ratio <= s.target and refused <= 0.10
        verdicts.append(f"{name}: ratio {ratio:.3f} (target <= {s.target:.2f}), refused {refused:.1%} "
                        f"(<= 10 %): {'OK' if ok else 'MISSED'}")
    print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
