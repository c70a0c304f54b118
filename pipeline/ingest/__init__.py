"""Read a book file into a `Book`: EPUB (ebooklib) or Markdown (markdown-it-py)."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import BookError
from pipeline.ingest.options import (
    EPUB_SUFFIXES,
    MARKDOWN_SUFFIXES,
    IngestOptions,
    check_regular_file,
)
from pipeline.models import Book

__all__ = ["EPUB_SUFFIXES", "MARKDOWN_SUFFIXES", "IngestOptions", "check_regular_file", "load_book"]


def load_book(path: str | Path, options: IngestOptions | None = None) -> Book:
    """Read `path` by its extension; any unreadable input raises BookError."""
    options = options or IngestOptions()
    p = Path(path)
    check_regular_file(p)
    suffix = p.suffix.lower()
    if suffix in EPUB_SUFFIXES:
        from pipeline.ingest.epub import read_epub

        return read_epub(p, options)
    if suffix in MARKDOWN_SUFFIXES:
        from pipeline.ingest.markdown import read_markdown

        return read_markdown(p, options)
    raise BookError(f"{p}: unsupported book format {suffix or '(no extension)'}; use .epub or .md")
