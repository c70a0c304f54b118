"""Packaging a batch's books in a worker process while later books synthesize.

Why a process: stitching, mastering and the ffmpeg pipes are CPU work in Python; in the
synthesis process they would starve the event loop that keeps the key's slots busy.
One worker at a time (packaging itself already runs a chapter per core), started with
`spawn` so the child never inherits the parent's event loop, threads or SQLite handles.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.build_report import PackageReport
from pipeline.errors import AudiobookError, CorruptClipError
from pipeline.models import Plan
from pipeline.recipe import Recipe


@dataclass(frozen=True)
class PackageOutcome:
    """What the worker sends back: the package, or why there is none (one line)."""

    report: PackageReport | None
    error: str | None = None
    resumable: bool = False  # run the same command again to finish it (a damaged clip was moved aside)


def package_book(recipe: Recipe, plan: Plan) -> PackageOutcome:
    """Stitch, package and check one book (runs in the worker). A damaged clip is moved
    aside: the next run of the batch fetches it again from its job and packages then."""
    from pipeline.build_stages import package_stage
    from pipeline.workspace import Workspace

    workspace = Workspace.of(recipe)
    try:
        return PackageOutcome(package_stage(recipe, plan, workspace))
    except CorruptClipError as exc:
        if exc.path and Path(exc.path).exists():
            moved = workspace.cache().quarantine(Path(exc.path))
            return PackageOutcome(None, f"{exc.message}; moved to {moved}: run the same command again", True)
        return PackageOutcome(None, exc.message, True)
    except AudiobookError as exc:
        return PackageOutcome(None, exc.message, exc.exit_code == 3)


class Packager:
    """A one-process pool; `submit` returns at once, `result` waits for that book."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._futures: dict[int, Future[PackageOutcome]] = {}

    def submit(self, index: int, recipe: Recipe, plan: Plan, on_end: Callable[[bool], None] | None = None) -> None:
        """Queue the book; `on_end(ok)` is called (from the pool's thread) when it is packaged."""
        future = self._pool.submit(package_book, recipe, plan)
        self._futures[index] = future
        if on_end is not None:
            future.add_done_callback(lambda f: on_end(not f.cancelled() and f.exception() is None
                                                      and f.result().error is None))

    def submitted(self, index: int) -> bool:
        return index in self._futures

    def result(self, index: int) -> PackageOutcome:
        try:
            return self._futures[index].result()
        except Exception as exc:  # noqa: BLE001 - the worker died (killed, out of memory): say so, keep going
            return PackageOutcome(None, f"the packaging worker failed ({type(exc).__name__}: {exc})")

    def close(self, *, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)
