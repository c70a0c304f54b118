"""What `plan`, `build` and `status` print for a batch (several books or a catalogue).

Kept apart from the commands so each command stays a thin wrapper: a single book goes
through the single-book path exactly as before, a batch through these.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pipeline.batch_plan import BatchPlan
from pipeline.batch_report import BookRow, render_rows
from pipeline.build_stages import BuildOptions
from pipeline.catalogue import BatchInputs
from pipeline.models import backend_name, is_offline
from pipeline.tts.choice import BackendChoice

BATCH_REPORT = "batch-report.json"


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_batch_plan(plan: BatchPlan, as_json: bool) -> None:
    """One row per book and the total; --json: {"books": [plan objects], "totals": {...}}."""
    if as_json:
        click.echo(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Batch of {len(plan.books)} books, backend {backend_name(plan.backend)}")
    table.add_column("#", justify="right")
    table.add_column("book", overflow="fold", ratio=1, min_width=20)
    for col in ("chapters", "segments", "credits", "floor", "cached", "shared", "to spend"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("output", overflow="fold")
    for b in plan.books:
        t = b.to_dict()["totals"]
        assert isinstance(t, dict)
        table.add_row(str(b.index + 1), b.name, str(len(b.plan.active)), f"{t['segments']:,}", f"{t['credits']:,}",
                      f"{t['min_credits']:,}", f"{t['cached_segments']:,}", f"{b.shared:,}", f"{b.to_spend:,}",
                      str(b.workspace.output_dir))
    t = plan.totals()
    table.add_row("", "[bold]total[/bold]", f"{t['chapters']:,}", f"{t['segments']:,}", f"{t['credits']:,}",
                  f"{t['min_credits']:,}", f"{t['cached_segments']:,}", f"{t['shared_segments']:,}",
                  f"[bold]{t['credits_to_spend']:,}[/bold]", "")
    console = _console()
    console.print(table)
    console.print(f"Total: [bold]{t['credits_to_spend']:,} credits to spend[/bold] on {t['books']} books "
                  f"({t['credits']:,} planned, {t['cached_segments']:,} segments cached or shared).")
    priced = sum(1 for b in plan.books if b.plan.price is not None)
    for currency, row in plan.money().items():
        console.print(f"Price: [bold]{row['to_spend']:,.2f} {currency} to spend[/bold] ({row['planned']:,.2f} "
                      f"planned)" + ("" if priced == len(plan.books) else f"; {len(plan.books) - priced} books "
                                     "without `price:` are not counted"))


def print_book_table(rows: list[BookRow], billed: bool, title: str) -> None:
    cells = render_rows(rows, billed)
    table = Table(title=title)
    for name in cells[0]:
        right = name in ("#", "chapters", "audio", "credits planned", "spent")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for row in cells[1:]:
        table.add_row(*row)
    _console().print(table)


def report_path(inputs: BatchInputs, given: str | None) -> Path:
    """--report FILE; else next to the catalogue (NAME.report.json); else in the first
    book's output directory, so the batch never writes anywhere it does not own."""
    if given:
        return Path(given).resolve()
    if inputs.catalogue is not None:
        return inputs.catalogue.with_name(f"{inputs.catalogue.stem}.report.json")
    return inputs.books[0].recipe.output_dir / BATCH_REPORT


def run_batch_build(inputs: BatchInputs, choice: BackendChoice, options: BuildOptions, report: str | None,
                    quiet: bool) -> None:
    """Plan, confirm, build; print the closing table; raise what the batch ended with."""
    from pipeline.batch import BatchOptions, build_batch, confirm_batch
    from pipeline.batch_plan import plan_batch
    from pipeline.batch_progress import BatchDisplay, BatchTally

    plan = plan_batch(inputs, choice.identity)
    confirm_batch(plan, options)
    path = report_path(inputs, report)
    for book in plan.books:
        for warning in book.plan.warnings:
            click.echo(f"Warning: {book.entry.origin}: {warning}", err=True)
    display = BatchDisplay(BatchTally([b.name for b in plan.books], plan.to_spend, choice.billed), quiet=quiet)
    try:
        result = build_batch(plan, choice, BatchOptions(options, display=display), path)
    finally:
        display.close()
    totals = result.report.totals()
    print_book_table(result.report.books, choice.billed, f"Batch: {totals['done']} of {totals['books']} books done")
    if choice.billed:
        click.echo(f"Requests: {totals['requests']:,}, refused {totals['refused']:,} "
                   f"({totals['refused_share']:.1%}); credits spent {totals['credits_spent']:,}.")
    click.echo(f"Report: {result.report_path}")
    if result.error is not None:
        raise result.error


def print_batch_status(inputs: BatchInputs, backend: str | None, as_json: bool) -> None:
    """Each book's row from its store and report.json; no network."""
    from pipeline.batch_plan import plan_batch
    from pipeline.batch_status import batch_status, last_batch_backend
    from pipeline.tts.choice import identity_for

    plan = plan_batch(inputs, identity_for(backend or last_batch_backend(inputs), inputs.books[0].recipe.piper))
    rows = batch_status(plan)
    if as_json:
        click.echo(json.dumps({"books": [r.to_dict() for r in rows]}, ensure_ascii=False, indent=2))
        return
    done = sum(1 for r in rows if r.status == "done")
    print_book_table(rows, not is_offline(plan.backend), f"Batch: {done} of {len(rows)} books done")
