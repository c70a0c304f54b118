from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.models import Boundary, Sentence, joiner_for
from pipeline.text.segment import (
    WEAK_WEIGHT,
    candidate_cuts,
    credits_for,
    join_segments,
    plan_cost,
    segment_chapter,
    solve_cuts,
)

S = Boundary.SENTENCE
P = Boundary.PARAGRAPH


def test_credits_for() -> None:
    assert [credits_for(n) for n in (0, 1, 60, 100, 101, 215, 500)] == [0, 1, 1, 1, 2, 3, 5]
    assert credits_for(7, billing_unit=3) == 3


def check_invariants(segs: tuple, sentences: list[Sentence], language: str, max_chars: int) -> None:
    text = joiner_for(language).join(s.text for s in sentences)
    assert join_segments(segs, language) == text
    if all(seg.boundary_after != Boundary.CHAR for seg in segs):
        assert joiner_for(language).join(seg.text for seg in segs) == text
    for i, seg in enumerate(segs):
        assert seg.index == i and seg.chapter == 7
        assert 0 < len(seg.text) <= max_chars
        assert seg.text == seg.text.strip() and seg.text.strip()
    assert segs[-1].boundary_after == Boundary.CHAPTER
    assert all(seg.boundary_after != Boundary.CHAPTER for seg in segs[:-1])


