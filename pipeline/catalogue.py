"""Batch inputs: recipes, books, directories and catalogues → one validated list of recipes.

A batch must not start until every book in it is valid, so all is expanded and parsed
first and every problem reported at once (one per line, file:line: key). A catalogue is a
YAML file with `books:` (recipe or book paths, globs, inline recipes) and `defaults:`
(recipe keys shared by the series), merged *under* each of its books:
- a book's own key wins; `pauses`, `output`, `synthesis`, `markdown` merge key by key;
  other values (`chapters` too) are replaced whole;
- `lexicon` is combined: the book's entries first, then the shared entries it does not
  redefine (same `match` ignoring case, or same `regex`). Entries apply in order, each to
  the text the earlier ones left, so the book's own (often more specific) phrases must
  come first for "the book wins" to hold;
- relative paths in defaults (`voices`, `output.directory`, `synthesis.cache_dir`, `piper.model`) are
  relative to the catalogue, a recipe's own paths to the recipe.
`output.directory` (and an `output=` override) may hold `{slug}` (a filesystem-safe lowercase
form of `title:`, else of the book's file name) and `{stem}` (the recipe file's name, or the
book's for a bare or inline book). A file listed twice in one context (the command line, or
one catalogue) is loaded once, silently; two books sharing an output directory is an error.
"""

from __future__ import annotations

import glob
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import BookError, RecipeError, UserError
from pipeline.ingest import EPUB_SUFFIXES, MARKDOWN_SUFFIXES, check_regular_file
from pipeline.recipe import TOP_KEYS, Recipe, load_recipe, parse_lexicon, parse_recipe
from pipeline.text.normalize import LexiconEntry
from pipeline.yamlsrc import LineDict, Where, at, get_list, get_str, load_yaml, mapping, type_name

CATALOGUE_KEYS = ("books", "defaults", "name")
DEFAULT_KEYS = tuple(k for k in TOP_KEYS if k != "book")
MERGED_KEYS = ("pauses", "output", "synthesis", "markdown")
PLACEHOLDERS = ("slug", "stem")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class BookEntry:
    recipe: Recipe
    origin: str  # for messages and tables: "recipes/a.yaml", "book.md", or "catalogue.yaml:12" (inline)


@dataclass(frozen=True)
class BatchInputs:
    books: tuple[BookEntry, ...]
    catalogue: Path | None  # the first catalogue given (the batch report goes next to it)

    @property
    def is_batch(self) -> bool:
        """More than one book, or a catalogue: the commands then report per book."""
        return len(self.books) > 1 or self.catalogue is not None


def load_inputs(paths: Sequence[str], **overrides: object) -> BatchInputs:
    """Expand and validate every input; raise RecipeError listing every problem (one per line).

    A single error is raised as it is (so one plain recipe behaves exactly as load_recipe);
    `overrides` are Recipe.with_overrides' (max_chars, cuts, output) applied to every book.
    """
    loader = _Loader()
    for given in paths:
        loader.attempt(loader.add_path, given)
    if not paths:
        loader.errors.append(RecipeError("give at least one recipe, book, directory or catalogue"))
    books = _apply_overrides(loader, {k: v for k, v in overrides.items() if v is not None})
    _check_output_dirs(loader, books)
    messages = list(dict.fromkeys(e.message for e in loader.errors))
    if len(messages) == 1:
        raise loader.errors[0]
    if messages:
        raise RecipeError("\n".join(messages))
    return BatchInputs(tuple(BookEntry(b.recipe, b.origin) for b in books), loader.catalogue)


def _real(path: Path) -> Path:
    """The path with symlinks resolved; a symlink loop stays as given (reading it reports the loop)."""
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class _Catalogue:
    file: Path
    shown: str  # the path as the user gave it, for origins
    defaults: LineDict | None  # validated, its paths already absolute


@dataclass(frozen=True)
class _Loaded:
    recipe: Recipe
    origin: str
    stem: str


