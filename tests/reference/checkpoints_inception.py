"""Checkpoint pairs (archbench path, reference path) for the inception zoo networks; see compare.py."""

CHECKPOINTS: dict[str, list[tuple[str, str]]] = {}
