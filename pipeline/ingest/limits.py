"""Caps on what a book file may make us hold in memory, each with the reason for its value.

A book is untrusted input: a 1 MB zip can inflate to gigabytes, 10,000 nested
elements exhaust Python's stack, a 1 MB Markdown file of empty paragraphs becomes
half a gigabyte of parser tokens. Every cap below is far above what real books need
(measured on ../shared/corpus, see the numbers) and low enough that `audiobook plan`
stays under ~500 MB of memory on any input. Exceeding one is a `BookError` naming
the cap, never a crash and never silently dropped text.
"""

from __future__ import annotations

MIB = 1024 * 1024

# --- EPUB zip -------------------------------------------------------------------------
# Corpus: at most 402 members (War and Peace), largest member 1.1 MB (an SVG cover),
# largest total 3.9 MB inflated. Illustrated EPUBs from other sources reach ~100-200 MB.
MAX_ZIP_MEMBERS = 10_000
MAX_MEMBER_BYTES = 64 * MIB  # inflated, per member (checked by streaming, headers can lie)
MAX_ZIP_BYTES = 256 * MIB  # inflated, all members: room for a heavily illustrated book
INFLATE_CHUNK = 1 * MIB  # the streaming check never holds more than this at once

# --- XML / XHTML documents ----------------------------------------------------------------
# Corpus XHTML nests at most ~12 elements deep; the EPUB walker recurses about three
# Python frames per level, so 100 levels stay far below the interpreter's 1,000.
MAX_XML_DEPTH = 100
# Elements per document: the corpus' largest has ~6,000; libxml2 spends ~120 bytes per
# element, so 500,000 is at most ~60 MB of tree, checked while parsing (before the rest).
MAX_XML_ELEMENTS = 500_000

# --- Markdown ------------------------------------------------------------------------------
# Corpus: largest file 1.0 MB (Don Quijote); the longest novels are under 10 MB of text.
MAX_MARKDOWN_BYTES = 64 * MIB
# markdown-it's nesting limit (one level per blockquote, two per list). Its commonmark
# preset uses 20, which silently drops text in a list nested 10 deep; 100 (its
# "default" preset) costs at most ~320 Python frames (measured: nested links, the
# worst construct, take ~3 frames per level), leaving the rest of the stack to us.
MARKDOWN_MAX_NESTING = 100
# Markdown is parsed in pieces holding at most this many characters that can start a
# token (newlines, `*`, `[`, `<`...; see md_chunks): ~2 tokens each at ~370 bytes, so
# one piece's tokens stay under ~50 MB. Real books have ~2% of them: a 3 MB book is
# still parsed whole.
MARKDOWN_CHUNK_RISKY = 64 * 1024
# Pandoc grid tables inside grid-table cells: each level re-parses the cell's Markdown.
MAX_GRID_NESTING = 4

# --- the whole book ---------------------------------------------------------------------------
# Text kept from a book (War and Peace: 3.2 M characters, 12,000 paragraphs).
MAX_BOOK_CHARS = 40_000_000
MAX_BOOK_BLOCKS = 200_000
# (The text stages have their own caps: sentences per chapter in text/sentences.py,
# candidate cuts per chapter in text/cuts.py.)


def mib(n: int) -> str:
    """A byte count as the caps are stated: "64 MiB"."""
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n / MIB:.1f} MiB"
