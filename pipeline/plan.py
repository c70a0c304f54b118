"""Plan a build: book → spoken text → segments → jobs with voices and exact credits.

Pure: same recipe and book give the same plan, with no network and no clock. This is
all `audiobook plan` runs, so a user sees the exact cost before spending anything.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Protocol

from pipeline.errors import RecipeError
from pipeline.ingest import load_book
from pipeline.models import (
    NO_SPACE_LANGUAGES,
    Book,
    Boundary,
    Chapter,
    ChapterPlan,
    Job,
    Plan,
    Price,
    Segment,
    Sentence,
    TTSRequest,
    Voice,
    backend_name,
    content_key,
)
from pipeline.recipe import Recipe
from pipeline.recipe_delivery import credit_chapters
from pipeline.text.language import detect_language, vendor_language
from pipeline.text.normalize import end_heading, normalize_chapter, normalize_text
from pipeline.text.notes import strip_notes
from pipeline.text.segment import credits_for, segment_chapter
from pipeline.text.sentences import (
    SentenceSplitter,
    chapter_sentences,
    chapter_text,
    inner_boundary,
    is_cjk_text,
)
from pipeline.voicing import (
    DefaultVoice,
    VoicedRun,
    merge_joined,
    missing_language_voices,
    prepare_names,
    split_quotes,
    voice_runs,
)

log = logging.getLogger(__name__)



class VoicePicker(Protocol):
    """The voice choice the plan is given (built from pipeline.tts by the command): the
    plan stays pure and never imports a backend."""

    def default_voice(self, language: str) -> int | None:
        """The voice for a chapter whose recipe names none, or None if there is none."""
        ...

    def check(self, voice: Voice) -> list[str]:
        """Warnings (or a UserError) for a voice the library lacks or that cannot speak."""
        ...

    def library_note(self, language: str) -> str | None:
        """A line for `plan` when the language's default voice came from the voice library."""
        ...


@dataclass(frozen=True)
class _Assigned:
    """A chapter with its normalized text, voice, rule and skip decision."""

    chapter: Chapter
    voice: Voice | None
    rule: str
    skip_reason: str


Reusable = Callable[[Voice], Collection[str]]


def make_plan(recipe: Recipe, backend: str, voices: VoicePicker, book: Book | None = None,
              reusable: Reusable | None = None) -> Plan:
    """Everything before the network. `backend` is part of every clip's content key.

    `voices` picks a chapter's voice when the recipe names none and checks the voices used
    (pipeline.tts.picker builds it). `reusable(voice)` gives texts already synthesized in
    that voice: the segmenter treats them as free, so editing a paragraph re-pays only the
    segments around the edit.
    """
    book = book or load_book(recipe.book, recipe.ingest)
    removed: Counter[str] = Counter()
    book_language = recipe.language or vendor_language(book.meta.language) or _guess_language(book)
    chapters_read, notes = strip_notes(book.chapters, keep_notes=recipe.ingest.include_matter)
    if notes.chars:
        removed["note_markers"] += notes.chars
    title = recipe.title or normalize_text(book.meta.title, recipe.normalize, Counter()) or recipe.book.stem
    authors = recipe.authors if recipe.authors is not None else book.meta.authors
    chapters_read = credit_chapters(recipe.credits, title, authors, chapters_read)
    defaulted: set[str] = set()  # languages whose voice the recipe left to the picker

    def default_voice(language: str) -> int | None:
        defaulted.add(language)
        return voices.default_voice(language)

    assigned = [_assign(recipe, default_voice, _normalized(recipe, ch, removed), book_language)
                for ch in chapters_read]
    if recipe.heading_chapters == "fold":
        assigned = _fold_headings(assigned)
    splitters = _train_splitters(assigned)
    chapters = tuple(_plan_chapter(recipe, backend, a, splitters, reusable, default_voice) for a in assigned)
    warnings = list(recipe.warnings) + list(book.warnings) + _cover_warnings(book) + _rule_warnings(recipe, book)
    warnings += _long_run_warnings(recipe, assigned) + _voice_warnings(voices, chapters)
    warnings += missing_language_voices(recipe, voices.default_voice)
    warnings += [note for lang in sorted(defaulted) if (note := voices.library_note(lang))]
    return Plan(
        title=title,
        authors=authors,
        language=book_language,
        backend=backend,
        chapters=chapters,
        cover=book.cover,
        removed_chars=dict(removed),
        warnings=tuple(warnings),
        note_markers=notes.markers,
        note_paragraphs=notes.notes,
        price=recipe.price,
    )


