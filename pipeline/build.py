"""The build orchestrator: it only strings the stages together and skips done work.

plan → confirm the cost → synthesize (resumable) → stitch + package (incremental) →
check → report.json. Each stage is a short function that returns early when its work is
already on disk, so running the same build again is cheap and makes no requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import BudgetError, DiskFullError, UserError, is_disk_full
from pipeline.fsio import write_atomic
from pipeline.models import Plan, TTSRequest, Voice, content_key
from pipeline.plan import Reusable, make_plan, plan_to_dict
from pipeline.recipe import Recipe
from pipeline.tts.base import Backend
from pipeline.workspace import Owner

STATE_DIR = ".audiobook"


@dataclass(frozen=True)
class BackendChoice:
    """Which service to use. The key is kept out of repr, logs and reports."""

    name: str
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)


def choose_backend(
    backend: str | None, api_url: str | None, api_key_file: str | None,
    env: Mapping[str, str] | None = None,
) -> BackendChoice:
    """--backend wins; else the vendor when a key is available, else the offline voice."""
    from pipeline.tts.client import resolve_api_key, resolve_base_url
    from pipeline.tts.secrets import ENV_URL

    env = os.environ if env is None else env
    key = resolve_api_key(env, Path(api_key_file) if api_key_file else None)
    name = backend or ("audiocleaner" if key else "local")
    if name == "audiocleaner" and not key:
        raise UserError(
            "the audiocleaner backend needs an API key: set AUDIOCLEANER_API_KEY or pass --api-key-file",
            tip="Without a key, --backend local builds with the offline voice.",
        )
    if backend is None and not key and ((api_url or "").strip() or env.get(ENV_URL, "").strip()):
        raise UserError(
            "an API URL is given (--api-url or AUDIOCLEANER_API_URL) but no API key: "
            "set AUDIOCLEANER_API_KEY or pass --api-key-file",
            tip="To build offline with the embedded voice instead, pass --backend local.",
        )
    url = resolve_base_url(env, api_url) if name == "audiocleaner" else None
    return BackendChoice(name, url, key if name == "audiocleaner" else None)


def open_backend(choice: BackendChoice, workers: int = 2) -> Backend:
    if choice.name == "local":
        from pipeline.tts.local import LocalBackend

        return LocalBackend(workers=workers)
    from pipeline.tts.client import AudioCleanerClient

    assert choice.api_key is not None and choice.url is not None
    return AudioCleanerClient(choice.api_key, choice.url)


def state_dir(recipe: Recipe) -> Path:
    return recipe.output_dir / STATE_DIR


def cache_root(recipe: Recipe) -> Path:
    return recipe.synthesis.cache_dir or (recipe.output_dir / "clips")


@contextlib.contextmanager
def reuse_lookup(recipe: Recipe, backend: str) -> Iterator[Reusable | None]:
    """Texts whose clip is already in this build's cache, per voice (None on a first build)."""
    from pipeline.synth.cache import ClipCache
    from pipeline.synth.store import Store, voice_tag

    path = state_dir(recipe) / "state.sqlite"
    if not path.is_file():
        yield None
        return
    store = Store.open(path, lock=False)
    cache = ClipCache(cache_root(recipe))
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


def plan_build(recipe: Recipe, backend: str) -> Plan:
    """The plan for this output directory: clips it already has are reused, not re-bought."""
    with reuse_lookup(recipe, backend) as lookup:
        return make_plan(recipe, backend, reusable=lookup)


def cached_keys(recipe: Recipe, plan: Plan) -> set[str]:
    """Keys of the plan's jobs whose clip is already in the cache (free to rebuild)."""
    from pipeline.synth.cache import ClipCache

    root = cache_root(recipe)
    if not root.is_dir():
        return set()
    cache = ClipCache(root)
    return {job.key for job in plan.jobs if cache.path(job.key) is not None}


@dataclass
class BuildOptions:
    yes: bool = False
    max_credits: int | None = None
    confirm: Callable[[str], bool] | None = None  # asks the user; None = cannot ask
    progress: Any = None  # a pipeline.synth progress sink
    skip_package: bool = False
    force_output: bool = False  # take over an output directory that holds another book


@dataclass
class BuildResult:
    plan: Plan
    report: dict[str, Any]
    report_path: Path
    outputs: list[Path]


def credit_cap(recipe: Recipe, options: BuildOptions) -> tuple[int | None, str]:
    """The hard cap on this directory's spend: --max-credits, else the recipe's, and its name."""
    if options.max_credits is not None:
        return options.max_credits, "--max-credits"
    return recipe.synthesis.max_credits, "synthesis.max_credits"


