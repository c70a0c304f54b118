"""Huge or dense text through the text stages: bounded work, never a lost character."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.errors import BookError
from pipeline.models import Block, Boundary, Chapter, Sentence
from pipeline.text import cuts as cuts_mod
from pipeline.text import sentences as sentences_mod
from pipeline.text.normalize import NormalizeOptions, normalize_text
from pipeline.text.segment import (
    candidate_cuts,
    credits_for,
    join_segments,
    segment_chapter,
)
from pipeline.text.sentences import SentenceSplitter, chapter_sentences
from tests.ingest.hostile_epub import _prose


def check(segments: tuple, text: str, language: str = "en", max_chars: int = 500) -> None:
    assert join_segments(segments, language) == text
    assert all(0 < len(s.text) <= max_chars for s in segments)


def test_a_2_million_character_word_is_chained_at_the_credit_floor() -> None:
    text = "x" * 2_000_000
    table = candidate_cuts([Sentence(text, Boundary.CHAPTER)], "en", 500, "clause")
    assert len(table) < 5_000  # not one candidate per character
    segments = segment_chapter([Sentence(text, Boundary.CHAPTER)], 1, "en")
    check(segments, text)
    assert sum(credits_for(len(s.text)) for s in segments) == credits_for(len(text))
    assert {s.boundary_after for s in segments[:-1]} == {Boundary.CHAR}


def test_a_sentence_of_a_million_words_is_cut_only_between_words() -> None:
    text = " ".join(["ab"] * 1_000_000)
    segments = segment_chapter([Sentence(text, Boundary.CHAPTER)], 1, "en")
    check(segments, text)
    assert {s.boundary_after for s in segments[:-1]} == {Boundary.WORD}
    spoken = len(text) - (len(segments) - 1)  # the seams are not sent
    assert sum(credits_for(len(s.text)) for s in segments) == credits_for(spoken)


def test_a_cjk_run_is_chained_keeping_closing_marks_with_their_text() -> None:
    text = ("あ" * 97 + "」") * 30_000
    segments = segment_chapter([Sentence(text, Boundary.CHAPTER)], 1, "ja")
    check(segments, text, "ja")
    assert all(s.text[0] != "」" for s in segments)


def test_only_the_largest_sentences_are_chained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cuts_mod, "MAX_CANDIDATES", 2_000)
    normal = [Sentence("Well, then, we walk; slowly, surely, on.", Boundary.SENTENCE) for _ in range(50)]
    huge = Sentence(" ".join(["word,"] * 5_000) + " end.", Boundary.CHAPTER)
    table = candidate_cuts(normal + [huge], "en", 500, "clause")
    end_of_normal = sum(len(s.text) + 1 for s in normal)
    kinds = Counter(k for e, k in zip(table.ends, table.kinds) if e < end_of_normal)
    assert kinds[Boundary.CLAUSE] == 50 * 5  # the normal sentences keep their clause cuts
    assert len(table) < 2_000
    segments = segment_chapter(normal + [huge], 1, "en")
    check(segments, " ".join(s.text for s in normal + [huge]))
    assert segments == segment_chapter(normal + [huge], 1, "en")  # deterministic


def test_punkt_windows_give_the_same_sentences_as_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    paragraph = " ".join(p for p in _prose(30_000, None).split("\n\n") if p)
    splitter = SentenceSplitter.train([paragraph, "Mr. Smith met Dr. Jones. They talked."], "en")
    whole = splitter.split(paragraph)
    for window in (300, 1_000, 7_777):
        monkeypatch.setattr(sentences_mod, "PUNKT_WINDOW", window)
        assert splitter.split(paragraph) == whole


def test_dense_sentence_marks_are_split_by_rule_without_losing_text() -> None:
    assert sentences_mod._rule_split("a. a. Then “A.” End. (Last!) x") == ["a. a.", "Then “A.”", "End.", "(Last!) x"]
    splitter = SentenceSplitter.train(["A plain sentence. Another one."], "en")
    text = ("a. " * 5_000 + "Then A. ") * 4 + "Last!"
    pieces = splitter.split(text)
    assert " ".join(pieces) == text and len(pieces) >= 4 and all(p.startswith(("a.", "Then")) for p in pieces)


def test_a_chapter_with_too_many_sentences_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentences_mod, "MAX_CHAPTER_SENTENCES", 10)
    splitter = SentenceSplitter.train([], "en")
    chapter = Chapter(3, "Lines", (Block("verse", "\n".join(f"Line {n}." for n in range(11))),))
    with pytest.raises(BookError, match=r"chapter 3 \(Lines\) has more than 10 sentences or lines"):
        chapter_sentences(chapter, splitter, "en")


def test_training_is_capped_by_words_as_well_as_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentences_mod, "MAX_TRAIN_WORDS", 1_000)
    sample = sentences_mod._training_sample(["a " * 600, "b " * 600, "c " * 600])
    assert sample.count("b") == 600 and "c" not in sample


@pytest.mark.parametrize("raw,expected", [
    ("a \t b\u00a0\u00a0c  d", "a b c d"),
    ("one two three", "one two three"),
    ("\ttab\u2003em space\u3000", "tab em space"),
])
def test_whitespace_collapse_is_unchanged(raw: str, expected: str) -> None:
    assert normalize_text(raw, NormalizeOptions(), Counter()) == expected


def test_invisible_characters_removed_from_a_large_text() -> None:
    removed: Counter[str] = Counter()
    text = "caf\u00e9\u00ad\u200b " * 100_000
    assert normalize_text(text, NormalizeOptions(), removed) == " ".join(["café"] * 100_000)
    assert removed["invisible"] == 200_000
