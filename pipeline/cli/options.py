"""Options shared by several commands, as decorators (one definition, one help text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.catalogue import BatchInputs, load_inputs
from pipeline.models import BACKENDS
from pipeline.recipe import Recipe, load_recipe
from pipeline.retakes import TakeChange

if TYPE_CHECKING:
    from pipeline.tts.choice import BackendChoice

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
        "--backend", type=click.Choice(list(BACKENDS)),
        help="audiocleaner (needs a key), local (offline eSpeak NG voice) or piper (offline neural voice, "
        "the neural extra). Default: the recipe's `backend:`, else audiocleaner when a key is set, else local.",
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



def choose_for(inputs: BatchInputs, backend: str | None, api_url: str | None,
               api_key_file: str | None) -> BackendChoice:
    """The backend for these books: --backend, else their recipes' `backend:` (a batch runs
    one engine, so the recipes must agree), with the recipes' one Piper voice."""
    from pipeline.errors import RecipeError
    from pipeline.tts.choice import choose_backend

    named = sorted({b.recipe.backend for b in inputs.books if b.recipe.backend})
    unnamed = any(b.recipe.backend is None for b in inputs.books)
    if backend is None and (len(named) > 1 or (named and unnamed)):
        listed = ", ".join(named + (["none"] if unnamed else []))
        raise RecipeError(f"the books name different backends ({listed}); "
                          "a batch runs one: pass --backend or make their `backend:` agree")
    chosen = backend or (named[0] if named else None)
    pipers = {b.recipe.piper for b in inputs.books}
    if chosen == "piper" and len(pipers) > 1:
        raise RecipeError("the books name different Piper voices (`piper: {model: ...}`); a batch uses one")
    return choose_backend(backend, api_url, api_key_file, recipe_backend=chosen, piper=pipers.pop())