def test_packs_sentences_across_paragraphs() -> None:
    sentences = [Sentence("a" * 40, S), Sentence("b" * 40, P), Sentence("c" * 18, Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en")
    assert [s.text for s in segs] == [" ".join(x.text for x in sentences)]
    assert len(segs[0].text) == 100 and segs[0].boundary_after == Boundary.CHAPTER


def test_seam_not_billed_and_boundary_recorded() -> None:
    # 100 + 100 chars: two segments of exactly 100 cost 2 credits; the space is free.
    sentences = [Sentence("a" * 100, P), Sentence("b" * 100, Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en")
    assert [len(s.text) for s in segs] == [100, 100]
    assert segs[0].boundary_after == Boundary.PARAGRAPH
    check_invariants(segs, sentences, "en", 500)


def test_prefers_sentence_over_clause_at_equal_credits() -> None:
    sentences = [Sentence("Alpha beta, gamma delta.", S), Sentence("Epsilon zeta.", Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en", max_chars=30, billing_unit=30)
    assert [s.text for s in segs] == ["Alpha beta, gamma delta.", "Epsilon zeta."]
    assert segs[0].boundary_after == S


def test_clause_cut_used_when_it_saves_credits() -> None:
    long = "word " * 15 + "clause, " + "more " * 10
    sentences = [Sentence(long.strip() + ".", Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en", max_chars=100)
    assert segs[0].text.endswith("clause,") and segs[0].boundary_after == Boundary.CLAUSE


def test_no_word_cut_in_short_sentence_in_clause_mode() -> None:
    sentences = [Sentence("aaaa bbbb cccc", S)] * 3 + [Sentence("dddd", Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en", max_chars=20, billing_unit=10)
    assert all(seg.boundary_after >= S for seg in segs)
    word = segment_chapter(sentences, 7, "en", max_chars=20, billing_unit=10, cuts="word")
    assert sum(credits_for(len(s.text), 10) for s in word) <= sum(credits_for(len(s.text), 10) for s in segs)


def test_long_sentence_cut_at_words_never_inside() -> None:
    words = [f"w{i:03d}" for i in range(300)]
    sentence = Sentence(" ".join(words), Boundary.CHAPTER)
    segs = segment_chapter([sentence], 7, "en")
    for seg in segs:
        assert all(re.fullmatch(r"w\d{3}", w) for w in seg.text.split(" "))
    assert sum(credits_for(len(s.text)) for s in segs) == credits_for(len(sentence.text) - len(segs) + 1)


def test_huge_word_is_cut_at_characters_losslessly() -> None:
    sentences = [Sentence("Start " + "x" * 1234 + " end.", Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en")
    assert any(seg.boundary_after == Boundary.CHAR for seg in segs)
    check_invariants(segs, sentences, "en", 500)


def test_huge_combining_run_never_splits_a_grapheme_when_avoidable() -> None:
    text = "e\u0301" * 400
    segs = segment_chapter([Sentence(text, Boundary.CHAPTER)], 7, "fr")
    assert all(not ("\u0300" <= seg.text[0] <= "\u036f") for seg in segs)
    check_invariants(segs, [Sentence(text, Boundary.CHAPTER)], "fr", 500)


def test_cjk_char_cuts_keep_closing_punctuation() -> None:
    sentence = Sentence("あ" * 150 + "「" + "い" * 150 + "」" + "う" * 300 + "。", Boundary.CHAPTER)
    segs = segment_chapter([sentence], 7, "ja", max_chars=200)
    for seg in segs[1:]:
        assert seg.text[0] not in "」。、"
    for seg in segs:
        assert seg.text[-1] != "「"
    check_invariants(segs, [sentence], "ja", 200)
    assert sum(credits_for(len(s.text)) for s in segs) == credits_for(len(sentence.text))


def test_empty_and_bad_arguments() -> None:
    assert segment_chapter([], 1, "en") == ()
    with pytest.raises(ValueError):
        segment_chapter([Sentence("a", Boundary.CHAPTER)], 1, "en", max_chars=0)


# --- exact optimality against brute force ---------------------------------------


def brute_force(table, max_chars: int, unit: int) -> tuple[int, int, int]:
    inner = list(range(1, len(table) - 1))
    best = None
    for r in range(len(inner) + 1):
        for chosen in itertools.combinations(inner, r):
            path = [*chosen, len(table) - 1]
            start, ok = 0, True
            for i in path:
                if not 0 < table.ends[i] - start <= max_chars:
                    ok = False
                    break
                start = table.starts[i]
            if ok:
                cost = plan_cost(table, path, unit)
                best = cost if best is None or cost < best else best
    assert best is not None
    return best


WORDS = st.sampled_from(["a", "bb", "ccc", "dddd", "eeeee", "ff,", "gg;", "(hh)", "“ii”", "jj—", "kkkkkkk"])


@st.composite
def small_chapters(draw: st.DrawFn) -> list[Sentence]:
    n = draw(st.integers(1, 4))
    sentences = []
    for i in range(n):
        words = draw(st.lists(WORDS, min_size=1, max_size=4))
        kind = draw(st.sampled_from([Boundary.SENTENCE, Boundary.PARAGRAPH, Boundary.LINE, Boundary.TITLE]))
        sentences.append(Sentence(" ".join(words) + ".", kind if i < n - 1 else Boundary.CHAPTER))
    return sentences


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_chapters(), st.integers(8, 30), st.integers(3, 12), st.sampled_from(["clause", "word"]))
def test_dp_matches_brute_force(sentences: list[Sentence], max_chars: int, unit: int, mode: str) -> None:
    table = candidate_cuts(sentences, "en", max_chars, mode)  # type: ignore[arg-type]
    assume(len(table) <= 15)
    path = solve_cuts(table, max_chars, unit)
    assert plan_cost(table, path, unit) == brute_force(table, max_chars, unit)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=12), st.integers(10, 40), st.integers(3, 15))
def test_word_mode_credits_optimal_over_every_space(lengths: list[int], max_chars: int, unit: int) -> None:
    """Independent check: an O(n²) DP over every space of the text gives the same credits."""
    text = " ".join("x" * n for n in lengths)
    segs = segment_chapter([Sentence(text, Boundary.CHAPTER)], 7, "en", max_chars, unit, cuts="word")
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
    ends = [i for i, ch in enumerate(text) if ch == " "] + [len(text)]
    best = {0: 0}
    for j, e in enumerate(ends):
        options = [best[i] + credits_for(e - starts[i], unit) for i in range(j + 1) if i in best and 0 < e - starts[i] <= max_chars]
        if options:
            best[j + 1] = min(options)
    expected = best.get(len(ends))
    ours = sum(credits_for(len(s.text), unit) for s in segs)
    if expected is None:  # some word longer than max_chars: character cuts were needed
        assert any(s.boundary_after == Boundary.CHAR for s in segs)
    else:
        assert ours == expected


# --- invariants on random text in several scripts -----------------------------------

ALPHABETS = {
    "en": "abcdefghij ,;:.!?—“”()'’ ",
    "ru": "абвгдеёжзий ,;:.!?«» ",
    "zh": "的一是不了人我在有他这，。、；：！？「」『』“”（）",
    "ja": "あいうえおかきくけこアイウエオ漢字、。「」！？ーっゃ",
    "ar": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي ،؛؟۔.\u064e\u064f\u0650",
    "all": "abc абв 的是 ابت ,。、 ",
}


@st.composite
def chapters(draw: st.DrawFn, language: str) -> list[Sentence]:
    alphabet = ALPHABETS[language]
    joiner = joiner_for(language)
    n = draw(st.integers(1, 6))
    sentences = []
    for i in range(n):
        raw = draw(st.text(alphabet=alphabet, min_size=1, max_size=draw(st.sampled_from([20, 200, 1500]))))
        text = re.sub(r"\s+", " ", raw).strip()
        if joiner == "":
            text = text.replace(" ", "")
        if not text:
            text = alphabet[0]
        kind = draw(st.sampled_from(list(Boundary)[3:8])) if i < n - 1 else Boundary.CHAPTER
        sentences.append(Sentence(text, kind))
    return sentences


@pytest.mark.parametrize("language", sorted(ALPHABETS))
def test_invariants_random_scripts(language: str) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(chapters(language), st.sampled_from([1, 7, 60, 100, 500]), st.sampled_from([1, 10, 100]),
           st.sampled_from(["clause", "word"]))
    def run(sentences: list[Sentence], max_chars: int, unit: int, mode: str) -> None:
        segs = segment_chapter(sentences, 7, language, max_chars, unit, mode)  # type: ignore[arg-type]
        check_invariants(segs, sentences, language, max_chars)
        chars = len(joiner_for(language).join(s.text for s in sentences))
        assert sum(credits_for(len(s.text), unit) for s in segs) >= credits_for(chars - len(segs) + 1, unit)
        if language not in ("zh", "ja"):
            for seg in segs:  # no cut inside a word unless words may be cut here
                if seg.boundary_after == Boundary.CHAR:
                    continue
                assert seg.boundary_after >= Boundary.WORD

    run()


def test_no_space_run_longer_than_max_without_char_cut() -> None:
    sentences = [Sentence("x" * 50, Boundary.CHAPTER)]
    segs = segment_chapter(sentences, 7, "en", max_chars=7, billing_unit=10)
    assert sum(credits_for(len(s.text), 10) for s in segs) == 8
    assert all(s.boundary_after == Boundary.CHAR for s in segs[:-1])
    check_invariants(segs, sentences, "en", 7)


def test_weak_weights_order() -> None:
    assert WEAK_WEIGHT[Boundary.CHAR] > WEAK_WEIGHT[Boundary.WORD] > WEAK_WEIGHT[Boundary.CLAUSE] > WEAK_WEIGHT[Boundary.LINE]
