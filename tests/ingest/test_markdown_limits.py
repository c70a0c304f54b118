"""Markdown limits: nesting (read deep text or refuse it, never drop it), parsing in
pieces (same result as whole), front matter that is not plain metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.errors import BookError
from pipeline.ingest import IngestOptions, limits
from pipeline.ingest import markdown as md_mod
from pipeline.ingest.markdown import read_markdown
from pipeline.ingest.md_chunks import chunks, make_parser
from pipeline.models import Book


def read(tmp_path: Path, text: str, name: str = "book.md") -> Book:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_markdown(path, IngestOptions())


def spoken(book: Book) -> list[str]:
    return [b.text for c in book.chapters for b in c.blocks]


def test_blockquote_30_deep_is_read(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\n" + "> " * 30 + "Thirty levels down.\n")
    assert "Thirty levels down." in spoken(book)


def test_lists_15_deep_are_read_item_by_item(tmp_path: Path) -> None:
    text = "# T\n\n" + "".join("  " * i + f"- item {i}\n" for i in range(15))
    assert spoken(read(tmp_path, text))[-1].split("\n") == [f"item {i}" for i in range(15)]


@pytest.mark.parametrize("text,line", [
    ("# T\n\nIntro.\n\n" + "> " * 5000 + "lost?\n", 5),
    ("# T\n\n" + "".join("  " * i + f"- item {i}\n" for i in range(60)), 52),
    ("# T\n\n" + "> - " * 60 + "mixed\n", 3),
])
def test_nesting_past_the_cap_is_a_clear_error_naming_the_line(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(BookError) as info:
        read(tmp_path, text, "deep.md")
    assert info.value.message.startswith(f"{tmp_path / 'deep.md'}: line {line}: blockquotes or lists nested more than")


def _depth() -> int:
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


@pytest.mark.parametrize("text", [
    "> " * (limits.MARKDOWN_MAX_NESTING - 1) + "quote",
    "".join("  " * i + "- x\n" for i in range(limits.MARKDOWN_MAX_NESTING // 2 - 1)),
    "[" * limits.MARKDOWN_MAX_NESTING + "x" + "]" * limits.MARKDOWN_MAX_NESTING,
    "![" * limits.MARKDOWN_MAX_NESTING + "x" + "](u)" * limits.MARKDOWN_MAX_NESTING,
    "".join("    " * i + f"[^{i}]: note\n" for i in range(limits.MARKDOWN_MAX_NESTING - 1)),
])
def test_the_nesting_cap_fits_in_400_frames(text: str) -> None:
    """The deepest input markdown-it accepts, parsed with only 400 frames to spare:
    the rest of Python's 1,000 is left to our callers (CLI, pytest)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + 400)
    try:
        tokens = make_parser().parse(text, {})
    finally:
        sys.setrecursionlimit(old)
    assert tokens


DOC = """---
title: Pieces
---

# Pieces

A [linked][later] word and a note[^n] and <https://example.com>.

```
code with a blank line

# not a heading
```

<!-- a comment

with a blank line -->

Term

:   Its definition.

- loose item one

- loose item two

| a | b |
|---|---|
| 1 | 2 |

## Second

Text *with* emphasis.

    indented code

[later]: https://example.com/later
[^n]: The note body, never read in the flow.
"""


def test_parsing_in_pieces_reads_exactly_what_parsing_whole_reads(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC * 30
    whole = read(tmp_path, text)
    assert len(chunks(text, 5)) > 30
    monkeypatch.setattr(md_mod, "MARKDOWN_CHUNK_RISKY", 5)
    pieces = read(tmp_path, text)
    assert pieces == whole
    assert "A linked word and a note and ." in spoken(pieces)
    assert not any("note body" in t or "not a heading" in t or "comment" in t for t in spoken(pieces))


def test_pieces_cover_the_text_and_never_start_inside_a_fence() -> None:
    text = ("para\n\n```\n\nfenced\n\n```\n\n" * 50) + "<pre>\n\nkept\n\n</pre>\n\nend\n"
    spans = chunks(text, 3)
    assert "".join(text[a:b] for _, a, b in spans) == text and len(spans) > 10
    for _, start, _end in spans:
        assert text.count("```", 0, start) % 2 == 0
        assert text.count("<pre>", 0, start) == text.count("</pre>", 0, start)


def test_front_matter_keeps_only_scalars(tmp_path: Path) -> None:
    from tests.ingest.hostile_md import md_yaml_bomb

    book = read_markdown(md_yaml_bomb(tmp_path, False), IngestOptions())
    assert book.meta.title == "One" and book.meta.authors == ()  # the aliases were not stringified
    assert read(tmp_path, "---\ntitle: 1984\nauthor: [{name: Ann}, 7, [x]]\n---\n\nText.\n").meta.authors == ("Ann", "7")


def test_front_matter_over_one_mib_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="front matter is larger than 1 MiB"):
        read(tmp_path, "---\nnotes: " + "x" * (1024 * 1024) + "\n---\n\nText.\n")


def test_grid_tables_nested_too_deep_are_refused(tmp_path: Path) -> None:
    table = "nested"
    for _ in range(limits.MAX_GRID_NESTING + 1):
        rows = table.split("\n")
        width = max(len(r) for r in rows) + 2
        border = "+" + "-" * width + "+"
        table = "\n".join([border] + [f"| {r.ljust(width - 2)} |" for r in rows] + [border])
    with pytest.raises(BookError, match=r"line 3: pandoc grid tables nested more than 4 deep"):
        read(tmp_path, "# T\n\n" + table + "\n")
    one = "+----+\n| ok |\n+----+\n"
    assert "ok" in spoken(read(tmp_path, "# T\n\n" + one))
