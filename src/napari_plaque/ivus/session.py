"""The arc annotator's session file: the annotation loop's state for one reader of a pullback.

``<pullback>.arcs-session[.<reader>].json`` beside the pullback (:func:`session_path`) keeps
what the reader's arcs file does not: the training pool (other pullback + arcs pairs), the
frames marked done, the learning curve and the last proposals
(:meth:`~napari_plaque.ivus.loop.AnnotationLoop.to_json`), with the reader's name. The model
itself is not kept (retrain after reopening). The annotator dock writes it on every change and
reads it when a pullback is opened; this module is its one home (format name, writer, loader),
Qt-free.

Format ``napari-plaque/arc-session`` (a JSON object):

- version 1: ``format``, ``version``, ``reader`` (str), ``loop`` (the loop state);
- version 2 adds ``pullback`` (:func:`~napari_plaque.ivus.arcs.pullback_uid` of the pullback
  it belongs to, "" unknown) and ``n_frames``: a session of another pullback is refused with a
  clear message. Version 1 files still load (nothing to check them against).

:func:`save_session` writes atomically (:mod:`napari_plaque.io.atomic`: a crash never leaves
half a session). :func:`load_session` checks everything before the dock trusts it: format and
version, every field's type, frame indices inside the pullback, the pullback's id; a file that
fails is refused with a :class:`~napari_plaque.io.errors.FormatError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.errors import FormatError

__all__ = [
    "SESSION_FORMAT",
    "SESSION_VERSION",
    "Session",
    "load_session",
    "save_session",
    "session_doc",
    "session_path",
]

SESSION_FORMAT = "napari-plaque/arc-session"
SESSION_VERSION = 2

#: the learning-curve point's fields and their types (ivus.loop.CurvePoint)
_CURVE_FIELDS = {
    "n_frames": (int,),
    "f1": (float, int, type(None)),
    "precision": (float, int, type(None)),
    "recall": (float, int, type(None)),
    "kind": (str,),
    "n_train_alines": (int,),
    "n_heldout_frames": (int,),
}


@dataclass
class Session:
    """A session file's content, checked (:func:`load_session`)."""

    reader: str
    loop: dict[str, Any]  # the AnnotationLoop.to_json() state
    pullback: str = ""  # the pullback's id ("" unknown: a version-1 file)
    n_frames: int | None = None  # the pullback's frames (None: a version-1 file)
    version: int = SESSION_VERSION
    path: Path | None = field(default=None, repr=False)


def session_path(source: str | Path, reader: str = "") -> Path:
    """The annotation loop's session file of a pullback file (per reader)."""
    from .readers import reader_slug

    p = Path(source)
    tail = f".{reader_slug(reader)}" if reader else ""
    return p.with_name(f"{p.name}.arcs-session{tail}.json")


def session_doc(
    loop_state: dict[str, Any], reader: str = "", pullback: str = "", n_frames: int | None = None
) -> dict[str, Any]:
    """The JSON object of a session (version :data:`SESSION_VERSION`)."""
    doc: dict[str, Any] = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "reader": str(reader),
        "pullback": str(pullback),
        "loop": loop_state,
    }
    if n_frames is not None:
        doc["n_frames"] = int(n_frames)
    return doc


def save_session(
    path: str | Path,
    loop_state: dict[str, Any],
    reader: str = "",
    pullback: str = "",
    n_frames: int | None = None,
) -> Path:
    """Write a session file atomically; returns its path (OSError names the file)."""
    from ..io.atomic import atomic_write_json

    return atomic_write_json(path, session_doc(loop_state, reader, pullback, n_frames))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _frames(p: Path, d: dict[str, Any], key: str, n_frames: int | None) -> None:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(_is_int(f) for f in v):
        raise FormatError(p, f"session file: loop.{key} is not a list of frame numbers")
    bad = [f for f in v if f < 0 or (n_frames is not None and f >= n_frames)]
    if bad:
        within = f" (0..{n_frames - 1})" if n_frames is not None else ""
        raise FormatError(p, f"session file: loop.{key} holds frame {bad[0]}, not a frame of "
                             f"the pullback{within}")  # fmt: skip


