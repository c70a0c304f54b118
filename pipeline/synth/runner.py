"""Entry points of the synthesis stage: `synthesize` (async) and `run_synthesis` (sync).

The sync wrapper owns the event loop and Ctrl-C: the first SIGINT stops creating,
lets in-flight requests finish for a moment (a created task's job id is committed),
then raises KeyboardInterrupt; a second SIGINT interrupts at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Sequence

from pipeline.errors import (
    AudiobookError,
    CapReachedError,
    CreditsExhaustedError,
    DiskFullError,
    StoppedError,
    SynthesisFailedError,
    TasksStalledError,
    UncertainRepliesError,
)
from pipeline.models import Job
from pipeline.synth.cache import ClipCache
from pipeline.synth.clock import Clock, SystemClock
from pipeline.synth.ledger import Ledger
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.progress import ProgressSink
from pipeline.synth.scheduler import Engine
from pipeline.synth.store import Store
from pipeline.tts.base import Backend


def result_of(engine: Engine, started: float) -> SynthResult:
    r = engine.run_state
    stats = r.stats
    rows = engine.store.rows([j.key for j in engine.jobs])
    states = [row.state for row in rows]
    polls = list(stats.polls.values())
    polled_tasks = max(1, stats.done + stats.failed_tasks + stats.expired)
    planned = sum(j.credits for j in engine.jobs)
    done_credits = sum(row.credits for row in rows if row.state == "done")
    ledger = r.ledger
    run_spend = ledger.this_run if ledger is not None else None
    return SynthResult(
        jobs=len(engine.jobs),
        done=states.count("done"),
        cached=stats.cached,
        failed=states.count("failed"),
        remaining=len(states) - states.count("done") - states.count("failed"),
        credits_planned=planned,
        credits_charged=run_spend.charged if run_spend else 0,
        credits_remaining=planned - done_credits,
        requests={k: int(stats.requests.get(k, 0)) for k in ("create", "get", "download")},
        polls_per_task=(sum(polls) / polled_tasks) if polls else 0.0,
        max_polls=max(polls, default=0),
        retries=stats.retries,
        recreated=stats.recreated,
        failed_tasks=stats.failed_tasks,
        ambiguous_resubmits=engine.ambiguous,
        uncertain_creates=stats.uncertain_creates,
        rate_limited=stats.rate_limited,
        concurrency_limited=stats.concurrency_limited,
        expired=stats.expired,
        probes_landed=stats.probes_landed,
        probes_refused=stats.probes_refused,
        open_limit_history=tuple(engine.gate.history),
        wall_time=r.clock.monotonic() - started,
        failures=tuple(stats.failures),
        credits_uncertain=(run_spend.uncertain + run_spend.pending) if run_spend else 0,
        credits_spent=run_spend.spent if run_spend else 0,
        spend_total=ledger.total.as_dict() if ledger is not None else {},
        credit_cap=ledger.cap if ledger is not None else None,
        stalled=stats.stalled,
        timed_out=stats.timed_out,
        repaired=stats.repaired,
        warnings=tuple(_warnings(engine)),
    )


def _warnings(engine: Engine) -> list[str]:
    out = list(engine.stats.warnings)
    ledger = engine.run_state.ledger
    if ledger is not None and ledger.recovered:
        out.insert(0, f"{ledger.recovered} create(s) of an interrupted run got no reply; "
                      "their credits are counted as uncertain spend")
    return out


def _outcome(engine: Engine, result: SynthResult, interrupted: bool) -> SynthResult:
    """Raise the error this run ended with (each AudiobookError carries `.partial`), else return."""
    exc = stop_error(engine, result, interrupted)
    if isinstance(exc, AudiobookError):
        exc.with_partial(result)
    if exc is not None:
        raise exc
    return result


def _left(result: SynthResult) -> str:
    return f"{result.remaining} of {result.jobs} segments left ({result.credits_remaining:,} credits)"


def stop_error(engine: Engine, result: SynthResult, interrupted: bool) -> BaseException | None:
    """The first reason the run did not finish, in order of what the user must act on."""
    halts = engine.run_state.halts
    rerun = "run the same command again to continue"
    if halts.fatal is not None:
        return halts.fatal
    if interrupted:
        return KeyboardInterrupt()
    if halts.disk is not None:
        return DiskFullError(f"the disk is full ({halts.disk}); nothing done is lost. Free space, then {rerun}")
    if engine.run_state.stop.is_set():
        return StoppedError(f"stopped with {_left(result)}; {rerun}")
    if halts.cap is not None and result.remaining:
        return CapReachedError(f"{halts.cap}; {_left(result)}",
                               tip="Raise --max-credits (or synthesis.max_credits), then run the same command again.")
    if halts.uncertain is not None:
        return UncertainRepliesError(f"{halts.uncertain}; {_left(result)}",
                                     tip="Check the service (or --api-url), then run the same command again.")
    if halts.credits_out is not None and result.remaining:
        return CreditsExhaustedError(
            f"out of credits: {result.credits_remaining} credits still needed for "
            f"{result.remaining} segments ({result.done}/{result.jobs} done)", code=100100)
    if halts.outage is not None and result.remaining:
        return TasksStalledError(f"{halts.outage}; {_left(result)}; job ids are kept, {rerun}")
    return _unfinished(result)


def _unfinished(result: SynthResult) -> BaseException | None:
    if result.timed_out and result.timed_out == result.stalled:
        stalled = f"{result.timed_out} task(s) still waiting after the task_timeout"
    else:
        stalled = f"{result.stalled} task(s) could not be finished"
        first = next((w.split(": ", 1)[-1] for w in result.warnings if "segment" in w), "")
        stalled += f" (first: {first})" if first else ""
    keep = "the next run polls the same job ids, it never buys them again"
    if result.failed:
        more = f"; {stalled}: {keep}" if result.stalled else ""
        return SynthesisFailedError(
            f"{result.failed} of {result.jobs} segments failed after all retries "
            f"(first: {result.failures[0] if result.failures else 'unknown'}); "
            f"{result.done} done are kept{more}. Run again to retry the failed ones."
        )
    if result.stalled:
        return TasksStalledError(f"{stalled}; {_left(result)}; run the same command again: {keep}")
    if result.remaining:
        return TasksStalledError(f"{_left(result)}; run the same command again to continue")
    return None


async def synthesize(
    jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache, options: SynthOptions,
    progress: ProgressSink | None = None, stop: asyncio.Event | None = None, *, _interrupted: list[bool] | None = None,
    clock: Clock | None = None,
) -> SynthResult:
    """Run every job to `done` (or to a clean stop); raise as documented in run_synthesis.

    `clock` (default: the system's) is the one time source of the run: budget, pacing,
    polls, timeouts, ledger dates and wall_time, so a test can drive all of it."""
    clock = clock or SystemClock()
    started = clock.monotonic()
    ledger = Ledger.start(store, backend.name, options.max_credits, clock) if options.billed else None
    if ledger is None:
        Ledger.note_free_run(store, backend.name, clock)
    engine = Engine(jobs, backend, store, cache, options, progress, stop, ledger=ledger, clock=clock)
    try:
        await engine.run()
    finally:
        if progress is not None:
            progress.close()
    return _outcome(engine, result_of(engine, started), bool(_interrupted and _interrupted[0]))


def run_synthesis(
    jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache, options: SynthOptions,
    progress: ProgressSink | None = None, *, close_backend: bool = True, clock: Clock | None = None,
) -> SynthResult:
    """Sync wrapper: one event loop, SIGINT handling, backend closed at the end.

    Returns when every job is done. Raises CreditsExhaustedError (after draining created
    tasks; message gives credits still needed), FatalKeyError (at once),
    SynthesisFailedError (some jobs failed; the rest kept), KeyboardInterrupt (Ctrl-C,
    state saved). Each raised AudiobookError carries the SynthResult as `.partial`.
    """

    async def main() -> SynthResult:
        stop = asyncio.Event()
        interrupted = [False]
        loop = asyncio.get_running_loop()
        handled = threading.current_thread() is threading.main_thread()

        def on_sigint() -> None:
            interrupted[0] = True
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)  # the second Ctrl-C raises at once

        if handled:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            return await synthesize(jobs, backend, store, cache, options, progress, stop, _interrupted=interrupted,
                                    clock=clock)
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)
            if close_backend:
                await backend.aclose()

    return asyncio.run(main())
