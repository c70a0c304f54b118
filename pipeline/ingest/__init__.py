"""Read a book file into a `Book`: EPUB (ebooklib) or Markdown (markdown-it-py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import BookError
from pipeline.models import Book


@dataclass(frozen=True)
class IngestOptions:
    """Recipe switches that change what is read (not how it is voiced)."""

    include_matter: bool = False  # keep front/back matter chapters unskipped
    chapter_level: int | None = None  # Markdown: heading level that starts chapters
    code: Literal["skip", "read"] = "skip"  # Markdown code blocks
    tables: Literal["read", "skip"] = "read"  # tables read row by row, or skipped
    image_alt: bool = False  # speak images' alt text


EPUB_SUFFIXES = (".epub",)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".txt")


def load_book(path: str | Path, options: IngestOptions | None = None) -> Book:
    """Read `path` by its extension; any unreadable input raises BookError."""
    options = options or IngestOptions()
    p = Path(path)
    if not p.is_file():
        raise BookError(f"{p}: book file not found")
    suffix = p.suffix.lower()
    if suffix in EPUB_SUFFIXES:
        from pipeline.ingest.epub import read_epub

        return read_epub(p, options)
    if suffix in MARKDOWN_SUFFIXES:
        from pipeline.ingest.markdown import read_markdown

        return read_markdown(p, options)
    raise BookError(f"{p}: unsupported book format {suffix or '(no extension)'}; use .epub or .md")
