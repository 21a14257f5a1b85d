"""Subcommands: CCTA vessel analysis (issue: centreline, CPR, contours, stenosis)."""

from __future__ import annotations


def register(sub) -> None:  # filled in by its capability
    return None
