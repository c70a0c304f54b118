"""Credits the segmenter spends on the corpus, against the floor and a greedy baseline.

Run: /work/venv/bin/python bench/credits.py [corpus_dir]

Per book: spoken chars, floor Σ ceil(chars_chapter/100), our credits at the default
(500 chars, clause cuts, `titles: separate`: a cut after every heading), the same with
`titles: merged`, greedy sentence packing at 500, then totals at 1000 chars and
with word cuts at 500, the share of seams weaker than a sentence end, and the plan
time (ingest + normalize + split + segment at the default).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.ingest import load_book
from pipeline.models import Boundary, Chapter, Sentence, joiner_for
from pipeline.text.language import detect_language, vendor_language
from pipeline.text.normalize import NormalizeOptions, normalize_chapter
from pipeline.text.segment import credits_for, segment_chapter
from pipeline.text.sentences import SentenceSplitter, chapter_sentences, chapter_text
from pipeline.voicing import merge_joined

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
SUFFIXES = (".epub", ".md")
NOT_BOOKS = ("SOURCES.md", "README.md")
VARIANTS: tuple[tuple[int, Literal["clause", "word"]], ...] = ((500, "clause"), (1000, "clause"), (500, "word"))
MERGED = (500, "merged")  # the default with `titles: merged`: headings packed with the text
TITLES = frozenset({Boundary.TITLE})  # `titles: separate` (the default): a cut after every heading


@dataclass
class Tally:
    chars: int = 0
    floor: int = 0
    greedy: int = 0
    credits: dict[tuple[int, str], int] = field(default_factory=dict)
    seams: int = 0
    weak_seams: int = 0
    plan_s: float = 0.0
    segment_s: dict[tuple[int, str], float] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.chars += other.chars
        self.floor += other.floor
        self.greedy += other.greedy
        self.seams += other.seams
        self.weak_seams += other.weak_seams
        self.plan_s += other.plan_s
        for key, value in other.credits.items():
            self.credits[key] = self.credits.get(key, 0) + value
        for key, secs in other.segment_s.items():
            self.segment_s[key] = self.segment_s.get(key, 0.0) + secs


def book_language(path: Path, stated: str | None, sample: str) -> str:
    """The file-name suffix (_ru.md) wins, then the book's own tag, then a guess."""
    stem = path.stem
    if "_" in stem:
        suffix = vendor_language(stem.rsplit("_", 1)[1])
        if suffix and len(stem.rsplit("_", 1)[1]) <= 6:
            return suffix
    return vendor_language(stated) or detect_language(sample)


def greedy_credits(sentences: tuple[Sentence, ...], language: str, max_chars: int) -> int:
    """Baseline: pack whole sentences while they fit; split longer ones at words."""
    joiner = joiner_for(language)
    pieces: list[str] = []
    for s in sentences:
        pieces.extend([s.text] if len(s.text) <= max_chars else _word_chunks(s.text, joiner, max_chars))
    total = 0
    current = 0
    for piece in pieces:
        if current and current + len(joiner) + len(piece) <= max_chars:
            current += len(joiner) + len(piece)
        else:
            total += credits_for(current)
            current = len(piece)
    return total + credits_for(current)


def _word_chunks(text: str, joiner: str, max_chars: int) -> list[str]:
    words = text.split(" ") if joiner else list(text)
    sep = " " if joiner else ""
    chunks: list[str] = []
    current = ""
    for word in words:
        while len(word) > max_chars:
            chunks.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + len(sep) + len(word) <= max_chars:
            current += sep + word
        else:
            if current:
                chunks.append(current)
            current = word
    return chunks + ([current] if current else [])


def bench_book(path: Path) -> tuple[str, Tally]:
    tally = Tally()
    t0 = time.perf_counter()
    book = load_book(path)
    chapters: list[Chapter] = [normalize_chapter(c, NormalizeOptions())[0] for c in book.chapters if c.matter == "body"]
    sample = " ".join(b.text for c in chapters[:5] for b in c.blocks)[:20000]
    language = book_language(path, book.meta.language, sample)
    chapters = [merge_joined(c, language) for c in chapters]  # one voice: inline passages read as the plan reads them
    splitter = SentenceSplitter.train((b.text for c in chapters for b in c.blocks if b.text), language)
    split = [(c, chapter_sentences(c, splitter, language)) for c in chapters]
    split = [(c, s) for c, s in split if s]
    for max_chars, mode in VARIANTS:
        t1 = time.perf_counter()
        for chapter, sentences in split:
            segments = segment_chapter(sentences, chapter.index, language, max_chars, 100, mode, separate=TITLES)
            key = (max_chars, mode)
            tally.credits[key] = tally.credits.get(key, 0) + sum(credits_for(len(s.text)) for s in segments)
            if key == VARIANTS[0]:
                tally.seams += len(segments) - 1
                tally.weak_seams += sum(1 for s in segments[:-1] if s.boundary_after < Boundary.SENTENCE)
        tally.segment_s[(max_chars, mode)] = time.perf_counter() - t1
        if (max_chars, mode) == VARIANTS[0]:
            tally.plan_s = time.perf_counter() - t0
    for chapter, sentences in split:
        merged = segment_chapter(sentences, chapter.index, language, 500, 100, "clause")
        tally.credits[MERGED] = tally.credits.get(MERGED, 0) + sum(credits_for(len(s.text)) for s in merged)
        chars = len(chapter_text(chapter, language))
        tally.chars += chars
        tally.floor += credits_for(chars)
        tally.greedy += greedy_credits(sentences, language, 500)
    return language, tally


def _row(name: str, lang: str, t: Tally) -> str:
    ours = t.credits.get(VARIANTS[0], 0)
    floor = t.floor or 1
    return (
        f"{name[:34]:34} {lang:6} {t.chars:>9} {t.floor:>7} {ours:>7} {ours / floor:6.4f} "
        f"{t.credits.get(MERGED, 0) / floor:6.4f} "
        f"{t.greedy:>7} {t.greedy / floor:6.4f} {t.credits.get(VARIANTS[1], 0) / floor:6.4f} "
        f"{t.credits.get(VARIANTS[2], 0) / floor:6.4f} {t.weak_seams / max(t.seams, 1):6.1%} {t.plan_s:6.2f}s"
    )


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else CORPUS
    if not corpus.is_dir():
        print(f"corpus not found at {corpus}: nothing to measure")
        return 0
    books = sorted(p for p in corpus.iterdir() if p.suffix in SUFFIXES and p.name not in NOT_BOOKS)
    print(f"{'book':34} {'lang':6} {'chars':>9} {'floor':>7} {'ours':>7} {'ratio':>6} {'merged':>6} "
          f"{'greedy':>7} {'ratio':>6} {'@1000':>6} {'word':>6} {'weak':>6} {'plan':>7}")
    total = Tally()
    for path in books:
        language, tally = bench_book(path)
        total.add(tally)
        print(_row(path.stem, language, tally), flush=True)
        if "war-and-peace" in path.stem:
            times = ", ".join(f"{m}/{mode} {s:.2f}s" for (m, mode), s in tally.segment_s.items())
            print(f"  War and Peace: plan {tally.plan_s:.2f}s; segmentation {times}")
    print(_row("TOTAL", "", total))
    times = ", ".join(f"{m}/{mode} {s:.2f}s" for (m, mode), s in total.segment_s.items())
    print(f"segmentation time over the corpus: {times}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
