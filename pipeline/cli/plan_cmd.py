"""`audiobook plan`: the exact credit cost, chapter by chapter, before spending anything."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from pipeline.cli.options import backend_options, choose_for, inputs_argument, load_batch_inputs, take_change
from pipeline.models import EMOTIONS, Plan, backend_name

if TYPE_CHECKING:
    from pipeline.catalogue import BatchInputs
    from pipeline.recipe import Recipe
    from pipeline.retakes import TakeChange

EMOTION_NAMES = {v: k for k, v in EMOTIONS.items()}


@click.command()
@inputs_argument
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (shape in README).")
@click.option("--segments", is_flag=True, help="Print every segment as a JSON line instead of the table.")
@click.option("--cast", "show_cast", is_flag=True,
              help="List the speakers the book marks, with their lines and characters, to fill in `cast:`.")
@click.option("--max-chars", type=click.IntRange(1, 100_000), help="Override the recipe's longest segment.")
@click.option("--cuts", type=click.Choice(["clause", "word"]), help="Override where segments may be cut.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="The build's output directory (for cached clips).")
@click.option("--retake", type=click.Path(dir_okay=False),
              help="Show what `build --retake FILE` would read again and what it costs.")
@backend_options
def plan(paths: tuple[str, ...], as_json: bool, segments: bool, show_cast: bool, max_chars: int | None,
         cuts: str | None, output: str | None, retake: str | None, backend: str | None, api_url: str | None,
         api_key_file: str | None) -> None:
    """Show what building RECIPE_OR_BOOK... will cost, without any network.

    Credits are exact: ceil(characters / 100) per request, summed over the segments.
    `min_credits` is the floor ceil(chapter characters / 100); efficiency is
    min_credits / credits. Clips already in the cache are counted as free.

    Several inputs, a directory of recipes or a catalogue make a batch: one row per
    book and the total (a text an earlier book of the batch buys is free for later ones).
    """
    from pipeline.build import cached_keys, plan_build
    from pipeline.plan import plan_to_dict
    from pipeline.workspace import Workspace

    out = Path(output).resolve() if output else None
    inputs = load_batch_inputs(paths, max_chars=max_chars, cuts=cuts, output=out)
    change = take_change(retake, None, inputs)
    choice = choose_for(inputs, backend, api_url, api_key_file)
    if inputs.is_batch:
        _batch_plan(inputs, choice.identity, as_json, segments)
        return
    recipe = inputs.books[0].recipe
    if show_cast:
        _print_cast(recipe, as_json)
        return
    workspace = Workspace.of(recipe)
    result = plan_build(recipe, workspace, choice.identity, change)
    cached = cached_keys(workspace, result)
    if change is not None:
        _print_retakes(result, change, cached, as_json or segments)
    if segments:
        _print_segments(result)
    elif as_json:
        click.echo(json.dumps(plan_to_dict(result, cached), ensure_ascii=False, indent=2))
    else:
        _print_table(result, plan_to_dict(result, cached))
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)


def _print_retakes(result: Plan, change: TakeChange, cached: set[str], to_stderr: bool) -> None:
    """What `build --retake` buys: the listed segments' new takes, nothing else."""
    wanted = {(r.chapter, r.segment) for r in change.requests}
    jobs = [j for j in result.jobs if (j.segment.chapter, j.segment.index) in wanted and j.key not in cached]
    click.echo(f"Retakes: {len(jobs)} of {len(wanted)} listed segments to read again, "
               f"{sum(j.credits for j in jobs):,} credits.", err=to_stderr)


def _batch_plan(inputs: BatchInputs, backend: str, as_json: bool, segments: bool) -> None:
    from pipeline.batch_plan import plan_batch
    from pipeline.cli.batch_view import print_batch_plan

    plan = plan_batch(inputs, backend)
    if segments:
        for book in plan.books:
            _print_segments(book.plan, book=book.index + 1)
    else:
        print_batch_plan(plan, as_json)
    for book in plan.books:
        for warning in book.plan.warnings:
            click.echo(f"Warning: {book.entry.origin}: {warning}", err=True)


