"""`audiobook build` and `audiobook status`: thin wrappers over pipeline.build."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.cli.options import backend_options, load_recipe_with_overrides, recipe_argument


@click.command()
@recipe_argument
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory (default: the recipe's output.directory, else BOOK-audiobook/).")
@backend_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask before spending credits.")
@click.option("--max-credits", type=click.IntRange(0), help="Refuse (exit 2) if the build would spend more than N credits.")
@click.option("--no-package", is_flag=True, help="Stop after the clips are on disk (no stitching or packaging).")
@click.pass_context
def build(ctx: click.Context, recipe_path: str, output: str | None, backend: str | None, api_url: str | None,
          api_key_file: str | None, yes: bool, max_credits: int | None, no_package: bool) -> None:
    """Build the audiobook of RECIPE_OR_BOOK: plan, synthesize, stitch, package, check.

    Resumable: after a crash, Ctrl-C (exit 130) or an empty credit balance (exit 3), run
    the same command again; finished clips are never requested or paid for twice. With no
    AUDIOCLEANER_API_KEY and no --backend, the offline voice (eSpeak NG) is used.
    """
    from pipeline.build import BuildOptions, choose_backend
    from pipeline.build import build as run_build
    from pipeline.synth.progress import choose_progress

    recipe = load_recipe_with_overrides(recipe_path, output=Path(output).resolve() if output else None)
    choice = choose_backend(backend, api_url, api_key_file)
    quiet, verbose = ctx.obj.get("quiet", False), ctx.obj.get("verbose", 0)
    if choice.name == "local":
        click.echo("No API key set: using the offline voice (eSpeak NG); this build costs nothing.", err=True)
    else:
        click.echo(f"Using the Audio Cleaner API at {choice.url}", err=True)
    can_ask = sys.stdin.isatty()
    options = BuildOptions(
        yes=yes, max_credits=max_credits,
        confirm=(lambda q: click.confirm(q, default=False, err=True)) if can_ask else None,
        progress=choose_progress(quiet=quiet),
        skip_package=no_package,
    )
    result = run_build(recipe, choice, options)
    _summary(result, quiet)


def _summary(result: object, quiet: bool) -> None:
    report = result.report  # type: ignore[attr-defined]
    synth = report.get("synthesis", {})
    plan = result.plan  # type: ignore[attr-defined]
    cost = "offline voice, no credits" if plan.backend == "local" else f"credits charged {synth.get('credits_charged', 0):,}"
    click.echo(f"Done: {len(plan.active)} chapters, {synth.get('done', 0)} clips ({synth.get('cached', 0)} from cache), {cost}.")
    for path in result.outputs:  # type: ignore[attr-defined]
        if not quiet:
            click.echo(f"  {path}")
    click.echo(f"Report: {result.report_path}")  # type: ignore[attr-defined]
    check = report.get("check")
    if check and not check.get("passed", True):
        click.echo("Warning: `audiobook check` found delivery problems (see report.json).", err=True)


@click.command()
@recipe_argument
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory of the build.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(recipe_path: str, output: str | None, as_json: bool) -> None:
    """Show a build's progress from its checkpoint store (no network)."""
    from pipeline.build import build_status

    recipe = load_recipe_with_overrides(recipe_path, output=Path(output).resolve() if output else None)
    summary = build_status(recipe)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    for key, value in summary.items():
        click.echo(f"{key}: {value}")
