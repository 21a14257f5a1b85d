"""Model tasks defined outside :mod:`napari_plaque.models` (a small registry, torch-free).

:mod:`napari_plaque.models` knows its own tasks (``alines``, ``ct-seg``); a capability with a
model of its own (the chest-radiograph model of :mod:`napari_plaque.cxr`) registers a
:class:`ModelTask` here, so the checkpoint format, the loader and the exporters handle it
without ``models`` importing that capability (no import circle) or naming it.

Discovery: a checkpoint whose task is not registered yet names the package that provides it by
convention, ``napari_plaque.<task>`` (a core package whose ``__init__`` calls
:func:`register_task`); it is imported once, and the task is unknown if it registers nothing.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelTask:
    """A model task provided by another package.

    ``network()`` returns the torch ``nn.Module`` class of ``architecture`` (torch imported
    inside); ``check_metadata(path, meta)`` the task's own metadata rules (FormatError naming
    the field); ``example_input(loaded, batch)`` a zero input for tracing / export.
    """

    name: str
    input: str  # the napari_plaque kind of its data: "radiograph", ...
    architecture: str
    required_hparams: tuple[str, ...]
    network: Callable[[], type]
    check_metadata: Callable[[Any, dict[str, Any]], Any] | None = None
    example_input: Callable[[Any, int], Any] | None = None
    #: extra hyper-parameter bounds (name -> (low, high)) of this task's architecture
    hparam_limits: Mapping[str, tuple[int, int]] = field(default_factory=dict)


_TASKS: dict[str, ModelTask] = {}
#: packages already imported for discovery (each tried once)
_TRIED: set[str] = set()
#: core packages that may provide a task (never the GUI or the CLI)
_NOT_PROVIDERS = frozenset({"widgets", "cli", "api", "models"})


def register_task(task: ModelTask) -> ModelTask:
    """Register (or replace) a task; returns it. Also adds its input kind to
    :data:`napari_plaque.models.TASK_INPUT`."""
    from . import TASK_INPUT

    _TASKS[task.name] = task
    TASK_INPUT[task.name] = task.input
    return task


def unregister_task(name: str) -> None:
    """Remove a registered task (tests, plugins being unloaded); no error if absent."""
    from . import TASK_INPUT

    if _TASKS.pop(name, None) is not None:
        TASK_INPUT.pop(name, None)


def registered_tasks() -> dict[str, ModelTask]:
    """The tasks registered so far, by name (a copy)."""
    return dict(_TASKS)


def find_task(name: Any) -> ModelTask | None:
    """The registered task ``name`` (its package imported by convention on first use), or
    None when no package provides it."""
    if not isinstance(name, str):
        return None
    if name not in _TASKS and name not in _TRIED and re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        _TRIED.add(name)
        if name not in _NOT_PROVIDERS:
            try:
                importlib.import_module(f"napari_plaque.{name}")
            except ImportError:
                pass
    return _TASKS.get(name)


def task_of_architecture(architecture: str) -> ModelTask | None:
    """The registered task whose network is ``architecture`` (registered tasks only)."""
    for t in _TASKS.values():
        if t.architecture == architecture:
            return t
    return None


__all__ = [
    "ModelTask",
    "find_task",
    "register_task",
    "registered_tasks",
    "task_of_architecture",
    "unregister_task",
]