def _cover_warnings(book: Book) -> list[str]:
    """The EPUB's cover will not be embedded (unreadable, a decompression bomb): say so now."""
    from pipeline.audio.cover import cover_problem

    problem = cover_problem(book.cover)
    return [problem] if problem else []


def _long_run_warnings(recipe: Recipe, assigned: list[_Assigned]) -> list[str]:
    """Runs of text without spaces longer than max_chars are cut between characters,
    which the listener hears mid-word: say where (not for CJK, written without spaces)."""
    pattern = re.compile(rf"\S{{{recipe.max_chars + 1},}}")
    warnings = []
    for a in assigned:
        if a.skip_reason or a.voice is None or a.voice.language in NO_SPACE_LANGUAGES:
            continue
        runs = [len(m.group()) for block in a.chapter.blocks for m in pattern.finditer(block.text)
                if not is_cjk_text(m.group()[:200])]
        if len(runs) == 1:
            warnings.append(f"chapter {a.chapter.index}: a {runs[0]:,}-character run without spaces is longer "
                            f"than max_chars {recipe.max_chars}; it is cut between characters")
        elif runs:
            warnings.append(f"chapter {a.chapter.index}: {len(runs)} runs without spaces are longer than max_chars "
                            f"{recipe.max_chars} (the longest {max(runs):,} characters); "
                            "they are cut between characters")
    return warnings


def _rule_warnings(recipe: Recipe, book: Book) -> list[str]:
    where = recipe.source.name if recipe.source else "recipe"
    return [
        f"{where}:{rule.line}: chapters: {rule.label} matches no chapter"
        for rule in recipe.chapters
        if not any(rule.matches(ch.index, ch.title) for ch in book.chapters)
    ]


def _voice_warnings(voices: VoicePicker, chapters: tuple[ChapterPlan, ...]) -> list[str]:
    """Every voice used must exist and speak its language (when a library says so)."""
    warnings: list[str] = []
    seen: set[Voice] = set()
    for c in chapters:
        for v in (c.voice, *(j.voice for j in c.jobs)):
            if not c.skipped and v not in seen:
                seen.add(v)
                warnings += voices.check(v)
    return warnings


def _normalized(recipe: Recipe, chapter: Chapter, removed: Counter[str]) -> Chapter:
    """Normalize, then make headings end like sentences so a voice pauses after them."""
    normalized, counts = normalize_chapter(chapter, recipe.normalize)
    removed.update(counts)
    normalized = prepare_names(recipe, normalized, removed)
    blocks = list(normalized.blocks)
    if not recipe.speak_titles:
        while blocks and blocks[0].kind == "heading":
            removed["titles_not_spoken"] += len(blocks.pop(0).text)
    for i, block in enumerate(blocks):
        if block.kind == "heading" and (ended := end_heading(block.text)) != block.text:
            blocks[i] = replace(block, text=ended)
            removed["title_stops"] -= 1
    return replace(normalized, blocks=tuple(blocks))


def _fold_headings(assigned: list[_Assigned]) -> list[_Assigned]:
    """A chapter that is only a heading ("Book I", "Part I: 1805") is read at the start of
    the next one, in the same voice, instead of being a track of two seconds; it stays in
    the plan as skipped, saying where it went. Chains fold together ("Book I", "Part I")."""
    out = list(assigned)
    pending: list[int] = []  # heading-only chapters waiting for the chapter they open
    for i, a in enumerate(out):
        if a.skip_reason:
            pending = []
            continue
        if pending and out[pending[0]].voice != a.voice:
            pending = []
        if all(b.kind == "heading" for b in a.chapter.blocks):
            pending.append(i)
            continue
        if pending:
            heads = [out[k].chapter for k in pending]
            blocks = tuple(b for h in heads for b in h.blocks) + a.chapter.blocks
            out[i] = replace(a, chapter=replace(a.chapter, blocks=blocks, title=_folded_title(heads, a.chapter)))
            for k in pending:
                out[k] = replace(out[k], skip_reason=f"heading only: read at the start of chapter {a.chapter.index}")
            pending = []
    return out


def _folded_title(heads: list[Chapter], chapter: Chapter) -> str:
    """Titles joined as the TOC joins them: "Book I, Part I: 1805 — Chapter I" (kept when
    the chapter's own title already names its parts)."""
    own = chapter.title
    chain = [h.title for h in heads if h.title and h.title not in own]
    return ", ".join(chain) + " — " + own if chain else own


