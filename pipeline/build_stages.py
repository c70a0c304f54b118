"""The effectful stages of a build, each one short and skipping work already done."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import AudiobookError, DiskFullError, StoppedError, is_disk_full
from pipeline.models import Plan
from pipeline.recipe import Recipe

if TYPE_CHECKING:
    from pipeline.audio.package import PackageProgress


def synth_stage(recipe: Recipe, plan: Plan, choice: Any, options: Any, store: Any) -> dict[str, Any]:
    """Synthesize every job not yet in the clip cache; returns the synthesis report."""
    from pipeline.build import cache_root, credit_cap, open_backend
    from pipeline.synth.cache import ClipCache
    from pipeline.synth.options import SynthOptions
    from pipeline.synth.runner import run_synthesis

    s = recipe.synthesis
    synth_options = SynthOptions(
        max_open=s.max_open, rate_limit=s.rate_limit, failed_retries=s.failed_retries,
        recreate_expired=s.recreate_expired, probe_odds=s.probe_odds, billed=choice.name != "local",
        max_credits=credit_cap(recipe, options)[0],
        max_uncertain=s.max_uncertain, task_timeout=s.task_timeout, outage_after=s.outage_after,
    )
    try:
        store.sync_plan(plan.jobs)
        backend = open_backend(choice, workers=2)
        cache = ClipCache(cache_root(recipe))
        result = run_synthesis(plan.jobs, backend, store, cache, synth_options, options.progress)
        return result.as_dict()
    except AudiobookError as exc:
        partial = getattr(exc, "result", None)
        exc.report = {**(partial.as_dict() if partial is not None else {}), "stopped": exc.message}  # type: ignore[attr-defined]
        raise


REPAIR_ROUNDS = 2


def package_with_repair(recipe: Recipe, plan: Plan, choice: Any, options: Any, store: Any,
                        report: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
    """Package; a clip that turns out damaged is moved aside, fetched again, and packaging
    resumes (so a clip truncated between runs is repaired instead of failing every run)."""
    from pipeline.build import cache_root
    from pipeline.errors import CorruptClipError
    from pipeline.synth.cache import ClipCache

    for round_ in range(REPAIR_ROUNDS + 1):
        try:
            return package_stage(recipe, plan, options.package_progress)
        except CorruptClipError as exc:
            if round_ == REPAIR_ROUNDS or not exc.path:
                raise
            damaged = Path(exc.path)
            moved = ClipCache(cache_root(recipe)).quarantine(damaged) if damaged.exists() else damaged
            report["warnings"].append(f"{exc.message}; moved to {moved} and fetched again")
            report["synthesis"] = synth_stage(recipe, plan, choice, options, store)
    raise AssertionError("unreachable")


def package_stage(recipe: Recipe, plan: Plan, progress: PackageProgress | None = None,
                  ) -> tuple[dict[str, Any], list[Path]]:
    """Stitch and package chapters (incremental), then run the delivery check."""
    from pipeline.audio.check import check_path
    from pipeline.audio.package import assemble_book
    from pipeline.audio.stitch import ChapterInput, ClipRef
    from pipeline.audio.tags import BookInfo
    from pipeline.build import cache_root
    from pipeline.synth.cache import ClipCache

    cache = ClipCache(cache_root(recipe))
    chapters = []
    for chapter in plan.active:
        clips = []
        for job in chapter.jobs:
            path = cache.path(job.key)
            if path is None:
                raise StoppedError(f"chapter {chapter.index} is missing clip {job.key}; run the build again")
            clips.append(ClipRef(path, job.segment.boundary_after))
        chapters.append(ChapterInput(chapter.index, chapter.title, tuple(clips)))
    info = BookInfo(plan.title, plan.authors, plan.language, plan.cover)
    try:
        result = assemble_book(chapters, info, recipe.audio, recipe.output_dir, progress=progress)
    except (OSError, AudiobookError) as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(f"the disk holding {recipe.output_dir} is full while packaging; every clip is kept. "
                            "Free some space, then run the same command again") from None
    outputs = list(result.chapter_files) + [p for p in (result.m4b, result.playlist) if p is not None]
    report: dict[str, Any] = {
        "files": [str(p) for p in outputs],
        "rewritten": [str(p) for p in result.rewritten],
    }
    try:
        report["check"] = check_path(recipe.output_dir, "acx", result.measured).to_dict()
    except AudiobookError as exc:  # a check problem must not fail a finished build
        report["check"] = {"error": exc.message}
    return report, outputs
