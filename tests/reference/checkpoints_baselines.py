"""Checkpoint pairs (archbench path, reference path) for the baselines zoo networks; see compare.py."""

CHECKPOINTS: dict[str, list[tuple[str, str]]] = {}
