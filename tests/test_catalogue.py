"""Batch inputs: recipes, books, directories and catalogues become one validated list."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.catalogue import BatchInputs, load_inputs
from pipeline.errors import BookError, RecipeError
from pipeline.models import Pauses
from pipeline.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
MD = REPO / "samples" / "the-cartographers-daughter.md"
EPUB = REPO / "samples" / "the-salt-road.epub"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(paths: list[str], **overrides: object) -> str:
    with pytest.raises(RecipeError) as info:
        load_inputs(paths, **overrides)
    assert info.value.exit_code == 2
    return str(info.value)


def test_single_recipe_is_what_load_recipe_gives() -> None:
    path = "recipes/the-cartographers-daughter.yaml"
    inputs = load_inputs([str(REPO / path)])
    assert [b.recipe for b in inputs.books] == [load_recipe(REPO / path)]
    assert inputs.catalogue is None and not inputs.is_batch
    assert inputs.books[0].origin == str(REPO / path)
    book = load_inputs([str(MD)])
    assert book.books[0].recipe == load_recipe(MD) and book.books[0].recipe.source is None


def test_single_bad_inputs_fail_as_today(tmp_path: Path) -> None:
    bad = write(tmp_path / "r.yaml", f"book: {MD}\nemotion: hapy\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(bad)
    assert error_of([str(bad)]) == str(info.value)
    with pytest.raises(BookError, match="not found"):  # the same class as load_recipe raises
        load_inputs([str(tmp_path / "missing.md")])


def test_several_recipes_keep_their_order(tmp_path: Path) -> None:
    a = write(tmp_path / "z.yaml", f"book: {MD}\noutput: {{directory: out-z}}\n")
    inputs = load_inputs([str(a), str(REPO / "recipes" / "the-salt-road.yaml"), str(EPUB)])
    assert [b.recipe.book for b in inputs.books] == [MD, EPUB, EPUB]
    assert inputs.is_batch and inputs.catalogue is None
    assert inputs.books[0].recipe.output == tmp_path / "out-z"
    assert inputs.books[2].origin == str(EPUB) and inputs.books[2].recipe.source is None


def test_same_recipe_twice_is_loaded_once(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", f"book: {MD}\n")
    inputs = load_inputs([str(a), str(tmp_path / "." / "a.yaml")])
    assert len(inputs.books) == 1 and not inputs.is_batch


def test_directory_expands_yaml_files_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", f"book: {MD}\noutput: {{directory: out-b}}\n")
    write(tmp_path / "a.yml", f"book: {EPUB}\n")
    write(tmp_path / "notes.txt", "not a recipe\n")
    (tmp_path / "sub.yaml").mkdir()
    inputs = load_inputs([str(tmp_path)])
    assert [b.origin for b in inputs.books] == [str(tmp_path / "a.yml"), str(tmp_path / "b.yaml")]
    assert [b.recipe.book for b in inputs.books] == [EPUB, MD]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert error_of([str(empty)]) == f"{empty}: no recipes (*.yaml, *.yml) in this directory"


def make_series(tmp_path: Path) -> Path:
    """A catalogue with a glob, an inline recipe and defaults, in tmp/series/."""
    root = tmp_path / "series"
    write(root / "shared" / "voices.json", "[]\n")
    write(root / "books" / "own.json", "[]\n")
    write(root / "books" / "one.yaml", f"""\
book: {MD}
title: "One: The Book!"
emotion: happy
pauses: {{sentence: 600}}
lexicon: {{mira: Myra, Port: Porte}}
synthesis: {{rate_limit: 2}}
""")
    write(root / "books" / "two.yaml", f"book: {MD}\nvoices: own.json\noutput: {{directory: solo}}\n")
    return write(root / "catalogue.yaml", f"""\
name: Test series
defaults:
  voice: 7
  emotion: calm
  voices: shared/voices.json
  lexicon:
    - {{match: Ellwood, say: Elwood}}
    - {{match: Mira, say: Meera}}
  pauses: {{sentence: 400, paragraph: 800}}
  synthesis: {{max_open: 3, cache_dir: cache}}
  output: {{directory: "out/{{slug}}", formats: [mp3]}}
