"""The text stage on real books: lossless, within the credit targets, fast."""

from __future__ import annotations

import pytest

from pipeline.ingest import load_book
from pipeline.models import Boundary, joiner_for
from pipeline.text.normalize import NormalizeOptions, normalize_chapter
from pipeline.text.segment import credits_for, join_segments, segment_chapter
from pipeline.text.sentences import SentenceSplitter, chapter_sentences, chapter_text
from tests.conftest import corpus_file

pytestmark = pytest.mark.corpus


@pytest.mark.parametrize(
    ("name", "language", "limit"),
    [
        ("charles-dickens_a-christmas-carol.epub", "en", 1.02),
        ("natsume-soseki_kusamakura_ja.epub", "ja", 1.02),
        ("ibn-al-muqaffa_kalila-wa-dimna_ar.md", "ar", 1.02),
        ("anton-chekhov_palata-no-6_ru.md", "ru", 1.02),
    ],
)
def test_book_segments_losslessly_near_floor(name: str, language: str, limit: float) -> None:
    book = load_book(corpus_file(name))
    chapters = [normalize_chapter(c, NormalizeOptions())[0] for c in book.chapters if c.matter == "body"]
    splitter = SentenceSplitter.train((b.text for c in chapters for b in c.blocks), language)
    floor = ours = word = 0
    for chapter in chapters:
        sentences = chapter_sentences(chapter, splitter, language)
        if not sentences:
            continue
        text = chapter_text(chapter, language)
        segments = segment_chapter(sentences, chapter.index, language)
        assert joiner_for(language).join(s.text for s in segments) == text
        assert all(s.boundary_after != Boundary.CHAR for s in segments)
        floor += credits_for(len(text))
        ours += sum(credits_for(len(s.text)) for s in segments)
        fine = segment_chapter(sentences, chapter.index, language, cuts="word")
        assert join_segments(fine, language) == text
        word += sum(credits_for(len(s.text)) for s in fine)
    assert floor > 0
    assert ours / floor <= limit
    assert word / floor <= 1.002


def test_holmes_abbreviations_on_the_real_book() -> None:
    book = load_book(corpus_file("arthur-conan-doyle_the-adventures-of-sherlock-holmes.epub"))
    chapters = [normalize_chapter(c, NormalizeOptions())[0] for c in book.chapters if c.matter == "body"]
    splitter = SentenceSplitter.train((b.text for c in chapters for b in c.blocks), "en")
    sentences = [s.text for c in chapters for s in chapter_sentences(c, splitter, "en")]
    bad = [s for s in sentences if s.endswith((" Mr.", " Mrs.", " Dr.", " St."))]
    assert not bad, bad[:5]
