"""Which voice reads each block of a chapter: the narrator's, a cast member's, a language's.

The book marks speakers (EPUB drama tables: `Block.speaker`) and language passages
(`xml:lang`: `Block.lang`); the recipe's `cast:` and `languages:` give them voices. With
`dialogue:`, prose paragraphs are cut into narration and quotes (pipeline.text.dialogue),
each quote in the dialogue voice or its attributed speaker's.
Consecutive blocks in one voice form a `VoicedRun`, and the segmenter runs within each
run, so no request ever spans a change of voice or language.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from pipeline.errors import RecipeError
from pipeline.models import Block, Chapter, Voice, joiner_for
from pipeline.recipe import Recipe
from pipeline.recipe_voices import CastMember, DialogueVoice, LanguageVoice, VoiceSpec, speaker_key
from pipeline.text.dialogue import attribute, split_dialogue
from pipeline.text.normalize import end_heading

DefaultVoice = Callable[[str], int | None]


@dataclass(frozen=True)
class VoicedRun:
    """Consecutive blocks read in one voice; `speaker` is the cast member (None: narration)."""

    blocks: tuple[Block, ...]
    voice: Voice
    speaker: str | None


def speaker_names_read(recipe: Recipe) -> bool:
    """`speaker_names`, defaulting to skip when a cast voices the speakers, read when not."""
    return recipe.speaker_names == "read" if recipe.speaker_names else not recipe.cast


def prepare_names(recipe: Recipe, chapter: Chapter, removed: Counter[str]) -> Chapter:
    """Persona labels ("Bernardo") dropped, or ended like a sentence so a pause follows."""
    if not any(b.role == "name" for b in chapter.blocks):
        return chapter
    keep = speaker_names_read(recipe)
    blocks = []
    for b in chapter.blocks:
        if b.role != "name":
            blocks.append(b)
        elif keep:
            ended = end_heading(b.text)
            removed["speaker_name_stops"] -= len(ended) - len(b.text)
            blocks.append(replace(b, text=ended))
        else:
            removed["speaker_names"] += len(b.text)
    return replace(chapter, blocks=tuple(blocks))


def split_quotes(dialogue: DialogueVoice | None, chapter: Chapter, language: str) -> Chapter:
    """With `dialogue:`, each prose paragraph in the chapter's language cut into narration
    and quote blocks (`role` "quote", `speaker` when attributed), joined to it."""
    if dialogue is None:
        return chapter
    blocks: list[Block] = []
    for b in chapter.blocks:
        pieces = split_dialogue(b.text, language) if b.kind == "paragraph" and b.role == "text" and not (
            b.speaker or b.lang) else []
        if dialogue.attribution:
            pieces = attribute(pieces, language)
        if len(pieces) < 2 and not any(p.quote for p in pieces):
            blocks.append(b)
            continue
        blocks += [replace(b, text=p.text, role="quote" if p.quote else "text", speaker=p.speaker,
                           joined=b.joined if k == 0 else True) for k, p in enumerate(pieces)]
    return replace(chapter, blocks=tuple(blocks))


def voice_runs(recipe: Recipe, default_voice: DefaultVoice, chapter: Chapter, narrator: Voice) -> list[VoicedRun]:
    """The chapter's blocks grouped into runs of one voice, in reading order. Scene
    breaks stay with the run before them (their pause ends it)."""
    cast = {key: m for m in recipe.cast for key in m.keys}
    languages = {lv.tag: lv for lv in recipe.languages}
    runs: list[VoicedRun] = []
    for block in chapter.blocks:
        if block.kind == "scene_break" and runs:
            voice, speaker = runs[-1].voice, runs[-1].speaker
        elif block.role == "quote" and not (block.speaker and speaker_key(block.speaker) in cast):
            voice, speaker = _dialogue_voice(recipe.dialogue, narrator, default_voice), None
        else:
            voice, speaker = _block_voice(block, narrator, cast, languages, recipe.min_passage, default_voice)
        if runs and runs[-1].voice == voice and runs[-1].speaker == speaker:
            runs[-1] = replace(runs[-1], blocks=_join(runs[-1].blocks, block, joiner_for(narrator.language)))
        else:
            runs.append(VoicedRun((block,), voice, speaker))
    return runs


def merge_joined(chapter: Chapter, language: str) -> Chapter:
    """The chapter with every paragraph whole again, as one voice reads it."""
    blocks: tuple[Block, ...] = ()
    for block in chapter.blocks:
        blocks = _join(blocks, block, joiner_for(language))
    return replace(chapter, blocks=blocks)


def _join(blocks: tuple[Block, ...], block: Block, joiner: str) -> tuple[Block, ...]:
    """`block` after `blocks`; a piece that goes on the paragraph before it (same kind)
    is put back into it, so a passage left in the surrounding voice reads as before."""
    if block.joined and blocks and blocks[-1].kind == block.kind and block.kind != "scene_break":
        last = blocks[-1]
        return blocks[:-1] + (replace(last, text=last.text + ("\n" if block.kind == "verse" else joiner) + block.text),)
    return blocks + (block,)


def _block_voice(block: Block, narrator: Voice, cast: dict[str, CastMember], languages: dict[str, LanguageVoice],
                 min_passage: int, default_voice: DefaultVoice) -> tuple[Voice, str | None]:
    member = cast.get(speaker_key(block.speaker)) if block.speaker and block.role != "name" else None
    tag = (block.lang or "").replace("_", "-").split("-")[0].lower()
    lang = languages.get(tag) if tag and len(block.text) >= min_passage else None
    if lang is not None and lang.spec.voice is None and (
            lang.spec.language == narrator.language or default_voice(lang.spec.language or tag) is None):
        lang = None  # nothing to switch to: the passage stays in the chapter's voice (plan warns)
    language = lang.spec.language if lang is not None and lang.spec.language else narrator.language
    if member is not None:
        return _apply(member.spec, narrator, language, default_voice), member.name
    if lang is not None:
        return _apply(lang.spec, narrator, language, default_voice), None
    return narrator, None


def _dialogue_voice(dialogue: DialogueVoice | None, narrator: Voice, default_voice: DefaultVoice) -> Voice:
    return _apply(dialogue.spec, narrator, narrator.language, default_voice) if dialogue else narrator


def missing_language_voices(recipe: Recipe, default_voice: DefaultVoice) -> list[str]:
    """`languages:` entries left to a default the backend does not have, for `plan`."""
    return [f"languages: no voice for '{lv.spec.language}' on this backend, so '{lv.tag}' passages are read by "
            f"the chapter's voice; add `{lv.tag}: {{voice: ID}}` or `voices: VOICES.json` to the recipe"
            for lv in recipe.languages if lv.spec.voice is None and default_voice(lv.spec.language or lv.tag) is None]


def _apply(spec: VoiceSpec, narrator: Voice, language: str, default_voice: DefaultVoice) -> Voice:
    """The narrator's voice with the spec's changes; a new language without a voice id
    takes the backend's (or voice library's) default voice for it."""
    voice_id = spec.voice
    if voice_id is None:
        voice_id = narrator.voice_id if language == narrator.language else default_voice(language)
    if voice_id is None:
        raise RecipeError(f"no voice for language '{language}': add `languages: {{{language}: {{voice: ID}}}}` "
                          "to the recipe, or `voices: VOICES.json` (the console's voice list) to pick one from")
    return Voice(voice_id,
                 spec.emotion if spec.emotion is not None else narrator.emotion,
                 spec.speed if spec.speed is not None else narrator.speed,
                 language)


@dataclass(frozen=True)
class SpeakerCount:
    """A speaker the book marks, for `plan --cast`: how much they say, and their voice."""

    name: str
    lines: int  # speeches (persona labels)
    chars: int  # characters of their speeches
    cast: str | None  # the recipe's cast name when cast, else None (read by the narrator)


def count_speakers(recipe: Recipe, chapters: tuple[Chapter, ...], language: str = "en") -> tuple[SpeakerCount, ...]:
    """Every speaker found in the chapters read (drama markup, and with `dialogue:` the
    attributed quotes of prose), most characters first."""
    cast = {key: m.name for m in recipe.cast for key in m.keys}
    names: dict[str, Counter[str]] = {}
    lines: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    for ch in chapters:
        if ch.matter != "body" and not recipe.ingest.include_matter:
            continue
        said: set[str] = set()  # speakers whose line in this paragraph is counted
        for b in split_quotes(recipe.dialogue, ch, language).blocks:
            said = said if b.joined else set()
            if b.role == "name":
                key = speaker_key(b.text)
                lines[key] += 1
                names.setdefault(key, Counter())[b.text] += 1
            elif b.speaker:
                key = speaker_key(b.speaker)
                chars[key] += len(b.text)
                names.setdefault(key, Counter())[b.speaker] += 1
                if b.role == "quote" and key not in said:
                    lines[key] += 1
                    said.add(key)
    rows = [SpeakerCount(names[k].most_common(1)[0][0], lines[k], chars[k], cast.get(k)) for k in names if chars[k]]
    return tuple(sorted(rows, key=lambda r: (-r.chars, r.name)))