books:
  - books/*.yaml
  - book: {EPUB}
    output: {{directory: "out/{{stem}}-x"}}
""")


def test_catalogue_merges_defaults_under_each_book(tmp_path: Path) -> None:
    cat = make_series(tmp_path)
    root = cat.parent
    inputs = load_inputs([str(cat)])
    assert inputs.catalogue == cat and inputs.is_batch
    one, two, inline = (b.recipe for b in inputs.books)
    assert [b.origin for b in inputs.books] == [str(root / "books" / "one.yaml"), str(root / "books" / "two.yaml"),
                                                f"{cat}:14"]
    # a book's own key wins; nested mappings merge key by key
    assert (one.voice, one.emotion, two.emotion) == (7, 1, 8)
    assert one.audio.pauses == Pauses(sentence=600, paragraph=800)
    assert two.audio.pauses == Pauses(sentence=400, paragraph=800)
    assert (one.synthesis.max_open, one.synthesis.rate_limit) == (3, 2.0)
    assert one.audio.formats == ("mp3",) and inline.audio.formats == ("mp3",)
    # lexicon: the book's entries first, then the shared ones it does not redefine
    assert [(e.pattern, e.replacement) for e in one.normalize.lexicon] == [
        ("mira", "Myra"), ("Port", "Porte"), ("Ellwood", "Elwood")]
    assert [e.pattern for e in two.normalize.lexicon] == ["Ellwood", "Mira"]
    # paths in defaults are relative to the catalogue, the recipe's own to the recipe
    assert one.voices == root / "shared" / "voices.json" and two.voices == root / "books" / "own.json"
    assert one.synthesis.cache_dir == root / "cache"
    assert one.output == root / "out" / "one-the-book"
    assert two.output == root / "books" / "solo"
    assert inline.output == root / "out" / "the-salt-road-x" and inline.source == cat
    assert inline.book == EPUB and inline.voice == 7


def test_slug_template_from_title_else_book_name(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", f'book: {MD}\ntitle: "Les Misérables — Part 1"\noutput: {{directory: "o/{{slug}}"}}\n')
    b = write(tmp_path / "b.yaml", f'book: {MD}\noutput: {{directory: "o/{{slug}}/{{stem}}"}}\n')
    books = load_inputs([str(a), str(b)]).books
    assert books[0].recipe.output == tmp_path / "o" / "les-miserables-part-1"
    assert books[1].recipe.output == tmp_path / "o" / "the-cartographers-daughter" / "b"
    c = write(tmp_path / "c.yaml", f'book: {MD}\noutput:\n  directory: "o/{{name}}"\n')
    assert error_of([str(c)]) == "c.yaml:3: output.directory: unknown placeholder {name} (use {slug} or {stem})"


def test_two_books_with_one_output_directory_are_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", f"book: {MD}\noutput: {{directory: out}}\n")
    b = write(tmp_path / "b.yaml", f"book: {EPUB}\noutput: {{directory: ./out}}\n")
    message = error_of([str(a), str(b)])
    assert message == (f"{b}: output directory {tmp_path / 'out'} is also {a}'s; give each book its own "
                       "output.directory (or a template such as out/{slug})")


def test_every_bad_input_is_reported_one_per_line(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", f"book: {MD}\n")
    bad1 = write(tmp_path / "bad1.yaml", f"book: {MD}\n\nmax_chars: many\n")
    bad2 = write(tmp_path / "bad2.yaml", f"book: {MD}\nchapters:\n  - {{index: 1, speed: 1.5}}\n")
    lines = error_of([str(bad1), str(good), str(bad2)]).splitlines()
    assert len(lines) == 2
    assert lines[0] == "bad1.yaml:3: max_chars: expected a whole number, got a string ('many')"
    assert lines[1].startswith("bad2.yaml:3: chapters[0].speed: 1.5 is not a documented speed")


def test_glob_matching_nothing_names_the_catalogue_line(tmp_path: Path) -> None:
    cat = write(tmp_path / "catalogue.yaml", f"books:\n  - {MD}\n  - nope/*.yaml\n")
    assert error_of([str(cat)]) == f"catalogue.yaml:3: books[1]: 'nope/*.yaml' matches no file (relative to {tmp_path})"


def test_defaults_errors_name_the_catalogue_not_the_recipe(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", f"book: {MD}\npauses: {{sentence: 500}}\n")
    cat = write(tmp_path / "catalogue.yaml", "defaults:\n  emotion: calm\n  voicee: 3\nbooks: [r.yaml]\n")
    assert error_of([str(cat)]) == "catalogue.yaml:3: defaults.voicee: unknown key (did you mean 'voice'?)"
    cat.write_text("defaults:\n  emotion: hapy\n  pauses:\n    paragrah: 9\nbooks: [r.yaml, r.yaml]\n", encoding="utf-8")
    assert error_of([str(cat)]) == "catalogue.yaml:2: defaults.emotion: 'hapy' is not one of " + (
        "auto, happy, angry, sad, afraid, disgusted, melancholic, surprised, calm (did you mean 'happy'?)")
    cat.write_text("defaults:\n  pauses:\n    paragrah: 9\nbooks: [r.yaml]\n", encoding="utf-8")
    assert error_of([str(cat)]) == "catalogue.yaml:3: defaults.pauses.paragrah: unknown key (did you mean 'paragraph'?)"


def test_output_override_for_several_books_must_be_a_template(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", f"book: {MD}\n")
    paths = [str(a), str(EPUB)]
    assert error_of(paths, output=tmp_path / "o") == (
        f"-o/--output {tmp_path / 'o'}: 2 books cannot share one output directory; "
        f"give a template such as {tmp_path / 'o' / '{slug}'}")
    books = load_inputs(paths, output=tmp_path / "o" / "{stem}", max_chars=800, cuts=None).books
    assert [b.recipe.output for b in books] == [tmp_path / "o" / "a", tmp_path / "o" / "the-salt-road"]
    assert [b.recipe.max_chars for b in books] == [800, 800]
    single = load_inputs([str(a)], output=tmp_path / "x").books[0].recipe
    assert single == load_recipe(a).with_overrides(output=tmp_path / "x")


def test_the_sample_catalogue_loads() -> None:
    inputs = load_inputs([str(REPO / "recipes" / "catalogue.yaml")])
    md, epub = (b.recipe for b in inputs.books)
    assert (md.book, epub.book) == (MD, EPUB)
    assert md.output == REPO / "out" / "series" / "the-cartographers-daughter"
    assert epub.output == REPO / "out" / "series" / "the-salt-road"
    assert md.emotion == 8 and md.audio.pauses.sentence == 550
    assert epub.audio.pauses.tail == 3000 and epub.audio.pauses.scene == 2200
    assert [e.pattern for e in md.normalize.lexicon] == ["Ellwood", "Aurèle"]
    assert epub.chapters[0].speed == 0.5 and md.synthesis.max_open == 8
    everything = load_inputs([str(REPO / "recipes")])  # the directory: five recipes and the catalogue
    assert isinstance(everything, BatchInputs) and len(everything.books) == 7


def test_catalogue_lists_a_file_once_and_refuses_nested_catalogues(tmp_path: Path) -> None:
    cat = make_series(tmp_path)
    text = cat.read_text(encoding="utf-8").replace("  - books/*.yaml\n", "  - books/*.yaml\n  - books/one.yaml\n")
    cat.write_text(text, encoding="utf-8")
    assert [b.origin.rsplit("/", 1)[-1] for b in load_inputs([str(cat)]).books] == [
        "one.yaml", "two.yaml", "catalogue.yaml:15"]
    outer = write(tmp_path / "outer.yaml", "books: [series/catalogue.yaml]\n")
    assert error_of([str(outer)]) == (f"outer.yaml:1: books[0]: {cat}: is a catalogue; "
                                      "a catalogue lists recipes and books, not catalogues")


def test_unreadable_paths_are_one_line_each_with_the_catalogue_line(tmp_path: Path) -> None:
    (tmp_path / "loop.epub").symlink_to(tmp_path / "loop.epub")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    (tmp_path / "folder.epub").mkdir()
    with pytest.raises(BookError, match="symbolic link loop"):
        load_inputs([str(tmp_path / "loop.epub")])
    with pytest.raises(BookError, match="is a directory, not a book file"):
        load_inputs([str(tmp_path / "folder.epub")])
    assert "cannot read the recipe (a symbolic link loop)" in error_of([str(tmp_path / "loop.yaml")])
    cat = write(tmp_path / "c.yaml", "books:\n  - loop.epub\n  - folder.epub\n")
    lines = error_of([str(cat)]).splitlines()
    assert lines[0].startswith("c.yaml:2: books[0]: ") and lines[0].endswith("(a symbolic link loop)")
    assert lines[1].startswith("c.yaml:3: books[1]: ") and lines[1].endswith("is a directory, not a book file")
