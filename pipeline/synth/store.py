"""The checkpoint store: one SQLite row per segment, keyed by the job's content hash.

Why SQLite: a committed row survives kill -9 (WAL + synchronous=FULL, measured), so a
job id is saved before it is ever polled and a paid task is never forgotten. The only
double payment possible is a crash between sending a create and committing its job id:
such rows are found in `submitting` on resume and counted as ambiguous resubmits, and
the spend ledger (ledger.py, same file) has already counted that create as uncertain.

States: planned -> submitting -> submitted(job_id) -> downloaded -> done, or failed.
A row with a job id is polled again, never created again, until the service says the
job is gone or failed. Each row also keeps its text and a canonical voice tag, so a
re-plan can ask which texts already have a finished clip in that voice
(`synthesized_texts`) and cut the chapter around them instead of paying for them again,
and the size and mtime of its clip, so a clip changed behind our back is noticed
without reading it. The API key is never stored here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DiskFullError, LockedError, StoreError, is_disk_full
from pipeline.models import Job, Voice

DB_NAME = "state.sqlite"  # in the state directory (pipeline.workspace.Workspace.store_path)
LOCK_NAME = ".audiobook.lock"
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
STATES: tuple[str, ...] = ("planned", "submitting", "submitted", "downloaded", "done", "failed")

# Numbered migrations: index i brings user_version i to i+1. Never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE segments (
        key TEXT PRIMARY KEY,
        chapter INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        chars INTEGER NOT NULL,
        credits INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'planned',
        job_id TEXT,
        submitted_at REAL,
        finished_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        creates INTEGER NOT NULL DEFAULT 0,
        polls INTEGER NOT NULL DEFAULT 0,
        credits_spent INTEGER NOT NULL DEFAULT 0,
        ambiguous INTEGER NOT NULL DEFAULT 0,
        recreated INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        clip TEXT,
        updated_at REAL NOT NULL
    );
    CREATE INDEX segments_state ON segments(state);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    ALTER TABLE segments ADD COLUMN text TEXT;
    ALTER TABLE segments ADD COLUMN voice TEXT;
    CREATE INDEX segments_voice_state ON segments(voice, state);
    """,
    """
    ALTER TABLE segments ADD COLUMN clip_size INTEGER;
    ALTER TABLE segments ADD COLUMN clip_mtime INTEGER;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at REAL NOT NULL,
        backend TEXT NOT NULL,
        cap INTEGER
    );
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run INTEGER NOT NULL,
        key TEXT NOT NULL,
        credits INTEGER NOT NULL,
        outcome TEXT NOT NULL DEFAULT 'intent',
        job_id TEXT,
        detail TEXT,
        sent_at REAL NOT NULL,
        resolved_at REAL
    );
    CREATE INDEX ledger_run_outcome ON ledger(run, outcome);
    """,
)


def voice_tag(voice: Voice) -> str:
    """Canonical string of the voice settings that shape a clip (speed as a float, so
    1 and 1.0 agree): rows with equal tags and texts hold interchangeable clips."""
    return json.dumps(
        {"voice_id": voice.voice_id, "emotion": voice.emotion, "speed": float(voice.speed), "language": voice.language},
        sort_keys=True,
    )


@dataclass(frozen=True)
class Row:
    """One segment's checkpoint as stored."""

    key: str
    chapter: int
    idx: int
    chars: int
    credits: int
    state: str
    job_id: str | None
    submitted_at: float | None
    attempts: int
    creates: int
    polls: int
    credits_spent: int
    ambiguous: int
    recreated: int
    failures: int
    error: str | None
    clip: str | None
    text: str | None = None  # NULL only for rows planned before migration 2
    voice: str | None = None
    clip_size: int | None = None  # of the clip when it was written (migration 3)
    clip_mtime: int | None = None  # its st_mtime_ns then


_ROW_COLS = ", ".join(Row.__dataclass_fields__)


