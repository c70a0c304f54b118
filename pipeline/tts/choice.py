"""Which TTS backend a command uses, and opening it.

Here, not in the build orchestrator: the choice reads the key and URL rules of the tts
package (secrets.py, client.py), and `plan`, `build` and `status` all make it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UserError
from pipeline.models import PiperSettings, is_offline
from pipeline.tts.base import Backend


@dataclass(frozen=True)
class BackendChoice:
    """Which service to use. The key is kept out of repr, logs and reports."""

    name: str
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    piper: PiperSettings = PiperSettings()  # the voice when name is "piper"

    @property
    def billed(self) -> bool:
        """The offline voices cost nothing; the vendor charges credits."""
        return not is_offline(self.name)

    @property
    def identity(self) -> str:
        """The backend as content keys name it: Piper adds its model file's hash."""
        return identity_for(self.name, self.piper)

    @property
    def label(self) -> str:
        """What the CLI says it is using."""
        if self.name == "local":
            return "the offline voice (eSpeak NG); this build costs nothing"
        if self.name == "piper":
            from pipeline.tts.piper_voices import voice_for

            return f"the Piper neural voice {voice_for(self.piper).name} (offline); this build costs nothing"
        return f"the Audio Cleaner API at {self.url}"


def identity_for(name: str, piper: PiperSettings) -> str:
    """`piper` as `piper:<model hash>` (the voice the settings name); other names as given."""
    if name != "piper":
        return name
    from pipeline.tts.piper_voices import voice_for

    return voice_for(piper).identity


def choose_backend(
    backend: str | None, api_url: str | None, api_key_file: str | None,
    env: Mapping[str, str] | None = None, recipe_backend: str | None = None, piper: PiperSettings | None = None,
) -> BackendChoice:
    """--backend wins, then the recipe's `backend:`; else the vendor when a key is
    available, else the offline voice."""
    from pipeline.tts.client import resolve_api_key, resolve_base_url
    from pipeline.tts.secrets import ENV_URL

    env = os.environ if env is None else env
    key = resolve_api_key(env, Path(api_key_file) if api_key_file else None)
    backend = backend or recipe_backend
    name = backend or ("audiocleaner" if key else "local")
    if name == "piper":
        from pipeline.tts.piper_voices import require_piper, voice_for

        require_piper()
        voice_for(piper)  # the voice file is checked before any work
        return BackendChoice(name, piper=piper or PiperSettings())
    if name == "audiocleaner" and not key:
        raise UserError(
            "the audiocleaner backend needs an API key: set AUDIOCLEANER_API_KEY or pass --api-key-file",
            tip="Without a key, --backend local builds with the offline voice.",
        )
    if backend is None and not key and ((api_url or "").strip() or env.get(ENV_URL, "").strip()):
        raise UserError(
            "an API URL is given (--api-url or AUDIOCLEANER_API_URL) but no API key: "
            "set AUDIOCLEANER_API_KEY or pass --api-key-file",
            tip="To build offline with the embedded voice instead, pass --backend local.",
        )
    url = resolve_base_url(env, api_url) if name == "audiocleaner" else None
    return BackendChoice(name, url, key if name == "audiocleaner" else None)


def open_backend(choice: BackendChoice, workers: int = 2) -> Backend:
    """The backend object (the client, eSpeak and Piper are imported only when used)."""
    if choice.name == "piper":
        from pipeline.tts.piper import PiperBackend
        from pipeline.tts.piper_voices import voice_for

        return PiperBackend(voice_for(choice.piper), fallback=choice.piper.fallback == "local")
    if choice.name == "local":
        from pipeline.tts.local import LocalBackend

        return LocalBackend(workers=workers)
    from pipeline.tts.client import AudioCleanerClient

    assert choice.api_key is not None and choice.url is not None
    return AudioCleanerClient(choice.api_key, choice.url)
