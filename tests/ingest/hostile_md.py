"""Hostile Markdown books and file-system oddities for tests/ingest/hostile.py."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.ingest.hostile_epub import MIB, _prose

# --- Markdown -------------------------------------------------------------------------------


def _md(d: Path, name: str, text: str) -> Path:
    path = d / name
    path.write_text(text, encoding="utf-8")
    return path


def md_binary(d: Path, full: bool) -> Path:
    path = d / "binary.md"
    path.write_bytes(random.Random(2).randbytes(4096) + b"\x00")
    return path


def md_not_utf8(d: Path, full: bool) -> Path:
    path = d / "latin1.md"
    path.write_bytes("# Título\n\nCanción de año.\n".encode("latin-1"))
    return path


def md_empty(d: Path, full: bool) -> Path:
    return _md(d, "empty.md", "")


def md_whitespace(d: Path, full: bool) -> Path:
    return _md(d, "blank.md", "\n\n   \n\t\n" * 1000)


def md_too_large(d: Path, full: bool) -> Path:
    path = d / "huge.md"
    with path.open("wb") as f:  # sparse: takes no disk
        f.truncate(64 * MIB + 1)
    return path


def md_deep_blockquotes(d: Path, full: bool) -> Path:
    return _md(d, "quotes.md", "# T\n\n" + "> " * 5000 + "deep text\n")


def md_deep_lists(d: Path, full: bool) -> Path:
    return _md(d, "lists.md", "# T\n\n" + "".join("  " * i + f"- item {i}\n" for i in range(200)))


def md_deep_html(d: Path, full: bool) -> Path:
    return _md(d, "html.md", "# T\n\n" + "<div>" * 10_000 + "deep" + "</div>" * 10_000 + "\n")


def md_yaml_bomb(d: Path, full: bool) -> Path:
    """Front matter with YAML aliases nested 9 deep: 10^9 strings if stringified."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return _md(d, "yaml.md", "---\n" + "\n".join(lines) + "\ntitle: *a8\nauthor: *a8\n---\n\n# One\n\nText.\n")


def md_yaml_deep(d: Path, full: bool) -> Path:
    return _md(d, "yamldeep.md", "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n\nText.\n")


def md_token_bomb(d: Path, full: bool) -> Path:
    """Empty-ish paragraphs: one parser token per 3 bytes (1 MB took 520 MB before)."""
    return _md(d, "paragraphs.md", "a\n\n" * (300_000 if not full else 2_000_000))


def md_one_word(d: Path, full: bool) -> Path:
    """One 20,000,000-character word (tests: 2,000,000): cut at characters, with a warning."""
    return _md(d, "word.md", "a" * (20_000_000 if full else 2_000_000))


def md_one_sentence(d: Path, full: bool) -> Path:
    """One sentence of 10,000,000 words (tests: 100,000)."""
    return _md(d, "sentence.md", "a " * (10_000_000 if full else 100_000))


def md_prose_near_cap(d: Path, full: bool) -> Path:
    """38 MB of prose in chapters: a (very) long real book; must plan under 500 MB."""
    return _md(d, "prose.md", _prose(38_000_000 if full else 1_000_000, 300))


def md_prose_one_chapter(d: Path, full: bool) -> Path:
    """15 MB of prose without a heading: one chapter (~210,000 sentences) segmented whole."""
    return _md(d, "onechapter.md", _prose(15_000_000 if full else 500_000, None))


def md_prose_over_cap(d: Path, full: bool) -> Path:
    return _md(d, "tooLong.md", _prose(45_000_000, 300))


def not_a_file(d: Path, full: bool) -> Path:
    path = d / "folder.epub"
    path.mkdir()
    return path


def fifo(d: Path, full: bool) -> Path:
    path = d / "pipe.md"
    os.mkfifo(path)
    return path


def symlink_loop(d: Path, full: bool) -> Path:
    path = d / "loop.epub"
    path.symlink_to(path.name)
    return path


def wrong_extension(d: Path, full: bool) -> Path:
    path = d / "book.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    return path
