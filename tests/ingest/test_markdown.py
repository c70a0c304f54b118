"""Markdown ingest: real files written to tmp_path, the sample book and the corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.errors import BookError
from pipeline.ingest import IngestOptions, load_book
from pipeline.ingest.markdown import read_markdown
from pipeline.models import Block, Book
from tests.conftest import SAMPLES, corpus_file

DEFAULT = IngestOptions()


def read(tmp_path: Path, text: str | bytes, options: IngestOptions = DEFAULT, name: str = "book.md") -> Book:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return read_markdown(path, options)


def spoken(book: Book) -> str:
    return "\n".join(b.text for c in book.chapters for b in c.blocks)


def kinds(book: Book, chapter: int = 0) -> list[str]:
    return [b.kind for b in book.chapters[chapter].blocks]


# --- chapters ------------------------------------------------------------------------


def test_lone_h1_is_the_title_and_h2s_are_chapters(tmp_path: Path) -> None:
    book = read(tmp_path, "# My Book\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n\n### Deeper\n\nMore.\n")
    assert book.meta.title == "My Book"
    assert [c.title for c in book.chapters] == ["One", "Two"]
    assert [c.index for c in book.chapters] == [1, 2]
    assert book.chapters[1].blocks == (
        Block("heading", "Two"), Block("paragraph", "Second."), Block("heading", "Deeper"),
        Block("paragraph", "More."),
    )
    assert [c.source for c in book.chapters] == ["line 3", "line 7"]


def test_chapters_at_h3_when_h2_is_unused(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\n### A\n\ntext a\n\n### B\n\ntext b\n")
    assert [c.title for c in book.chapters] == ["A", "B"]


def test_repeated_h1_are_chapters_and_override_wins(tmp_path: Path) -> None:
    text = "# A\n\na\n\n## A1\n\nx\n\n## A2\n\ny\n\n# B\n\nb\n"
    assert [c.title for c in read(tmp_path, text).chapters] == ["A", "B"]
    over = read(tmp_path, text, IngestOptions(chapter_level=2))
    assert [c.title for c in over.chapters] == ["A", "A1", "A2", "B"]
    assert over.chapters[0].matter == "front"  # "# A" + text before the first h2


def test_front_matter_chapter_kept_only_when_it_has_text(tmp_path: Path) -> None:
    book = read(tmp_path, "# Title\n\nAn introduction.\n\n## One\n\nx\n\n## Two\n\ny\n")
    front = book.chapters[0]
    assert (front.title, front.matter, front.source) == ("Title", "front", "line 1")
    assert Block("paragraph", "An introduction.") in front.blocks
    assert [c.matter for c in book.chapters] == ["front", "body", "body"]
    untitled = read(tmp_path, "Preface text.\n\n## One\n\nx\n\n## Two\n\ny\n")
    assert untitled.chapters[0].title == "Front matter"
    assert untitled.meta.title == "book"  # no front matter, no h1: the file name


def test_setext_headings(tmp_path: Path) -> None:
    book = read(tmp_path, "Book\n====\n\nCapítulo I\n----------\n\nUno.\n\nCapítulo II\n-----------\n\nDos.\n")
    assert book.meta.title == "Book"
    assert [c.title for c in book.chapters] == ["Capítulo I", "Capítulo II"]
    assert book.chapters[1].source == "line 9"


def test_no_headings_is_one_chapter_named_after_the_file(tmp_path: Path) -> None:
    book = read(tmp_path, "Just a story.\n\nWith two paragraphs.\n", name="tale.md")
    assert [(c.title, c.matter) for c in book.chapters] == [("tale", "body")]
    assert kinds(book) == ["paragraph", "paragraph"]


# --- metadata -------------------------------------------------------------------------


def test_yaml_front_matter_is_metadata_and_never_spoken(tmp_path: Path) -> None:
    text = "---\ntitle: Real Title\nauthor: [Ann One, Bob Two]\nlang: fr\n---\n\n# Shown\n\n## A\n\nx\n\n## B\n\ny\n"
    book = read(tmp_path, text)
    assert book.meta.title == "Real Title"
    assert book.meta.authors == ("Ann One", "Bob Two")
    assert book.meta.language == "fr"
    assert "Real Title" not in spoken(book) and "lang" not in spoken(book)
    assert all(b.kind != "scene_break" for c in book.chapters for b in c.blocks)


def test_language_is_none_without_front_matter(tmp_path: Path) -> None:
    assert read(tmp_path, "# T\n\ntext\n").meta.language is None


# --- inline text ----------------------------------------------------------------------


def test_links_images_and_urls_are_not_spoken(tmp_path: Path) -> None:
    text = (
        "# T\n\nSee [the docs](https://example.com/x) and <https://auto.example.org>, "
        "or www.example.com/page. Run `make all` **now** _please_.\n\n"
        "![A red door](door.png)\n\nText ![inline pic](p.png) here.\n"
    )
    book = read(tmp_path, text)
    assert spoken(book) == "T\nSee the docs and , or . Run make all now please.\nText here."
    with_alt = read(tmp_path, text, IngestOptions(image_alt=True))
    assert "A red door" in spoken(with_alt) and "Text inline pic here." in spoken(with_alt)


def test_soft_breaks_are_spaces_and_whitespace_collapses(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\nA hard-wrapped\nline   of\tprose.\n")
    assert book.chapters[0].blocks[1] == Block("paragraph", "A hard-wrapped line of prose.")


def test_hard_breaks_make_verse_when_lines_are_short(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\n> Roses are red,  \n> violets are blue,\\\n> sugar is sweet.\n")
    assert book.chapters[0].blocks[1] == Block("verse", "Roses are red,\nviolets are blue,\nsugar is sweet.")
    long = "word " * 30
    prose = read(tmp_path, f"# T\n\n{long}  \n{long}\n")
    assert prose.chapters[0].blocks[1].kind == "paragraph"
    assert "\n" not in prose.chapters[0].blocks[1].text


def test_soft_wrapped_blockquote_of_short_lines_is_verse(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\n> Urganda la desconocida\n> Si de llegarte a los bue-,\n> libro, fueres con letu-,\n")
    assert book.chapters[0].blocks[1].kind == "verse"
    assert book.chapters[0].blocks[1].text.count("\n") == 2


def test_footnotes_are_kept_out_of_the_flow(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\nA claim.[^1] Another.[^n]\n\n[^1]: The note body.\n[^n]: Second note.\n")
    assert spoken(book) == "T\nA claim. Another."


def test_bracketed_numeric_notes_are_left_as_text(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\nUn mot[1] ici.\n\n    [1] Une note indentée.\n")
    assert "Un mot[1] ici." in spoken(book)


# --- blocks ---------------------------------------------------------------------------


def test_code_is_skipped_unless_read(tmp_path: Path) -> None:
    text = "# T\n\nBefore.\n\n```python\nprint( 'hi' )\nx = 1\n```\n\n    indented code\n\nAfter.\n"
    assert kinds(read(tmp_path, text)) == ["heading", "paragraph", "paragraph"]
    blocks = read(tmp_path, text, IngestOptions(code="read")).chapters[0].blocks
    assert Block("code", "print( 'hi' )\nx = 1") in blocks and Block("code", "indented code") in blocks


def test_tables_read_row_by_row_or_skipped(tmp_path: Path) -> None:
    text = "# T\n\n| Name | Age |\n|---|---|\n| [Ann](http://a.b) | 3 |\n| Bob | *4* |\n"
    assert read(tmp_path, text).chapters[0].blocks[1] == Block("table", "Name, Age\nAnn, 3\nBob, 4")
    assert kinds(read(tmp_path, text + "\nok\n", IngestOptions(tables="skip"))) == ["heading", "paragraph"]


def test_lists_are_one_block_per_list(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\n* one\n* two\n  * nested\n\n1. first\n\n2. second\n")
    assert book.chapters[0].blocks[1:] == (Block("list", "one\ntwo\nnested"), Block("list", "first\nsecond"))


def test_scene_breaks(tmp_path: Path) -> None:
    text = "## A\n\nx\n\n* * *\n\ny\n\n⁂\n\nz\n\n***\n\n---\n\nw\n\n## B\n\n----\n\nv\n\n***\n"
    book = read(tmp_path, text)
    assert kinds(book, 0) == ["heading", "paragraph", "scene_break", "paragraph", "scene_break",
                              "paragraph", "scene_break", "paragraph"]
    assert kinds(book, 1) == ["heading", "paragraph"]  # none at a chapter's start or end
    assert all(b.text == "" for b in book.chapters[0].blocks if b.kind == "scene_break")


def test_html_blocks_keep_paragraph_text(tmp_path: Path) -> None:
    text = (
        "# T\n\n### 第一回\n----\n\n<p>此开卷第一回也。</p>\n<p>列位看官：<a href='x'>你道</a>此书。</p>\n"
        "<!-- a comment -->\n<p align=\"center\">\n  <img src=\"a.png\" alt=\"diagram\">\n  <br/>\n</p>\n\n"
        "<br>\n<hr>\n<br>\n\n### 第二回\n\n<p>雨村<b>听了</b>。</p>\n"
    )
    book = read(tmp_path, text)
    assert book.chapters[0].blocks == (
        Block("heading", "第一回"), Block("paragraph", "此开卷第一回也。"), Block("paragraph", "列位看官：你道此书。"),
    )
    assert book.chapters[1].blocks[1] == Block("paragraph", "雨村听了。")
    alt = read(tmp_path, text, IngestOptions(image_alt=True))
    assert Block("paragraph", "diagram") in alt.chapters[0].blocks


def test_inline_html_tags_are_stripped(tmp_path: Path) -> None:
    book = read(tmp_path, "# T\n\nSome <em>marked</em> text<br>next <span class='x'>line</span>.\n")
    assert book.chapters[0].blocks[1] == Block("verse", "Some marked text\nnext line.")  # <br> = hard break


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\n", "---\ntitle: Only metadata\n---\n", "```\ncode only\n```\n"])
def test_no_text_is_a_book_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(BookError, match="the Markdown file has no text to read"):
        read(tmp_path, text)


def test_title_only_file_has_no_text_but_a_heading(tmp_path: Path) -> None:
    book = read(tmp_path, "# Only a title\n")
    assert book.chapters[0].blocks == (Block("heading", "Only a title"),)


def test_undecodable_bytes_name_file_and_offset(tmp_path: Path) -> None:
    with pytest.raises(BookError, match=r"bad\.md: not valid UTF-8 at byte offset 9"):
        read(tmp_path, "# Títle\n".encode() + b"\xff rest\n", name="bad.md")


def test_latin1_file_is_reported_not_garbled(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="byte offset 3"):
        read(tmp_path, "# Candide, ou l'Optimisme\n".replace("Ca", "Cé").encode("latin-1"))


def test_binary_file_is_a_book_error(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="not a text file"):
        read(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="image.md")


def test_bom_and_crlf_are_handled(tmp_path: Path) -> None:
    book = read(tmp_path, "\ufeff---\r\ntitle: X\r\n---\r\n\r\n## A\r\n\r\nline one\r\nline two\r\n")
    assert book.meta.title == "X"
    assert book.chapters[0].blocks == (Block("heading", "A"), Block("paragraph", "line one line two"))


def test_load_book_dispatches_markdown(tmp_path: Path) -> None:
    path = tmp_path / "story.markdown"
    path.write_text("# S\n\nhello\n", encoding="utf-8")
    book = load_book(path)
    assert book.format == "markdown" and book.source == str(path)


# --- the sample book ------------------------------------------------------------------


def test_sample_book() -> None:
    book = load_book(SAMPLES / "the-cartographers-daughter.md")
    assert book.meta.title == "The Cartographer’s Daughter"
    assert book.meta.language == "en" and book.meta.authors
    titles = [c.title for c in book.chapters]
    assert len(titles) == 4 and all(c.matter == "body" for c in book.chapters)
    assert "Chapter Two: Ink, Salt & the Harbour-Master’s “Favour”" in titles
    text = spoken(book)
    assert 3000 <= len(text) <= 5000
    assert "MAP LEGEND" not in text and "[^1]" not in text and "lost anchor" not in text
    assert "title:" not in text and "*" not in text
    assert "le courant tourne à minuit" in text
    all_kinds = {b.kind for c in book.chapters for b in c.blocks}
    assert {"heading", "paragraph", "verse", "scene_break"} <= all_kinds


# --- the corpus -----------------------------------------------------------------------


def _chars(book: Book) -> int:
    return len(" ".join(b.text.replace("\n", " ") for c in book.chapters for b in c.blocks if b.text))


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "chapters", "rendered"),
    [
        ("anton-chekhov_palata-no-6_ru.md", 18, 102_756),
        ("voltaire_candide_fr.md", 32, 198_414),  # front matter + preface + 30 chapters
        ("eca-de-queiros_a-cidade-e-as-serras_pt.md", 17, 414_796),  # title page + 16
        ("ibn-al-muqaffa_kalila-wa-dimna_ar.md", 20, 231_983),
    ],
)
def test_corpus_prose_books(name: str, chapters: int, rendered: int) -> None:
    book = load_book(corpus_file(name))
    assert len(book.chapters) == chapters
    assert sum(c.matter == "body" for c in book.chapters) in (16, 18, 20, 31)
    assert abs(_chars(book) - rendered) / rendered < 0.02


@pytest.mark.corpus
def test_corpus_don_quijote_setext_and_speed() -> None:
    path = corpus_file("cervantes_don-quijote-primera-parte_es.md")
    book = load_book(path)  # speed: see bench/credits.py (plan time per book)
    body = [c for c in book.chapters if c.matter == "body"]
    assert len(body) == 68
    capitulos = [c.title for c in body if c.title.startswith("Capítulo")]
    assert len(capitulos) == 51 and capitulos[0] == "Capítulo I" and capitulos[-1] == "Capítulo LII"
    assert abs(_chars(book) - 1_016_567) / 1_016_567 < 0.02
    assert sum(b.kind == "verse" for c in book.chapters for b in c.blocks) > 20


@pytest.mark.corpus
def test_corpus_hongloumeng_html_paragraphs() -> None:
    book = load_book(corpus_file("cao-xueqin_hongloumeng-chenggao-hui01-20_zh.md"))
    assert book.meta.title == "红楼梦（程高本）第一回至第二十回"
    assert len(book.chapters) == 20 and all(c.title.startswith("第") for c in book.chapters)
    assert book.chapters[0].blocks[1].text.startswith("此开卷第一回也。")
    assert sum(b.kind == "paragraph" for c in book.chapters for b in c.blocks) >= 526
    assert _chars(book) >= 0.95 * 130_704
    assert "<p>" not in spoken(book)


@pytest.mark.corpus
def test_corpus_pandoc_manual_front_matter_and_code() -> None:
    book = load_book(corpus_file("jgm-pandoc_users-guide_en.md"))
    assert book.meta.title == "Pandoc User's Guide" and book.meta.authors == ("John MacFarlane",)
    assert len(book.chapters) == 23 and book.chapters[0].title == "Synopsis"
    text = spoken(book)
    assert "date: 2026" not in text and "title: Pandoc" not in text
    assert "--from markdown+emoji" not in text  # code examples are skipped
    assert "The point of this rule is to ensure" not in text  # footnote body
    code = load_book(corpus_file("jgm-pandoc_users-guide_en.md"), IngestOptions(code="read"))
    assert _chars(code) > _chars(book) + 20_000


@pytest.mark.corpus
def test_corpus_system_design_primer_speaks_no_urls() -> None:
    book = load_book(corpus_file("donnemartin_system-design-primer_en.md"))
    assert book.meta.title == "The System Design Primer"
    assert sum(c.matter == "body" for c in book.chapters) == 29
    text = spoken(book)
    assert "http" not in text and "](" not in text and "<img" not in text and "images/" not in text
    assert sum(b.kind == "table" for c in book.chapters for b in c.blocks) == 10
    assert abs(_chars(book) - (70_214 - 2_104)) / 70_214 < 0.05  # rendered text minus code
    assert not re.search(r"\s{2,}", text.replace("\n", "|"))


def test_pandoc_grid_table_is_read_as_a_table(tmp_path: Path) -> None:
    text = (
        "# T\n\n+---------+---------+\n| Name    | Role    |\n+=========+=========+\n"
        "| Ann     | *Lead*  |\n| Smith   | singer  |\n+---------+---------+\n| Bob     | bass    |\n"
        "+---------+---------+\n"
    )
    assert read(tmp_path, text).chapters[0].blocks[1] == Block("table", "Name, Role\nAnn Smith, Lead singer\nBob, bass")
    assert kinds(read(tmp_path, text + "\nok\n", IngestOptions(tables="skip"))) == ["heading", "paragraph"]


def test_rules_around_text_at_the_top_are_not_mistaken_for_metadata(tmp_path: Path) -> None:
    book = read(tmp_path, "---\nA poem, not metadata. And more.\n---\n\n## A\n\nx\n\n## B\n\ny\n")
    assert "A poem, not metadata" in spoken(book)


PLAY = """# Act One