def _print_segments(result: Plan, book: int | None = None) -> None:
    for job in result.jobs:
        row = {**({"book": book} if book is not None else {}), **asdict(job.segment),
               "boundary_after": job.segment.boundary_after.label,
               "chars": len(job.segment.text), "credits": job.credits, "key": job.key,
               "voice_id": job.voice.voice_id, "language": job.voice.language, "speaker": job.speaker}
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


def _print_cast(recipe: Recipe, as_json: bool) -> None:
    from pipeline.ingest import load_book
    from pipeline.text.language import vendor_language
    from pipeline.voicing import count_speakers

    book = load_book(recipe.book, recipe.ingest)
    language = recipe.language or vendor_language(book.meta.language) or "en"
    rows = count_speakers(recipe, book.chapters, language)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No speakers marked in this book (EPUB drama markup z3998:persona, "
                   "or Markdown `NAME. speech` / `**Name.** speech`"
                   + (")." if recipe.dialogue else "; in prose, `dialogue: on` finds “…,” said NAME)."))
        return
    table = Table(title=f"Speakers in {recipe.book.name}")
    for col in ("speaker", "lines", "chars", "voice"):
        table.add_column(col, justify="left" if col in ("speaker", "voice") else "right")
    for r in rows:
        table.add_row(r.name, f"{r.lines:,}", f"{r.chars:,}", f"cast: {r.cast}" if r.cast else "narrator")
    Console(width=100).print(table)


def _print_table(result: Plan, data: dict) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    table = Table(title=f"{result.title} — {result.language}, backend {backend_name(result.backend)}")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1, min_width=20)
    for col in ("chars", "segs", "credits", "floor", "cached", "voice"):
        table.add_column(col, justify="right", no_wrap=True)
    for col in ("emotion", "speed", "rule"):
        table.add_column(col, no_wrap=True)
    for row in data["chapters"]:
        skipped = row["skipped"]
        table.add_row(
            str(row["index"]), row["title"], f"{row['chars']:,}", str(row["segments"]),
            "—" if skipped else f"{row['credits']:,}", f"{row['min_credits']:,}",
            str(row.get("cached_segments", 0)), str(row["voice_id"]),
            EMOTION_NAMES.get(row["emotion"], str(row["emotion"])), str(row["speed"]),
            f"skipped: {row.get('skip_reason', '')}" if skipped else row["rule"],
            style="dim" if skipped else None,
        )
    console.print(table)
    t = data["totals"]
    console.print(
        f"Total: {t['chars']:,} characters in {t['segments']:,} segments = [bold]{t['credits']:,} credits[/bold] "
        f"(floor {t['min_credits']:,}, efficiency {t['efficiency']:.1%}); "
        f"{t.get('cached_segments', 0):,} segments cached, "
        f"{t.get('credits_to_spend', t['credits']):,} credits to spend."
    )
    if result.price is not None:
        price, spend = result.price, t.get("credits_to_spend", t["credits"])
        console.print(f"Price: {t['credits']:,} credits = [bold]{price.label(t['credits'])}[/bold] at "
                      f"{price.per_credit:g} {price.currency} per credit; to spend {price.label(spend)}.")
    if t.get("title_credits"):
        console.print(f"Headings as their own requests (titles: separate, so their pause is heard) add "
                      f"{t['title_credits']:,} credits; `titles: merged` packs them with the text.")
    if t.get("voice_credits"):
        console.print(f"Cast, dialogue and language voices add {t['voice_credits']:,} credits over one voice per "
                      "chapter (a request never spans two voices); per chapter in `plan --json` (voice_credits).")
    notes = data["notes"]
    if notes["markers"] or notes["paragraphs"]:
        console.print(f"Notes: {notes['markers']:,} note markers ([1], ¹) and {notes['paragraphs']:,} note paragraphs "
                      "are not read (include_matter: true reads the notes).")
    changed = {k: v for k, v in data["removed_chars"].items() if v}
    if changed:
        parts = [f"{k} {'removed' if v > 0 else 'added'} {abs(v):,}" for k, v in changed.items()]
        console.print("Billed characters changed by normalization: " + ", ".join(parts))
