"""The voice choice the plan is given: default voice per language, and voice checks.

The plan is pure and knows no backend; the commands build this picker from the tts
package (voice library, offline voices, the vendor's documented default) and inject it,
the way the build injects which texts are already synthesized.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import UserError
from pipeline.models import PiperSettings, Voice, backend_name, is_offline
from pipeline.tts.voices import VoiceInfo, VoiceLibrary, check_voice, load_voice_library

if TYPE_CHECKING:
    from pipeline.tts.piper_voices import PiperVoiceFile

# The vendor's guide documents one voice: 2072 "Madison" (en). Other languages need `voice:`.
VENDOR_DEFAULT_VOICES = {"en": 2072}


@dataclass(frozen=True)
class LibraryPicker:
    """Voices from the recipe's voice library (if any), else the backend's defaults.

    The library file is read on first use, so a bad book is reported before a bad library
    as it always was.
    """

    backend: str  # the content-key identity (`piper:<hash>` for Piper)
    library_path: Path | None = None
    piper: PiperSettings = PiperSettings()

    @cached_property
    def library(self) -> VoiceLibrary | None:
        return load_voice_library(self.library_path) if self.library_path is not None else None

    def default_voice(self, language: str) -> int | None:
        """The voice id for a chapter whose recipe names none; None when there is none."""
        picked = self._library_pick(language)
        if picked is not None:
            return picked.id
        name = backend_name(self.backend)
        if name == "piper" and self._piper_speaks(language):
            from pipeline.tts.piper_voices import PIPER_ID_BASE

            return PIPER_ID_BASE
        if is_offline(name):  # Piper's fallback (or its refusal, in check) is eSpeak's
            from pipeline.tts.local_voices import default_local_voice

            return default_local_voice(language)
        return VENDOR_DEFAULT_VOICES.get(language)

    @cached_property
    def piper_voice(self) -> PiperVoiceFile:
        """The Piper voice the settings name (read once per picker)."""
        from pipeline.tts.piper_voices import voice_for

        return voice_for(self.piper)

    def _piper_speaks(self, language: str) -> bool:
        return self.piper_voice.language == language

    def _library_pick(self, language: str) -> VoiceInfo | None:
        """The library's first voice of the language, preferring one with a narration style."""
        if self.library is None:
            return None
        own = [v for v in self.library.voices if v.language == language] or list(self.library.for_language(language))
        narrators = [v for v in own if any("narrat" in s.lower() for s in v.styles)]
        pool = narrators or own
        return pool[0] if pool else None

    def library_note(self, language: str) -> str | None:
        """What `plan` says when a language's voice came from the library, not the recipe."""
        picked = self._library_pick(language)
        if picked is None:
            return None
        why = "narration style" if any("narrat" in s.lower() for s in picked.styles) else "voice"
        return (f"no voice set for '{language}': using {picked.id} ({picked.display_name}), the voice library's "
                f"first '{language}' {why} ({self.library_path}); set `voice:` to choose")

    def check(self, voice: Voice) -> list[str]:
        """Warnings for a voice the library does not have or that does not speak its language;
        a UserError for a language the Piper voice cannot speak (unless eSpeak NG may)."""
        if backend_name(self.backend) == "piper" and not self._piper_speaks(voice.language):
            if self.piper.fallback != "local":
                from pipeline.tts.piper_voices import cannot_speak

                raise UserError(cannot_speak(self.piper_voice, voice.language))
            return []
        if self.library is None:
            return []
        return check_voice(self.library, voice.voice_id, voice.language, voice.emotion)


def voice_picker(backend: str, library_path: Path | None, piper: PiperSettings | None = None) -> LibraryPicker:
    return LibraryPicker(backend, library_path, piper or PiperSettings())
