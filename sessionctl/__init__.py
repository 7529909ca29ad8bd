"""sessionctl: keep OpenClaw session stores healthy."""

__version__ = "0.1.0"
