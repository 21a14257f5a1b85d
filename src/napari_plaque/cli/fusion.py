"""Subcommands: CT-IVUS fusion and paired-study statistics."""

from __future__ import annotations


def register(sub) -> None:  # filled in by its capability
    return None
