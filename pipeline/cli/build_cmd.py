"""`audiobook build` and `audiobook status`: thin wrappers over pipeline.build."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.options import backend_options, choose_for, inputs_argument, load_batch_inputs, take_change
from pipeline.models import BACKENDS, is_offline

if TYPE_CHECKING:
    from pipeline.build import BuildResult
    from pipeline.synth.options import SynthResult


@click.command()
@inputs_argument
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Output directory (default: the recipe's output.directory, else BOOK-audiobook/); "
                   "for several books a template with {slug} or {stem}.")
@backend_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask before spending credits.")
@click.option("--max-credits", type=click.IntRange(0),
              help="Hard cap on credits spent on this output directory, over all its runs (the spend ledger): "
                   "refuse (exit 2) if the plan needs more, stop (exit 3) before a request would cross it. "
                   "Overrides synthesis.max_credits.")
@click.option("--no-package", is_flag=True, help="Stop after the clips are on disk (no stitching or packaging).")
@click.option("--force-output", is_flag=True,
              help="Take over an output directory that holds another book's audiobook (its audio files are removed).")
@click.option("--report", "report", type=click.Path(dir_okay=False),
              help="Where a batch writes its report (default: next to the catalogue, NAME.report.json; "
                   "else batch-report.json in the first book's output directory).")
@click.option("--retake", type=click.Path(dir_okay=False),
              help="Read again the segments FILE lists (proof page export, or CHAPTER:SEGMENT [= new text] "
                   "lines): new takes are bought, only their chapters rebuilt, the old takes kept.")
@click.option("--restore", type=click.Path(dir_okay=False),
              help="Put the segments FILE lists back to their first take (from the cache: no credits).")
@click.pass_context
def build(ctx: click.Context, paths: tuple[str, ...], output: str | None, backend: str | None, api_url: str | None,
          api_key_file: str | None, yes: bool, max_credits: int | None, no_package: bool, force_output: bool,
          report: str | None, retake: str | None, restore: str | None) -> None:
    """Build the audiobook of RECIPE_OR_BOOK...: plan, synthesize, stitch, package, check.

    Several inputs, a directory of recipes or a catalogue make a batch: every recipe is
    validated first, one engine keeps the key's limits busy across books (in the given
    order, so finished books are whole), each book is packaged as soon as its clips are
    in, and --max-credits caps the batch. Exit 1 names a book that failed, 3 what is left.

    Resumable: after a crash, Ctrl-C (exit 130), an empty credit balance, the credit cap or
    an unanswering service (exit 3), run the same command again; a task that has a job id
    is polled again, never bought again. Every create that may cost credits is in the spend
    ledger before it is sent. With no AUDIOCLEANER_API_KEY and no --backend (or recipe
    `backend:`), the offline voice (eSpeak NG) is used; --backend piper reads with the
    offline neural voice (the neural extra).
    """
    from pipeline.audio.progress import choose_package_progress
    from pipeline.build import BuildOptions
    from pipeline.build import build as run_build
    from pipeline.synth.progress import choose_progress

    inputs = load_batch_inputs(paths, output=Path(output).resolve() if output else None)
    change = take_change(retake, restore, inputs)
    choice = choose_for(inputs, backend, api_url, api_key_file)
    quiet = ctx.obj.get("quiet", False)
    if choice.name == "local" and backend is None and inputs.books[0].recipe.backend is None:
        click.echo("No API key set: using the offline voice (eSpeak NG); this build costs nothing.", err=True)
    else:
        click.echo(f"Using {choice.label}", err=True)
    can_ask = sys.stdin.isatty()
    options = BuildOptions(
        yes=yes, max_credits=max_credits,
        confirm=(lambda q: click.confirm(q, default=False, err=True)) if can_ask else None,
        skip_package=no_package, force_output=force_output, retake=change,
    )
    if inputs.is_batch:
        from pipeline.cli.batch_view import run_batch_build

        run_batch_build(inputs, choice, options, report, quiet)
        return
    options.progress = choose_progress(quiet=quiet, billed=choice.billed)
    options.package_progress = choose_package_progress(quiet=quiet)
    result = run_build(inputs.books[0].recipe, choice, options)
    _summary(result, quiet)


def spend_line(synth: SynthResult) -> str:
    """The ledger's figures: this run's spend (charged + uncertain) and the directory's total."""
    total = synth.spend_total
    uncertain = synth.credits_uncertain
    line = f"spent {synth.credits_spent:,} credits this run (charged {synth.credits_charged:,}"
    line += f", uncertain {uncertain:,})" if uncertain else ")"
    if total:
        line += f", {total.get('spent', 0):,} in total on this output directory"
    cap = synth.credit_cap
    return line + (f" (cap {cap:,})" if cap is not None else "")


def _summary(result: BuildResult, quiet: bool) -> None:
    report = result.report
    synth = report.synthesis.result if report.synthesis is not None else None
    assert synth is not None  # build() returns only once synthesis has finished
    plan = result.plan
    for warning in report.all_warnings:
        click.echo(f"Warning: {warning}", err=True)
    cost = "offline voice, no credits" if is_offline(plan.backend) else spend_line(synth)
    clips = f"{synth.done} clips ({synth.cached} from cache)"
    click.echo(f"Done: {len(plan.active)} chapters, {clips}, {cost}.")
    if not is_offline(plan.backend) and synth.api_requests:
        click.echo(f"Requests: {synth.refusal_line()}.")
    for path in result.outputs:
        if not quiet:
            click.echo(f"  {path}")
    click.echo(f"Report: {result.report_path}")
    check = report.package.check if report.package is not None else None
    if check is not None and not check.passed:
        click.echo("Warning: `audiobook check` found delivery problems (see report.json).", err=True)


@click.command()
@inputs_argument
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output directory of the build.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--backend", type=click.Choice(list(BACKENDS)),
              help="Whose clips to count (default: the backend of the directory's last build).")
def status(paths: tuple[str, ...], output: str | None, as_json: bool, backend: str | None) -> None:
    """Show a build's progress and spend from its checkpoint store and ledger (no network).

    For a batch (several inputs or a catalogue): the closing table of `build` again,
    per book done / partial n of m / failed / not started."""
    from pipeline.build import build_status

    inputs = load_batch_inputs(paths, output=Path(output).resolve() if output else None)
    if inputs.is_batch:
        from pipeline.cli.batch_view import print_batch_status

        print_batch_status(inputs, backend, as_json)
        return
    summary = build_status(inputs.books[0].recipe, backend)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    for key, value in summary.items():
        click.echo(f"{key}: {value}")
