"""Ctrl-C on a real process: first SIGINT saves state and exits within ~2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.synth import Store

REPO = Path(__file__).resolve().parents[2]

_BUILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.synth import ClipCache, Store, SynthOptions, run_synthesis
    from tests.synth.fakes import FakeBackend, make_jobs
    out = Path(sys.argv[1])
    fake = FakeBackend(task_time=lambda c: 5.0, latency=float(sys.argv[2]))
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
    proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(out), str(latency)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


@pytest.mark.parametrize("latency", [0.05, 0.9])  # polling, or creates in flight at Ctrl-C
def test_first_sigint_saves_and_exits(tmp_path: Path, latency: float) -> None:
    proc = _start(tmp_path, latency)
    time.sleep(0.8)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.5
    assert proc.returncode == 130, out
    created = int(out.split()[-1])
    with Store.open(tmp_path) as store:
        counts = store.counts()
        ids = [r.job_id for r in store.rows() if r.state == "submitted"]
    assert created == 8 and len(ids) == 8 and all(ids)  # every created task's id was saved
    assert counts["submitting"] == 0


def test_second_sigint_exits_at_once(tmp_path: Path) -> None:
    proc = _start(tmp_path, 4.0)  # creates still in flight when Ctrl-C comes
    time.sleep(0.8)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.1)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 0.8  # did not wait for the 1.5 s grace nor the 4 s creates
    assert proc.returncode == 130 and out.split()[-1] == "0"
    with Store.open(tmp_path) as store:  # creates were in flight: maybe paid, so ambiguous
        assert store.counts()["submitting"] == 8
        assert store.recover_submitting() == 8
