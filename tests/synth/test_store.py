"""Checkpoint store: migrations, WAL, transitions, crash recovery, kill-safety, locking."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.errors import LockedError, StoreError
from pipeline.synth.store import DB_NAME, MIGRATIONS, Store
from tests.synth.fakes import make_jobs

REPO = Path(__file__).resolve().parents[2]


def test_creates_wal_db_at_latest_version(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.path == tmp_path / DB_NAME
        assert store.version == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_refuses_future_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store.open(tmp_path)
    Store.open(tmp_path / "other").close()  # the lock was released on failure


def test_unreadable_file_is_store_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store.open(tmp_path)


def test_sync_plan_never_touches_existing_rows(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        store.mark_submitting(jobs[0].key)
        store.mark_submitted(jobs[0].key, "J1", jobs[0].credits)
        store.sync_plan(jobs + make_jobs(5)[3:])
        row = store.row(jobs[0].key)
        assert row is not None and row.state == "submitted" and row.job_id == "J1"
        assert store.counts()["planned"] == 4
        assert row.credits_spent == jobs[0].credits and row.attempts == 1


def test_transitions_and_summary(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        a, b, c = (j.key for j in jobs)
        for key in (a, b):
            store.mark_submitting(key)
            store.mark_submitted(key, f"id-{key[:4]}", 2)
            store.add_poll(key)
        store.mark_downloaded(a, tmp_path / "a.wav")
        store.mark_done(a)
        store.mark_recreate(b, "task status failed", failed=True)
        store.mark_failed(c, "text rejected")
        summary = store.summary()
    assert summary["states"] == {"planned": 1, "submitting": 0, "submitted": 0, "downloaded": 0, "done": 1, "failed": 1}
    assert summary["credits_spent"] == 4 and summary["recreated"] == 1 and summary["polls"] == 2
    assert summary["failures"][0]["error"] == "text rejected"
    assert summary["credits_remaining"] == summary["credits_planned"] - jobs[0].credits


def test_submitting_rows_become_ambiguous_on_resume(tmp_path: Path) -> None:
    jobs = make_jobs(2)
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        store.mark_submitting(jobs[0].key)  # crash here: create sent, job id never saved
    with Store.open(tmp_path) as store:
        assert store.recover_submitting() == 1
        assert store.recover_submitting() == 0
        row = store.row(jobs[0].key)
        assert row is not None and row.state == "planned" and row.ambiguous == 1
        assert store.summary()["ambiguous_resubmits"] == 1


def test_atomic_rolls_back(tmp_path: Path) -> None:
    jobs = make_jobs(1)
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs)
        with pytest.raises(RuntimeError):
            with store.atomic():
                store.mark_submitting(jobs[0].key)
                raise RuntimeError("boom")
        row = store.row(jobs[0].key)
        assert row is not None and row.state == "planned"


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.synth.store import Store
    from tests.synth.fakes import make_jobs
    jobs = make_jobs(2000)
    store = Store.open(Path(sys.argv[1]))
    store.sync_plan(jobs)
    for i, job in enumerate(jobs):
        store.mark_submitting(job.key)
        store.mark_submitted(job.key, f"job-{i}", job.credits)
        print(i, flush=True)
    """
)


def test_sigkill_loses_no_committed_row(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store.open(tmp_path) as store:
        rows = {r.job_id for r in store.rows() if r.state == "submitted"}
        assert all(f"job-{i}" in rows for i in range(last + 1))
        assert store.counts()["submitting"] <= 1


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipeline.synth.store import Store
    store = Store.open(Path(sys.argv[1]))
    print("locked", flush=True)
    time.sleep(30)
    """
)


def test_lock_refuses_second_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=rf"being built by another audiobook process \(pid {proc.pid}\)"):
            Store.open(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while True:  # the lock dies with its holder
        try:
            Store.open(tmp_path).close()
            break
        except LockedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
