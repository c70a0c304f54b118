"""The output directory: its one layout, where a build may write, which book owns it.

Why a module of its own: a build deletes and rewrites files in its output directory
(renamed chapters, rebuilt M4B), so it must never run in a place holding other files
(`/`, the home directory, someone's music folder) or another book's audiobook. The
checkpoint store records the owner (title, authors, book file, recipe); building a
different book there is refused unless the user asks to take the directory over.

`Workspace` is the layout, built once per command from the recipe: every path a build
reads or writes (state directory, checkpoint store, clip cache, report) comes from it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import DiskFullError, OutputDirError, OwnershipError, is_disk_full
from pipeline.synth.cache import ClipCache
from pipeline.synth.store import DB_NAME, Store

if TYPE_CHECKING:
    from pipeline.recipe import Recipe

STATE_DIR = ".audiobook"
STORE_NAME = DB_NAME
CLIPS_DIR = "clips"
REPORT_NAME = "report.json"
OWNER_KEY = "owner"
OUR_OUTPUTS = (".mp3", ".m4b", ".m3u", ".wav", ".flac")


@dataclass(frozen=True)
class Workspace:
    """Where one book's build lives: `<out>/`, `<out>/.audiobook/state.sqlite`, the clip
    cache (`synthesis.cache_dir`, else `<out>/clips`) and `<out>/report.json`."""

    output_dir: Path
    clips_dir: Path

    @classmethod
    def of(cls, recipe: Recipe) -> Workspace:
        out = recipe.output_dir
        return cls(out, recipe.synthesis.cache_dir or out / CLIPS_DIR)

    @property
    def state_dir(self) -> Path:
        return self.output_dir / STATE_DIR

    @property
    def store_path(self) -> Path:
        return self.state_dir / STORE_NAME

    @property
    def report_path(self) -> Path:
        return self.output_dir / REPORT_NAME

    def cache(self) -> ClipCache:
        return ClipCache(self.clips_dir)

    def open_store(self, *, lock: bool = True) -> Store:
        """The checkpoint store; locked, a second build on this directory is refused."""
        return Store.open(self.store_path, lock=lock)


@dataclass(frozen=True)
class Owner:
    """The book an output directory holds."""

    title: str
    authors: tuple[str, ...]
    book: str  # the book file
    recipe: str | None  # the recipe file, if any

    def same_book(self, other: Owner) -> bool:
        """Same file, or the same title and authors (a moved book, a re-titled recipe)."""
        return self.book == other.book or (_norm(self.title) == _norm(other.title)
                                           and [_norm(a) for a in self.authors] == [_norm(a) for a in other.authors])

    def describe(self) -> str:
        by = f" by {', '.join(self.authors)}" if self.authors else ""
        src = f" (recipe {self.recipe})" if self.recipe else f" (book {self.book})"
        return f"'{self.title}'{by}{src}"


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _refused_places() -> set[Path]:
    """`/`, the home directory and every directory above it."""
    home = Path.home().resolve()
    return {home, *home.parents, Path("/")}


def check_output_dir(out: Path) -> None:
    """Refuse a place a build must not write into; create it and prove it is writable.

    Raises OutputDirError (exit 2) with one line naming the directory, or DiskFullError.
    """
    out = Path(out).resolve()
    if out in _refused_places():
        raise OutputDirError(f"refusing to build into {out}: choose a directory of its own for the audiobook")
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"the output directory {out} is not a directory")
    if out.is_dir() and not looks_like_a_build(out) and _has_entries(out):
        raise OutputDirError(
            f"the output directory {out} is not empty and holds no audiobook build; "
            "choose an empty or new directory (a build deletes and rewrites files in it)"
        )
    try:
        (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out / STATE_DIR, prefix=".probe-"):
            pass
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFullError(f"the disk holding {out} is full; free some space, then run again") from None
        raise OutputDirError(f"cannot write to the output directory {out}: {exc.strerror or exc}") from None


def looks_like_a_build(out: Path) -> bool:
    """Our layout: the state directory, or (after it was deleted) the clip cache or a report."""
    return (out / STATE_DIR).is_dir() or (out / CLIPS_DIR).is_dir() or (out / REPORT_NAME).is_file()


def _has_entries(path: Path) -> bool:
    try:
        return any(True for _ in path.iterdir())
    except OSError as exc:
        raise OutputDirError(f"cannot read the output directory {path}: {exc.strerror or exc}") from None


def read_owner(store: Store) -> Owner | None:
    found = store.conn.execute("SELECT value FROM meta WHERE name=?", (OWNER_KEY,)).fetchone()
    if found is None:
        return None
    data = json.loads(found[0])
    return Owner(data["title"], tuple(data["authors"]), data["book"], data.get("recipe"))


def _write_owner(store: Store, owner: Owner) -> None:
    with store.atomic() as conn:
        conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (OWNER_KEY, json.dumps(asdict(owner), ensure_ascii=False)),
        )


def claim(store: Store, out: Path, owner: Owner, *, force: bool) -> str | None:
    """Make `owner` the directory's book. Another book's directory is refused unless `force`,
    which removes the old book's audio files first; returns a note for the user, if any."""
    current = read_owner(store)
    note = None
    if current is not None and not current.same_book(owner):
        if not force:
            raise OwnershipError(
                f"{out} holds the audiobook of {current.describe()}; refusing to build "
                f"'{owner.title}' into it",
                tip="Choose another output directory, or pass --force-output to replace that audiobook "
                    "(its audio files are removed).",
            )
        removed = remove_outputs(out)
        note = f"took over {out} from {current.describe()}: removed {removed} of its files"
    if current != owner:
        _write_owner(store, owner)
    return note


def check_owner(store: Store, out: Path, owner: Owner) -> None:
    """For read-only commands (`status`): the directory must hold this book."""
    current = read_owner(store)
    if current is not None and not current.same_book(owner):
        raise OwnershipError(f"{out} holds the audiobook of {current.describe()}, not '{owner.title}'")


def remove_outputs(out: Path) -> int:
    """Delete a previous book's deliverables and assembly state (clips stay: they are a
    content-addressed cache, and the ledger keeps what they cost)."""
    removed = 0
    for path in out.iterdir():
        if path.is_file() and (path.suffix.lower() in OUR_OUTPUTS or path.name == REPORT_NAME):
            path.unlink()
            removed += 1
    work = out / STATE_DIR
    for name in ("pcm", "tmp"):
        shutil.rmtree(work / name, ignore_errors=True)
    for name in ("assembly.json", "m4b_list.txt", "chapters.ffmeta"):
        (work / name).unlink(missing_ok=True)
    for cover in work.glob("cover.*"):
        cover.unlink()
    return removed


def lost_store(out: Path, store_path: Path) -> bool:
    """The checkpoint store is gone but an earlier build left files: in-flight jobs are lost."""
    if store_path.is_file():
        return False
    clips = out / CLIPS_DIR
    has_clips = clips.is_dir() and any(clips.rglob("*.*"))
    return has_clips or (out / REPORT_NAME).is_file() or any(
        p.suffix.lower() in OUR_OUTPUTS for p in out.glob("*") if p.is_file())
