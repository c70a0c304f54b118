"""The asyncio engine: create, poll, download, verify and checkpoint every job.

One coroutine per open task, admitted by the AIMD gate (or, with every slot seemingly
busy, as a probe: pacing.py); every create and query draws from one token bucket. Each transition is committed before the next network step (the
job id before the first poll, the clip before `done`), so stopping at any point loses
nothing paid for. Retry policy lives here only: the client never retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pipeline.errors import (
    APIError,
    BadAudioError,
    ConcurrencyLimitedError,
    CreditsExhaustedError,
    DownloadError,
    FatalKeyError,
    RateLimitedError,
    TaskNotFoundError,
    TransientAPIError,
)
from pipeline.models import Job
from pipeline.synth.budget import AIMDGate, Slot, TokenBucket, bounded_backoff
from pipeline.synth.cache import ClipCache, sniff_ext
from pipeline.synth.pacing import SCOUT_POLLS, SCOUT_STEP, Pacer
from pipeline.synth.options import Stats, SynthOptions
from pipeline.synth.progress import ChapterTotals, ProgressSink, QuietProgress
from pipeline.synth.store import Store
from pipeline.tts.base import Backend

_TRANSIENT = (TransientAPIError, BadAudioError, asyncio.TimeoutError, TimeoutError)


class JobFailed(Exception):
    """Internal: this job cannot be completed in this run (reason in the message)."""


class Engine:
    """Runs a set of jobs to completion (or to a clean stop) against one backend."""

    def __init__(
        self, jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache,
        options: SynthOptions, progress: ProgressSink | None = None, stop: asyncio.Event | None = None,
    ) -> None:
        unique: dict[str, Job] = {}
        for job in jobs:
            unique.setdefault(job.key, job)
        self.jobs = list(unique.values())
        self.backend, self.store, self.cache, self.options = backend, store, cache, options
        self.progress = progress or QuietProgress()
        self.stop = stop or asyncio.Event()
        self.stats = Stats()
        self.bucket = TokenBucket(options.rate_limit)
        self.gate = AIMDGate(options.max_open)
        self.pacer = Pacer(options, self.bucket, self.gate, self.stats)
        self.estimator, self.occupancy = self.pacer.estimator, self.pacer.occupancy
        self.ambiguous = 0
        self.credits_out: CreditsExhaustedError | None = None
        self.fatal: FatalKeyError | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control -------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop.is_set() or self.fatal is not None

    def no_create(self) -> bool:
        return self.stopping or self.credits_out is not None

    async def _sleep(self, delay: float) -> bool:
        """Sleep unless a stop comes first; False means stop."""
        if delay > 0 and not self.stopping:
            try:
                await asyncio.wait_for(self.stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
        return not self.stopping

    def _may_probe(self) -> bool:
        return not self.no_create() and self.pacer.may_probe()

    def _abort(self) -> None:
        """Fatal key: cancel everything now (only requests already in flight were sent)."""
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def _report(self) -> None:
        self.progress.update(self.stats.requests, self.stats.credits_charged)

    # --- preparation -------------------------------------------------------------------

    def prepare(self) -> list[tuple[Job, str | None, float | None]]:
        """Sync the plan, settle crashed rows and cached clips; return work left to do."""
        self.store.sync_plan(self.jobs)
        self.ambiguous = self.store.recover_submitting()
        totals: dict[int, list[int]] = {}
        pending: list[tuple[Job, str | None, float | None]] = []
        for job in self.jobs:
            row = self.store.row(job.key)
            assert row is not None
            t = totals.setdefault(job.segment.chapter, [0, 0, 0, 0])
            t[0] += 1
            t[1] += job.credits
            clip = self.cache.path(job.key)
            if clip is not None:
                if row.state != "done":
                    self.store.mark_done(job.key, clip)
                self.stats.cached += 1
                t[2] += 1
                t[3] += job.credits
                continue
            if row.state in ("done", "downloaded", "failed"):
                self.store.reset(job.key)  # clip vanished, or a new run retries a failure
                row = self.store.row(job.key)
                assert row is not None
            if row.state == "submitted" and row.job_id:
                pending.append((job, row.job_id, row.submitted_at))
            else:
                pending.append((job, None, None))
        # Tasks already paid for go first: they only need polling.
        pending.sort(key=lambda p: p[1] is None)
        self.progress.start({n: ChapterTotals(*v) for n, v in totals.items()})
        return pending

    # --- main loop ---------------------------------------------------------------------

    async def run(self) -> None:
        pending = self.prepare()
        watcher = asyncio.create_task(self._watch_stop())
        try:
            for job, job_id, submitted_at in pending:
                if job_id is None and self.no_create():
                    continue
                if self.fatal is not None:
                    break
                probe = await self.gate.acquire(self._may_probe if job_id is None else None)
                if (job_id is None and self.no_create()) or self.fatal is not None:
                    await Slot(self.gate, probe).release()
                    continue
                task = asyncio.create_task(self._job(job, job_id, submitted_at, probe))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            while self._tasks:
                batch = list(self._tasks)
                results = await asyncio.gather(*batch, return_exceptions=True)
                self._tasks.difference_update(batch)  # progress even if a done-callback lags
                for res in results:
                    if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                        raise res
        finally:
            watcher.cancel()
            for task in list(self._tasks):
                task.cancel()
            self._report()

    async def _watch_stop(self) -> None:
        """After a stop: give in-flight requests `stop_grace` seconds, then cancel them."""
        await self.stop.wait()
        await asyncio.sleep(self.options.stop_grace)
        self._abort()

    async def _job(self, job: Job, job_id: str | None, submitted_at: float | None, probe: bool) -> None:
        slot = Slot(self.gate, probe)
        try:
            await self._drive(job, job_id, submitted_at, slot)
        except JobFailed as exc:
            self.store.mark_failed(job.key, str(exc))
            self.stats.failures.append(f"chapter {job.segment.chapter} segment {job.segment.index}: {exc}")
        except FatalKeyError as exc:
            if self.fatal is None:
                self.fatal = exc
            self._abort()
        finally:
            self.occupancy.remove(job.key)
            await slot.release()
            self._report()

    async def _drive(self, job: Job, job_id: str | None, submitted_at: float | None, slot: Slot) -> None:
        failed_rounds = expired_rounds = 0
        while True:
            if job_id is None or submitted_at is None:
                if not await slot.acquire(lambda: self.stopping, self._may_probe):
                    return
                created = await self._create(job, slot)
                if created is None:
                    return
                job_id, submitted_at = created
            slot.confirm()
            self.occupancy.add(job.key, len(job.segment.text), submitted_at)
            outcome, url = await self._poll(job, job_id, submitted_at)
            if outcome != "halt":
                self.occupancy.revealed(job.key, time.time())
            if outcome == "halt":
                return
            if outcome == "success":
                await slot.release()  # the service freed its slot when processing ended
                outcome = await self._download(job, url)
                if outcome in ("done", "halt"):
                    return
            if outcome == "failed":
                self.stats.failed_tasks += 1
                failed_rounds += 1
                if failed_rounds > self.options.failed_retries:
                    raise JobFailed(f"task failed {failed_rounds} times")
                self.store.mark_recreate(job.key, "task status failed", failed=True)
            else:  # expired: 101008 on our task, or its output URL is gone
                self.stats.expired += 1
                expired_rounds += 1
                if not self.options.recreate_expired or expired_rounds > self.options.max_attempts:
                    raise JobFailed("task expired before download (re-create disabled or exhausted)")
                self.store.mark_recreate(job.key, "task expired before download")
            self.stats.recreated += 1
            job_id = submitted_at = None

    # --- the three calls -----------------------------------------------------------------

    async def _create(self, job: Job, slot: Slot) -> tuple[str, float] | None:
        """Create with retries; None when creating stopped (stop, credits)."""
        faults = limited = 0
        while not self.no_create():
            await self.bucket.acquire(urgent=not slot.probe)  # a probe queues with the polls
            if self.no_create():
                break
            self.store.mark_submitting(job.key)  # a cancel from here on leaves it ambiguous
            self.stats.requests["create"] += 1
            try:
                job_id = await self.backend.create(job.request)
            except Exception as exc:
                self.store.unmark_submitting(job.key)
                self.stats.creates_rejected += 1
                probe = await slot.answered()
                if probe and isinstance(exc, ConcurrencyLimitedError):
                    await self._probe_refused(slot)
                elif isinstance(exc, (RateLimitedError, ConcurrencyLimitedError)):
                    limited += 1
                    await self._limited(exc, limited)
                    if limited > self.options.max_attempts * 8:
                        raise JobFailed("create refused by rate/concurrency limits too many times") from None
                elif isinstance(exc, _TRANSIENT):
                    faults += 1
                    await self._create_fault(exc, faults)
                elif isinstance(exc, CreditsExhaustedError):
                    self.credits_out = self.credits_out or exc
                    return None
                elif isinstance(exc, APIError) and not isinstance(exc, FatalKeyError):
                    raise JobFailed(str(exc)) from None  # text rejected, unknown code: never blindly
                else:
                    raise
                continue
            if await slot.answered():
                self.stats.probes_landed += 1
                self.occupancy.landed(time.time(), self.gate.open - 1, self.gate.ceiling)
            at = time.time()
            self.store.mark_submitted(job.key, job_id, job.credits, at)
            self.stats.credits_charged += job.credits
            self.bucket.success()
            await self.gate.on_success()
            return job_id, at
        return None

    async def _probe_refused(self, slot: Slot) -> None:
        """Every slot was busy after all: note it, queue for the gate again."""
        self.stats.probes_refused += 1
        self.occupancy.refused(time.time(), self.gate.open - 1, self.gate.ceiling)
        await slot.release()
        await slot.acquire(self.no_create, self._may_probe)

    async def _limited(self, exc: Exception, limited: int) -> None:
        """101003 pauses the whole budget; 101004 lowers the open-task ceiling."""
        if isinstance(exc, RateLimitedError):
            self.stats.rate_limited += 1
            self.bucket.penalize()
        else:
            self.stats.concurrency_limited += 1
            self.gate.on_congestion()
            await self.gate.release()  # give our slot back so the lowered ceiling takes effect
            await self._sleep(bounded_backoff(limited, base=0.1, cap=2.0))
            await self.gate.acquire()

    async def _create_fault(self, exc: Exception, faults: int) -> None:
        """A create without a readable reply may still have made (and billed) a task."""
        self.stats.retries += 1
        self.stats.uncertain_creates += 1
        if faults >= self.options.max_attempts:
            raise JobFailed(f"create failed {faults} times: {exc}") from None
        await self._sleep(bounded_backoff(faults, self.options.retry_base))

    async def _poll(self, job: Job, job_id: str, submitted_at: float) -> tuple[str, str]:
        """Query until the task ends: ("success", url) | ("failed"|"expired"|"halt", "")."""
        chars = len(job.segment.text)
        delay = self.estimator.first_delay(chars, time.time() - submitted_at)
        scout = self.pacer.take_scout()
        lo, step, faults = 0.0, 0.0, 0
        while True:
            if scout and self.estimator.mean_duration() is None and self.stats.polls[job.key] < SCOUT_POLLS:
                delay = min(delay, SCOUT_STEP)
            if not await self._sleep(delay):
                return "halt", ""
            await self.bucket.acquire()
            if self.stopping:
                return "halt", ""
            self.stats.requests["get"] += 1
            self.stats.polls[job.key] += 1
            self.store.add_poll(job.key)
            try:
                status = await self.backend.get(job_id)
            except Exception as exc:
                faults += 0 if isinstance(exc, RateLimitedError) else 1
                next_delay = self._query_refused(exc, faults)
                if next_delay is None:
                    return ("expired" if isinstance(exc, TaskNotFoundError) else "halt"), ""
                delay = next_delay
                continue
            self.bucket.success()
            elapsed = time.time() - submitted_at
            if status.state == "success" and not status.output_url:
                faults += 1  # "success" without a file: ask again, a few times
                if faults >= self.options.max_attempts:
                    raise JobFailed("task succeeded without an output URL")
            if status.state == "waiting" or not (status.state == "failed" or status.output_url):
                self.occupancy.saw_running(job.key, time.time())
                lo = elapsed
                step = (self.estimator.first_step(chars, elapsed) if step == 0.0
                        else self.estimator.next_step(step, elapsed, chars))
                delay = step
                continue
            self.estimator.observe(chars, max(lo, self.occupancy.running_age(job.key)), elapsed)
            self.pacer.retarget_polls()
            return ("success", status.output_url) if status.state == "success" else ("failed", "")

    def _query_refused(self, exc: Exception, faults: int) -> float | None:
        """Delay before querying again, None to give the task up (expired, halt), or raise."""
        if isinstance(exc, RateLimitedError):
            self.stats.rate_limited += 1
            self.bucket.penalize()
            return 0.0
        if isinstance(exc, ConcurrencyLimitedError):
            self.stats.concurrency_limited += 1
            self.gate.on_congestion()
            return bounded_backoff(faults, base=0.1, cap=2.0)
        if isinstance(exc, TaskNotFoundError):
            return None
        if isinstance(exc, CreditsExhaustedError):  # queries check the balance too
            self.credits_out = self.credits_out or exc
            if faults >= self.options.max_attempts:
                return None  # stays `submitted`: the next run polls it again
            return bounded_backoff(faults, self.options.retry_base)
        if isinstance(exc, _TRANSIENT):
            self.stats.retries += 1
            if faults >= self.options.max_attempts:
                raise JobFailed(f"query failed {faults} times: {exc}") from None
            return bounded_backoff(faults, self.options.retry_base)
        if isinstance(exc, APIError) and not isinstance(exc, FatalKeyError):
            raise JobFailed(str(exc)) from None
        raise exc

    async def _download(self, job: Job, url: str) -> str:
        """Fetch at once, verify, cache atomically, then mark done: "done"|"expired"|"halt"."""
        faults = 0
        while True:
            self.stats.requests["download"] += 1
            try:
                data = await self.backend.download(url)
            except DownloadError as exc:
                if getattr(exc, "expired", False):
                    return "expired"
                faults += 1
            except _TRANSIENT:
                faults += 1
            else:
                clip = self.cache.put(job.key, data, sniff_ext(data))
                self.store.mark_downloaded(job.key, clip)
                self.store.mark_done(job.key)
                self.stats.done += 1
                self.progress.job_done(job.segment.chapter, job.credits)
                return "done"
            self.stats.retries += 1
            if faults >= self.options.max_attempts:
                raise JobFailed(f"download failed {faults} times")
            if not await self._sleep(bounded_backoff(faults, self.options.retry_base)):
                return "halt"  # stays `submitted`: the next run polls and downloads it