@dataclass
class _Loader:
    books: list[_Loaded] = field(default_factory=list)
    errors: list[UserError] = field(default_factory=list)
    seen: set[tuple[Path, Path | None]] = field(default_factory=set)
    catalogue: Path | None = None

    def attempt(self, step: Callable[..., None], *args: Any) -> None:
        """Run one step; its error is kept and the other inputs are still checked."""
        try:
            step(*args)
        except (RecipeError, BookError) as exc:
            self.errors.append(exc)

    def add(self, recipe: Recipe, origin: str, stem: str) -> None:
        self.books.append(_Loaded(recipe, origin, stem))

    def first_time(self, file: Path, cat: _Catalogue | None) -> bool:
        key = (_real(file), cat.file if cat else None)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def add_path(self, given: str) -> None:
        p = Path(given).expanduser()
        if p.is_dir() and p.suffix.lower() not in EPUB_SUFFIXES + MARKDOWN_SUFFIXES:
            try:
                found = sorted(f for f in p.iterdir() if f.suffix.lower() in YAML_SUFFIXES and not f.is_dir())
            except OSError as exc:
                raise RecipeError(f"{given}: cannot list the directory ({exc.strerror})") from None
            if not found:
                raise RecipeError(f"{given}: no recipes (*.yaml, *.yml) in this directory")
            for f in found:
                self.attempt(self.add_path, str(f))
        elif p.suffix.lower() in YAML_SUFFIXES:
            data = load_yaml(p)
            if isinstance(data, dict) and "books" in data:
                self.add_catalogue(p, given, data)
            elif self.first_time(p, None):
                self.add(_build(data, Where(p, "", 1), p.stem, None), given, p.stem)
        elif self.first_time(p, None):
            self.add(load_recipe(p), given, p.stem)

    def add_catalogue(self, path: Path, shown: str, data: Any) -> None:
        where = Where(path, "", 1)
        top = mapping(data, where, CATALOGUE_KEYS)
        if "name" in top:
            get_str(top["name"], at(top, "name", where))
        defaults = _parse_defaults(top, where) if "defaults" in top else None
        cat = _Catalogue(path.resolve(), shown, defaults)
        self.catalogue = self.catalogue or cat.file
        bw = at(top, "books", where)
        books = get_list(top["books"], bw)
        if not books:
            raise bw.error("list at least one book (a recipe or book path, a glob, or a recipe mapping)")
        for i, item in enumerate(books):
            w = bw.child(i, books.item_lines[i])
            if isinstance(item, str):
                self.attempt(self.add_listed, item, w, cat)
            elif isinstance(item, dict):
                self.attempt(self.add_inline, item, w, cat)
            else:
                self.errors.append(w.error(f"expected a path, a glob or a recipe mapping, got {type_name(item)}"))

    def add_listed(self, text: str, where: Where, cat: _Catalogue) -> None:
        """A path or glob, relative to the catalogue; a glob matching nothing is a mistake."""
        base, shown_dir = cat.file.parent, Path(cat.shown).parent
        pattern = str(Path(text).expanduser())
        if glob.has_magic(pattern):
            found = [m for m in sorted(glob.glob(pattern, root_dir=base)) if _real(base / m) != cat.file]
            if not found:
                raise where.error(f"'{text}' matches no file (relative to {base})")
        else:
            found = [pattern]
        for m in found:
            self.attempt(self.add_listed_file, base / m, str(shown_dir / m), where, cat)

    def add_listed_file(self, path: Path, shown: str, where: Where, cat: _Catalogue) -> None:
        suffix = path.suffix.lower()
        if path.is_dir() and suffix not in EPUB_SUFFIXES + MARKDOWN_SUFFIXES:
            raise where.error(f"{path}: is a directory; list its recipes with a glob such as {shown}/*.yaml")
        if not path.exists() and not path.is_symlink():
            raise where.error(f"file not found: {path}")
        if suffix in YAML_SUFFIXES:
            data = load_yaml(path)
            if isinstance(data, dict) and "books" in data:
                raise where.error(f"{path}: is a catalogue; a catalogue lists recipes and books, not catalogues")
            if self.first_time(path, cat):
                self.add(_build(data, Where(path, "", 1), path.stem, cat.defaults), shown, path.stem)
        elif suffix not in EPUB_SUFFIXES + MARKDOWN_SUFFIXES:
            raise where.error(f"{path}: expected a recipe (.yaml) or a book (.epub, .md)")
        else:
            self.add_listed_book(path, shown, where, cat)

    def add_listed_book(self, path: Path, shown: str, where: Where, cat: _Catalogue) -> None:
        try:
            check_regular_file(path)
        except BookError as exc:
            raise where.error(str(exc)) from None
        if self.first_time(path, cat):
            bare = LineDict(book=str(path))
            bare.line, bare.key_lines = where.line, {"book": where.line}
            recipe = _build(bare, where, path.stem, cat.defaults) if cat.defaults else load_recipe(path)
            self.add(recipe, shown, path.stem)

    def add_inline(self, item: dict[str, Any], where: Where, cat: _Catalogue) -> None:
        book = item.get("book")
        stem = Path(book).stem if isinstance(book, str) and book.strip() else "book"
        self.add(_build(item, where, stem, cat.defaults), f"{cat.shown}:{where.line}", stem)


