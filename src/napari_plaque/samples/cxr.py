"""Synthetic sample (placeholder until its capability lands)."""

from __future__ import annotations


def cxr_sample():
    return []