*A morning room. Lane is arranging tea.*

ALGERNON. Did you hear what I was playing, Lane?

LANE. I didn't think it polite to listen, sir.

**Algernon.** I am sorry for that, for your sake.

LANE. Yes, sir.

MR. SMITH went out.
"""


def test_markdown_play_layout_marks_speakers(tmp_path: Path) -> None:
    path = tmp_path / "play.md"
    path.write_text(PLAY, encoding="utf-8")
    blocks = load_book(path, IngestOptions()).chapters[0].blocks
    rows = [(b.role, b.speaker, b.text) for b in blocks if b.kind != "heading"]
    assert rows == [
        ("text", None, "A morning room. Lane is arranging tea."),
        ("name", None, "ALGERNON."), ("text", "ALGERNON", "Did you hear what I was playing, Lane?"),
        ("name", None, "LANE."), ("text", "LANE", "I didn't think it polite to listen, sir."),
        ("name", None, "Algernon."), ("text", "Algernon", "I am sorry for that, for your sake."),
        ("name", None, "LANE."), ("text", "LANE", "Yes, sir."),
        ("text", None, "MR. SMITH went out."),
    ]


def test_prose_that_only_looks_like_a_play_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "prose.md"
    text = "# One\n\nNOTE. This is prose.\n\nIt goes on. NOTE. Still prose.\n\nII. A numbered paragraph.\n"
    path.write_text(text, encoding="utf-8")
    blocks = load_book(path, IngestOptions()).chapters[0].blocks
    assert [b.text for b in blocks[1:]] == ["NOTE. This is prose.", "It goes on. NOTE. Still prose.",
                                            "II. A numbered paragraph."]
    assert all(b.speaker is None and b.role == "text" for b in blocks)


LANGS = """# One

