"""The project's one exception tree.

Every error the pipeline raises on purpose is an `AudiobookError`. Each class says
whether the user can fix it (`expected`) and which exit code the CLI gives it, so
one place (`pipeline.cli`) can turn any of them into a one-line message:

    0 done, 1 bug, 2 bad input or config, 3 stopped and resumable, 130 interrupted.

Messages must never contain the API key; build them from codes and field names.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

    from pipeline.synth.options import SynthResult

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER = 2
EXIT_RESUMABLE = 3
EXIT_INTERRUPTED = 130


class AudiobookError(Exception):
    """Base of every deliberate error. `expected` errors print without a traceback."""

    exit_code: int = EXIT_BUG
    expected: bool = False
    tip: str | None = None
    partial: SynthResult | None = None  # what a synthesis run had done when it stopped with this

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        if tip is not None:
            self.tip = tip

    def with_partial(self, result: SynthResult) -> Self:
        """Attach the counts of the run this error stopped (report.json keeps them)."""
        self.partial = result
        return self

    @property
    def result(self) -> SynthResult | None:
        """The former name of `partial`, still read by tests/synth."""
        return self.partial

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


# --- the user can fix these: bad input or configuration (exit 2) -----------------


class UserError(AudiobookError):
    """Bad input, bad configuration, or a refused action: the user can fix it."""

    exit_code = EXIT_USER
    expected = True


class BookError(UserError):
    """The book file cannot be read as the format it claims to be."""


class DRMError(BookError):
    """The EPUB's content is encrypted; we never try to break DRM."""


class RecipeError(UserError):
    """The recipe is invalid. Message names file, line and key path."""


class BudgetError(UserError):
    """The planned cost exceeds what the user allowed (--max-credits, declined prompt)."""


class LockedError(UserError):
    """Another build holds the output directory's lock."""


class OutputDirError(UserError):
    """The output directory cannot be used: /, the home directory, not a directory,
    not writable, or a non-empty directory holding files that are not ours."""


class OwnershipError(OutputDirError):
    """The output directory belongs to another book (take it over with --force-output)."""


# --- the program or environment failed (exit 1) ---------------------------------


class AudioError(AudiobookError):
    """Audio could not be decoded, encoded or measured."""

    expected = True


class FFmpegError(AudioError):
    """ffmpeg exited non-zero; the message carries its last stderr line."""


class BadAudioError(AudioError):
    """Bytes that should be audio are truncated, empty or not audio at all."""


class StoreError(AudiobookError):
    """The checkpoint store is unreadable or from an unknown future version."""

    expected = True


# --- the TTS service (vendor, emulator or local voice) ---------------------------


class APIError(AudiobookError):
    """A reply from the TTS service that is not success. `code` is the vendor code."""

    expected = True
    code: int | None = None
    retryable: bool = False

    def __init__(self, message: str, *, code: int | None = None, tip: str | None = None) -> None:
        super().__init__(message, tip=tip)
        if code is not None:
            self.code = code


class FatalKeyError(APIError):
    """The key cannot be used at all: stop at once, never retry (exit 2)."""

    exit_code = EXIT_USER


class InvalidKeyError(FatalKeyError):
    code = 101002
    tip = "Check AUDIOCLEANER_API_KEY (or the file given with --api-key-file)."


class KeyDisabledError(FatalKeyError):
    code = 101005
    tip = "The vendor suspended this key; contact their support."


class KeyNotEnabledError(FatalKeyError):
    code = 101006
    tip = "Enable the key in the vendor's console, then run the same command again."


class CreditsExhaustedError(APIError):
    """100100: no credits left. Stop creating; the build is resumable (exit 3)."""

    code = 100100
    exit_code = EXIT_RESUMABLE
    tip = "Top up the account, then run the same command again: nothing done is lost."


class TransientAPIError(APIError):
    """Worth retrying after a pause."""

    retryable = True


class RateLimitedError(TransientAPIError):
    """101003: the key's request rate was exceeded: slow the whole request budget."""

    code = 101003


class ConcurrencyLimitedError(TransientAPIError):
    """101004: too many open tasks or requests: lower our own concurrency."""

    code = 101004


class ServerFaultError(TransientAPIError):
    """5xx, timeout, reset connection, non-JSON body or an envelope without code/data.

    On a create this is an *uncertain* outcome: the service may have made (and billed)
    a task whose job id we never learned.
    """


class NotSentError(ServerFaultError):
    """The request never reached the service (connection refused, name not resolved,
    connect timeout): on a create, nothing can have been charged."""


class ReplyTooLargeError(ServerFaultError):
    """A reply body over the client's cap (read no further: memory stays bounded)."""


class TaskNotFoundError(APIError):
    """101008: the job id never existed, expired or belongs to another key."""

    code = 101008


class UnknownAPIError(APIError):
    """A code the vendor does not document; the message names code and message."""


class TextRejectedError(APIError):
    """The service refused a text (e.g. too long): say so clearly, never retry blindly."""

    exit_code = EXIT_USER


class DownloadError(TransientAPIError):
    """The result file could not be fetched (expired URL, dropped connection)."""


class UnsafeURLError(APIError):
    """An output URL we refuse to fetch (not https, nor http to loopback)."""


# --- run control -----------------------------------------------------------------


class StoppedError(AudiobookError):
    """The build stopped with work left; running it again continues (exit 3)."""

    exit_code = EXIT_RESUMABLE
    expected = True


class DiskFullError(StoppedError):
    """No space left where the build writes: free some, then run the same command (exit 3)."""


class CapReachedError(StoppedError):
    """The next create would take the spend past --max-credits / synthesis.max_credits."""


class UncertainRepliesError(StoppedError):
    """Several creates in a row got no readable reply: each may have been billed, so stop."""


class TasksStalledError(StoppedError):
    """Tasks with a job id could not be finished in this run (still waiting past
    task_timeout, or their polls/downloads kept failing); a rerun polls the same ids."""


class SynthesisFailedError(AudiobookError):
    """Some segments failed after every allowed retry; the rest is kept (exit 1)."""

    exit_code = EXIT_BUG
    expected = True


# One table from vendor code to class: the only place codes are interpreted.
API_CODES: dict[int, type[APIError]] = {
    100100: CreditsExhaustedError,
    101002: InvalidKeyError,
    101003: RateLimitedError,
    101004: ConcurrencyLimitedError,
    101005: KeyDisabledError,
    101006: KeyNotEnabledError,
    101008: TaskNotFoundError,
}

SUCCESS_CODE = 100000


def api_error(code: int, message: str) -> APIError:
    """Build the error for a non-success vendor `code` (message is the vendor's)."""
    cls = API_CODES.get(code, UnknownAPIError)
    return cls(f"Audio Cleaner API error {code}: {message or 'no message'}", code=code)


# --- appended by the API client (download outcomes the scheduler tells apart) -----


class OutputExpiredError(DownloadError):
    """The output URL answered 403/404/410: poll the job again or re-create it."""

    expired: bool = True  # tests/tts tell it from other download failures by this flag


class CorruptDownloadError(DownloadError, BadAudioError):
    """The file host sent a body that is truncated or not audio: fetch it again."""


class CorruptClipError(BadAudioError):
    """A clip in the cache fails verification (truncated or replaced since it was
    written): it is moved aside and fetched again. `path` names the file."""

    def __init__(self, message: str, *, path: str = "", key: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.key = key


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from a write, SQLite's "database or disk is full", or ffmpeg saying so."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
        return True
    return isinstance(exc, FFmpegError) and "no space left" in exc.message.lower()
