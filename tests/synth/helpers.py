"""Shared setup for scheduler tests: run `synthesize` against a fake in a temp dir."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.models import Job
from pipeline.synth import ClipCache, Store, SynthOptions, SynthResult, synthesize
from tests.synth.fakes import FakeBackend
from tests.synth.virtual import LoopClock, run_virtual

FAST = {"rate_limit": 200.0, "max_open": 8, "retry_base": 0.02, "poll_initial": 0.05}


def run(
    jobs: Sequence[Job], backend: FakeBackend, out: Path, stop: asyncio.Event | None = None, **opts: Any
) -> SynthResult:
    """One synthesis run with its own store/cache, on virtual time (exact, whatever the
    machine's load: tests/synth/virtual.py); returns the result (or raises)."""
    options = SynthOptions(**{**FAST, **opts})
    store = Store.open(out)
    try:
        main = synthesize(jobs, backend, store, ClipCache(out / "clips"), options, stop=stop, clock=LoopClock())
        return run_virtual(main)
    finally:
        store.close()


def states(out: Path) -> dict[str, int]:
    with Store.open(out) as store:
        return store.counts()