def _guess_language(book: Book) -> str:
    sample = " ".join(b.text for ch in book.chapters if ch.matter == "body" for b in ch.blocks[:50])
    return detect_language(sample)


def _assign(recipe: Recipe, default_voice: DefaultVoice, chapter: Chapter, book_language: str) -> _Assigned:
    voice_id, emotion, speed, language = recipe.voice, recipe.emotion, recipe.speed, book_language
    rule_label, skip = "default", None
    for rule in recipe.chapters:
        if not rule.matches(chapter.index, chapter.title):
            continue
        rule_label = rule.label
        voice_id = rule.voice if rule.voice is not None else voice_id
        emotion = rule.emotion if rule.emotion is not None else emotion
        speed = rule.speed if rule.speed is not None else speed
        language = rule.language or language
        skip = rule.skip if rule.skip is not None else skip
    reason = ""
    if skip:
        reason = f"skipped by {rule_label}"
    elif skip is None and chapter.matter != "body" and not recipe.ingest.include_matter:
        reason = f"{chapter.matter} matter"
    elif not any(b.text for b in chapter.blocks):
        reason = "no spoken text"
    voice = Voice(_voice_id(default_voice, voice_id, language), emotion, speed, language)
    return _Assigned(chapter, voice, rule_label, reason)


def _voice_id(default_voice: DefaultVoice, voice_id: int | None, language: str) -> int:
    if voice_id is not None:
        return voice_id
    picked = default_voice(language)
    if picked is not None:
        return picked
    raise RecipeError(
        f"no voice for language '{language}': add `voice: ID` to the recipe (or a chapter rule with "
        f"`language: {language}` and `voice: ID`), or `voices: VOICES.json` (the console's voice list) "
        "to take its first voice of that language; `audiobook voices VOICES.json` lists them"
    )


def _train_splitters(assigned: list[_Assigned]) -> dict[str, SentenceSplitter]:
    """One Punkt model per language, trained on the text that will be spoken."""
    texts: dict[str, list[str]] = {}
    for a in assigned:
        if not a.skip_reason and a.voice is not None:
            whole = merge_joined(a.chapter, a.voice.language)
            texts.setdefault(a.voice.language, []).extend(b.text for b in whole.blocks if b.text)
    return {lang: SentenceSplitter.train(parts, lang) for lang, parts in texts.items()}


def _plan_chapter(
    recipe: Recipe, backend: str, a: _Assigned, splitters: dict[str, SentenceSplitter], reusable: Reusable | None,
    default_voice: DefaultVoice,
) -> ChapterPlan:
    voice = a.voice
    assert voice is not None
    title = a.chapter.title
    if a.skip_reason:
        text = chapter_text(a.chapter, voice.language) if a.chapter.blocks else ""
        return ChapterPlan(a.chapter.index, title, len(text), 0, 0, voice, a.rule, True, a.skip_reason)
    splitter = splitters[voice.language]
    chapter = split_quotes(recipe.dialogue, a.chapter, voice.language)
    runs = voice_runs(recipe, default_voice, chapter, voice)
    separate = frozenset({Boundary.TITLE}) if recipe.titles == "separate" else frozenset()
    jobs: list[Job] = []
    sentences: tuple[Sentence, ...] = ()
    for k, run in enumerate(runs):
        sentences = chapter_sentences(replace(chapter, blocks=run.blocks), splitter, voice.language)
        segments = _segment(recipe, a.chapter.index, voice.language, sentences, run.voice, reusable, separate)
        if k < len(runs) - 1:  # the run's end is a title, a scene break or a paragraph, not the chapter's
            segments = segments[:-1] + (replace(segments[-1], boundary_after=_run_end(run, runs[k + 1])),)
        jobs += [Job(replace(seg, index=len(jobs) + i), run.voice,
                     content_key(TTSRequest(seg.text, run.voice), backend),
                     credits_for(len(seg.text), recipe.billing_unit), run.speaker)
                 for i, seg in enumerate(segments)]
    credits = sum(j.credits for j in jobs)
    whole = sentences if len(runs) == 1 else chapter_sentences(merge_joined(chapter, voice.language), splitter,
                                                               voice.language)
    one_voice = _credits(recipe, a.chapter.index, voice, whole, separate) if len(runs) > 1 else credits
    merged = _credits(recipe, a.chapter.index, voice, whole, frozenset()) if separate else one_voice
    chars = len(chapter_text(a.chapter, voice.language))
    return ChapterPlan(
        index=a.chapter.index, title=title, chars=chars, credits=credits,
        min_credits=credits_for(chars, recipe.billing_unit), voice=voice, rule=a.rule, skipped=False,
        jobs=tuple(jobs), title_credits=one_voice - merged, voice_credits=credits - one_voice,
    )


