"""Fakes for unit tests of logic. Real components are used everywhere else."""

from __future__ import annotations