def _acquire_lock(lock_path: Path) -> int:
    """flock the output dir's lock file; refuse politely when another build holds it."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise LockedError(
            f"{lock_path.parent} is being built by another audiobook process (pid {holder})",
            tip="Wait for it to finish, or stop it first.",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


WAL_WAIT_S = 30.0


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out racing openers.

    SQLite answers "database is locked" to a journal-mode change at once, without its
    busy handler, while another connection of a fresh database is mid-change; `plan`,
    `status` and a build opening one output directory together hit it on a loaded machine.
    """
    deadline = time.monotonic() + WAL_WAIT_S
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(0.2, delay * 2)


class Store:
    """Small class around the checkpoint database; every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock_fd: int | None) -> None:
        self._conn = conn
        self.path = path
        self._lock_fd = lock_fd
        self._depth = 0

    @classmethod
    def open(cls, path: Path, *, lock: bool = True) -> Store:
        """Open (create, migrate) the store at `path`, the database file (a build passes
        Workspace.store_path); a directory is taken as a state directory holding DB_NAME."""
        path = Path(path)
        db = path if path.suffix in DB_SUFFIXES and not path.is_dir() else path / DB_NAME
        db.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire_lock(db.parent / LOCK_NAME) if lock else None
        try:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30.0)
            conn.execute("PRAGMA busy_timeout=30000")  # first: a racing opener waits, not fails
            _enter_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            store = cls(conn, db, fd)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            if fd is not None:
                os.close(fd)
            if is_disk_full(exc):
                raise DiskFullError(f"the disk holding {db} is full; free some space, then run again") from exc
            raise StoreError(f"checkpoint store {db} is unreadable: {exc}") from exc
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        return store

    def _migrate(self) -> None:
        """Bring the schema up to date in ONE write transaction.

        Why the version is read inside it: `plan` and `status` open the store without the
        build lock, and two openers that both read version 1 outside a transaction would
        both apply migration 2 ("duplicate column name"). Under BEGIN IMMEDIATE the second
        opener waits, then sees the new version and does nothing.
        """
        if self.version >= len(MIGRATIONS):
            self._check_version(self.version)
            return
        with self.atomic():
            version = self.version
            self._check_version(version)
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version={number + 1}")

    def _check_version(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise StoreError(
                f"checkpoint store {self.path} is version {version}, newer than this program "
                f"({len(MIGRATIONS)})",
                tip="Upgrade audiobook, or build into a new output directory.",
            )

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for the ledger (ledger.py) that shares this file and its transactions."""
        return self._conn

    @property
    def version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction (nested calls join the outer one); committed on exit."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    # --- plan and reads -----------------------------------------------------------

    def sync_plan(self, jobs: Sequence[Job]) -> None:
        """Insert planned rows for new keys; existing rows keep their state (only a
        missing text or voice tag, from before migration 2, is filled in)."""
        now = time.time()
        with self.atomic() as conn:
            conn.executemany(
                "INSERT INTO segments (key, chapter, idx, chars, credits, updated_at, text, voice)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET text=COALESCE(text, excluded.text),"
                " voice=COALESCE(voice, excluded.voice) WHERE text IS NULL OR voice IS NULL",
                [
                    (j.key, j.segment.chapter, j.segment.index, len(j.segment.text), j.credits, now,
                     j.segment.text, voice_tag(j.voice))
                    for j in jobs
                ],
            )

    def synthesized_texts(self, tag: str) -> set[str]:
        """Texts with a finished clip (state done) in the voice `tag` (see `voice_tag`):
        what a re-plan may reuse for free."""
        found = self._conn.execute(
            "SELECT text FROM segments WHERE voice=? AND state='done' AND text IS NOT NULL", (tag,)
        )
        return {text for (text,) in found}

    def row(self, key: str) -> Row | None:
        found = self._conn.execute(f"SELECT {_ROW_COLS} FROM segments WHERE key=?", (key,)).fetchone()
        return Row(*found) if found else None

    def rows(self, keys: Sequence[str] | None = None) -> list[Row]:
        found = [Row(*r) for r in self._conn.execute(f"SELECT {_ROW_COLS} FROM segments ORDER BY chapter, idx")]
        if keys is None:
            return found
        wanted = set(keys)
        return [r for r in found if r.key in wanted]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, n in self._conn.execute("SELECT state, COUNT(*) FROM segments GROUP BY state"):
            out[state] = int(n)
        return out

    # --- transitions (each one commit) --------------------------------------------

    def _update(self, key: str, sql: str, *params: object) -> None:
        with self.atomic() as conn:
            cur = conn.execute(f"UPDATE segments SET {sql}, updated_at=? WHERE key=?", (*params, time.time(), key))
            if cur.rowcount != 1:
                raise StoreError(f"no checkpoint row for segment {key}")

    def mark_submitting(self, key: str) -> None:
        """Committed BEFORE a create is sent: a crash now leaves an ambiguous row."""
        self._update(key, "state='submitting', attempts=attempts+1")

    def unmark_submitting(self, key: str) -> None:
        """The create was refused (no task exists): back to planned, nothing paid."""
        self._update(key, "state='planned'")

    def mark_submitted(self, key: str, job_id: str, credits: int, at: float | None = None) -> None:
        """Committed before the first poll: the job id is never lost."""
        self._update(
            key,
            "state='submitted', job_id=?, submitted_at=?, creates=creates+1, credits_spent=credits_spent+?, error=NULL",
            job_id, time.time() if at is None else at, credits,
        )

    def add_poll(self, key: str) -> None:
        self._update(key, "polls=polls+1")

    def mark_recreate(self, key: str, reason: str, *, failed: bool = False) -> None:
        """Forget a task (failed, expired): the next create is counted as a re-creation."""
        extra = ", failures=failures+1" if failed else ""
        self._update(key, f"state='planned', job_id=NULL, recreated=recreated+1, error=?{extra}", reason)

    def mark_done(self, key: str, clip: Path) -> None:
        """The clip is on disk (fsynced, renamed): remember its size and mtime too, so a
        later run notices a clip truncated or replaced behind our back without reading it."""
        st = clip.stat()
        self._update(
            key, "state='done', clip=?, clip_size=?, clip_mtime=?, finished_at=?, error=NULL",
            str(clip), st.st_size, st.st_mtime_ns, time.time(),
        )

    def note_clip(self, key: str, clip: Path) -> None:
        """A clip found valid by verification (e.g. after the store was lost): record its stat."""
        st = clip.stat()
        self._update(key, "clip=?, clip_size=?, clip_mtime=?", str(clip), st.st_size, st.st_mtime_ns)

    def mark_failed(self, key: str, error: str) -> None:
        """Cannot be completed in this run. A job id is kept: the next run polls it again."""
        self._update(key, "state='failed', error=?, failures=failures+1", error)

    def mark_stalled(self, key: str, error: str) -> None:
        """Our side (polls, downloads, deadline) could not finish a paid task this run: it stays
        `submitted` with its job id, so the next run polls the same job instead of buying it again."""
        self._update(key, "state=CASE WHEN job_id IS NULL THEN 'planned' ELSE 'submitted' END, error=?", error)

    def drop_job(self, key: str) -> None:
        """The service said this job failed for good: forget its id (nothing left to poll)."""
        self._update(key, "job_id=NULL")

    def requeue(self, key: str) -> None:
        """A finished clip vanished or failed verification, or a failed row gets a new run: with
        a job id it is polled (and downloaded) again, without one it is planned anew."""
        self._update(
            key, "state=CASE WHEN job_id IS NULL THEN 'planned' ELSE 'submitted' END, clip=NULL,"
            " clip_size=NULL, clip_mtime=NULL",
        )

    def recover_submitting(self) -> int:
        """Rows left in `submitting` by a crash may have been paid: count, then re-plan them."""
        with self.atomic() as conn:
            cur = conn.execute(
                "UPDATE segments SET state='planned', ambiguous=ambiguous+1, updated_at=? WHERE state='submitting'",
                (time.time(),),
            )
            return int(cur.rowcount)
