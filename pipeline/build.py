"""The build orchestrator: it only strings the stages together and skips done work.

plan → confirm the cost → synthesize (resumable) → stitch + package (incremental) →
check → report.json. Each stage is a short function that returns early when its work is
already on disk, so running the same build again is cheap and makes no requests.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pipeline.build_report import BuildReport, PackageReport, SynthOutcome
from pipeline.build_stages import BuildOptions, credit_cap, package_with_repair, synth_stage
from pipeline.errors import AudiobookError, BudgetError, UserError
from pipeline.models import Plan, TTSRequest, Voice, backend_name, content_key, is_offline
from pipeline.plan import Reusable, make_plan, plan_to_dict
from pipeline.recipe import Recipe
from pipeline.retakes import Take, TakeChange, apply_takes, load_takes, resolve, save_takes
from pipeline.synth.status import last_backend, store_summary
from pipeline.synth.store import Store, voice_tag
from pipeline.tts.choice import BackendChoice, identity_for
from pipeline.tts.picker import voice_picker
from pipeline.workspace import Owner, Workspace, check_output_dir, check_owner, claim, lost_store

T = TypeVar("T")

__all__ = ["BuildOptions", "BuildResult", "build", "build_status", "cached_keys", "fresh_plan", "plan_build"]


@contextlib.contextmanager
def reuse_lookup(workspace: Workspace, backend: str) -> Iterator[Reusable | None]:
    """Texts whose clip is already in this build's cache, per voice (None on a first build)."""
    if not workspace.store_path.is_file():
        yield None
        return
    store = workspace.open_store(lock=False)
    cache = workspace.cache()
    memo: dict[Voice, frozenset[str]] = {}

    def lookup(voice: Voice) -> frozenset[str]:
        if voice not in memo:
            texts = store.synthesized_texts(voice_tag(voice))
            memo[voice] = frozenset(
                t for t in texts if cache.path(content_key(TTSRequest(t, voice), backend)) is not None
            )
        return memo[voice]

    try:
        yield lookup
    finally:
        store.close()


def plan_build(recipe: Recipe, workspace: Workspace, backend: str, change: TakeChange | None = None) -> Plan:
    """The plan for this output directory: clips it already has are reused, not re-bought,
    and its retakes (with `change`: `--retake`/`--restore` applied) are read."""
    return planned(recipe, workspace, backend, change)[0]


def planned(recipe: Recipe, workspace: Workspace, backend: str,
            change: TakeChange | None) -> tuple[Plan, tuple[Take, ...]]:
    """The plan and the retakes it reads (to be saved once the build owns the directory)."""
    with reuse_lookup(workspace, backend) as lookup:
        base = make_plan(recipe, backend, voice_picker(backend, recipe.voices, recipe.piper), reusable=lookup)
    takes = resolve(base, load_takes(workspace.state_dir), change, recipe.max_chars)
    return apply_takes(base, takes, recipe.billing_unit), takes


def fresh_plan(recipe: Recipe, backend: str) -> Plan:
    """The plan a first build makes (nothing reused), with the tts package's voice choice."""
    return make_plan(recipe, backend, voice_picker(backend, recipe.voices, recipe.piper))


def cached_keys(workspace: Workspace, plan: Plan) -> set[str]:
    """Keys of the plan's jobs whose clip is already in the cache (free to rebuild)."""
    if not workspace.clips_dir.is_dir():
        return set()
    cache = workspace.cache()
    return {job.key for job in plan.jobs if cache.path(job.key) is not None}


@dataclass
class BuildResult:
    plan: Plan
    report: BuildReport
    report_path: Path
    outputs: list[Path]


def confirm_cost(plan: Plan, to_spend: int, recipe: Recipe, options: BuildOptions) -> None:
    """Refuse or ask before a paid build that exceeds the user's limits."""
    if is_offline(plan.backend):
        return
    cap, name = credit_cap(recipe, options)
    if cap is not None and to_spend > cap:
        raise BudgetError(f"this build needs {to_spend:,} credits, more than {name} {cap:,}")
    if options.yes or to_spend <= recipe.synthesis.confirm_above:
        return
    question = f"Spend {to_spend:,} credits on '{plan.title}'?"
    if options.confirm is None:
        raise BudgetError(f"{question} Not confirmed: run with --yes (no terminal to ask on)")
    if not options.confirm(question):
        raise BudgetError("cancelled: nothing was spent")