She said [bonjour à tous]{lang=fr} and left.

::: {lang=fr}
Le vieux pêcheur regardait la mer depuis le quai.
:::

<div lang="fr">

Un autre paragraphe en français.

</div>

<p lang="de">Ein Absatz auf Deutsch.</p>

[Une phrase entière en français.]{lang=fr}

::: note
An English note in a plain fenced div.
:::
"""


def test_markdown_language_marks_set_the_block_language_and_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "langs.md"
    path.write_text(LANGS, encoding="utf-8")
    blocks = load_book(path, IngestOptions()).chapters[0].blocks
    assert [(b.lang, b.text) for b in blocks[1:]] == [
        (None, "She said"), ("fr", "bonjour à tous"), (None, "and left."),  # a passage of the paragraph
        ("fr", "Le vieux pêcheur regardait la mer depuis le quai."),
        ("fr", "Un autre paragraphe en français."),
        ("de", "Ein Absatz auf Deutsch."),
        ("fr", "Une phrase entière en français."),
        (None, "An English note in a plain fenced div."),
    ]
    assert [b.joined for b in blocks[1:4]] == [False, True, True]


def test_inline_html_spans_with_a_language_are_passages(tmp_path: Path) -> None:
    path = tmp_path / "spans.md"
    path.write_text('# One\n\nHe said <span lang="fr">tout est pour le mieux</span>, and <span>left</span>.\n\n'
                    '## <span lang="fr">Chapitre</span> deux\n\nText.\n', encoding="utf-8")
    chapters = load_book(path, IngestOptions()).chapters
    assert [(b.lang, b.text, b.joined) for b in chapters[0].blocks[1:]] == [
        (None, "He said", False), ("fr", "tout est pour le mieux,", True), (None, "and left.", True)]
    assert chapters[1].title == "Chapitre deux" and chapters[1].blocks[0].text == "Chapitre deux"
