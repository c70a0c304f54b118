"""The poll and download path: query a task until it ends, then fetch its file at once.

Why this never buys a task again: every fault here happens to a job that exists and
has a job id. Transient faults are retried with back-off; a job whose queries or
downloads keep failing is left for the next run (JobStalled: same job id, polled
again), and only the service itself saying the job is gone (101008) or failed may
lead to a new create, under the recipe's recreate policy. A task still "waiting"
after `task_timeout` is left the same way, and a download that keeps failing first
asks the job again for a (fresh) URL.
"""

from __future__ import annotations

import asyncio

from pipeline.errors import (
    APIError,
    BadAudioError,
    ConcurrencyLimitedError,
    CreditsExhaustedError,
    DownloadError,
    FatalKeyError,
    OutputExpiredError,
    RateLimitedError,
    ServerFaultError,
    TaskNotFoundError,
    TransientAPIError,
    UnsafeURLError,
)
from pipeline.models import Job, TaskStatus
from pipeline.synth.budget import bounded_backoff
from pipeline.synth.cache import sniff_ext
from pipeline.synth.pacing import SCOUT_POLLS, SCOUT_STEP
from pipeline.synth.run_state import JobFailed, JobStalled, RunState

_TRANSIENT = (TransientAPIError, BadAudioError, asyncio.TimeoutError, TimeoutError)


class Collector:
    """Polls and downloads for one run."""

    def __init__(self, run: RunState) -> None:
        self.run = run

    async def poll(self, job: Job, job_id: str, submitted_at: float, *, again: bool = False) -> tuple[str, str]:
        """Query until the task ends: ("success", url) | ("failed"|"expired"|"halt"|"timeout", "").

        `again`: the task is known to have ended (its download failed); ask at once for
        its URL, without learning durations from it.
        """
        r = self.run
        chars = len(job.segment.text)
        deadline = max(submitted_at, r.started_wall) + r.options.task_timeout
        delay = 0.0 if again else r.pacer.first_delay(chars, r.clock.time() - submitted_at)
        scout = not again and r.pacer.take_scout()
        nudge = None if again else r.occupancy.nudge(job.key)
        r.pacer.start_filler()
        lo = step = 0.0
        faults = 0
        while True:
            if scout and r.estimator.mean_duration() is None and r.stats.polls[job.key] < SCOUT_POLLS:
                delay = min(delay, SCOUT_STEP)
            if not await r.sleep(max(0.0, min(delay, deadline - r.clock.time())), nudge):
                return "halt", ""
            answer = await self._query(job, job_id)
            if isinstance(answer, Exception):
                faults += 0 if isinstance(answer, RateLimitedError) else 1
                refused = self._refused(answer, faults)
                if isinstance(refused, str):
                    return refused, ""
                delay = refused
                continue
            elapsed = r.clock.time() - submitted_at
            if answer.state == "success" and not answer.output_url:
                faults += 1  # "success" without a file: ask again, a few times
                if faults >= r.options.max_attempts:
                    raise JobStalled("the task succeeded without an output URL")
                delay = bounded_backoff(faults, r.options.retry_base)
                continue
            if answer.state == "waiting":
                if r.clock.time() >= deadline:
                    return "timeout", ""
                r.occupancy.saw_running(job.key, r.clock.time())
                lo = elapsed
                step = (r.pacer.first_step(chars, elapsed) if step == 0.0
                        else r.estimator.next_step(step, elapsed, chars))
                delay = r.pacer.after_waiting(step, chars, elapsed)
                continue
            if not again:
                r.pacer.observe(job.key, chars, lo, elapsed, r.stats.polls[job.key])
            return ("success", answer.output_url) if answer.state == "success" else ("failed", "")

    async def _query(self, job: Job, job_id: str) -> TaskStatus | Exception:
        """One get, counted and checkpointed; the reply or the exception it raised."""
        r = self.run
        await r.bucket.acquire()
        async with r.admit():  # raises RunHalted on a stop while the service is failing
            r.stats.requests["get"] += 1
            r.stats.polls[job.key] += 1
            r.store.add_poll(job.key)
            try:
                status = await r.backend.get(job_id)
            except Exception as exc:  # noqa: BLE001 - classified by _refused
                return exc
        r.health.ok()
        r.bucket.success()
        return status

    def _refused(self, exc: Exception, faults: int) -> float | str:
        """Delay before querying again, or an outcome ("expired", "halt"); raises to stall."""
        r = self.run
        if isinstance(exc, APIError) and exc.code is not None and not isinstance(exc, ServerFaultError):
            r.health.ok()  # a readable answer with a code: the service is up
        if isinstance(exc, RateLimitedError):
            r.stats.rate_limited += 1
            r.refused()
            r.bucket.penalize()
            return 0.0
        if isinstance(exc, ConcurrencyLimitedError):
            r.stats.concurrency_limited += 1
            r.refused()
            r.gate.on_congestion()
            return bounded_backoff(faults, base=0.1, cap=2.0)
        if isinstance(exc, TaskNotFoundError):
            return "expired"
        if isinstance(exc, FatalKeyError):
            raise exc
        if isinstance(exc, CreditsExhaustedError):  # queries check the balance too
            r.halts.credits_out = r.halts.credits_out or exc
            if faults >= r.options.max_attempts:
                return "halt"  # stays `submitted`: the next run polls it again
            return bounded_backoff(faults, r.options.retry_base)
        if isinstance(exc, _TRANSIENT):
            r.stats.retries += 1
            r.health.fault()
            r.check_outage()
            if r.stopping:
                return "halt"
            if faults >= r.options.max_attempts:
                raise JobStalled(f"query failed {faults} times: {exc}")
            return bounded_backoff(faults, r.options.retry_base)
        raise JobStalled(str(exc))  # an undocumented answer about a job we hold: ask next run

    async def download(self, job: Job, url: str) -> str:
        """Fetch, verify, cache atomically, mark done: "done" | "expired" | "refetch" | "halt".

        "refetch": the file kept failing; the caller asks the job for its URL again.
        """
        r = self.run
        faults = 0
        while True:
            r.stats.requests["download"] += 1
            try:
                data = await r.backend.download(url)
            except OutputExpiredError:
                return "expired"
            except UnsafeURLError as exc:
                raise JobFailed(str(exc)) from None  # a hostile URL; the job id is kept
            except (DownloadError, *_TRANSIENT):
                faults += 1
            else:
                self._save(job, data)
                return "done"
            r.stats.retries += 1
            if faults >= r.options.max_attempts:
                return "refetch"
            if not await r.backoff(faults):
                return "halt"  # stays `submitted`: the next run polls and downloads it

    def _save(self, job: Job, data: bytes) -> None:
        r = self.run
        clip = r.cache.put(job.key, data, sniff_ext(data))
        r.store.mark_done(job.key, clip)
        r.stats.done += 1
        r.progress.job_done(job.segment.chapter, job.credits)
