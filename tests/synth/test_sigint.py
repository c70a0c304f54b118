"""Ctrl-C on a real process: the first SIGINT saves state and exits, the second at once.

The subprocess reports each create it starts and finishes on stderr, so the test sends
SIGINT at a known point of the run instead of after a sleep that assumes an idle machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.synth import Store
from pipeline.synth.ledger import read_spend

REPO = Path(__file__).resolve().parents[2]

_BUILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.synth import ClipCache, Store, SynthOptions, run_synthesis
    from tests.synth.fakes import FakeBackend, make_jobs
    out = Path(sys.argv[1])

    class Told(FakeBackend):
        async def create(self, request):
            print("create-start", file=sys.stderr, flush=True)
            job_id = await super().create(request)
            print("create-done", file=sys.stderr, flush=True)
            return job_id

    fake = Told(task_time=lambda c: 5.0, latency=float(sys.argv[2]))
    store = Store.open(out)
    print("started", flush=True)
    try:
        run_synthesis(make_jobs(40), fake, store, ClipCache(out / "clips"), SynthOptions(rate_limit=50.0))
    except KeyboardInterrupt:
        print("interrupted", fake.requests["create"], flush=True)
        sys.exit(130)
    """
)


def _start(out: Path, latency: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(out), str(latency)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def _wait_for(proc: subprocess.Popen[str], event: str, count: int) -> int:
    """Read the subprocess's stderr until `event` was seen `count` times; creates started."""
    assert proc.stderr is not None
    seen = started = 0
    while seen < count:
        line = proc.stderr.readline().strip()
        assert line, "the run ended before the expected point"
        started += line == "create-start"
        seen += line == event
    return started


@pytest.mark.parametrize(("latency", "event"), [(0.05, "create-done"), (0.9, "create-start")])
def test_first_sigint_saves_and_exits(tmp_path: Path, latency: float, event: str) -> None:
    """At Ctrl-C either every slot is polling, or 7 creates are in flight (the first create of
    a run goes alone: a service that answers garbage costs one uncertain create, not eight)."""
    proc = _start(tmp_path, latency)
    _wait_for(proc, event, 8)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    created = int(out.split()[-1])
    with Store.open(tmp_path) as store:
        counts = store.counts()
        ids = [r.job_id for r in store.rows() if r.state == "submitted"]
    assert created == 8 and len(ids) == 8 and all(ids)  # in-flight creates finished in the grace; ids saved
    assert counts["submitting"] == 0


def test_second_sigint_exits_at_once(tmp_path: Path) -> None:
    proc = _start(tmp_path, 4.0)  # the first create is still in flight when Ctrl-C comes
    started = _wait_for(proc, "create-start", 1)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and out.split()[-1] == "0"  # no create was waited for
    with Store.open(tmp_path) as store:  # the create was in flight: maybe paid, so counted as spent
        spend = read_spend(store)
        assert spend.uncertain_creates + store.counts()["submitting"] >= started
        assert spend.spent == started * 2 and spend.charged == 0  # 2 credits per segment, none known
