"""Checkpoint store: migrations, WAL, transitions, crash recovery, kill-safety, locking."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.errors import LockedError, StoreError
from pipeline.models import Job, Voice
from pipeline.synth.status import store_summary
from pipeline.synth.store import DB_NAME, MIGRATIONS, Store, voice_tag
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
        (tmp_path / "a.wav").write_bytes(b"RIFF")
        store.mark_done(a, tmp_path / "a.wav")
        store.mark_recreate(b, "task status failed", failed=True)
        store.mark_failed(c, "text rejected")
        summary = store_summary(store)
        row = store.row(a)
    assert summary["states"] == {"planned": 1, "submitting": 0, "submitted": 0, "downloaded": 0, "done": 1, "failed": 1}
    assert summary["recreated"] == 1 and summary["polls"] == 2
    assert summary["spend"]["spent"] == 0  # no ledger entries were written: nothing counted as spent
    assert row is not None and row.clip_size == 4 and row.clip_mtime == (tmp_path / "a.wav").stat().st_mtime_ns
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
        assert store_summary(store)["ambiguous_resubmits"] == 1


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


# --- texts and voice tags (migration 2): what a re-plan may reuse --------------------


def _old_schema_db(tmp_path: Path, jobs: list[Job]) -> None:
    """A store as the previous release left it: migration 1 only, rows without text."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    for j in jobs:
        conn.execute(
            "INSERT INTO segments (key, chapter, idx, chars, credits, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (j.key, j.segment.chapter, j.segment.index, len(j.segment.text), j.credits, 1.0),
        )
    conn.execute("UPDATE segments SET state='done', clip='c.wav' WHERE key=?", (jobs[0].key,))
    conn.commit()
    conn.close()


def test_voice_tag_is_canonical() -> None:
    tag = voice_tag(Voice(2072, 1, 1.0, "fr"))
    assert tag == '{"emotion": 1, "language": "fr", "speed": 1.0, "voice_id": 2072}'
    assert voice_tag(Voice(2072, 1, 1, "fr")) == tag  # type: ignore[arg-type]
    assert len({tag, voice_tag(Voice(2072, 0, 1.0, "fr")), voice_tag(Voice(2072, 1, 1.1, "fr")),
                voice_tag(Voice(2073, 1, 1.0, "fr")), voice_tag(Voice(2072, 1, 1.0, "en"))}) == 5


def test_migrates_old_store_and_backfills_text_and_voice(tmp_path: Path) -> None:
    jobs = make_jobs(3)
    _old_schema_db(tmp_path, jobs)
    with Store.open(tmp_path) as store:
        assert store.version == len(MIGRATIONS) == 3
        before = store.row(jobs[0].key)
        assert before is not None and before.state == "done" and before.text is None and before.voice is None
        tag = voice_tag(jobs[0].voice)
        assert store.synthesized_texts(tag) == set()  # unknown until the next plan fills it in
        store.sync_plan(jobs)
        after = store.row(jobs[0].key)
        assert after is not None and after.state == "done" and after.clip == "c.wav"
        assert after.text == jobs[0].segment.text and after.voice == tag
        assert store.synthesized_texts(tag) == {jobs[0].segment.text}
    conn = sqlite3.connect(tmp_path / DB_NAME)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(segments)")]
    conn.close()
    assert columns[-4:] == ["text", "voice", "clip_size", "clip_mtime"] and "api_key" not in columns


def test_synthesized_texts_only_done_rows_of_that_voice(tmp_path: Path) -> None:
    jobs = make_jobs(4)
    other = Voice(9, 2, 1.2, "de")
    french = [replace(j, voice=other, key=f"other-{i}") for i, j in enumerate(jobs)]
    with Store.open(tmp_path) as store:
        store.sync_plan(jobs + french)
        for key in (jobs[0].key, jobs[1].key, french[2].key):
            store.mark_submitting(key)
            store.mark_submitted(key, "J", 2)
            (tmp_path / "c.wav").write_bytes(b"RIFF")
            store.mark_done(key, tmp_path / "c.wav")
        store.mark_submitting(jobs[2].key)
        store.mark_submitted(jobs[2].key, "J2", 2)  # paid but not finished: not reusable yet
        store.mark_failed(jobs[3].key, "rejected")
        assert store.synthesized_texts(voice_tag(jobs[0].voice)) == {jobs[0].segment.text, jobs[1].segment.text}
        assert store.synthesized_texts(voice_tag(other)) == {french[2].segment.text}
        assert store.synthesized_texts(voice_tag(Voice(1))) == set()
        store.requeue(jobs[1].key)  # its clip vanished: polled again under its job id
        assert store.synthesized_texts(voice_tag(jobs[0].voice)) == {jobs[0].segment.text}
        again = store.row(jobs[1].key)
        assert again is not None and again.state == "submitted" and again.job_id == "J" and again.clip is None
        row = store.row(jobs[0].key)
        assert row is not None and row.text == jobs[0].segment.text
