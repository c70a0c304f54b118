"""What the readers share: the ingest switches, the book suffixes, the file check.

Its own module so the readers (epub.py, markdown.py) never import the package that
imports them (no import cycle).
"""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import BookError


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


def check_regular_file(p: Path) -> None:
    """BookError unless `p` is a regular file (a FIFO would block the read forever)."""
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise BookError(f"{p}: book file not found") from None
    except OSError as exc:
        reason = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise BookError(f"{p}: cannot open the book file ({reason})") from None
    if stat.S_ISDIR(mode):
        raise BookError(f"{p}: is a directory, not a book file")
    if not stat.S_ISREG(mode):
        raise BookError(f"{p}: is not a regular file (a FIFO, socket or device); give the book file itself")
