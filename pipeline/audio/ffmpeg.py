"""The ONE ffmpeg wrapper: argv lists (no shell), debug logging, errors with ffmpeg's
last stderr line. ffmpeg comes from imageio-ffmpeg; there is no ffprobe on these
machines, so formats are sniffed from bytes and durations come from decoded samples.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from pipeline.audio.sniff import (  # noqa: F401 (detect_format, check_complete: used through this module too)
    check_complete,
    declared_seconds,
    detect_format,
    flac_declared_seconds,
)
from pipeline.errors import BadAudioError, FFmpegError
from pipeline.fsio import atomic_target, write_atomic

log = logging.getLogger(__name__)

BASE_ARGS: tuple[str, ...] = ("-hide_banner", "-nostdin", "-loglevel", "error")
MIN_DURATION_S = 0.05  # anything shorter is not a usable clip
ENCODERS: dict[str, tuple[str, ...]] = {
    "mp3": ("-c:a", "libmp3lame", "-f", "mp3"),
    "flac": ("-c:a", "flac", "-f", "flac"),
    "m4a": ("-c:a", "aac", "-aac_coder", "fast", "-f", "ipod"),
    "aac": ("-c:a", "aac", "-aac_coder", "fast", "-f", "adts"),  # M4B pieces: concatenable frames
    "wav": ("-c:a", "pcm_s16le", "-f", "wav"),
}
PIPE_BYTES = 1 << 20  # larger pipes: fewer wake-ups of ffmpeg and of its feeder


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (imported lazily: it probes the filesystem)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no error output"


def run_ffmpeg(
    args: Sequence[str], *, input_bytes: bytes | None = None, timeout: float | None = None
) -> bytes:
    """Run ffmpeg with `args` (after the quiet base flags); return its stdout.

    Raises FFmpegError carrying ffmpeg's last stderr line on a non-zero exit or timeout.
    """
    argv = [ffmpeg_exe(), *BASE_ARGS, *args]
    log.debug("ffmpeg argv: %s", argv)
    try:
        proc = subprocess.run(
            argv,
            input=input_bytes,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"ffmpeg timed out after {timeout} s") from exc
    except OSError as exc:
        raise FFmpegError(f"cannot run ffmpeg: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg exited {proc.returncode}: {_last_line(proc.stderr)}")
    return proc.stdout


def ffmpeg_info(path: Path) -> str:
    """ffmpeg's stderr description of an input (streams, chapters, tags): our ffprobe."""
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    log.debug("ffmpeg argv: %s", argv)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    return proc.stderr.decode("utf-8", "replace")


