"""Quoted speech in prose: pipeline.text.dialogue, and its accuracy on a labelled passage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dialogue import LABEL_FILES, evaluate, read_labels
from pipeline.ingest import load_book
from pipeline.text.dialogue import attribute, split_dialogue
from tests.conftest import corpus_file


def _pieces(text: str, language: str = "en") -> list[tuple[bool, str | None, str]]:
    return [(p.quote, p.speaker, p.text) for p in attribute(split_dialogue(text, language), language)]


def test_quote_narration_quote_with_the_speaker_after_the_first() -> None:
    assert _pieces("“But you forget, mama,” said Elizabeth, “that we shall meet him.”") == [
        (True, "Elizabeth", "“But you forget, mama,”"),
        (False, None, "said Elizabeth,"),
        (True, "Elizabeth", "“that we shall meet him.”"),
    ]


@pytest.mark.parametrize(("text", "speaker"), [
    ("“No more have I,” said Mr. Bennet; “and I am glad.”", "Mr. Bennet"),
    ("“Come here,” Holmes said.", "Holmes"),
    ("Elizabeth replied: “Very well.”", "Elizabeth"),
    ("The girls stared. Jane said, “Nonsense!”", "Jane"),
    ("“Pray make no apology,” said Lord St. Simon bitterly.", "Lord St. Simon"),
    ("“I would not,” cried Bingley, “for a kingdom!”", "Bingley"),
    ("“Oh! my dear,” continued Mrs. Bennet to her husband, “I am delighted.”", "Mrs. Bennet"),
])
def test_names_next_to_a_speech_verb_attribute_the_paragraph(text: str, speaker: str) -> None:
    assert {s for q, s, _ in _pieces(text) if q} == {speaker}


@pytest.mark.parametrize("text", [
    "“What an excellent father you have, girls,” said she, when the door was shut.",  # a pronoun
    "“But why?” cried Scrooge’s nephew. “Why?”",  # someone else, named by another's name
    "“Then,” said I, “we go.”",  # the narrator
    "“Is he married or single?”",  # a turn without attribution
    "“Aye, so it is,” cried her mother.",
])
def test_pronouns_possessives_and_bare_turns_stay_unknown(text: str) -> None:
    pieces = _pieces(text)
    assert any(q for q, _, _ in pieces) and all(s is None for _, s, _ in pieces)


def test_scare_quotes_and_titles_stay_narration() -> None:
    for text in ("He called it the so-called “cure” and left.", "We read “Hamlet” aloud."):
        assert _pieces(text) == [(False, None, text)]


def test_a_quote_without_its_closing_mark_runs_to_the_paragraphs_end() -> None:
    text = "“I shall go on,” said Holmes, “and the next paragraph opens with another mark"
    assert [q for q, _, _ in _pieces(text)] == [True, False, True]
    assert _pieces(text)[-1][2].endswith("another mark")


def test_a_quote_takes_the_punctuation_stuck_to_it() -> None:
    assert _pieces("He shouted “Stop!”. Then he ran.") == [
        (False, None, "He shouted"), (True, None, "“Stop!”."), (False, None, "Then he ran.")]


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("«Oui», dit Candide.", "fr", [(True, "Candide", "«Oui»,"), (False, None, "dit Candide.")]),
    ("„Ja“, sagte Anna.", "de", [(True, "Anna", "„Ja“,"), (False, None, "sagte Anna.")]),
    ("— Oui, dit Candide, je viens.", "fr", [(True, "Candide", "— Oui, dit Candide, je viens.")]),
    ("—¿Qué? —dijo Sancho—. Vale.", "es",
     [(True, "Sancho", "—¿Qué?"), (False, None, "—dijo Sancho—."), (True, "Sancho", "Vale.")]),
    ("— Да, — сказал Иван. — Иди.", "ru",
     [(True, "Иван", "— Да,"), (False, None, "— сказал Иван."), (True, "Иван", "— Иди.")]),
    ("— I—I know.", "ru", [(True, None, "— I—I know.")]),
    ("彼は「行こう」と言った。", "ja", [(False, None, "彼は"), (True, None, "「行こう」"), (False, None, "と言った。")]),
])
def test_each_languages_marks_and_dialogue_dashes(text: str, language: str,
                                                  expected: list[tuple[bool, str | None, str]]) -> None:
    assert _pieces(text, language) == expected


def test_german_closing_mark_is_not_read_as_an_english_opening() -> None:
    assert _pieces("Er sagte „nein“ und ging.", "de") == [(False, None, "Er sagte „nein“ und ging.")]
    assert [q for q, _, _ in _pieces("„Nein“, sagte er, „ich gehe.“", "de")] == [True, False, True]


_TEXT = st.text(alphabet=st.sampled_from(list("ab .,!?—“”«»„「」\"'")) | st.characters(), max_size=120)


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.sampled_from(["en", "fr", "de", "es", "ru", "ja", "zh"]))
def test_the_pieces_always_give_the_paragraph_back(raw: str, language: str) -> None:
    text = " ".join(raw.split()) if language not in ("ja", "zh") else raw.strip()
    pieces = split_dialogue(text, language)
    joiner = "" if language in ("ja", "zh") else " "
    assert joiner.join(p.text for p in pieces) == text
    assert all(p.text for p in pieces) or text == ""


@pytest.mark.parametrize("labels", LABEL_FILES, ids=lambda p: p.stem)
def test_accuracy_on_the_hand_labelled_passages(labels: Path) -> None:
    """Attribution is on by default (with `dialogue:`) because this stays ≥ 90 % right."""
    ls = read_labels(labels)
    acc = evaluate(load_book(corpus_file(ls.book)), ls.labels, ls.aliases)
    assert acc.labelled >= 100 and acc.found == acc.labelled and acc.extra == 0, acc
    assert acc.precision >= 0.9 and acc.attributed >= 20, acc
