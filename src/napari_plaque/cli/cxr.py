"""Subcommands: chest radiograph CAC-category model."""

from __future__ import annotations


def register(sub) -> None:  # filled in by its capability
    return None
