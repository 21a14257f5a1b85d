"""Errors raised by readers and file loaders."""

from __future__ import annotations

from pathlib import Path


class ReaderError(ValueError):
    """A file or folder could not be read; the message names the path and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class FormatError(ValueError):
    """A napari-plaque file (arcs, model, review...) is not one we can trust or use."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
