"""Resumable synthesis: checkpoint store, clip cache, scheduler, progress, report."""

from pipeline.synth.cache import ClipCache, sniff_ext
from pipeline.synth.options import SynthOptions, SynthResult
from pipeline.synth.progress import (
    ChapterTotals,
    PlainProgress,
    ProgressSink,
    QuietProgress,
    RichProgress,
    choose_progress,
)
from pipeline.synth.runner import run_synthesis, synthesize
from pipeline.synth.store import Store

__all__ = [
    "ChapterTotals", "ClipCache", "PlainProgress", "ProgressSink", "QuietProgress", "RichProgress", "Store",
    "SynthOptions", "SynthResult", "choose_progress", "run_synthesis", "sniff_ext", "synthesize",
]
