"""The create path: cap check, ledger intent, the call, and what its reply proves.

Every create is written to the ledger before it is sent and resolved by its reply
(ledger.py). How the reply is read decides whether a retry may pay twice:

- a job id: charged; the job id is committed before anything else happens;
- a documented refusal (100100, 101002-101006) or a request that never left us
  (`NotSentError`): nothing was taken; limits back off, credits and fatal keys stop;
- anything else (timeout, dropped connection, 5xx, garbage, an undocumented code):
  uncertain. The create breaker (health.py) serializes creates after one and stops
  the run after `max_uncertain` in a row.
"""

from __future__ import annotations

from pipeline.errors import (
    API_CODES,
    APIError,
    ConcurrencyLimitedError,
    CreditsExhaustedError,
    FatalKeyError,
    NotSentError,
    RateLimitedError,
    ServerFaultError,
    TextRejectedError,
)
from pipeline.models import Job
from pipeline.synth.budget import Slot, bounded_backoff
from pipeline.synth.run_state import JobFailed, JobStalled, RunState

REFUSALS = frozenset(API_CODES) - {101008}


def reply_outcome(exc: BaseException) -> str:
    """"refused" when the failed create surely made no task, else "uncertain"."""
    if isinstance(exc, NotSentError):
        return "refused"
    if isinstance(exc, APIError) and not isinstance(exc, ServerFaultError) and exc.code in REFUSALS:
        return "refused"
    return "uncertain"


