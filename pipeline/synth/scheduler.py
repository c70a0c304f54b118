"""The asyncio engine: drive every job through create, poll, download, verify, checkpoint.

One coroutine per open task, admitted by the AIMD gate (or, when the gate's ceiling
sits below `max_open`, as a probe: pacing.py); every create and query draws from one
token bucket. Each transition is committed before the next network step (the ledger
intent before a create, the job id before the first poll, the clip before `done`),
so stopping at any point loses nothing paid for. Retry policy lives here and in
creates.py / collect.py only: the client never retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pipeline.errors import FatalKeyError, is_disk_full
from pipeline.models import Job
from pipeline.synth.budget import Slot
from pipeline.synth.cache import ClipCache
from pipeline.synth.clock import Clock, SystemClock
from pipeline.synth.collect import Collector
from pipeline.synth.creates import Creator
from pipeline.synth.ledger import Ledger
from pipeline.synth.options import SynthOptions
from pipeline.synth.progress import ProgressSink, QuietProgress
from pipeline.synth.resume import Pending, prepare
from pipeline.synth.run_state import JobFailed, JobStalled, KeyLimits, RunHalted, RunState
from pipeline.synth.store import Store
from pipeline.tts.base import Backend


class Engine:
    """Runs a set of jobs to completion (or to a clean stop) against one backend."""

    def __init__(
        self, jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache,
        options: SynthOptions, progress: ProgressSink | None = None, stop: asyncio.Event | None = None,
        *, ledger: Ledger | None = None, clock: Clock | None = None, limits: KeyLimits | None = None,
    ) -> None:
        unique: dict[str, Job] = {}
        for job in jobs:
            unique.setdefault(job.key, job)
        self.jobs = list(unique.values())
        self.run_state = RunState(
            self.jobs, backend, store, cache, options, progress or QuietProgress(), stop or asyncio.Event(),
            clock or SystemClock(), ledger, limits,
        )
        r = self.run_state
        self.store, self.options, self.stats, self.gate = store, options, r.stats, r.gate
        self.creator, self.collector = Creator(r), Collector(r)
        self.ambiguous = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_abort: Callable[[], None] | None = None  # a batch's: cancel every book's tasks
        self.on_job_end: Callable[[str], None] | None = None  # a batch's: hand the clip to other books

    # --- control -------------------------------------------------------------------

    def _abort(self) -> None:
        """Fatal key, full disk: cancel everything now (only requests in flight were sent).
        In a batch, `on_abort` cancels every book's tasks, not only this one's."""
        if self.on_abort is not None:
            self.on_abort()
            return
        self.cancel_tasks()

    def cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    # --- main loop ---------------------------------------------------------------------

    async def run(self) -> None:
        pending = self.prepare()
        watcher = asyncio.create_task(self._watch_stop())
        try:
            for item in pending:
                if not await self.admit(item):
                    break
            await self._gather()
        finally:
            watcher.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.run_state.report()

    def prepare(self) -> list[Pending]:
        """Settle what earlier runs left; the work still to do, paid-for tasks first."""
        pending, self.ambiguous = prepare(self.run_state)
        return pending

    async def admit(self, item: Pending) -> bool:
        """Start one job once the gate has a slot for it; False when the run is stopping."""
        r = self.run_state
        if item.job_id is None and r.no_create():
            return True
        if r.stopping:
            return False
        probe = await r.gate.acquire(r.may_probe if item.job_id is None else None)
        if (item.job_id is None and r.no_create()) or r.stopping:
            await Slot(r.gate, probe).release()
            return True
        task = asyncio.create_task(self._job(item, probe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def gather(self) -> None:
        """Wait for every started job (a job's unexpected error is raised here)."""
        await self._gather()

    async def _gather(self) -> None:
        while self._tasks:
            batch = list(self._tasks)
            results = await asyncio.gather(*batch, return_exceptions=True)
            self._tasks.difference_update(batch)  # progress even if a done-callback lags
            for res in results:
                if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                    raise res

    async def _watch_stop(self) -> None:
        """After a stop: give in-flight requests `stop_grace` seconds, then cancel them."""
        await self.run_state.stop.wait()
        await self.run_state.clock.sleep(self.options.stop_grace)
        self._abort()

    async def _job(self, item: Pending, probe: bool) -> None:
        r = self.run_state
        job = item.job
        slot = Slot(r.gate, probe)
        try:
            await self._drive(job, item.job_id, item.submitted_at, slot)
        except JobFailed as exc:
            r.store.mark_failed(job.key, str(exc))
            r.stats.failures.append(f"chapter {job.segment.chapter} segment {job.segment.index}: {exc}")
        except JobStalled as exc:
            r.store.mark_stalled(job.key, str(exc))
            r.stats.stalled += 1
            r.stats.warnings.append(f"chapter {job.segment.chapter} segment {job.segment.index}: {exc}")
        except RunHalted:
            pass  # the run is stopping: the row keeps what it had (a job id is polled next run)
        except FatalKeyError as exc:
            r.halts.fatal = r.halts.fatal or exc
            r.halt_all()
            self._abort()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            r.halts.disk = r.halts.disk or f"{exc}"
            r.halt_all()
            self._abort()
        finally:
            r.occupancy.remove(job.key)
            await slot.release()
            r.report()
            if self.on_job_end is not None:
                self.on_job_end(job.key)

    async def _drive(self, job: Job, job_id: str | None, submitted_at: float | None, slot: Slot) -> None:
        r = self.run_state
        failed_rounds = expired_rounds = 0
        while True:
            if job_id is None or submitted_at is None:
                if not await slot.acquire(lambda: r.stopping, r.may_probe):
                    return
                created = await self.creator.create(job, slot)
                if created is None:
                    return
                job_id, submitted_at = created
            slot.confirm()
            r.occupancy.add(job.key, len(job.segment.text), submitted_at)
            outcome, url = await self.collector.poll(job, job_id, submitted_at)
            if outcome in ("halt", "timeout"):
                if outcome == "timeout":
                    await self._abandon(slot)
                    r.stats.timed_out += 1
                    raise JobStalled(f"still waiting after {r.options.task_timeout:g} s (task_timeout); "
                                     "the next run polls the same job")
                return
            r.occupancy.revealed(job.key, r.clock.time())
            if outcome == "success":
                await slot.release()  # the service freed its slot when processing ended
                outcome = await self._fetch(job, job_id, submitted_at, url)
                if outcome in ("done", "halt"):
                    return
            if outcome == "failed":
                r.stats.failed_tasks += 1
                failed_rounds += 1
                if failed_rounds > self.options.failed_retries:
                    r.store.drop_job(job.key)  # the service says it failed: its id is worthless
                    raise JobFailed(f"task failed {failed_rounds} times")
                r.store.mark_recreate(job.key, "task status failed", failed=True)
            else:  # expired: 101008 on our task, or its output URL is gone for good
                r.stats.expired += 1
                expired_rounds += 1
                if not self.options.recreate_expired or expired_rounds > self.options.max_attempts:
                    raise JobFailed("task expired before download (re-create disabled or exhausted)")
                r.store.mark_recreate(job.key, "task expired before download")
            r.stats.recreated += 1
            job_id = submitted_at = None

    async def _fetch(self, job: Job, job_id: str, submitted_at: float, url: str) -> str:
        """Download a finished task; when its file keeps failing or its URL expired, ask the
        job for the URL again (a fresh one may work): "done"|"halt"|"expired"|"failed"."""
        r = self.run_state
        for attempt in range(self.options.max_refetch + 1):
            got = await self.collector.download(job, url)
            if got in ("done", "halt"):
                return got
            if attempt == self.options.max_refetch:
                break
            outcome, fresh = await self.collector.poll(job, job_id, submitted_at, again=True)
            if outcome != "success":
                return "halt" if outcome == "timeout" else outcome
            if got == "expired" and fresh == url:
                return "expired"  # the service points at the same dead file
            url = fresh
        r.stats.retries += 1
        raise JobStalled("its download kept failing; the next run asks the same job for its file again")

    async def _abandon(self, slot: Slot) -> None:
        """A task left open on the service (stuck): it keeps its slot there, so one fewer here."""
        self.run_state.gate.retire()
        await slot.release()
