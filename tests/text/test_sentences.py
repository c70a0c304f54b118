from __future__ import annotations

import nltk
import pytest

from pipeline.models import Block, Boundary, Chapter
from pipeline.text.sentences import SentenceSplitter, chapter_sentences, chapter_text, is_cjk_text, split_cjk

EN_TRAIN = [
    "Mr. Holmes sat in his chair. Dr. Watson read the paper. It was late.",
    "St. Paul's was quiet. Mrs. Hudson brought tea, etc. and left.",
]


@pytest.fixture(scope="module")
def en() -> SentenceSplitter:
    return SentenceSplitter.train(EN_TRAIN, "en")


def test_training_never_touches_nltk_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("nltk.data must not be used")

    monkeypatch.setattr(nltk.data, "load", refuse)
    monkeypatch.setattr(nltk.data, "find", refuse)
    splitter = SentenceSplitter.train(EN_TRAIN, "en")
    assert splitter.split("One. Two.") == ["One.", "Two."]


def test_abbreviation_not_split(en: SentenceSplitter) -> None:
    assert en.split("Mr. Holmes said. He left.") == ["Mr. Holmes said.", "He left."]
    assert en.split("Dr. Watson went to St. Paul's. Then home.") == ["Dr. Watson went to St. Paul's.", "Then home."]


def test_training_is_deterministic() -> None:
    a = SentenceSplitter.train(EN_TRAIN * 5, "en")
    b = SentenceSplitter.train(EN_TRAIN * 5, "en")
    assert a.params.abbrev_types == b.params.abbrev_types
    assert a.params.sent_starters == b.params.sent_starters


def test_closing_quotes_stay_with_sentence(en: SentenceSplitter) -> None:
    text = "“Is it you?” she asked. “Yes.” He smiled. «Oui.» Fin."
    assert en.split(text) == ["“Is it you?” she asked.", "“Yes.”", "He smiled.", "«Oui.»", "Fin."]


def test_seed_abbreviations_other_languages() -> None:
    es = SentenceSplitter.train([], "es")
    assert es.split("La Sra. García llegó. Se fue.") == ["La Sra. García llegó.", "Se fue."]
    de = SentenceSplitter.train([], "de")
    assert de.split("Das ist z.B. gut. Ja.") == ["Das ist z.B. gut.", "Ja."]
    ru = SentenceSplitter.train([], "ru")
    assert ru.split("Это было в 1812 г. в Москве. Да.") == ["Это было в 1812 г. в Москве.", "Да."]


def test_cjk_rules() -> None:
    ja = SentenceSplitter.train([], "ja")
    assert ja.split("「おはよう。」と言った。彼は行った！そうか？はい") == [
        "「おはよう。」と言った。", "彼は行った！", "そうか？", "はい",
    ]
    zh = SentenceSplitter.train([], "zh")
    assert zh.split("他说：“你好。”然后走了。好!") == ["他说：“你好。”", "然后走了。", "好!"]
    assert split_cjk("Ends. 次") == ["Ends. 次"]  # never a cut beside a space
    assert split_cjk("終わり.次の文") == ["終わり.", "次の文"]


def test_arabic_rules() -> None:
    ar = SentenceSplitter.train(["قال الرجل، هذا جميل؟ نعم. ذهب."], "ar")
    assert ar.split("قال الرجل، هذا جميل؟ نعم. ذهب۔ انتهى") == ["قال الرجل، هذا جميل؟", "نعم.", "ذهب۔", "انتهى"]


def test_language_all_picks_by_script() -> None:
    splitter = SentenceSplitter.train(EN_TRAIN, "all")
    assert is_cjk_text("今日は晴れ。") and not is_cjk_text("Hello.")
    assert splitter.split("今日は晴れ。明日は雨。") == ["今日は晴れ。明日は雨。"]  # no seam to join with " "
    assert splitter.split("Mr. Holmes said. He left.") == ["Mr. Holmes said.", "He left."]
    chapter = Chapter(1, "x", (Block("paragraph", "今日は晴れ。明日は雨。"), Block("paragraph", "Mr. Holmes said. He left.")))
    sentences = chapter_sentences(chapter, splitter, "all")
    assert " ".join(s.text for s in sentences) == chapter_text(chapter, "all")


