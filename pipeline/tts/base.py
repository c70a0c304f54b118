"""The one interface the synthesis engine drives: the vendor client and the local voice.

Both behave like the vendor's task API (create, poll, download) so the scheduler has
one code path; the local voice simply finishes its "tasks" in a worker thread.
"""

from __future__ import annotations

from typing import Protocol

from pipeline.models import TaskStatus, TTSRequest


class Backend(Protocol):
    name: str  # "audiocleaner" or "local"; part of every clip's content key

    async def create(self, request: TTSRequest) -> str:
        """Submit a task; return its job id. Raises pipeline.errors.APIError subclasses."""
        ...

    async def get(self, job_id: str) -> TaskStatus:
        """Query a task (the vendor's `global_id`)."""
        ...

    async def download(self, url: str) -> bytes:
        """Fetch a finished task's audio; verified to be decodable audio."""
        ...

    async def aclose(self) -> None:
        ...
