"""Hostile books, written by code into a directory: what an attacker (or a broken tool)
hands `audiobook plan`. Used by tests/ingest/test_hostile_books.py (small sizes) and
bench/hostile_rss.py (`full=True`: the sizes of the reported attacks, e.g. a 1 GiB
zip member, a 20 MB word).

Each `Hostile` names its writer, the exit code `plan` must give and words its one
"Error:" line (or, for exit 0, a "Warning:" line) must contain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.ingest import hostile_epub as E
from tests.ingest import hostile_md as M

Writer = Callable[[Path, bool], Path]


@dataclass(frozen=True)
class Hostile:
    name: str
    write: Writer  # (directory, full) -> the book file
    exit_code: int
    expect: tuple[str, ...]
    bench_only: bool = False  # too slow for the test suite at any size that means anything


ERRORS: tuple[Hostile, ...] = (
    Hostile("zip_bomb_member", E.zip_bomb_member, 2, ("OPS/images/bomb.png", "64 MiB")),
    Hostile("zip_lying_header", E.zip_lying_header, 2, ("liar.epub", "OPS/liar.css")),
    Hostile("zip_total_bomb", E.zip_total_bomb, 2, ("256 MiB", "whole book")),
    Hostile("zip_many_members", E.zip_many_members, 2, ("10,0", "members", "cap")),
    Hostile("zip_truncated", E.zip_truncated, 2, ("truncated.epub", "damaged or truncated")),
    Hostile("zip_crc_error", E.zip_crc_error, 2, ("crc.epub", "damaged", "mimetype")),
    Hostile("zip_password", E.zip_password, 2, ("OPS/c1.xhtml", "password")),
    Hostile("zip_traversal", E.zip_traversal, 2, ("../../evil.txt", "unsafe path")),
    Hostile("not_a_zip", E.not_a_zip, 2, ("random.epub", "not a zip")),
    Hostile("empty_epub", E.empty_epub, 2, ("empty.epub", "empty file")),
    Hostile("no_container", E.no_container, 2, ("container.xml",)),
    Hostile("missing_opf", E.missing_opf, 2, ("gone.opf", "not in the zip")),
    Hostile("broken_opf", E.broken_opf, 2, ("brokenopf.epub: OPS/content.opf", "not well-formed XML")),
    Hostile("spine_missing_file", E.spine_missing_file, 2, ("OPS/ghost.xhtml", "not in the zip")),
    Hostile("empty_spine", E.empty_spine, 2, ("empty spine",)),
    Hostile("no_text", E.no_text, 2, ("no readable text",)),
    Hostile("opf_billion_laughs", E.opf_billion_laughs, 2, ("OPS/content.opf", "ENTITY lol")),
    Hostile("opf_external_entity", E.opf_external_entity, 2, ("OPS/content.opf", "file:///etc/passwd")),
    Hostile("ncx_external_entity", E.ncx_external_entity, 2, ("OPS/toc.ncx", "ENTITY xxe")),
    Hostile("nav_billion_laughs", E.nav_billion_laughs, 2, ("OPS/nav.xhtml", "ENTITY")),
    Hostile("deep_nav", E.deep_nav, 2, ("OPS/nav.xhtml", "nested more than 100 deep")),
    Hostile("deep_ncx", E.deep_ncx, 2, ("OPS/toc.ncx", "nested more than 100 deep")),
    Hostile("deep_blockquotes", E.deep_blockquotes, 2, ("c1.xhtml", "nested more than 100 deep")),
    Hostile("deep_inline", E.deep_inline, 2, ("c1.xhtml", "nested more than 100 deep")),
    Hostile("xhtml_billion_laughs", E.xhtml_billion_laughs, 2, ("c1.xhtml", "ENTITY lol")),
    Hostile("xhtml_external_entity", E.xhtml_external_entity, 2, ("c1.xhtml", "file:///etc/passwd")),
    Hostile("many_elements", E.many_elements, 2, ("c1.xhtml", "500,000 elements")),
    Hostile("md_binary", M.md_binary, 2, ("binary.md", "not a text file")),
    Hostile("md_not_utf8", M.md_not_utf8, 2, ("latin1.md", "UTF-8")),
    Hostile("md_empty", M.md_empty, 2, ("empty.md", "no text")),
    Hostile("md_whitespace", M.md_whitespace, 2, ("blank.md", "no text")),
    Hostile("md_too_large", M.md_too_large, 2, ("huge.md", "64 MiB")),
    Hostile("md_deep_blockquotes", M.md_deep_blockquotes, 2, ("quotes.md: line 3", "nested more than 100")),
    Hostile("md_deep_lists", M.md_deep_lists, 2, ("lists.md: line 52", "nested more than 100")),
    Hostile("md_deep_html", M.md_deep_html, 2, ("html.md: line 3", "nested more than 100 deep")),
    Hostile("md_token_bomb", M.md_token_bomb, 2, ("paragraphs.md", "200,000 paragraphs")),
    Hostile("not_a_file", M.not_a_file, 2, ("folder.epub", "is a directory, not a book file")),
    Hostile("fifo", M.fifo, 2, ("pipe.md", "not a regular file")),
    Hostile("symlink_loop", M.symlink_loop, 2, ("loop.epub", "symbolic link loop")),
    Hostile("wrong_extension", M.wrong_extension, 2, ("book.pdf",)),
    Hostile("epub_over_text_cap", E.epub_over_text_cap, 2, ("longtext.epub", "40,000,000 characters"), bench_only=True),
    Hostile("md_prose_over_cap", M.md_prose_over_cap, 2, ("tooLong.md", "40,000,000 characters"), bench_only=True),
)

# Books that must be read (exit 0) with a warning that says what happened.
WARNINGS: tuple[Hostile, ...] = (
    Hostile("cover_bomb", E.cover_bomb, 0, ("OPS/cover.png", "megapixel cap", "title card")),
    Hostile("cover_garbage", E.cover_garbage, 0, ("OPS/cover.png", "not a readable image", "title card")),
    Hostile("md_yaml_bomb", M.md_yaml_bomb, 0, ()),
    Hostile("md_yaml_deep", M.md_yaml_deep, 0, ()),
    Hostile("md_one_word", M.md_one_word, 0, ("chapter 1:", "-character run without spaces", "max_chars 500",
                                           "cut between characters")),
    Hostile("md_one_sentence", M.md_one_sentence, 0, ()),
    Hostile("zip_heavy_images", E.zip_heavy_images, 0, ()),
    Hostile("epub_huge_toc", E.epub_huge_toc, 0, ()),
    Hostile("md_prose_near_cap", M.md_prose_near_cap, 0, (), bench_only=True),
    Hostile("md_prose_one_chapter", M.md_prose_one_chapter, 0, (), bench_only=True),
)

ALL: tuple[Hostile, ...] = ERRORS + WARNINGS
