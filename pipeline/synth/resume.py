"""Before a run: settle what earlier runs left, and trust only clips that prove whole.

Why here and not in the engine: this is the bookkeeping that makes a rerun safe. A
create a crash interrupted is counted (ambiguous); a row with a job id is queued for
polling, never for a new create; a cached clip is trusted when its size and mtime are
what we recorded, and otherwise checked by its structure; a damaged one is moved
aside (named in a warning) and fetched again from its job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.models import Job
from pipeline.synth.progress import ChapterTotals
from pipeline.synth.run_state import RunState
from pipeline.synth.store import Row


@dataclass(frozen=True)
class Pending:
    """A job to work on: with a job id it only needs polling (and downloading)."""

    job: Job
    job_id: str | None = None
    submitted_at: float | None = None


def prepare(run: RunState) -> tuple[list[Pending], int]:
    """Sync the plan and settle crashed rows; return the work left and the ambiguous count."""
    run.store.sync_plan(run.jobs)
    ambiguous = run.store.recover_submitting()
    totals: dict[int, list[int]] = {}
    pending: list[Pending] = []
    for job in run.jobs:
        row = run.store.row(job.key)
        assert row is not None, "sync_plan inserts every job"
        t = totals.setdefault(job.segment.chapter, [0, 0, 0, 0])
        t[0] += 1
        t[1] += job.credits
        clip = usable_clip(run, job, row)
        if clip is not None:
            if row.state != "done":
                run.store.mark_done(job.key, clip)
            run.stats.cached += 1
            t[2] += 1
            t[3] += job.credits
            continue
        if row.state in ("done", "downloaded", "failed"):
            run.store.requeue(job.key)  # keeps a job id: polled (and downloaded) again
            row = run.store.row(job.key)
            assert row is not None
        if row.state == "submitted" and row.job_id:
            pending.append(Pending(job, row.job_id, row.submitted_at))
        else:
            pending.append(Pending(job))
    pending.sort(key=lambda p: p.job_id is None)  # tasks already paid for go first
    run.progress.start({n: ChapterTotals(*v) for n, v in totals.items()})
    return pending, ambiguous


def usable_clip(run: RunState, job: Job, row: Row) -> Path | None:
    """The job's cached clip if it can be trusted; a damaged one is moved aside (None)."""
    clip = run.cache.path(job.key)
    if clip is None:
        return None
    st = clip.stat()
    if row.clip_size == st.st_size and row.clip_mtime == st.st_mtime_ns:
        return clip
    problem = run.cache.verify(clip)
    if problem is None:
        if row.state == "done":
            run.store.note_clip(job.key, clip)
        return clip
    moved = run.cache.quarantine(clip)
    run.stats.repaired += 1
    run.stats.warnings.append(
        f"clip {clip} failed verification ({problem}); moved to {moved} and fetched again"
    )
    return None