class Creator:
    """Creates tasks for one run (the engine calls `create` for each job without a job id)."""

    def __init__(self, run: RunState) -> None:
        self.run = run

    async def create(self, job: Job, slot: Slot) -> tuple[str, float] | None:
        """A job id and its creation time, or None when creating stopped (cap, credits...)."""
        r = self.run
        faults = limited = 0
        while not r.no_create():
            async with r.breaker.turn():
                sent = await self._send(job, slot)
            if sent is None:
                return None
            if isinstance(sent, tuple):
                return sent
            exc = sent
            probe = await slot.answered()
            if probe and isinstance(exc, ConcurrencyLimitedError):
                await self._probe_refused(slot)
            elif isinstance(exc, (RateLimitedError, ConcurrencyLimitedError)):
                limited += 1
                await self._limited(exc, limited)
                if limited > r.options.max_attempts * 8:
                    raise JobStalled("create refused by rate/concurrency limits too many times")
            elif isinstance(exc, CreditsExhaustedError):
                r.halts.credits_out = r.halts.credits_out or exc
                return None
            elif isinstance(exc, FatalKeyError):
                raise exc
            elif isinstance(exc, TextRejectedError) or (isinstance(exc, APIError) and not exc.retryable):
                raise JobFailed(str(exc))  # text rejected, unknown code: never blindly again
            else:
                faults += 1
                await self._fault(exc, faults)
        return None

    async def _send(self, job: Job, slot: Slot) -> tuple[str, float] | Exception | None:
        """One create: reserve in the ledger, send, resolve. None when creating stopped."""
        r = self.run
        # a probe queues with the polls, unless probes at the limit are how slots get refilled
        await r.bucket.acquire(urgent=not slot.probe or r.options.probe_at_limit)
        if r.no_create():
            return None
        async with r.admit():  # raises RunHalted (nothing reserved, nothing sent) on a stop
            entry = self._reserve(job)
            if entry is None:
                return None
            r.stats.requests["create"] += 1
            try:
                job_id = await r.backend.create(job.request)
            except Exception as exc:  # noqa: BLE001 - every reply is classified, none ignored
                self._resolve_failure(job, entry, exc)
                return exc
            except BaseException:  # cancelled mid-call: the service may have made the task
                self._resolve_uncertain(job, entry, "the run was interrupted before the reply was read")
                raise
        await self._accepted(job, slot, entry, job_id)
        return job_id, r.clock.time()

    def _reserve(self, job: Job) -> int | None:
        """The ledger intent (or, unbilled, just the `submitting` mark); None at the cap."""
        r = self.run
        if r.ledger is None:
            r.store.mark_submitting(job.key)
            return 0
        over = r.ledger.over_cap(job.credits)
        entry = None if over is not None else r.ledger.reserve(job.key, job.credits)
        if entry is None and r.halts.cap is None:
            r.halts.cap = f"stopped at the credit cap: {over}; the next request needs {job.credits}"
        return entry

    def _resolve_failure(self, job: Job, entry: int, exc: Exception) -> None:
        r = self.run
        r.stats.creates_rejected += 1
        if reply_outcome(exc) == "refused":
            if r.ledger is not None:
                r.ledger.refused(entry, job.key, job.credits, str(exc))
            else:
                r.store.unmark_submitting(job.key)
            if isinstance(exc, NotSentError):
                r.health.fault()
                r.check_outage()
            else:
                r.health.ok()
                r.breaker.readable()
            return
        self._resolve_uncertain(job, entry, str(exc))
        if isinstance(exc, ServerFaultError):
            r.health.fault()
            r.check_outage()

    def _resolve_uncertain(self, job: Job, entry: int, detail: str) -> None:
        r = self.run
        if r.ledger is not None:
            r.ledger.uncertain(entry, job.key, job.credits, detail)
        else:
            r.store.unmark_submitting(job.key)
        r.stats.uncertain_creates += 1
        r.breaker.uncertain()
        if r.breaker.tripped and r.halts.uncertain is None:
            taken = r.ledger.this_run.uncertain if r.ledger is not None else 0
            r.halts.uncertain = (
                f"{r.breaker.streak} creates in a row got no readable reply from the service; "
                f"up to {taken:,} credits may have been taken for tasks we never heard of"
            )

    async def _accepted(self, job: Job, slot: Slot, entry: int, job_id: str) -> None:
        r = self.run
        r.health.ok()
        r.breaker.readable()
        if await slot.answered():
            r.stats.probes_landed += 1
            r.occupancy.landed(r.clock.time(), r.gate.open - 1, r.gate.ceiling)
        at = r.clock.time()
        if r.ledger is not None:
            r.ledger.charged(entry, job.key, job_id, job.credits, at)
        else:
            r.store.mark_submitted(job.key, job_id, job.credits, at)
        r.stats.credits_charged += job.credits if r.options.billed else 0
        r.bucket.success()
        await r.gate.on_success()

    async def _probe_refused(self, slot: Slot) -> None:
        """Every slot was busy after all: note it, queue for the gate again."""
        r = self.run
        r.stats.probes_refused += 1
        r.refused()
        r.occupancy.refused(r.clock.time(), r.gate.open - 1, r.gate.ceiling)
        await slot.release()
        await slot.acquire(r.no_create, r.may_probe)

    async def _limited(self, exc: Exception, limited: int) -> None:
        """101003 pauses the whole budget; 101004 lowers the open-task ceiling."""
        r = self.run
        if isinstance(exc, RateLimitedError):
            r.stats.rate_limited += 1
            r.refused()
            r.bucket.penalize()
            return
        r.stats.concurrency_limited += 1
        r.refused()
        r.gate.on_congestion()
        await r.gate.release()  # give our slot back so the lowered ceiling takes effect
        await r.sleep(bounded_backoff(limited, base=0.1, cap=2.0))
        await r.gate.acquire()

    async def _fault(self, exc: Exception, faults: int) -> None:
        """A create without a readable reply, or one that never left: back off, then retry."""
        r = self.run
        r.stats.retries += 1
        if faults >= r.options.max_attempts:
            if isinstance(exc, NotSentError):
                raise JobStalled(f"create could not reach the service {faults} times: {exc}")
            raise JobFailed(f"create failed {faults} times: {exc}")
        await r.backoff(faults)