def _chapter() -> Chapter:
    return Chapter(
        1,
        "One",
        (
            Block("heading", "Chapter One"),
            Block("paragraph", "Mr. Holmes said. He left."),
            Block("verse", "Once upon a midnight dreary,\nwhile I pondered. Weak\nand weary"),
            Block("scene_break", ""),
            Block("list", "first item\nsecond item."),
            Block("paragraph", "The end."),
        ),
    )


def test_chapter_sentences_boundaries(en: SentenceSplitter) -> None:
    sentences = chapter_sentences(_chapter(), en, "en")
    assert [(s.text, s.boundary_after) for s in sentences] == [
        ("Chapter One", Boundary.TITLE),
        ("Mr. Holmes said.", Boundary.SENTENCE),
        ("He left.", Boundary.PARAGRAPH),
        ("Once upon a midnight dreary,", Boundary.LINE),
        ("while I pondered.", Boundary.SENTENCE),
        ("Weak", Boundary.LINE),
        ("and weary", Boundary.SCENE),
        ("first item", Boundary.LINE),
        ("second item.", Boundary.PARAGRAPH),
        ("The end.", Boundary.CHAPTER),
    ]
    assert " ".join(s.text for s in sentences) == chapter_text(_chapter(), "en")
    assert "\n" not in chapter_text(_chapter(), "en")


def test_chapter_sentences_cjk_joiner() -> None:
    chapter = Chapter(1, "一", (Block("heading", "第一回"), Block("paragraph", "他来了。她走了。"), Block("verse", "春眠\n不觉晓")))
    zh = SentenceSplitter.train([], "zh")
    sentences = chapter_sentences(chapter, zh, "zh")
    assert [s.text for s in sentences] == ["第一回", "他来了。", "她走了。", "春眠", "不觉晓"]
    assert "".join(s.text for s in sentences) == chapter_text(chapter, "zh") == "第一回他来了。她走了。春眠不觉晓"
    assert sentences[-1].boundary_after == Boundary.CHAPTER


def test_empty_chapter() -> None:
    chapter = Chapter(1, "x", (Block("scene_break", ""),))
    assert chapter_sentences(chapter, SentenceSplitter.train([], "en"), "en") == ()
    assert chapter_text(chapter, "en") == ""


SCRIPTS = {
    "en": "abc XYZ .!?,;:“”‘’'\"()—\n ",
    "ru": "абв ГДЕ .!?,«»—\n ",
    "ja": "あいう漢字カナ。！？、「」『』（）.!? \n",
    "zh": "的一是。！？，“”「」.! \n",
    "ar": "ابت ثجح ،؛؟۔. \u064e\n",
    "all": "abc 的是 。. ! ابت \n",
}


@pytest.mark.parametrize("language", sorted(SCRIPTS))
def test_sentence_invariant_on_random_chapters(language: str) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from pipeline.text.normalize import NormalizeOptions, normalize_chapter

    kinds = st.sampled_from(["paragraph", "heading", "verse", "list", "scene_break"])
    blocks = st.lists(st.tuples(kinds, st.text(alphabet=SCRIPTS[language], max_size=120)), max_size=6)
    splitter = SentenceSplitter.train(EN_TRAIN, language)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(blocks)
    def run(raw: list[tuple[str, str]]) -> None:
        chapter, _ = normalize_chapter(Chapter(1, "t", tuple(Block(k, t) for k, t in raw)), NormalizeOptions())  # type: ignore[arg-type]
        sentences = chapter_sentences(chapter, splitter, language)  # asserts the invariant itself
        assert all(s.text and s.text == s.text.strip() and "\n" not in s.text for s in sentences)
        if sentences:
            assert sentences[-1].boundary_after == Boundary.CHAPTER

    run()
