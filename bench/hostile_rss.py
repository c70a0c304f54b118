"""Peak memory and time of `audiobook plan` on every hostile book (tests/ingest/hostile.py).

Each book is written at the size of the reported attacks (`full=True`: a 1 GiB zip
member, a 20,000,000-character word, ...) into a temporary directory, then planned
by `python -m pipeline.cli plan BOOK --backend local` in a child process whose peak
RSS is its own VmHWM (Linux /proc). Target: under 500 MB for every book.

    python bench/hostile_rss.py [--repeat N] [--only NAME ...] [--small]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.ingest import hostile  # noqa: E402 - after the sys.path line above

TARGET_MB = 500
TIMEOUT_S = 600


def _hwm_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MB, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_plan(book: Path) -> tuple[int, float, float, str]:
    """(exit code, the child's peak RSS in MB, wall seconds, last stderr line).

    Peak RSS is the child's own VmHWM, polled every 10 ms until it exits. (wait4's
    ru_maxrss would not do: Linux starts a child's maxrss at its parent's RSS when it
    forks and execs, and this script's parent has just written a 250 MB book.)
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "plan", str(book), "--backend", "local"],
                                 cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err_file)
        peak = 0.0
        while child.poll() is None:
            hwm = _hwm_mb(child.pid)
            peak = max(peak, hwm or 0.0)
            if time.perf_counter() - start > TIMEOUT_S:
                child.kill()
            time.sleep(0.01)
        wall = time.perf_counter() - start
        err_file.seek(0)
        lines = [line for line in err_file.read().decode(errors="replace").splitlines() if line.strip()]
    return child.returncode, peak, wall, (lines[-1] if lines else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per book (the median wall time is shown)")
    parser.add_argument("--only", nargs="*", default=None, help="book names to run")
    parser.add_argument("--small", action="store_true", help="the test suite's sizes instead of the attacks'")
    args = parser.parse_args()
    cases = [c for c in hostile.ALL if not args.only or c.name in args.only]
    print(f"{'book':24} {'size':>10} {'exit':>4} {'peak MB':>8} {'wall s':>7}  message")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sample = REPO / "samples" / "the-cartographers-daughter.md"
        rows = [("(sample book)", sample)] if sample.is_file() and not args.only else []
        for case in cases:
            directory = Path(tmp) / case.name
            directory.mkdir()
            rows.append((case.name, case.write(directory, not args.small)))
        for name, book in rows:
            runs = [run_plan(book) for _ in range(args.repeat)]
            code, _, _, message = runs[-1]
            peak = max(r[1] for r in runs)
            wall = statistics.median(r[2] for r in runs)
            worst = max(worst, peak)
            size = book.stat().st_size if book.is_file() else 0
            print(f"{name:24} {size:>10,} {code:>4} {peak:>8.0f} {wall:>7.2f}  {message.replace(tmp, '')[:110]}")
    print(f"worst peak RSS {worst:.0f} MB (target < {TARGET_MB} MB): {'ok' if worst < TARGET_MB else 'OVER'}")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
