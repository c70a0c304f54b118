"""Issue E: where a build may write. Output directories that are not ours, another book's,
unwritable, full; a lost store; clips damaged between runs. Real file systems (tmpfs
mounts for read-only and full disks), real builds."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mutagen
import pytest

from pipeline.errors import OutputDirError
from pipeline.workspace import check_output_dir
from tests.build_helpers import (
    error_lines,
    report,
    run_build,
    run_cli,
    write_book,
    write_recipe,
)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs file systems (root only: CI runs as root) and unmount them after."""
    mounts: list[Path] = []

    def mount(size: str = "2m", readonly: bool = False) -> Path:
        where = tmp_path / f"fs{len(mounts)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); needs root")
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _offline(tmp_path: Path, out: Path, name: str = "recipe.yaml", seed: int = 1) -> Path:
    book = write_book(tmp_path / f"book{seed}.md", seed=seed, chapters=2, paragraphs=2)
    return write_recipe(tmp_path / name, book, out)


def test_root_home_and_their_parents_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for place in (Path("/"), home, home.parent):
        with pytest.raises(OutputDirError, match="choose a directory of its own"):
            check_output_dir(place)
    assert not (home / ".audiobook").exists()


def test_home_as_output_is_one_line_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    recipe = _offline(tmp_path, home)
    code, text = run_build(recipe, None, None, env={"HOME": str(home)})
    assert code == 2 and error_lines(text) == [f"Error: refusing to build into {home}: choose a directory of its "
                                               "own for the audiobook"]
    assert list(home.iterdir()) == []


def test_foreign_non_empty_directory_and_a_file_are_refused(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "song.mp3").write_bytes(b"mine")
    code, text = run_build(_offline(tmp_path, music), None, None)
    assert code == 2 and "is not empty and holds no audiobook build" in text and len(error_lines(text)) == 1
    assert sorted(p.name for p in music.iterdir()) == ["song.mp3"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, text = run_build(_offline(tmp_path, a_file, "r2.yaml"), None, None)
    assert code == 2 and error_lines(text) == [f"Error: the output directory {a_file} is not a directory"]


@pytest.mark.slow
def test_another_books_directory_is_refused_then_taken_over(tmp_path: Path) -> None:
    """Before: the second book's build deleted the first book's MP3s, and status mixed both."""
    out = tmp_path / "shared-out"
    first = _offline(tmp_path, out, "first.yaml", seed=1)
    second = _offline(tmp_path, out, "second.yaml", seed=2)
    assert run_build(first, None, None)[0] == 0
    mp3s = sorted(p.name for p in out.glob("*.mp3"))
    assert mp3s
    code, text = run_build(second, None, None)
    assert code == 2 and "holds the audiobook of 'Fault Book 1'" in text and "--force-output" in text
    assert sorted(p.name for p in out.glob("*.mp3")) == mp3s  # nothing of the first book was touched
    code, _, err = run_cli("status", str(second))
    assert code == 2 and "holds the audiobook of 'Fault Book 1'" in err
    code, text = run_build(second, None, None, "--force-output")
    assert code == 0, text
    assert "took over" in text
    assert not (out / "Fault Book 1.m3u").exists() and (out / "Fault Book 2.m3u").is_file()
    albums = {str(mutagen.File(p).tags["TALB"]) for p in out.glob("*.mp3")}  # type: ignore[union-attr]
    assert albums == {"Fault Book 2"}
    code, _, err = run_cli("status", str(first))
    assert code == 2 and "holds the audiobook of 'Fault Book 2'" in err


def test_read_only_output_is_one_line_exit_2(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    readonly = tmpfs(readonly=True)
    for out in (readonly, readonly / "sub"):
        code, text = run_build(_offline(tmp_path, out, f"{out.name}.yaml"), None, None)
        assert code == 2 and "Traceback" not in text, text
        assert error_lines(text) == [f"Error: cannot write to the output directory {out}: Read-only file system"]


@pytest.mark.slow
def test_full_disk_stops_resumable_without_part_files(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    disk = tmpfs(size="400k")
    out = disk / "book"
    recipe = _offline(tmp_path, out)
    code, text = run_build(recipe, None, None)
    assert code == 3, text
    assert "disk is full" in text and "Traceback" not in text and len(error_lines(text)) == 1
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*.part"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    code, text = run_build(recipe, None, None)
    assert code == 0, text


def test_api_url_without_a_key_is_an_error_not_an_offline_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    recipe = _offline(tmp_path, out)
    code, text = run_build(recipe, "http://127.0.0.1:9", None)
    assert code == 2 and "no API key" in error_lines(text)[0]
    assert not out.exists() or not list(out.glob("*.mp3"))


@pytest.mark.slow
def test_a_clip_truncated_between_runs_is_named_and_fetched_again(tmp_path: Path,
                                                                emulator: Callable[..., Any]) -> None:
    em = emulator()
    out = tmp_path / "out"
    recipe = _offline(tmp_path, out)
    assert run_build(recipe, em.url, em.key)[0] == 0
    created = em.stats()["tasks_created"]
    clip = sorted((out / "clips").rglob("*.mp3"))[0]
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    code, text = run_build(recipe, em.url, em.key)
    assert code == 0, text
    assert f"clip {clip} failed verification" in text and "truncated" in text
    assert em.stats()["tasks_created"] == created  # downloaded again from its job, not bought again
    assert clip.is_file() and list((out / "clips" / "quarantine").iterdir())


@pytest.mark.slow
def test_a_damaged_clip_found_while_packaging_is_repaired(tmp_path: Path) -> None:
    """The size and mtime were kept, the bytes changed: packaging finds it, the build repairs it."""
    out = tmp_path / "out"
    recipe = _offline(tmp_path, out)
    assert run_build(recipe, None, None)[0] == 0
    clip = sorted((out / "clips").rglob("*.flac"))[0]
    st = clip.stat()
    clip.write_bytes(b"\0" * st.st_size)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    for mp3 in out.glob("*.mp3"):
        mp3.unlink()  # make packaging read every clip again
    code, text = run_build(recipe, None, None)
    assert code == 0, text
    assert f"clip {clip} is damaged" in text and "fetched again" in text


@pytest.mark.slow
def test_a_lost_store_reuses_clips_and_says_what_may_have_been_paid(tmp_path: Path) -> None:
    out = tmp_path / "out"
    recipe = _offline(tmp_path, out)
    assert run_build(recipe, None, None)[0] == 0
    clips = sorted(p.name for p in (out / "clips").rglob("*.flac"))
    for path in (out / ".audiobook").glob("state.sqlite*"):
        path.unlink()
    code, text = run_build(recipe, None, None)
    assert code == 0, text
    assert "checkpoint store" in text and "missing" in text and "may have been paid" in text
    assert report(out)["synthesis"]["cached"] == len(clips)
    assert sorted(p.name for p in (out / "clips").rglob("*.flac")) == clips
