"""`napari-plaque` subcommands for models (see napari_plaque.models)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ARG001
    """Add this capability's subcommands to the napari-plaque parser."""
