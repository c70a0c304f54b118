from __future__ import annotations

from collections import Counter

import pytest

from pipeline.errors import RecipeError
from pipeline.models import Block, Chapter
from pipeline.text.normalize import (
    LexiconEntry,
    NormalizeOptions,
    end_heading,
    is_scene_break_text,
    normalize_chapter,
    normalize_text,
    strip_quote_marks,
)

PLAIN = NormalizeOptions()


def norm(text: str, options: NormalizeOptions = PLAIN) -> tuple[str, Counter[str]]:
    removed: Counter[str] = Counter()
    return normalize_text(text, options, removed), removed


def test_invisible_characters_removed_and_counted() -> None:
    text, removed = norm("co\u00adop\u200bera\u2060tion\ufeff \u200c\u200dok")
    assert text == "cooperation ok"
    assert removed["invisible"] == 6


def test_nfc_composes() -> None:
    text, _ = norm("Cafe\u0301")
    assert text == "Caf\u00e9" and len(text) == 4


def test_arabic_text_and_number_sign_stay() -> None:
    arabic = "قَالَ الرَّجُلُ، هَذَا جَمِيلٌ؟ \u0600١٢"
    text, removed = norm(arabic)
    assert text == arabic
    assert removed["invisible"] == 0


def test_bidi_marks_are_not_heard() -> None:
    text, removed = norm("abc\u200f def\u200e")
    assert text == "abc def" and removed["invisible"] == 2


def test_whitespace_collapsed_nbsp_and_thin_spaces() -> None:
    text, removed = norm("  a\u00a0\u00a0b\u2009c\t\nd  ")
    assert text == "a b c d"
    assert removed["whitespace"] == 6


def test_spaces_beside_cjk_are_dropped() -> None:
    text, removed = norm("彼は行った。　そうか？ Windows 版")
    assert text == "彼は行った。そうか？Windows版"
    assert removed["whitespace"] == 3


def test_keep_lines_keeps_newlines_drops_empty_lines() -> None:
    removed: Counter[str] = Counter()
    text = normalize_text("  Once upon\n\n a  midnight \nweary ", PLAIN, removed, keep_lines=True)
    assert text == "Once upon\na midnight\nweary"


def test_lexicon_whole_word_case_insensitive() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("Dr", "Doctor"),))
    text, removed = norm("dr Watson met Drake and DR Who.", options)
    assert text == "Doctor Watson met Drake and Doctor Who."
    assert removed["lexicon"] == -8


def test_lexicon_case_sensitive_and_cyrillic_boundaries() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("г.", "год", case_sensitive=True), LexiconEntry("кот", "кошка")))
    text, _ = norm("В 1812 г. котёнок и кот.", options)
    assert text == "В 1812 год котёнок и кошка."


def test_lexicon_arabic_boundary_respects_diacritics() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("كتب", "X"),))
    text, _ = norm("كتب كتبَ مكتب", options)
    assert text == "X كتبَ مكتب"


def test_lexicon_cjk_pattern_matches_inside_text() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("東京", "とうきょう"),))
    text, _ = norm("私は東京に行く", options)
    assert text == "私はとうきょうに行く"


def test_lexicon_regex_and_literal_replacement_not_expanded() -> None:
    options = NormalizeOptions(lexicon=(
        LexiconEntry(r"(\d+)%", r"\1 percent", regex=True),
        LexiconEntry("AT&T", r"A T \1 T"),
    ))
    text, _ = norm("50% of AT&T", options)
    assert text == r"50 percent of A T \1 T"


def test_lexicon_deletion_collapses_spaces() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("um", ""),))
    text, removed = norm("well um yes", options)
    assert text == "well yes"
    assert removed["lexicon"] == 2 and removed["whitespace"] == 1


def test_invalid_regex_names_entry() -> None:
    options = NormalizeOptions(lexicon=(LexiconEntry("(unclosed", "x", regex=True),))
    with pytest.raises(RecipeError, match=r"\(unclosed"):
        norm("text", options)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("“Hello,” he said.", "Hello, he said."),
        ("« Bonjour », dit-il.", "Bonjour , dit-il."),
        ("„Guten Tag“, sagte er.", "Guten Tag, sagte er."),
        ("She said ‘don’t go’ twice.", "She said don’t go twice."),
        ("l’homme et l'enfant", "l’homme et l'enfant"),
        ("’Tis the season; rock ’n’ roll", "’Tis the season; rock ’n’ roll"),
        ("'twas brillig", "'twas brillig"),
        ("the Joneses’ house", "the Joneses’ house"),
        ("「おはよう」と言った", "おはようと言った"),
        ('He said "no" twice.', "He said no twice."),
    ],
)
def test_strip_quotes(source: str, expected: str) -> None:
    text, removed = norm(source, NormalizeOptions(strip_quotes=True))
    assert text == expected
    assert removed["strip_quotes"] == len(strip_quote_marks(source)) * 0 + (len(source) - len(strip_quote_marks(source)))


def test_strip_quotes_off_by_default() -> None:
    assert norm("“Hi”")[0] == "“Hi”"


@pytest.mark.parametrize("mark", ["* * *", "***", "⁂", "* * * * *", "~ ~ ~", "—  —  —"])
def test_scene_break_marks(mark: str) -> None:
    assert is_scene_break_text(mark)


@pytest.mark.parametrize("text", ["*", "A * B", "-", "Yes.", "**bold**"])
def test_not_scene_break(text: str) -> None:
    assert not is_scene_break_text(text)


def test_normalize_chapter_blocks_and_counts() -> None:
    chapter = Chapter(
        3,
        "  Chapter\u00ad One ",
        (
            Block("heading", "Chapter\u00ad One"),
            Block("paragraph", "  First  para. "),
            Block("paragraph", "* * *"),
            Block("paragraph", "\u200b \u00a0"),
            Block("scene_break", ""),
            Block("verse", "line one \n\n  line two"),
        ),
        source="x",
    )
    result, removed = normalize_chapter(chapter, PLAIN)
    assert result.index == 3 and result.source == "x"
    assert result.title == "Chapter One"
    assert [(b.kind, b.text) for b in result.blocks] == [
        ("heading", "Chapter One"),
        ("paragraph", "First para."),
        ("scene_break", ""),
        ("scene_break", ""),
        ("verse", "line one\nline two"),
    ]
    assert removed["scene_break_marks"] == 5
    assert removed["invisible"] == 2
    assert removed["whitespace"] == 4 + 2 + 4


@pytest.mark.parametrize(("heading", "spoken"), [
    ("Chapter One", "Chapter One."),
    ("Is it you?", "Is it you?"),
    ("“The End”", "“The End”."),
    ("“The End.”", "“The End.”"),
    ("Part I: (Prologue)", "Part I: (Prologue)."),
    ("第一章", "第一章。"),
    ("الفصل الأول؟", "الفصل الأول؟"),
    ("", ""),
])
def test_end_heading_adds_a_stop_only_when_missing(heading: str, spoken: str) -> None:
    assert end_heading(heading) == spoken