def _parse_defaults(top: LineDict, where: Where) -> LineDict:
    """Check the defaults' keys (naming the catalogue's lines) and make their paths absolute,
    so that they resolve against the catalogue, not against each recipe."""
    dw, raw = at(top, "defaults", where), top["defaults"]
    if isinstance(raw, LineDict) and "book" in raw:
        raise dw.child("book", raw.key_lines["book"]).error("defaults cannot name a book; list books under `books:`")
    defaults = _copy(mapping(top["defaults"], dw, DEFAULT_KEYS))
    base = where.file.resolve().parent
    if isinstance(defaults.get("voices"), str):
        defaults["voices"] = str(base / Path(defaults["voices"]).expanduser())
    for key, sub in (("output", "directory"), ("synthesis", "cache_dir"), ("piper", "model")):
        if isinstance(defaults.get(key), LineDict) and isinstance(defaults[key].get(sub), str):
            defaults[key] = _copy(defaults[key])
            defaults[key][sub] = str(base / Path(defaults[key][sub]).expanduser())
    defaults.key_origins = {k: (where.file, "defaults") for k in defaults}
    return defaults


def _build(data: Any, where: Where, stem: str, defaults: LineDict | None) -> Recipe:
    """One recipe: its own keys over the defaults, the output template filled in, then parsed."""
    if data is None:
        raise where.error("the recipe is empty; it needs at least `book:`")
    top = mapping(data, where, TOP_KEYS)
    if defaults is not None:
        top = _merge(top, defaults)
    top = _fill_output_template(top, where, stem)
    recipe = parse_recipe(top, where)
    if defaults is not None and "lexicon" in defaults:
        shared = parse_lexicon(defaults["lexicon"], at(defaults, "lexicon", where))  # names the catalogue
        lexicon = _combine_lexicons(recipe.normalize.lexicon, shared)
        recipe = replace(recipe, normalize=replace(recipe.normalize, lexicon=lexicon))
    return recipe


def _merge(top: LineDict, defaults: LineDict) -> LineDict:
    """The book's keys over the defaults' (lexicon is combined after parsing, not here)."""
    merged = _copy(top)
    for key, value in defaults.items():
        file, path = _origins(defaults)[key]
        if key != "lexicon" and key not in top:
            _take(merged, key, defaults, (file, path))
        elif key in MERGED_KEYS and isinstance(value, LineDict) and isinstance(top[key], LineDict):
            merged[key] = inner = _copy(top[key])
            for k in value:
                if k not in inner:
                    _take(inner, k, value, (file, f"{path}.{key}"))
    return merged


def _take(into: LineDict, key: str, source: LineDict, origin: tuple[Path, str]) -> None:
    """Copy `source[key]` into `into`, remembering where it was written."""
    into[key], into.key_lines[key] = source[key], source.key_lines[key]
    _origins(into)[key] = origin