def _segment(recipe: Recipe, chapter: int, language: str, sentences: tuple[Sentence, ...], voice: Voice,
             reusable: Reusable | None, separate: frozenset[Boundary]) -> tuple[Segment, ...]:
    return segment_chapter(
        sentences, chapter, language, max_chars=recipe.max_chars, billing_unit=recipe.billing_unit,
        cuts=recipe.cuts, reusable=reusable(voice) if reusable is not None else frozenset(), separate=separate,
    )


def _credits(recipe: Recipe, chapter: int, voice: Voice, sentences: tuple[Sentence, ...],
             separate: frozenset[Boundary]) -> int:
    """What the chapter would cost read in one voice (the baseline of title/voice costs)."""
    segs = segment_chapter(sentences, chapter, voice.language, max_chars=recipe.max_chars,
                           billing_unit=recipe.billing_unit, cuts=recipe.cuts, separate=separate)
    return sum(credits_for(len(s.text), recipe.billing_unit) for s in segs)


def _run_end(run: VoicedRun, following: VoicedRun) -> Boundary:
    """The cut after a run that does not end the chapter: what ends its last block, or
    a sentence/clause when the next voice goes on in the same paragraph."""
    if following.blocks[0].joined:  # a new voice takes at least a clause's breath
        return max(Boundary.CLAUSE, inner_boundary(run.blocks[-1].text))
    kind = run.blocks[-1].kind
    return Boundary.TITLE if kind == "heading" else Boundary.SCENE if kind == "scene_break" else Boundary.PARAGRAPH


def plan_to_dict(plan: Plan, cached: set[str] | None = None) -> dict[str, object]:
    """The `plan --json` shape (documented in the README)."""
    chapters = []
    for c in plan.chapters:
        row: dict[str, object] = {
            "index": c.index, "title": c.title, "chars": c.chars, "segments": len(c.jobs),
            "credits": c.credits, "min_credits": c.min_credits, "voice_id": c.voice.voice_id,
            "emotion": c.voice.emotion, "speed": _num(c.voice.speed), "language": c.voice.language,
            "skipped": c.skipped, "rule": c.rule, "voice_credits": c.voice_credits,
        }
        if c.skipped:
            row["skip_reason"] = c.skip_reason
        if cached is not None:
            row["cached_segments"] = sum(1 for j in c.jobs if j.key in cached)
            row["credits_to_spend"] = sum(j.credits for j in c.jobs if j.key not in cached)
        chapters.append(row)
    active = plan.active
    totals: dict[str, object] = {
        "chars": sum(c.chars for c in active), "segments": sum(len(c.jobs) for c in active),
        "credits": plan.credits, "min_credits": sum(c.min_credits for c in active),
        "title_credits": sum(c.title_credits for c in active),
        "voice_credits": sum(c.voice_credits for c in active),
    }
    totals["efficiency"] = round(totals["min_credits"] / plan.credits, 4) if plan.credits else 1.0  # type: ignore[operator]
    if cached is not None:
        totals["cached_segments"] = sum(r["cached_segments"] for r in chapters)  # type: ignore[misc]
        totals["credits_to_spend"] = sum(r["credits_to_spend"] for r in chapters)  # type: ignore[misc]
    if plan.price is not None:
        totals["money"] = money(plan.price, plan.credits, totals.get("credits_to_spend", plan.credits))
    return {
        "book": {"title": plan.title, "authors": list(plan.authors), "language": plan.language},
        "backend": backend_name(plan.backend),
        "chapters": chapters,
        "totals": totals,
        "removed_chars": dict(sorted(plan.removed_chars.items())),
        "notes": {"markers": plan.note_markers, "paragraphs": plan.note_paragraphs},
    }


def money(price: Price, planned: int, to_spend: object) -> dict[str, object]:
    """`totals.money` of `plan --json`: the credits in the recipe's currency."""
    spend = to_spend if isinstance(to_spend, int) else planned
    return {"currency": price.currency, "per_credit": price.per_credit, "planned": price.of(planned),
            "to_spend": price.of(spend)}


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x
