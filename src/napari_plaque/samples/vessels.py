"""Synthetic sample (placeholder until its capability lands)."""

from __future__ import annotations


def ccta_vessel_sample():
    return []