def _check_loop(p: Path, d: Any, n_frames: int | None) -> None:
    from .loop import LOOP_FORMAT, LOOP_VERSION

    if not isinstance(d, dict) or d.get("format") != LOOP_FORMAT:
        raise FormatError(p, f"session file: 'loop' is not a {LOOP_FORMAT} state")
    if not _is_int(d.get("version")) or d["version"] != LOOP_VERSION:
        raise FormatError(p, f"session file: loop state version {d.get('version')!r} is not "
                             f"supported (this napari-plaque reads {LOOP_VERSION})")  # fmt: skip
    if not isinstance(d.get("cls", ""), str):
        raise FormatError(p, "session file: loop.cls is not a class name")
    pool = d.get("pool", [])
    if not isinstance(pool, list):
        raise FormatError(p, "session file: loop.pool is not a list")
    for i, e in enumerate(pool):
        if not (isinstance(e, dict) and isinstance(e.get("pullback"), str)
                and isinstance(e.get("arcs"), str) and _is_int(e.get("n_frames", 0))
                and e.get("n_frames", 0) >= 0):  # fmt: skip
            raise FormatError(p, f"session file: loop.pool[{i}] is not a (pullback, arcs, "
                                 "n_frames) entry")  # fmt: skip
    _frames(p, d, "reviewed", n_frames)
    _frames(p, d, "proposals", n_frames)
    curve = d.get("learning_curve", [])
    if not isinstance(curve, list):
        raise FormatError(p, "session file: loop.learning_curve is not a list")
    for i, pt in enumerate(curve):
        ok = isinstance(pt, dict) and set(pt) == set(_CURVE_FIELDS) and all(
            isinstance(pt[k], t) and not isinstance(pt[k], bool) for k, t in _CURVE_FIELDS.items()
        )
        if not ok:
            raise FormatError(p, f"session file: loop.learning_curve[{i}] is not a learning-"
                                 f"curve point (fields {sorted(_CURVE_FIELDS)})")  # fmt: skip


def load_session(
    path: str | Path, pullback: str | None = None, n_frames: int | None = None
) -> Session:
    """The checked content of a session file (versions 1..:data:`SESSION_VERSION`).

    ``pullback`` / ``n_frames``: the id and frame count of the pullback being annotated; a
    version-2 session of another pullback is refused. FormatError (naming the file) when the
    file is not a session this build can trust."""
    from ..io.versioned import read_versioned_json

    p = Path(path)
    doc = read_versioned_json(p, SESSION_FORMAT, SESSION_VERSION, "session")
    version = int(doc["version"])
    reader = doc.get("reader", "")
    if not isinstance(reader, str):
        raise FormatError(p, "session file: 'reader' is not a name")
    uid, nf = "", None
    if version >= 2:
        uid = doc.get("pullback", "")
        nf = doc.get("n_frames")
        if not isinstance(uid, str):
            raise FormatError(p, "session file: 'pullback' is not a pullback id")
        if nf is not None and (not _is_int(nf) or nf < 0):
            raise FormatError(p, f"session file: 'n_frames' is not a frame count ({nf!r})")
        if pullback and uid and uid != pullback:
            raise FormatError(p, "session file of another pullback (its id differs from this "
                                 "pullback's); not restored")  # fmt: skip
        if n_frames is not None and nf is not None and nf != n_frames:
            raise FormatError(p, f"session file of a {nf}-frame pullback, this one has "
                                 f"{n_frames} frames; not restored")  # fmt: skip
    _check_loop(p, doc.get("loop"), n_frames if n_frames is not None else nf)
    return Session(reader, doc["loop"], uid, nf, version, p)
