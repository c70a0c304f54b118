"""TEMPORARY stand-in for the catalogue loader (helper's branch replaces it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.recipe import Recipe, load_recipe


@dataclass(frozen=True)
class BookEntry:
    recipe: Recipe
    origin: str


@dataclass(frozen=True)
class BatchInputs:
    books: tuple[BookEntry, ...]
    catalogue: Path | None

    @property
    def is_batch(self) -> bool:
        return len(self.books) > 1 or self.catalogue is not None


def load_inputs(paths: Sequence[str], **overrides: object) -> BatchInputs:
    books = tuple(BookEntry(load_recipe(p).with_overrides(**overrides), p) for p in paths)
    return BatchInputs(books, None)
