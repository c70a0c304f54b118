"""Document-to-audiobook pipeline on the Audio Cleaner TTS API."""

__version__ = "0.1.0"
