"""Entry points of the synthesis stage: `synthesize` (async) and `run_synthesis` (sync).

The sync wrapper owns the event loop and Ctrl-C: the first SIGINT stops creating,
lets in-flight requests finish for a moment (a created task's job id is committed),
then raises KeyboardInterrupt; a second SIGINT interrupts at once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Sequence

from pipeline.errors import CreditsExhaustedError, StoppedError, SynthesisFailedError
from pipeline.models import Job
from pipeline.synth.cache import ClipCache
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.progress import ProgressSink
from pipeline.synth.scheduler import Engine
from pipeline.synth.store import Store
from pipeline.tts.base import Backend


def _result(engine: Engine, started: float) -> SynthResult:
    rows = engine.store.rows([j.key for j in engine.jobs])
    states = [r.state for r in rows]
    polls = list(engine.stats.polls.values())
    polled_tasks = max(1, engine.stats.done + engine.stats.failed_tasks + engine.stats.expired)
    planned = sum(j.credits for j in engine.jobs)
    done_credits = sum(r.credits for r in rows if r.state == "done")
    return SynthResult(
        jobs=len(engine.jobs),
        done=states.count("done"),
        cached=engine.stats.cached,
        failed=states.count("failed"),
        remaining=len(states) - states.count("done") - states.count("failed"),
        credits_planned=planned,
        credits_charged=engine.stats.credits_charged,
        credits_remaining=planned - done_credits,
        requests={k: int(engine.stats.requests.get(k, 0)) for k in ("create", "get", "download")},
        polls_per_task=(sum(polls) / polled_tasks) if polls else 0.0,
        max_polls=max(polls, default=0),
        retries=engine.stats.retries,
        recreated=engine.stats.recreated,
        failed_tasks=engine.stats.failed_tasks,
        ambiguous_resubmits=engine.ambiguous,
        uncertain_creates=engine.stats.uncertain_creates,
        rate_limited=engine.stats.rate_limited,
        concurrency_limited=engine.stats.concurrency_limited,
        expired=engine.stats.expired,
        probes_landed=engine.stats.probes_landed,
        probes_refused=engine.stats.probes_refused,
        open_limit_history=tuple(engine.gate.history),
        wall_time=time.monotonic() - started,
        failures=tuple(engine.stats.failures),
    )


def _outcome(engine: Engine, result: SynthResult, interrupted: bool) -> SynthResult:
    """Raise the error this run ended with (each carries `.result`), else return."""
    exc: BaseException | None = None
    if engine.fatal is not None:
        exc = engine.fatal
    elif interrupted:
        exc = KeyboardInterrupt()
    elif engine.stop.is_set():
        exc = StoppedError(f"stopped with {result.remaining} of {result.jobs} segments left; run again to continue")
    elif engine.credits_out is not None and result.remaining:
        exc = CreditsExhaustedError(
            f"out of credits: {result.credits_remaining} credits still needed for "
            f"{result.remaining} segments ({result.done}/{result.jobs} done)",
            code=100100,
        )
    elif result.failed:
        exc = SynthesisFailedError(
            f"{result.failed} of {result.jobs} segments failed after all retries "
            f"(first: {result.failures[0] if result.failures else 'unknown'}); "
            f"{result.done} done are kept. Run again to retry the failed ones."
        )
    if exc is not None:
        exc.result = result  # type: ignore[attr-defined]
        raise exc
    return result


async def synthesize(
    jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache, options: SynthOptions,
    progress: ProgressSink | None = None, stop: asyncio.Event | None = None, *, _interrupted: list[bool] | None = None,
) -> SynthResult:
    """Run every job to `done` (or to a clean stop); raise as documented in run_synthesis."""
    started = time.monotonic()
    engine = Engine(jobs, backend, store, cache, options, progress, stop)
    try:
        await engine.run()
    finally:
        if progress is not None:
            progress.close()
    return _outcome(engine, _result(engine, started), bool(_interrupted and _interrupted[0]))


def run_synthesis(
    jobs: Sequence[Job], backend: Backend, store: Store, cache: ClipCache, options: SynthOptions,
    progress: ProgressSink | None = None, *, close_backend: bool = True,
) -> SynthResult:
    """Sync wrapper: one event loop, SIGINT handling, backend closed at the end.

    Returns when every job is done. Raises CreditsExhaustedError (after draining created
    tasks; message gives credits still needed), FatalKeyError (at once),
    SynthesisFailedError (some jobs failed; the rest kept), KeyboardInterrupt (Ctrl-C,
    state saved). Each raised AudiobookError carries the SynthResult as `.result`.
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
            return await synthesize(jobs, backend, store, cache, options, progress, stop, _interrupted=interrupted)
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)
            if close_backend:
                await backend.aclose()

    return asyncio.run(main())
