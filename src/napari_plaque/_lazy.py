"""Packages whose public names are imported on first use (PEP 562), so importing one light
submodule (``ivus.defaults``, ``fusion.defaults``: what the command line reads at start-up)
does not import its siblings."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_names(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``names`` (public name ->
    submodule that defines it): ``__getattr__, __dir__ = lazy_names(__name__, _NAMES)``."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    def __dir__() -> list[str]:  # noqa: N807 - the module hook
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
