"""``napari-plaque readers``: inter-reader figures for IVUS arc annotations (filled in by issue 20)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ARG001 - subcommands are added as they land
    return None
