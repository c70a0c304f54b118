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
from pipeline.tts.base import Backend


@dataclass(frozen=True)
class BackendChoice:
    """Which service to use. The key is kept out of repr, logs and reports."""

    name: str
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def billed(self) -> bool:
        """The offline voice costs nothing; every other backend charges credits."""
        return self.name != "local"


def choose_backend(
    backend: str | None, api_url: str | None, api_key_file: str | None,
    env: Mapping[str, str] | None = None,
) -> BackendChoice:
    """--backend wins; else the vendor when a key is available, else the offline voice."""
    from pipeline.tts.client import resolve_api_key, resolve_base_url
    from pipeline.tts.secrets import ENV_URL

    env = os.environ if env is None else env
    key = resolve_api_key(env, Path(api_key_file) if api_key_file else None)
    name = backend or ("audiocleaner" if key else "local")
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
    """The backend object (the client and eSpeak are imported only when used)."""
    if choice.name == "local":
        from pipeline.tts.local import LocalBackend

        return LocalBackend(workers=workers)
    from pipeline.tts.client import AudioCleanerClient

    assert choice.api_key is not None and choice.url is not None
    return AudioCleanerClient(choice.api_key, choice.url)