class FFmpegPipe:
    """An ffmpeg process reading its input from stdin (the wrapper's streaming form)."""

    def __init__(self, args: Sequence[str]) -> None:
        argv = [ffmpeg_exe(), *BASE_ARGS, *args]
        log.debug("ffmpeg argv: %s", argv)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            raise FFmpegError(f"cannot run ffmpeg: {exc.strerror or exc}") from exc
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def finish(self) -> None:
        """Close stdin and wait; a non-zero exit raises with ffmpeg's last stderr line."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        err = self.proc.stderr.read()
        if self.proc.wait() != 0:
            raise FFmpegError(f"ffmpeg exited {self.proc.returncode}: {_last_line(err)}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class EncoderPipe(FFmpegPipe):
    """ffmpeg encoding s16le written to its stdin into `out` in one output format."""

    def __init__(self, fmt: str, bitrate: str | None, rate: int, channels: int, out: Path) -> None:
        super().__init__(["-f", "s16le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0",
                          *encode_args(fmt, bitrate), "-y", str(out)])


@contextlib.contextmanager
def run_ffmpeg_streaming(args: Sequence[str]) -> Iterator[FFmpegPipe]:
    """ffmpeg fed through stdin inside a with block: finished on exit, killed on error."""
    pipe = FFmpegPipe(args)
    try:
        yield pipe
    except BaseException:
        pipe.kill()
        raise
    pipe.finish()


_EBUR128 = re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS.*?Peak:\s+(-?[\d.]+|-inf) dBFS", re.S)
_EBUR128_BOTH = re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS.*?Sample peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS"
                           r".*?True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", re.S)


class DecodeStream:
    """Any audio file decoded to s16le chunks by one ffmpeg process, metered on the way.

    ffmpeg's own ebur128 filter (true peak on) sits in the decode: its integrated
    loudness and true peak are what a listener's tools will report, and the 4x
    oversampling runs in C rather than in numpy. Read `loudness_lufs`/`true_peak_db`
    after iterating. A failed decode raises FFmpegError with ffmpeg's error line.
    """

    def __init__(self, path: Path, frames: int, channels: int, rate: int | None = None) -> None:
        self.path, self.frames, self.channels, self.rate = path, frames, channels, rate
        self.loudness_lufs = self.true_peak_db = -math.inf

    def __iter__(self) -> Iterator[bytes]:
        conv = ["-ac", str(self.channels), *(["-ar", str(self.rate)] if self.rate else [])]
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", str(self.path),
                "-vn", "-af", "ebur128=peak=true:framelog=quiet", *conv, "-f", "s16le", "-acodec", "pcm_s16le",
                "pipe:1"]
        log.debug("ffmpeg argv: %s", argv)
        with tempfile.TemporaryFile() as err:  # info-level chatter must never fill a pipe
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            assert proc.stdout is not None
            try:
                while data := proc.stdout.read(self.frames * 2 * self.channels):
                    yield data
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
        if code != 0:
            errors = [ln for ln in text.splitlines() if "rror" in ln or "nvalid" in ln]
            raise FFmpegError(f"ffmpeg exited {code}: {errors[-1].strip() if errors else _last_line(text.encode())}")
        if m := _EBUR128.search(text[text.rfind("Summary:"):]):
            self.loudness_lufs, self.true_peak_db = (float(v) for v in m.groups())


METER_FRAMES = 1 << 16  # samples per frame leaving the meter's graph (few hand-offs between ffmpeg's threads)


def ebur128(paths: Sequence[Path]) -> list[tuple[float, float, float]]:
    """(integrated LUFS, true peak dBTP, sample peak dBFS) of each file by ffmpeg's own
    meter, all measured at once (one process each); no PCM leaves ffmpeg.

    The file is read and decoded inside the meter's filter graph (an `amovie` source),
    so ffmpeg passes no packet or frame between threads per codec frame: a third less
    CPU than `-i FILE -af ebur128` for the same figures. The graph names each file by a
    plain link in a scratch directory (the process's working directory), so no path
    needs filter-graph escaping.
    """
    with tempfile.TemporaryDirectory(prefix="ab-meter-") as tmp:
        procs = []
        for k, path in enumerate(paths):
            (Path(tmp) / f"in{k}").symlink_to(Path(path).resolve())
            graph = f"amovie=in{k},ebur128=peak=true+sample:framelog=quiet,asetnsamples=n={METER_FRAMES}"
            argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-f", "lavfi",
                    "-i", graph, "-f", "null", "-"]
            log.debug("ffmpeg argv: %s", argv)
            procs.append(subprocess.Popen(argv, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
        try:
            return [_meter_result(path, proc) for path, proc in zip(paths, procs, strict=True)]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()


def _meter_result(path: Path, proc: subprocess.Popen[bytes]) -> tuple[float, float, float]:
    _, err = proc.communicate()
    text = err.decode("utf-8", "replace")
    m = _EBUR128_BOTH.search(text[text.rfind("Summary:"):])
    if proc.returncode != 0 or m is None:
        raise FFmpegError(f"ffmpeg could not measure {path.name}: {_last_line(err)}")
    lufs, sample, true = (float(v) for v in m.groups())
    return lufs, true, sample


# --- decode ---------------------------------------------------------------------------


def decode_to_pcm(source: bytes | Path, sample_rate: int = 44100, channels: int = 1) -> bytes:
    """Any clip -> raw s16le PCM at `sample_rate`/`channels`.

    Empty, truncated or non-audio input raises BadAudioError. Truncation is caught where
    the header says how long the audio should be (WAV data size, MP3 Xing/Info frames).
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    fmt = check_complete(data)
    out_args = ["-vn", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", str(channels), "-ar", str(sample_rate), "pipe:1"]
    try:
        if fmt == "m4a":  # the moov atom may sit at the end: needs a seekable input
            pcm = _decode_via_file(data, source, out_args)
        else:
            pcm = run_ffmpeg(["-i", "pipe:0", *out_args], input_bytes=data)
    except FFmpegError as exc:
        raise BadAudioError(f"cannot decode {fmt} audio: {exc.message}") from exc
    seconds = len(pcm) / (2 * channels * sample_rate)
    declared = flac_declared_seconds(data) if fmt == "flac" else None
    if declared is not None and seconds < declared * 0.98:
        raise BadAudioError(f"truncated FLAC: {seconds:.2f} s decoded of {declared:.2f} s declared")
    if seconds < MIN_DURATION_S:
        raise BadAudioError(f"{fmt} audio decodes to {seconds * 1000:.0f} ms: empty or truncated")
    return pcm


def _decode_via_file(data: bytes, source: bytes | Path, out_args: list[str]) -> bytes:
    if isinstance(source, Path):
        return run_ffmpeg(["-i", str(source), *out_args])
    with tempfile.TemporaryDirectory(prefix="ab-dec-") as tmp:
        path = Path(tmp) / "clip.m4a"
        path.write_bytes(data)
        return run_ffmpeg(["-i", str(path), *out_args])


# --- encode ---------------------------------------------------------------------------


def encode_args(fmt: str, bitrate: str | None) -> list[str]:
    """Codec arguments for one output format (CBR for MP3: ACX requires it)."""
    if fmt not in ENCODERS:
        raise ValueError(f"unsupported output format {fmt!r}")
    args = list(ENCODERS[fmt])
    if bitrate and fmt in ("mp3", "m4a", "aac"):
        args[2:2] = ["-b:a", bitrate]
    return args


def wav_header(data_len: int, sample_rate: int, channels: int) -> bytes:
    """The canonical 44-byte header of a 16-bit PCM WAV holding `data_len` bytes."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_len, b"WAVE", b"fmt ", 16, 1, channels, sample_rate,
        sample_rate * channels * 2, channels * 2, 16, b"data", data_len,
    )


def wav_bytes(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    """A complete WAV (ffmpeg writing to a pipe would leave the sizes unknown)."""
    return wav_header(len(pcm), sample_rate, channels) + pcm


def encode_pcm(
    pcm: bytes,
    sample_rate: int,
    channels: int,
    fmt: str,
    bitrate: str | None = None,
    out: Path | None = None,
) -> bytes | None:
    """Encode raw s16le PCM. With `out`, write a temp file then rename; else return bytes.

    Encoding goes through a seekable file so MP3 gets its LAME Info tag (gapless decode)
    and M4A its moov atom.
    """
    if fmt == "wav":
        data = wav_bytes(pcm, sample_rate, channels)
        if out is None:
            return data
        write_atomic(out, data)
        return None
    in_args = ["-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0"]
    codec = encode_args(fmt, bitrate)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="ab-enc-") as tmp:
            path = Path(tmp) / f"out.{fmt}"
            run_ffmpeg([*in_args, *codec, "-y", str(path)], input_bytes=pcm)
            return path.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = atomic_target(out)
    try:
        run_ffmpeg([*in_args, *codec, "-y", str(part)], input_bytes=pcm)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return None
