"""Profiling built networks: fvcore counts, memory, latency (imports torch and fvcore)."""

from .profiler import CONVENTION, BlockRow, CountMismatch, Profile, profile

__all__ = ["profile", "Profile", "BlockRow", "CountMismatch", "CONVENTION"]
