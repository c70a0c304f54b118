"""The synthesis part of report.json, and the few lines printed after a build.

Deterministic fields only come from counters (no clocks except `wall_time`), so two
runs against the same service state give the same report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.synth.options import SynthResult
from pipeline.synth.store import Store


def synthesis_report(result: SynthResult, store: Store | None = None) -> dict[str, Any]:
    """This run's counts, plus the store's totals over every run when given."""
    report: dict[str, Any] = {"run": result.as_dict()}
    if store is not None:
        report["totals"] = store.summary()
    return report


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write JSON to a temp name, fsync, rename: a report that exists is complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def summary_lines(result: SynthResult) -> list[str]:
    """Human summary for the end of a build (the CLI prints these)."""
    r = result
    lines = [
        f"segments: {r.done}/{r.jobs} done ({r.cached} already cached), {r.failed} failed, {r.remaining} left",
        f"credits: {r.credits_charged} charged this run (estimate), {r.credits_planned} planned, "
        f"{r.credits_remaining} still needed",
        f"requests: {r.requests.get('create', 0)} create, {r.requests.get('get', 0)} get "
        f"({r.polls_per_task:.2f} per task), {r.requests.get('download', 0)} download; {r.wall_time:.1f} s",
    ]
    extra = {
        "retries": r.retries, "re-created tasks": r.recreated, "failed tasks": r.failed_tasks,
        "ambiguous resubmits (maybe paid twice)": r.ambiguous_resubmits,
        "creates retried after a lost reply": r.uncertain_creates, "rate limited": r.rate_limited,
        "concurrency limited": r.concurrency_limited, "expired": r.expired,
    }
    shown = [f"{name} {n}" for name, n in extra.items() if n]
    if shown:
        lines.append("events: " + ", ".join(shown))
    lines.extend(f"failed: {f}" for f in r.failures[:10])
    return lines
