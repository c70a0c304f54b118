"""Dialogue in prose: how well quotes are found and attributed, and what voicing them costs.

Run: python bench/dialogue.py [corpus_dir]

Against each bench/labels/*.txt (the speaker of every paragraph with quoted speech in a
passage, labelled by hand: Pride and Prejudice I–VI, A Christmas Carol Stave I):
paragraphs with speech found, quotes attributed (coverage) and attributed right
(precision; aliases such as "Miss Lucas" for Charlotte count as the same person). Then, per corpus book, paragraphs with
speech and attributed, and the plan's credits without and with `dialogue:` (a second
voice for every quote), i.e. what a dialogue voice costs.
"""

from __future__ import annotations

import sys
from dataclasses import astuple, dataclass
from pathlib import Path

from pipeline.ingest import load_book
from pipeline.models import Book
from pipeline.text.dialogue import Piece, attribute, split_dialogue

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"
LABEL_FILES = tuple(sorted((HERE / "labels").glob("*.txt")))
OPENERS = "“\"«„「『—–― "


@dataclass(frozen=True)
class Label:
    chapter: str  # the chapter's roman numeral ("IV")
    start: str  # the paragraph's first words, quote marks left out
    speaker: str  # canonical name


@dataclass(frozen=True)
class Accuracy:
    labelled: int  # paragraphs with speech in the labels
    found: int  # labelled paragraphs the splitter found speech in, in order
    extra: int  # paragraphs found with speech that the labels do not have
    attributed: int  # found paragraphs given a speaker
    correct: int  # ... the labelled one

    @property
    def precision(self) -> float:
        return self.correct / self.attributed if self.attributed else 1.0

    @property
    def coverage(self) -> float:
        return self.attributed / self.labelled if self.labelled else 0.0


@dataclass(frozen=True)
class LabelSet:
    book: str  # the corpus file
    labels: tuple[Label, ...]
    aliases: dict[str, str]  # alias, casefolded → canonical name


def read_labels(path: Path) -> LabelSet:
    book, labels, aliases = "", [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("book:"):
            book = line.partition(":")[2].strip()
        elif line.startswith("= "):
            name, _, rest = line[2:].partition(":")
            for alias in (name, *rest.split(",")):
                aliases[alias.strip().casefold()] = name.strip()
        elif line.strip() and not line.startswith("#"):
            chapter, start, speaker = (part.strip() for part in line.split("|"))
            labels.append(Label(chapter, start, speaker))
    return LabelSet(book, tuple(labels), aliases)


def speech_paragraphs(book: Book, chapter: str, language: str = "en") -> list[tuple[str, list[Piece]]]:
    """(paragraph text, attributed pieces) of every paragraph with speech in the chapter."""
    ch = next(c for c in book.chapters if c.title.startswith(chapter + ":") or c.title.split()[-1] == chapter)
    out = []
    for b in ch.blocks:
        pieces = attribute(split_dialogue(b.text, language), language) if b.kind == "paragraph" else []
        if any(p.quote for p in pieces):
            out.append((b.text, pieces))
    return out


def evaluate(book: Book, labels: tuple[Label, ...], aliases: dict[str, str]) -> Accuracy:
    """Labels matched to found paragraphs in reading order by their first words."""
    found = extra = attributed = correct = 0
    for chapter in dict.fromkeys(lb.chapter for lb in labels):
        wanted = [lb for lb in labels if lb.chapter == chapter]
        paragraphs = speech_paragraphs(book, chapter)
        k = 0
        for text, pieces in paragraphs:
            if k < len(wanted) and text.lstrip(OPENERS).startswith(wanted[k].start):
                found += 1
                speaker = next((p.speaker for p in pieces if p.speaker), None)
                if speaker is not None:
                    attributed += 1
                    correct += aliases.get(speaker.casefold(), speaker) == wanted[k].speaker
                k += 1
            else:
                extra += 1
    return Accuracy(len(labels), found, extra, attributed, correct)


def _corpus_rows(corpus: Path) -> None:
    from pipeline.plan import make_plan
    from pipeline.recipe import load_recipe
    from pipeline.tts.picker import voice_picker

    print(f"\n{'book':44} {'quote segments':>14} {'credits':>8} {'+dialogue':>9} {'ratio':>6}")
    for path in sorted(p for p in corpus.iterdir() if p.suffix in (".epub", ".md") and p.name != "SOURCES.md"):
        recipes = []
        for extra in ("", "dialogue: {voice: 4242}\n"):
            recipe_file = Path("/tmp") / f"bench-dialogue-{path.stem}.yaml"
            recipe_file.write_text(f"book: {path}\nvoice: 4000\n{extra}", encoding="utf-8")
            recipes.append(make_plan(load_recipe(recipe_file), "emulator", voice_picker("emulator", None)))
            recipe_file.unlink()
        plain, voiced = recipes
        quotes = [j for c in voiced.chapters for j in c.jobs if j.voice.voice_id == 4242]
        print(f"{path.stem[:44]:44} {len(quotes):14,} {plain.credits:8,} {voiced.credits:9,} "
              f"{voiced.credits / plain.credits:6.3f}")


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else CORPUS
    sets = [read_labels(p) for p in LABEL_FILES]
    if not all((corpus / ls.book).is_file() for ls in sets):
        print(f"corpus not found at {corpus}; pass its directory")
        return 2
    total = Accuracy(0, 0, 0, 0, 0)
    for path, ls in zip(LABEL_FILES, sets, strict=True):
        acc = evaluate(load_book(corpus / ls.book), ls.labels, ls.aliases)
        total = Accuracy(*(a + b for a, b in zip(astuple(total), astuple(acc), strict=True)))
        _print(path.stem, acc)
    _print("all labelled passages", total)
    _corpus_rows(corpus)
    return 0


def _print(name: str, acc: Accuracy) -> None:
    print(f"{name}: {acc.labelled} labelled paragraphs with speech; found {acc.found} "
          f"({acc.found / acc.labelled:.1%}), {acc.extra} found that are not labelled; attributed "
          f"{acc.attributed} (coverage {acc.coverage:.1%}), right {acc.correct} (precision {acc.precision:.1%})")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