def _fill_output_template(top: LineDict, where: Where, stem: str) -> LineDict:
    """Fill `{slug}`/`{stem}` in output.directory; an unknown placeholder is an error."""
    out = top.get("output")
    if not isinstance(out, LineDict) or not isinstance(out.get("directory"), str):
        return top
    text = out["directory"]
    if not _PLACEHOLDER.search(text):
        return top
    title, book = top.get("title"), top.get("book")
    book_stem = Path(book).stem if isinstance(book, str) else stem
    filled = _fill(text, at(out, "directory", at(top, "output", where)).error,
                   _slug(title if isinstance(title, str) else None, book_stem), stem)
    new_out, new_top = _copy(out), _copy(top)
    new_out["directory"], new_top["output"] = filled, new_out
    return new_top


def _fill(text: str, error: Callable[[str], RecipeError], slug: str, stem: str) -> str:
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            raise error(f"unknown placeholder {{{name}}} (use {{slug}} or {{stem}})")
    values = {"slug": slug, "stem": stem}
    return _PLACEHOLDER.sub(lambda m: values[m[1]], text)


def _slug(title: str | None, book_stem: str) -> str:
    """A lowercase name safe in any file system: letters and digits joined by '-'."""
    for text in (title, book_stem):
        if text:
            plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
            slug = re.sub(r"[\W_]+", "-", plain.casefold()).strip("-")[:80].strip("-")
            if slug:
                return slug
    return "book"


def _combine_lexicons(own: tuple[LexiconEntry, ...], shared: tuple[LexiconEntry, ...]) -> tuple[LexiconEntry, ...]:
    """The book's entries, then the shared ones the book does not redefine (see the module doc)."""
    def key(e: LexiconEntry) -> tuple[bool, str]:
        return (e.regex, e.pattern if e.regex else e.pattern.casefold())

    mine = {key(e) for e in own}
    return own + tuple(e for e in shared if key(e) not in mine)


def _apply_overrides(loader: _Loader, overrides: dict[str, object]) -> list[_Loaded]:
    """Command-line overrides on every book; one `output` for several books must be a template."""
    output = overrides.get("output")
    text = str(output) if output is not None else ""
    templated = bool(_PLACEHOLDER.search(text))
    if output is not None and not templated and len(loader.books) > 1:
        loader.errors.append(RecipeError(
            f"-o/--output {text}: {len(loader.books)} books cannot share one output directory; "
            f"give a template such as {Path(text) / '{slug}'}"))
        return []
    result = []
    for book in loader.books:
        changes = dict(overrides, **({"output": Path(text)} if output is not None else {}))
        try:
            if templated:
                filled = _fill(text, lambda m: RecipeError(f"-o/--output {text}: {m}"),
                               _slug(book.recipe.title, book.recipe.book.stem), book.stem)
                changes["output"] = Path(filled)
            result.append(replace(book, recipe=book.recipe.with_overrides(**changes)))
        except RecipeError as exc:
            loader.errors.append(exc)
    return result


def _check_output_dirs(loader: _Loader, books: list[_Loaded]) -> None:
    """Two books writing one directory would take it from each other: refuse before any work."""
    owners: dict[Path, str] = {}
    for book in books:
        directory = book.recipe.output_dir.resolve()
        if directory in owners:
            loader.errors.append(RecipeError(
                f"{book.origin}: output directory {directory} is also {owners[directory]}'s; give each book "
                "its own output.directory (or a template such as out/{slug})"))
        else:
            owners[directory] = book.origin


def _copy(d: LineDict) -> LineDict:
    result = LineDict(d)
    result.line, result.key_lines, result.key_origins = d.line, dict(d.key_lines), dict(d.key_origins or {})
    return result


def _origins(d: LineDict) -> dict[str, tuple[Path, str]]:
    if d.key_origins is None:
        d.key_origins = {}
    return d.key_origins