def confirm_cost(plan: Plan, to_spend: int, recipe: Recipe, options: BuildOptions) -> None:
    """Refuse or ask before a paid build that exceeds the user's limits."""
    if plan.backend == "local":
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


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """A report that exists is complete: temp file, fsync, rename (no `.part` left on failure)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    write_atomic(path, text.encode("utf-8"))


def _write_report(path: Path, report: dict[str, Any], failing: bool) -> None:
    """Write report.json; while another error is on its way out, a full disk must not hide it."""
    try:
        write_json_atomic(path, report)
    except OSError as exc:
        if not (failing and is_disk_full(exc)):
            if is_disk_full(exc):
                raise DiskFullError(f"the disk is full: cannot write {path}; free some space, then run again") from None
            raise


class _Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - start, 3)


def owner_of(recipe: Recipe, plan: Plan) -> Owner:
    """Who the output directory belongs to once this plan is built into it."""
    return Owner(plan.title, tuple(plan.authors), str(recipe.book), str(recipe.source) if recipe.source else None)


def build(recipe: Recipe, choice: BackendChoice, options: BuildOptions) -> BuildResult:
    """Run every stage; raises the pipeline's errors (the CLI maps them to exit codes)."""
    from pipeline.build_stages import package_with_repair, synth_stage
    from pipeline.workspace import check_output_dir, claim, lost_store

    check_output_dir(recipe.output_dir)  # before planning: a bad place fails in a second
    timer = _Timer()
    plan = timer.run("plan", lambda: plan_build(recipe, choice.name))
    cached = cached_keys(recipe, plan)
    to_spend = sum(j.credits for j in plan.jobs if j.key not in cached)
    confirm_cost(plan, to_spend, recipe, options)
    report: dict[str, Any] = {"plan": plan_to_dict(plan, cached)["totals"], "backend": choice.name, "warnings": []}
    report_path = recipe.output_dir / "report.json"
    outputs: list[Path] = []
    if lost_store(recipe.output_dir, store_path(recipe)):
        report["warnings"].append(
            f"the checkpoint store of {recipe.output_dir} is missing: clips on disk are reused, but tasks that were "
            "in flight when it was lost may have been paid for and are bought again"
        )
    store = open_store(recipe)  # the lock is held until packaging is done
    failing = True
    try:
        note = claim(store, recipe.output_dir, owner_of(recipe, plan), force=options.force_output)
        report["warnings"] += [note] if note else []
        report["synthesis"] = timer.run("synthesize", lambda: synth_stage(recipe, plan, choice, options, store))
        if not options.skip_package:
            report["package"], outputs = timer.run(
                "package", lambda: package_with_repair(recipe, plan, choice, options, store, report))
            report["check"] = report["package"].pop("check", None)
        failing = False
    except BaseException as exc:
        report["synthesis"] = getattr(exc, "report", report.get("synthesis"))
        report["stopped"] = getattr(exc, "message", None) or type(exc).__name__
        raise
    finally:
        report["warnings"] += (report.get("synthesis") or {}).get("warnings", [])
        report["wall_seconds"] = timer.stages
        try:
            _write_report(report_path, report, failing)
        finally:
            store.close()
    return BuildResult(plan, report, report_path, outputs)


def store_path(recipe: Recipe) -> Path:
    return state_dir(recipe) / "state.sqlite"


def open_store(recipe: Recipe) -> Any:
    """The checkpoint store, locked: a second build on this output directory is refused."""
    from pipeline.synth.store import Store

    return Store.open(store_path(recipe))


def build_status(recipe: Recipe, backend: str | None = None) -> dict[str, Any]:
    """What the checkpoint store and the ledger say about this book's build; no network.

    The plan (pure) tells which rows are this book's current segments (for the backend of
    the last build unless told); a directory holding another book is refused, not mixed in.
    """
    from pipeline.synth.status import last_backend, store_summary
    from pipeline.synth.store import Store
    from pipeline.workspace import check_owner

    path = store_path(recipe)
    if not path.is_file():
        raise UserError(f"no build state in {recipe.output_dir} (run `audiobook build` first)")
    store = Store.open(path, lock=False)
    try:
        backend = backend or last_backend(store) or "local"
        plan = plan_build(recipe, backend)
        check_owner(store, recipe.output_dir, owner_of(recipe, plan))
        summary = store_summary(store, [j.key for j in plan.jobs])
    finally:
        store.close()
    return {"book": plan.title, "output": str(recipe.output_dir), "backend": backend, **summary}
