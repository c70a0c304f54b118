"""The effectful stages of a build, each one short and skipping work already done.

The orchestrator (build.py) imports this module, never the other way round; stages
take and return typed values (BuildOptions, SynthResult, PackageReport).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.build_report import PackageReport
from pipeline.errors import AudiobookError, CorruptClipError, DiskFullError, StoppedError, is_disk_full
from pipeline.models import Plan
from pipeline.recipe import Recipe
from pipeline.retakes import TakeChange
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.store import Store
from pipeline.tts.choice import BackendChoice, open_backend
from pipeline.workspace import Workspace

if TYPE_CHECKING:
    from pipeline.audio.package import PackageProgress
    from pipeline.audio.stitch import ChapterInput
    from pipeline.synth.progress import ProgressSink


@dataclass
class BuildOptions:
    yes: bool = False
    max_credits: int | None = None
    confirm: Callable[[str], bool] | None = None  # asks the user; None = cannot ask
    progress: ProgressSink | None = None
    package_progress: PackageProgress | None = None  # how far packaging is
    skip_package: bool = False
    force_output: bool = False  # take over an output directory that holds another book
    retake: TakeChange | None = None  # --retake / --restore: segments to read again, or back to their first take


def credit_cap(recipe: Recipe, options: BuildOptions) -> tuple[int | None, str]:
    """The hard cap on this directory's spend: --max-credits, else the recipe's, and its name."""
    if options.max_credits is not None:
        return options.max_credits, "--max-credits"
    return recipe.synthesis.max_credits, "synthesis.max_credits"


def synth_stage(recipe: Recipe, plan: Plan, choice: BackendChoice, options: BuildOptions, store: Store,
                workspace: Workspace) -> SynthResult:
    """Synthesize every job not yet in the clip cache. An AudiobookError it raises carries
    what was done as `.partial` (when the run got that far)."""
    from pipeline.synth.runner import run_synthesis

    synth_options = SynthOptions.from_settings(recipe.synthesis, billed=choice.billed,
                                               max_credits=credit_cap(recipe, options)[0])
    store.sync_plan(plan.jobs)
    backend = open_backend(choice, workers=2)
    return run_synthesis(plan.jobs, backend, store, workspace.cache(), synth_options, options.progress)


REPAIR_ROUNDS = 2


def package_with_repair(recipe: Recipe, plan: Plan, workspace: Workspace, resynthesize: Callable[[], object],
                        warnings: list[str], progress: PackageProgress | None = None) -> PackageReport:
    """Package; a clip that turns out damaged is moved aside, fetched again (`resynthesize`)
    and packaging resumes, so a clip truncated between runs is repaired instead of failing
    every run. Each repair appends a line to `warnings`."""
    for round_ in range(REPAIR_ROUNDS + 1):
        try:
            return package_stage(recipe, plan, workspace, progress)
        except CorruptClipError as exc:
            if round_ == REPAIR_ROUNDS or not exc.path:
                raise
            damaged = Path(exc.path)
            moved = workspace.cache().quarantine(damaged) if damaged.exists() else damaged
            warnings.append(f"{exc.message}; moved to {moved} and fetched again")
            resynthesize()
    raise AssertionError("unreachable")


def _chapter_inputs(plan: Plan, workspace: Workspace) -> list[ChapterInput]:
    from pipeline.audio.stitch import ChapterInput, ClipRef

    cache = workspace.cache()
    chapters = []
    for chapter in plan.active:
        clips = []
        for job in chapter.jobs:
            path = cache.path(job.key)
            if path is None:
                raise StoppedError(f"chapter {chapter.index} is missing clip {job.key}; run the build again")
            clips.append(ClipRef(path, job.segment.boundary_after))
        chapters.append(ChapterInput(chapter.index, chapter.title, tuple(clips)))
    return chapters


def package_stage(recipe: Recipe, plan: Plan, workspace: Workspace,
                  progress: PackageProgress | None = None) -> PackageReport:
    """Stitch and package chapters (incremental), then run the delivery check."""
    from pipeline.audio.check import check_path
    from pipeline.audio.package import assemble_book
    from pipeline.audio.tags import BookInfo
    from pipeline.proofing import write_proof_page

    chapters = _chapter_inputs(plan, workspace)
    info = BookInfo(plan.title, plan.authors, plan.language, plan.cover)
    out = workspace.output_dir
    try:
        result = assemble_book(chapters, info, recipe.audio, out, progress=progress)
    except (OSError, AudiobookError) as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(f"the disk holding {out} is full while packaging; every clip is kept. "
                            "Free some space, then run the same command again") from None
    proof = write_proof_page(plan, result, recipe.audio, out)
    files = (*result.chapter_files, *(p for p in (result.m4b, result.playlist, proof) if p is not None))
    try:
        return PackageReport(files, tuple(result.rewritten), check=check_path(out, "acx", result.measured))
    except AudiobookError as exc:  # a check problem must not fail a finished build
        return PackageReport(files, tuple(result.rewritten), check_error=exc.message)
