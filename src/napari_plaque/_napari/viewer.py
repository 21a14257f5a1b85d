"""napari's viewer and notifications, looked up lazily (the reader also runs without a viewer:
tests and the CLI call it directly; then messages go to the log only)."""

from __future__ import annotations

import logging

log = logging.getLogger("napari_plaque._napari")


def current_viewer():
    """The active napari viewer, or None (napari not importable, or no viewer open)."""
    try:
        import napari

        return napari.current_viewer()
    except Exception:  # noqa: BLE001 - no viewer is a normal case for the writer hook
        return None


def notify_error(msg: str) -> None:
    """Log ``msg`` and show it as a napari error notification (when napari is there)."""
    _notify("error", msg)


def notify_info(msg: str) -> None:
    """Log ``msg`` and show it as a napari info notification (when napari is there)."""
    _notify("info", msg)


def _notify(level: str, msg: str) -> None:
    getattr(log, level)(msg)
    try:
        from napari.utils import notifications

        getattr(notifications, f"show_{level}")(f"napari-plaque: {msg}")
    except Exception:  # noqa: BLE001
        pass
