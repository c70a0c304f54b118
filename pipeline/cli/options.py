"""Options shared by several commands, as decorators (one definition, one help text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pipeline.catalogue import BatchInputs, load_inputs
from pipeline.recipe import Recipe, load_recipe
from pipeline.retakes import TakeChange

F = TypeVar("F", bound=Callable[..., Any])

# Paths are checked by the recipe loader (one line, exit 2), not by click (usage text).
recipe_argument = click.argument("recipe_path", metavar="RECIPE_OR_BOOK", type=click.Path())
# Several recipes, books, directories of recipes, or catalogues: a batch (pipeline.catalogue).
inputs_argument = click.argument("paths", metavar="RECIPE_OR_BOOK...", nargs=-1, required=True, type=click.Path())


def backend_options(func: F) -> F:
    """--backend / --api-url / --api-key-file, resolved by pipeline.tts.choice.choose_backend."""
    func = click.option(
        "--api-key-file", type=click.Path(dir_okay=False),
        help="Read the API key from this file instead of AUDIOCLEANER_API_KEY.",
    )(func)
    func = click.option(
        "--api-url", metavar="URL",
        help="Service base URL (default $AUDIOCLEANER_API_URL, else https://audiocleaner.ai/); "
        "e.g. an `audiobook emulator` on http://127.0.0.1:PORT.",
    )(func)
    func = click.option(
        "--backend", type=click.Choice(["audiocleaner", "local"]),
        help="audiocleaner (needs a key) or local (offline eSpeak NG voice). "
        "Default: audiocleaner when a key is set, else local.",
    )(func)
    return func


def load_batch_inputs(paths: tuple[str, ...], **overrides: Any) -> BatchInputs:
    """Every input expanded and validated (all errors at once), overrides applied to each book."""
    return load_inputs(list(paths), **{k: v for k, v in overrides.items() if v is not None})


def load_recipe_with_overrides(path: str, **overrides: Any) -> Recipe:
    """Load the recipe (or bare book) and apply command-line overrides that were given."""
    return load_recipe(path).with_overrides(**overrides)


def take_change(retake: str | None, restore: str | None, inputs: BatchInputs) -> TakeChange | None:
    """`--retake FILE` / `--restore FILE` as a TakeChange (one book only)."""
    from pathlib import Path

    from pipeline.errors import UserError
    from pipeline.retakes import TakeChange, parse_retakes

    if retake and restore:
        raise UserError("--retake and --restore: give one of them")
    given = retake or restore
    if given is None:
        return None
    if inputs.is_batch:
        raise UserError(f"--{'retake' if retake else 'restore'} names segments of one book: give one recipe")
    return TakeChange(parse_retakes(Path(given)), restore=restore is not None, source=Path(given).name)

