"""Subcommands: IVUS lumen / EEM borders and vessel measurements."""

from __future__ import annotations


def register(sub) -> None:  # filled in by its capability
    return None
