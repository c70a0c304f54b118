"""A faithful local stand-in for the Audio Cleaner TTS API (`audiobook emulator`).

Tests, benchmarks and rehearsals run the real client against it over loopback.
"""

from pipeline.emulator.config import EmulatorConfig, KeySpec, build_config
from pipeline.emulator.runner import RunningEmulator, start_emulator

__all__ = ["EmulatorConfig", "KeySpec", "RunningEmulator", "build_config", "start_emulator"]
