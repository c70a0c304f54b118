"""`audiobook status` over a batch: the closing table again, from disk only (no network).

Each book's row comes from its checkpoint store (segments done of its plan, credits
spent in total) and its report.json (whether its last build stopped, was packaged,
passed the check, and how long its audio is).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.batch_plan import BatchPlan, BookPlan
from pipeline.batch_report import DONE, FAILED, NOT_STARTED, PARTIAL, BookRow
from pipeline.catalogue import BatchInputs
from pipeline.models import is_offline
from pipeline.synth.status import last_backend, store_summary
from pipeline.workspace import Workspace


def _report(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _audio_and_check(report: dict[str, object]) -> tuple[float | None, str | None]:
    check = report.get("check")
    if not isinstance(check, dict) or "files" not in check:
        return None, None
    files = [f for f in check["files"] if isinstance(f, dict)]
    books = [float(f["duration_s"]) for f in files if str(f.get("path", "")).endswith(".m4b")]
    chapters = [float(f["duration_s"]) for f in files if str(f.get("path", "")).endswith((".mp3", ".flac", ".wav"))]
    seconds = books[0] if books else (sum(chapters) if chapters else None)
    verdict = "passed" if check.get("passed") else "failed: " + ", ".join(map(str, check.get("failed_rules", [])))
    return seconds, verdict


def book_status(book: BookPlan) -> BookRow:
    """One book's row. `not started`: nothing was bought for it yet, though texts it shares
    with earlier books may already be in the shared cache (segments_done counts them)."""
    workspace = book.workspace
    keys = list(dict.fromkeys(j.key for j in book.plan.jobs))
    done = failed = spent = 0
    if workspace.store_path.is_file():
        store = workspace.open_store(lock=False)
        try:
            summary = store_summary(store, keys)
        finally:
            store.close()
        states = summary["states"]
        done, failed, spent = int(states["done"]), int(states["failed"]), int(summary["credits_spent"])
    report = _report(workspace.report_path)
    seconds, check = _audio_and_check(report)
    stopped = report.get("stopped")
    bought = done > 0 if is_offline(book.plan.backend) else spent > 0
    if not bought and done < len(keys):  # at most clips another book had bought (shared cache)
        status = NOT_STARTED
    elif failed:
        status = FAILED
    elif done < len(keys) or stopped or check is None:
        status = PARTIAL
    else:
        status = DONE
    return BookRow(book.index, book.name, book.entry.origin, workspace.output_dir, status, len(keys), done,
                   len(book.plan.active), book.plan.credits, spent, seconds, check,
                   str(stopped) if stopped else None)


def batch_status(plan: BatchPlan) -> list[BookRow]:
    return [book_status(book) for book in plan.books]


def last_batch_backend(inputs: BatchInputs) -> str:
    """The backend of the first book that has been built (whose clips to count), else local."""
    for entry in inputs.books:
        workspace = Workspace.of(entry.recipe)
        if workspace.store_path.is_file():
            store = workspace.open_store(lock=False)
            try:
                found = last_backend(store)
            finally:
                store.close()
            if found:
                return found
    return "local"
