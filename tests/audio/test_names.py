from __future__ import annotations

import unicodedata

from pipeline.audio.names import book_stem, chapter_stems, safe_component


def test_separators_controls_and_trailing_dots() -> None:
    assert safe_component("a/b\\c:d*e?f\"g<h>i|j") == "a_b_c_d_e_f_g_h_i_j"
    assert safe_component("Line\none\ttwo\x00") == "Line one two"
    assert safe_component("The End. . .  ") == "The End"
    assert safe_component("   ") == "Untitled"
    assert safe_component("..") == "Untitled"


def test_reserved_windows_names() -> None:
    for name in ("CON", "nul", "Com1", "LPT9", "aux.txt"):
        assert safe_component(name).startswith("_")
    assert safe_component("Console") == "Console"


def test_nfc_and_length() -> None:
    decomposed = unicodedata.normalize("NFD", "Café Noël")
    assert safe_component(decomposed) == unicodedata.normalize("NFC", "Café Noël")
    long = safe_component("word " * 60)
    assert len(long) <= 80 and not long.endswith(" ")


def test_chapter_stems_numbered_and_unique() -> None:
    stems = chapter_stems(["Stave One", "Chapter", "chapter", "Chapter", "第一章"])
    assert stems == ["01 - Stave One", "02 - Chapter", "03 - chapter", "04 - Chapter", "05 - 第一章"]
    same = chapter_stems(["X", "X"], [1, 1])
    assert same == ["01 - X", "01 - X-2"]
    assert chapter_stems(["a"] * 3, [1, 2, 100])[2].startswith("100 - ")


def test_book_stem() -> None:
    assert book_stem("A Tale: of Two/Cities") == "A Tale - of Two_Cities"
