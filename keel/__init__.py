"""Keel: shared configuration used by every layer (settings only; no clients)."""

__version__ = "0.1.0"