class _Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - start, 3)


def owner_of(recipe: Recipe, plan: Plan) -> Owner:
    """Who the output directory belongs to once this plan is built into it."""
    return Owner(plan.title, tuple(plan.authors), str(recipe.book), str(recipe.source) if recipe.source else None)


@dataclass
class _Run:
    """One build's fixed inputs, so the stages below take one argument."""

    recipe: Recipe
    plan: Plan
    choice: BackendChoice
    options: BuildOptions
    workspace: Workspace
    store: Store
    report: BuildReport

    def synthesize(self) -> None:
        """The synthesis stage; its counts go into the report whether it finishes or stops."""
        try:
            result = synth_stage(self.recipe, self.plan, self.choice, self.options, self.store, self.workspace)
        except AudiobookError as exc:
            self.report.record_synthesis(SynthOutcome(exc.partial, exc.message))
            raise
        self.report.record_synthesis(SynthOutcome(result))

    def package(self) -> PackageReport:
        return package_with_repair(self.recipe, self.plan, self.workspace, self.synthesize, self.report.warnings,
                                   self.options.package_progress)


def build(recipe: Recipe, choice: BackendChoice, options: BuildOptions) -> BuildResult:
    """Run every stage; raises the pipeline's errors (the CLI maps them to exit codes)."""
    workspace = Workspace.of(recipe)
    check_output_dir(workspace.output_dir)  # before planning: a bad place fails in a second
    timer = _Timer()
    plan, takes = timer.run("plan", lambda: planned(recipe, workspace, choice.identity, options.retake))
    cached = cached_keys(workspace, plan)
    to_spend = sum(j.credits for j in plan.jobs if j.key not in cached)
    confirm_cost(plan, to_spend, recipe, options)
    totals = plan_to_dict(plan, cached)["totals"]
    assert isinstance(totals, dict)
    report = BuildReport(totals, choice.name)
    if lost_store(workspace.output_dir, workspace.store_path):
        report.warnings.append(
            f"the checkpoint store of {workspace.output_dir} is missing: clips on disk are reused, but tasks that "
            "were in flight when it was lost may have been paid for and are bought again"
        )
    store = workspace.open_store()  # the lock is held until packaging is done
    run = _Run(recipe, plan, choice, options, workspace, store, report)
    failing = True
    try:
        note = claim(store, workspace.output_dir, owner_of(recipe, plan), force=options.force_output)
        report.warnings += [note] if note else []
        if options.retake is not None:  # kept before anything is bought: a stopped build resumes them
            save_takes(workspace.state_dir, takes)
        timer.run("synthesize", run.synthesize)
        if not options.skip_package:
            report.package = timer.run("package", run.package)
        failing = False
    except BaseException as exc:
        report.stop(exc)
        raise
    finally:
        report.wall_seconds = timer.stages
        try:
            report.write(workspace.report_path, failing=failing)
        finally:
            store.close()
    outputs = list(report.package.files) if report.package is not None else []
    return BuildResult(plan, report, workspace.report_path, outputs)


def build_status(recipe: Recipe, backend: str | None = None) -> dict[str, object]:
    """What the checkpoint store and the ledger say about this book's build; no network.

    The plan (pure) tells which rows are this book's current segments (for the backend of
    the last build unless told); a directory holding another book is refused, not mixed in.
    """
    workspace = Workspace.of(recipe)
    if not workspace.store_path.is_file():
        raise UserError(f"no build state in {workspace.output_dir} (run `audiobook build` first)")
    store = workspace.open_store(lock=False)
    try:
        backend = identity_for(backend or last_backend(store) or "local", recipe.piper)
        plan = plan_build(recipe, workspace, backend)
        check_owner(store, workspace.output_dir, owner_of(recipe, plan))
        summary = store_summary(store, [j.key for j in plan.jobs])
    finally:
        store.close()
    return {"book": plan.title, "output": str(workspace.output_dir), "backend": backend_name(backend), **summary}
