"""Arc annotations: per frame and class, [start, end) arcs in degrees, and their file format.

Conventions (``docs/conventions.md``): an arc is ``[start, end)`` measured clockwise from ``start``;
``end < start`` wraps through 0 deg; a full ring is written ``[0, 360)``. A-line ``k`` of ``N``
belongs to an arc when its centre angle ``c = (k + 0.5) * 360 / N`` satisfies
``(c - start) mod 360 < extent``.

File format (JSON, written atomically)::

    {"format": "napari-plaque/arcs", "version": 2, "n_frames": F, "frame_shape": [rows, cols],
     "center_mode": "catheter" | "lumen" | "manual", "centers": [[cy, cx], ...] or [cy, cx],
     "classes": [...], "arcs": [{"frame": i, "class": "calcium", "start_deg": a,
     "end_deg": b, "annotator": "...", "time": "ISO-8601"}, ...],
     "pullback": {"uid": "...", "n_alines": N},      # version 2: whose arcs these are
     "reader": "...",                                  # version 2: the reader of this set
     "adjudication": {...}}                            # version 2: an adjudicated set only

Version 2 adds the pullback the arcs belong to (:func:`pullback_uid`: the salted UID hash the
reader gives, or a content hash of the frames) and the A-line count they were read on, the
reader whose set it is, and for an adjudicated set its decisions (``docs/readers.md``). A file
is written as version 2 when it carries any of those, else as version 1 (the same bytes older
napari-plaque reads). Version 1 files still load; they carry no pullback identity, so only the
frame count and shape are checked for them.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import getpass
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_json
from ..io.errors import FormatError
from .polar import N_ALINES

__all__ = [
    "ARCS_FORMAT",
    "ARCS_VERSION",
    "CONFLICT_MODES",
    "DEFAULT_CLASSES",
    "Arc",
    "ArcSet",
    "ArcsConflictError",
    "CENTER_MODES",
    "CenterMode",
    "arc_extent",
    "arcs_to_labels",
    "labels_to_arcs",
    "load_arcs",
    "merge_arcs",
    "normalise_arc",
    "pullback_uid",
    "reload_and_merge",
    "save_arcs",
    "unseen_arcs",
]

ARCS_FORMAT = "napari-plaque/arcs"
ARCS_VERSION = 2
DEFAULT_CLASSES = ("calcium", "attenuation")


class CenterMode(str, Enum):
    """About which centre a frame's arcs are measured (the arcs file's ``center_mode``)."""

    CATHETER = "catheter"  #: the image centre (the catheter of a scan-converted frame)
    LUMEN = "lumen"  #: an estimated lumen centre per frame (``ivus.lumen``)
    MANUAL = "manual"  #: centres given by hand (or by a detector's run)

    def __str__(self) -> str:  # the value, as the file, the CLI and messages write it
        return self.value


#: the centre modes' names, in order (CLI choices, messages)
CENTER_MODES: tuple[str, ...] = tuple(m.value for m in CenterMode)
_EPS = 1e-9


def arc_extent(start_deg: float, end_deg: float) -> float:
    """Clockwise extent of ``[start, end)`` in degrees; 360 for a full ring ``[a, a + 360)``."""
    if abs(end_deg - start_deg) >= 360.0 - _EPS:
        return 360.0
    return float(np.mod(end_deg - start_deg, 360.0))


def normalise_arc(start_deg: float, end_deg: float) -> tuple[float, float]:
    """Canonical ``(start, end)``: both in [0, 360), a full ring as (0, 360)."""
    ext = arc_extent(start_deg, end_deg)
    if ext >= 360.0:
        return (0.0, 360.0)
    # the end is kept as typed (mod 360), never recomputed as start + extent: an end typed on
    # an A-line centre must stay exactly there, or with N != 360 that A-line would count
    return (_mod360(start_deg), _mod360(end_deg))


def _mod360(a: float) -> float:
    v = float(np.mod(a, 360.0))
    return 0.0 if v >= 360.0 - 1e-12 else v


def merge_arcs(arcs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of arcs (overlapping or touching arcs merge), wrap-around handled.

    Returns canonical arcs sorted by start angle; a wrapping arc (end < start) comes last
    when the union crosses 0 deg.
    """
    pieces: list[tuple[float, float]] = []
    for s, e in arcs:
        ext = arc_extent(s, e)
        if ext <= 0:
            continue
        if ext >= 360.0:
            return [(0.0, 360.0)]
        s, e = _mod360(s), _mod360(e)
        if e <= s:  # wraps through 0 (or ends exactly at 0 = 360)
            pieces.append((s, 360.0))
            if e > 0:
                pieces.append((0.0, e))
        else:
            pieces.append((s, e))
    if not pieces:
        return []
    pieces.sort()
    merged = [list(pieces[0])]
    for s, e in pieces[1:]:
        if s <= merged[-1][1] + _EPS:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    if merged[0][0] <= _EPS and merged[-1][1] >= 360.0 - _EPS:
        if len(merged) == 1:
            return [(0.0, 360.0)]
        last = merged.pop()
        merged[0] = [last[0], merged[0][1]]  # wraps through 0
        wrap = merged.pop(0)
        out = [normalise_arc(s, e) for s, e in merged]
        out.append(normalise_arc(wrap[0], wrap[1]))
        return out
    return [normalise_arc(s, e) for s, e in merged]


def arc_contains(start_deg: float, end_deg: float, angle_deg) -> np.ndarray:
    """Whether angles lie in the arc, with the A-line membership rule."""
    ext = arc_extent(start_deg, end_deg)
    if ext >= 360.0:
        return np.ones(np.shape(angle_deg), bool)
    return np.mod(np.asarray(angle_deg) - start_deg, 360.0) < ext


def arcs_to_labels(
    frames: np.ndarray,
    class_idx: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n_frames: int,
    n_classes: int,
    n_alines: int = N_ALINES,
) -> np.ndarray:
    """Per-A-line boolean labels (F, n_alines, n_classes) from arrays of arcs (vectorised)."""
    labels = np.zeros((n_frames, n_classes, n_alines), dtype=np.int32)
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size:
        starts = np.asarray(starts, float)
        ends = np.asarray(ends, float)
        full = np.abs(ends - starts) >= 360.0 - _EPS
        ext = np.where(full, 360.0, np.mod(ends - starts, 360.0))
        centres = (np.arange(n_alines) + 0.5) * (360.0 / n_alines)
        inside = np.mod(centres[None, :] - starts[:, None], 360.0) < ext[:, None]
        inside |= full[:, None]
        np.add.at(labels, (frames, np.asarray(class_idx, np.int64)), inside.astype(np.int32))
    return np.ascontiguousarray((labels > 0).transpose(0, 2, 1))


def labels_to_arcs(labels: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Arcs from per-A-line labels.

    Parameters
    ----------
    labels : bool array (F, N) or (F, N, C)

    Returns
    -------
    list of (frame, class_index, start_deg, end_deg): each circular run of positive A-lines
    ``[k0, k1)`` becomes ``[k0*360/N, k1*360/N)``; a run through A-line 0 becomes one wrapping
    arc; an all-positive frame becomes ``[0, 360)``.
    """
    lab = np.asarray(labels, bool)
    if lab.ndim == 2:
        lab = lab[:, :, None]
    n_frames, n_alines, n_classes = lab.shape
    step = 360.0 / n_alines
    x = lab.transpose(0, 2, 1).reshape(-1, n_alines).astype(np.int8)
    pad = np.zeros((x.shape[0], n_alines + 2), np.int8)
    pad[:, 1:-1] = x
    d = np.diff(pad, axis=1)
    rs, ks = np.nonzero(d == 1)  # run starts
    re_, ke = np.nonzero(d == -1)  # run ends (exclusive)
    out: list[tuple[int, int, float, float]] = []
    # runs are in row-major order, starts and ends pair up one to one
    first_on = x[:, 0] == 1
    last_on = x[:, -1] == 1
    full = x.all(axis=1)
    row_of_run = rs
    i = 0
    n = len(rs)
    while i < n:
        row = row_of_run[i]
        j = i
        while j < n and row_of_run[j] == row:
            j += 1
        f, c = divmod(int(row), n_classes)
        if full[row]:
            out.append((f, c, 0.0, 360.0))
            i = j
            continue
        runs = [(int(ks[m]), int(ke[m])) for m in range(i, j)]
        if first_on[row] and last_on[row] and len(runs) > 1:
            first = runs.pop(0)
            last = runs.pop()
            runs.append((last[0], first[1] + n_alines))
        for k0, k1 in runs:
            out.append((f, c, *normalise_arc(k0 * step, k1 * step)))
        i = j
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return out


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def pullback_uid(pullback: Any) -> str:
    """A stable, non-identifying id of a pullback for arcs files: ``uid:<hash>`` from the
    salted SOP/Series Instance UID hash the file reader gives (``Pullback.uid_hash``), else
    ``content:<sha1>`` of the frame geometry and the first, middle and last frames (three
    frames decoded, whatever the pullback's length)."""
    import hashlib

    uid = str(getattr(pullback, "uid_hash", "") or "")
    if uid:
        return f"uid:{uid}"
    frames = pullback.frames
    n = int(frames.shape[0])
    h = hashlib.sha1(repr(tuple(int(s) for s in frames.shape)).encode())
    for i in sorted({0, n // 2, n - 1}):
        arr = np.ascontiguousarray(np.asarray(frames[i]))
        h.update(str(arr.dtype).encode())
        h.update(arr.tobytes())
    return f"content:{h.hexdigest()[:20]}"


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "unknown"


@dataclass
class Arc:
    """One annotated arc."""

    frame: int
    cls: str
    start_deg: float
    end_deg: float
    annotator: str = ""
    time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": int(self.frame),
            "class": self.cls,
            "start_deg": round(float(self.start_deg), 4),
            "end_deg": round(float(self.end_deg), 4),
            "annotator": self.annotator,
            "time": self.time,
        }

    @property
    def extent_deg(self) -> float:
        return arc_extent(self.start_deg, self.end_deg)


@dataclass
class ArcSet:
    """All arcs of one pullback, per frame and class, with the centre they were drawn about.

    Arcs of the same frame and class never overlap: :meth:`add` merges them.
    """

    n_frames: int
    frame_shape: tuple[int, int]
    classes: list[str] = field(default_factory=lambda: list(DEFAULT_CLASSES))
    center_mode: str = CenterMode.CATHETER.value
    centers: Any = None  # (cy, cx) or (F, 2) list; None -> image centre
    arcs: list[Arc] = field(default_factory=list)
    #: the pullback these arcs belong to (:func:`pullback_uid`; "" unknown: a version 1 file)
    pullback_uid: str = ""
    #: the A-line count the arcs were read and scored on (0: not recorded)
    n_alines: int = 0
    #: the reader whose set this is ("" unnamed; "adjudicated" for an adjudicated set)
    reader: str = ""
    #: an adjudicated set's decisions (``ivus.readers.Adjudication``), else None
    adjudication: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.n_frames = int(self.n_frames)
        self.frame_shape = (int(self.frame_shape[0]), int(self.frame_shape[1]))
        self.classes = list(self.classes)
        if self.center_mode not in CENTER_MODES:
            raise ValueError(f"center_mode must be one of {CENTER_MODES}, got {self.center_mode!r}")
        self.center_mode = CenterMode(self.center_mode).value  # a plain str (hash, JSON)
        if self.centers is None:
            from .polar import default_center  # the one definition of the catheter centre

            self.centers = list(default_center(self.frame_shape))
        # per arcs file (resolved path): keys of the arcs this session has seen in it (loaded
        # or written). Shared by copies (undo snapshots): it describes the file, not the arcs.
        self._seen: dict[str, set[tuple]] = {}
        # per arcs file: (size, sha1) of its bytes when its whole content was last seen here
        # (read or written), so the next save need not parse it to look for unseen arcs
        self._seen_stat: dict[str, tuple] = {}

    def __deepcopy__(self, memo: dict) -> ArcSet:
        new = ArcSet.__new__(ArcSet)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = v if k in ("_seen", "_seen_stat") else copy.deepcopy(v, memo)
        return new

    def mark_seen(self, path: str | Path, arcs: list[Arc] | None = None) -> None:
        """Record that this session has seen ``arcs`` (default: its own) in the file ``path``,
        so saving over them later is not a conflict. :func:`load_arcs` and :func:`save_arcs`
        call it; use it to adopt a file deliberately."""
        keys = self._seen.setdefault(_path_key(path), set())
        keys.update(_arc_key(a) for a in (self.arcs if arcs is None else arcs))

    # -- geometry ---------------------------------------------------------------------------
    def center_of(self, frame: int) -> tuple[float, float]:
        c = np.asarray(self.centers, float)
        if c.ndim == 1:
            return (float(c[0]), float(c[1]))
        return (float(c[frame][0]), float(c[frame][1]))

    def centers_array(self) -> np.ndarray:
        """Centres as (F, 2) or (2,) array."""
        return np.asarray(self.centers, float)

    # -- editing ----------------------------------------------------------------------------
    def copy(self) -> ArcSet:
        return copy.deepcopy(self)

    def _check(self, frame: int, cls: str) -> None:
        if not 0 <= int(frame) < self.n_frames:
            raise ValueError(f"frame {frame} outside the pullback (0..{self.n_frames - 1})")
        if cls not in self.classes:
            self.classes.append(cls)

    def arcs_for(self, frame: int, cls: str | None = None) -> list[Arc]:
        return [a for a in self.arcs if a.frame == frame and (cls is None or a.cls == cls)]

    def add(
        self,
        frame: int,
        cls: str,
        start_deg: float,
        end_deg: float,
        annotator: str | None = None,
        time: str | None = None,
    ) -> None:
        """Add an arc; it merges with arcs of the same frame and class that it overlaps."""
        self._check(frame, cls)
        if arc_extent(start_deg, end_deg) <= 0:
            return
        annotator = _default_annotator() if annotator is None else annotator
        time = _now_iso() if time is None else time
        same = self.arcs_for(frame, cls)
        merged = merge_arcs([(a.start_deg, a.end_deg) for a in same] + [(start_deg, end_deg)])
        keep = {(a.start_deg, a.end_deg): a for a in same}
        self.arcs = [a for a in self.arcs if not (a.frame == frame and a.cls == cls)]
        for s, e in merged:
            old = keep.get((s, e))
            self.arcs.append(old if old is not None else Arc(frame, cls, s, e, annotator, time))
        self._sort()

    def add_many(self, arcs: list[Arc]) -> None:
        """Add many arcs at once (merging per frame and class); linear in the number of arcs."""
        groups: dict[tuple[int, str], list[Arc]] = {}
        for a in self.arcs:
            groups.setdefault((a.frame, a.cls), []).append(a)
        touched: set[tuple[int, str]] = set()
        for a in arcs:
            self._check(a.frame, a.cls)
            if arc_extent(a.start_deg, a.end_deg) <= 0:
                continue
            groups.setdefault((int(a.frame), a.cls), []).append(a)
            touched.add((int(a.frame), a.cls))
        out: list[Arc] = []
        for key, group in groups.items():
            if key not in touched:
                out.extend(group)
                continue
            keep = {normalise_arc(a.start_deg, a.end_deg): a for a in group}
            latest = group[-1]
            for s_, e_ in merge_arcs([(a.start_deg, a.end_deg) for a in group]):
                old = keep.get((s_, e_))
                if old is not None:
                    out.append(Arc(key[0], key[1], s_, e_, old.annotator, old.time))
                else:
                    out.append(Arc(key[0], key[1], s_, e_, latest.annotator, latest.time))
        self.arcs = out
        self._sort()

    def _sort(self) -> None:
        order = {c: i for i, c in enumerate(self.classes)}
        self.arcs.sort(key=lambda a: (a.frame, order.get(a.cls, 99), a.start_deg))

    def remove_at(self, frame: int, angle_deg: float, cls: str | None = None) -> Arc | None:
        """Delete the arc of ``frame`` (and class, if given) that contains ``angle_deg``."""
        for a in self.arcs_for(frame, cls):
            if arc_contains(a.start_deg, a.end_deg, angle_deg):
                self.arcs.remove(a)
                return a
        return None

    def clear_frame(self, frame: int, cls: str | None = None) -> None:
        self.arcs = [
            a for a in self.arcs if not (a.frame == frame and (cls is None or a.cls == cls))
        ]

    def copy_frame(self, src: int, dst: int, cls: str | None = None) -> int:
        """Copy the arcs of frame ``src`` onto ``dst`` (merging); returns how many were copied."""
        arcs = self.arcs_for(src, cls)
        for a in arcs:
            self.add(dst, a.cls, a.start_deg, a.end_deg)
        return len(arcs)

    # -- labels -----------------------------------------------------------------------------
    def labels(self, n_alines: int = N_ALINES, classes: list[str] | None = None) -> np.ndarray:
        """Per-A-line labels, bool (F, n_alines, n_classes) in ``classes`` order."""
        classes = list(self.classes if classes is None else classes)
        cidx = {c: i for i, c in enumerate(classes)}
        sel = [a for a in self.arcs if a.cls in cidx]
        return arcs_to_labels(
            np.array([a.frame for a in sel], np.int64),
            np.array([cidx[a.cls] for a in sel], np.int64),
            np.array([a.start_deg for a in sel], float),
            np.array([a.end_deg for a in sel], float),
            self.n_frames,
            len(classes),
            n_alines,
        )

    def class_labels(self, cls: str = "calcium", n_alines: int = N_ALINES) -> np.ndarray:
        """Per-A-line labels (F, n_alines) of one class."""
        return self.labels(n_alines, [cls])[:, :, 0]

    @classmethod
    def from_labels(
        cls_,
        labels: np.ndarray,
        classes: list[str],
        frame_shape: tuple[int, int],
        center_mode: str = CenterMode.CATHETER,
        centers: Any = None,
        annotator: str = "",
        time: str | None = None,
    ) -> ArcSet:
        """An ArcSet from per-A-line labels (F, N, C) (e.g. a prediction)."""
        labels = np.asarray(labels, bool)
        if labels.ndim == 2:
            labels = labels[:, :, None]
        time = _now_iso() if time is None else time
        out = cls_(labels.shape[0], frame_shape, list(classes), center_mode, centers)
        out.arcs = [
            Arc(f, classes[c], s, e, annotator, time) for f, c, s, e in labels_to_arcs(labels)
        ]
        out._sort()
        return out

    @classmethod
    def from_dicts(
        cls_,
        arcs: list[dict[str, Any]],
        n_frames: int,
        frame_shape: tuple[int, int],
        classes: list[str] | None = None,
        center_mode: str = CenterMode.CATHETER,
        centers: Any = None,
    ) -> ArcSet:
        """An ArcSet from arc dicts (``frame``, ``class``, ``start_deg``, ``end_deg``, ...)."""
        out = cls_(n_frames, frame_shape, list(classes or DEFAULT_CLASSES), center_mode, centers)
        out.add_many(
            [
                Arc(
                    int(d["frame"]),
                    str(d["class"]),
                    float(d["start_deg"]),
                    float(d["end_deg"]),
                    str(d.get("annotator", "")),
                    str(d.get("time", "")),
                )
                for d in arcs
            ]
        )
        return out

    # -- file format --------------------------------------------------------------------------
    def carries_v2(self) -> bool:
        """Whether the set holds what only version 2 can say (pullback, reader, decisions)."""
        return bool(self.pullback_uid or self.n_alines or self.reader or self.adjudication)

    def to_json(self) -> dict[str, Any]:
        c = np.asarray(self.centers, float)
        doc: dict[str, Any] = {
            "format": ARCS_FORMAT,
            "version": ARCS_VERSION if self.carries_v2() else 1,
            "n_frames": self.n_frames,
            "frame_shape": list(self.frame_shape),
            "center_mode": self.center_mode,
            "centers": c.round(3).tolist(),
            "classes": list(self.classes),
            "arcs": [a.to_dict() for a in self.arcs],
        }
        if self.carries_v2():
            doc["pullback"] = {"uid": self.pullback_uid, "n_alines": int(self.n_alines)}
            doc["reader"] = self.reader
            if self.adjudication is not None:
                doc["adjudication"] = copy.deepcopy(self.adjudication)
        return doc

    def stamp(self, pullback: Any, n_alines: int | None = None) -> None:
        """Record the pullback (and A-line count) the arcs belong to; refused (ValueError)
        when they already belong to another pullback."""
        uid = pullback if isinstance(pullback, str) else pullback_uid(pullback)
        if self.pullback_uid and uid and self.pullback_uid != uid:
            raise ValueError(_other_pullback(self.pullback_uid, uid))
        self.pullback_uid = uid
        if n_alines is not None:
            self.n_alines = int(n_alines)


def _other_pullback(file_uid: str, uid: str) -> str:
    return (
        f"made for another pullback: the arcs belong to pullback {file_uid}, this pullback is "
        f"{uid}"
    )


class ArcsConflictError(FormatError):
    """Saving would drop arcs that are in the file but that this session has never seen
    (another annotator saved since it was loaded). Nothing was written.

    ``unseen`` holds those arcs. Reload and merge (``save_arcs(..., on_conflict="merge")`` or
    :func:`reload_and_merge`), or save to another file.
    """

    def __init__(self, path: str | Path, unseen: list[Arc]):
        self.unseen = list(unseen)
        frames = sorted({a.frame for a in unseen})
        shown = ", ".join(str(f) for f in frames[:8]) + (" ..." if len(frames) > 8 else "")
        super().__init__(
            path,
            f"the file holds {len(unseen)} arc(s) this session has not seen (frames {shown}): "
            "someone else saved it since it was loaded. Nothing was written; reload and merge "
            "their arcs, or save to another file",
        )


CONFLICT_MODES = ("refuse", "merge", "overwrite")


def _path_key(path: str | Path) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:  # pragma: no cover
        return str(Path(path).absolute())


def _file_stat(path: Path) -> tuple | None:
    """(size, sha1) of a file's bytes: what a session last saw of it (None: unreadable)."""
    import hashlib

    try:
        data = path.read_bytes()
    except OSError:
        return None
    return (len(data), hashlib.sha1(data).hexdigest())


def _saw_whole_file(arcset: ArcSet, path: Path) -> None:
    stat = _file_stat(path)
    if stat is not None:
        arcset._seen_stat[_path_key(path)] = stat


def _arc_key(a: Arc) -> tuple:
    return (int(a.frame), str(a.cls), round(float(a.start_deg), 4), round(float(a.end_deg), 4))


def _covered(a: Arc, mine: dict[tuple[int, str], list[Arc]]) -> bool:
    """Whether arc ``a`` lies inside one arc of the same frame and class of ``mine``."""
    ext = arc_extent(a.start_deg, a.end_deg)
    for b in mine.get((int(a.frame), a.cls), ()):
        bext = arc_extent(b.start_deg, b.end_deg)
        if bext >= 360.0:
            return True
        off = float(np.mod(a.start_deg - b.start_deg, 360.0))
        if off > 360.0 - 1e-3:
            off = 0.0
        if off + ext <= bext + 1e-3:
            return True
    return False


def unseen_arcs(arcset: ArcSet, path: str | Path) -> list[Arc]:
    """Arcs in the file at ``path`` that ``arcset`` has never seen there and does not hold:
    what a plain overwrite would lose. FormatError when the file exists but is not an arcs
    file of this pullback."""
    p = Path(path)
    if not p.exists():
        return []
    last = arcset._seen_stat.get(_path_key(p))
    if last is not None and last == _file_stat(p):
        return []  # the file is byte for byte as this session last read or wrote it
    disk = load_arcs(p, arcset.n_frames, arcset.frame_shape, arcset.pullback_uid or None)
    seen = arcset._seen.get(_path_key(p), set())
    mine: dict[tuple[int, str], list[Arc]] = {}
    for a in arcset.arcs:
        mine.setdefault((int(a.frame), a.cls), []).append(a)
    return [a for a in disk.arcs if _arc_key(a) not in seen and not _covered(a, mine)]


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Serialise check-then-write between processes saving into ``folder`` (POSIX flock on
    the folder itself; no lock file is left behind). No-op where flock is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def save_arcs(arcset: ArcSet, path: str | Path, on_conflict: str = "refuse") -> Path:
    """Write an ArcSet as ``napari-plaque/arcs`` JSON, atomically (temp file + rename).

    Nothing is lost to another annotator: when the file on disk holds arcs this ArcSet has
    never seen (it was not loaded from that file, or someone saved there since), then with
    ``on_conflict``

    * ``"refuse"`` (default): :class:`ArcsConflictError` is raised and nothing is written;
    * ``"merge"``: those arcs are merged into ``arcset`` (it changes) and the union is written;
    * ``"overwrite"``: the file is replaced (an explicit choice, e.g. a command's ``--out``).

    A file that exists but is not an arcs file of this pullback is refused (FormatError) unless
    ``on_conflict="overwrite"``. The check and the write hold a lock on the folder, so two
    processes cannot interleave them. Write failures (read-only folder, full disk) raise
    :class:`OSError` naming the file.
    """
    if on_conflict not in CONFLICT_MODES:
        raise ValueError(f"on_conflict must be one of {CONFLICT_MODES}, got {on_conflict!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(p.parent):
        if on_conflict != "overwrite":
            unseen = unseen_arcs(arcset, p)
            if unseen and on_conflict == "refuse":
                raise ArcsConflictError(p, unseen)
            if unseen:
                arcset.add_many([Arc(**vars(a)) for a in unseen])
        doc = arcset.to_json()
        atomic_write_json(p, doc)
        arcset.mark_seen(p)
        _saw_whole_file(arcset, p)
    return p


def reload_and_merge(arcset: ArcSet, path: str | Path) -> int:
    """Merge the arcs of the file at ``path`` into ``arcset`` (in place) and mark them seen;
    returns how many arcs were new to ``arcset``. Save afterwards to write the union."""
    p = Path(path)
    if not p.exists():
        return 0
    disk = load_arcs(p, arcset.n_frames, arcset.frame_shape, arcset.pullback_uid or None)
    mine: dict[tuple[int, str], list[Arc]] = {}
    for a in arcset.arcs:
        mine.setdefault((int(a.frame), a.cls), []).append(a)
    new = [a for a in disk.arcs if not _covered(a, mine)]
    if new:
        arcset.add_many([Arc(**vars(a)) for a in new])
    arcset.mark_seen(p, disk.arcs)
    key = _path_key(p)
    if key in disk._seen_stat:  # the file as it was read (stat taken before reading)
        arcset._seen_stat[key] = disk._seen_stat[key]
    return len(new)


def load_arcs(
    path: str | Path,
    n_frames: int | None = None,
    frame_shape: tuple[int, int] | None = None,
    pullback: Any = None,
    n_alines: int | None = None,
) -> ArcSet:
    """Read an arcs file (version 1 or 2); refuse it (FormatError naming the file) if it is not
    one, or if it was made for another pullback: ``n_frames`` / ``frame_shape`` given and
    different, or ``pullback`` (a Pullback or a :func:`pullback_uid` string) given and the file
    records another one, or ``n_alines`` given and the file records another A-line count.
    Version 1 files (no pullback recorded) pass the identity check: nothing says otherwise."""
    from ..io.versioned import read_versioned_json

    p = Path(path)
    stat = _file_stat(p)  # before parsing: a write in between is then noticed at the next save
    doc = read_versioned_json(p, ARCS_FORMAT, ARCS_VERSION, "arcs", min_version=1)
    try:
        f = int(doc["n_frames"])
        shape = (int(doc["frame_shape"][0]), int(doc["frame_shape"][1]))
        classes = [str(c) for c in doc.get("classes", DEFAULT_CLASSES)]
        mode = str(doc.get("center_mode", CenterMode.CATHETER.value))
        centers = doc.get("centers")
        arcs = list(doc.get("arcs", []))
        pb_doc = doc.get("pullback") or {}
        if not isinstance(pb_doc, dict):
            raise TypeError("'pullback' must be an object")
        if doc["version"] >= 2 and "pullback" not in doc:
            raise FormatError(
                p,
                f"arcs file version {doc['version']} without its 'pullback' record (the "
                "pullback and A-line count every version 2 file carries): damaged or not "
                "written by napari-plaque",
            )
        file_uid = str(pb_doc.get("uid", "") or "")
        file_n = int(pb_doc.get("n_alines", 0) or 0)
        reader = str(doc.get("reader", "") or "")
        adjudication = doc.get("adjudication")
        if adjudication is not None and not isinstance(adjudication, dict):
            raise TypeError("'adjudication' must be an object")
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise FormatError(p, f"arcs file is missing or has malformed fields ({exc})") from exc
    if pullback is not None:
        uid = pullback if isinstance(pullback, str) else pullback_uid(pullback)
        if file_uid and uid and file_uid != uid:
            raise FormatError(p, _other_pullback(file_uid, uid))
    if n_alines is not None and file_n and int(n_alines) != file_n:
        raise FormatError(
            p,
            f"read on {file_n} A-lines per frame, not {int(n_alines)}: score it with "
            f"{file_n} A-lines (or re-save it after changing the count deliberately)",
        )
    if n_frames is not None and int(n_frames) != f:
        raise FormatError(
            p,
            f"made for another pullback: {f} frames in the file, the pullback has {n_frames}",
        )
    if frame_shape is not None and tuple(int(s) for s in frame_shape) != shape:
        raise FormatError(
            p,
            f"made for another pullback: frame shape {list(shape)} in the file, the pullback "
            f"has {list(frame_shape)}",
        )
    if not 1 <= f <= 10**6 or not all(1 <= s_ <= 65535 for s_ in shape):
        raise FormatError(p, f"implausible n_frames {f} or frame_shape {list(shape)}")
    if not isinstance(doc.get("classes", []), list) or len(classes) > 256:
        raise FormatError(p, "'classes' must be a list of at most 256 names")
    if mode not in CENTER_MODES:
        raise FormatError(p, f"center_mode must be one of {CENTER_MODES}, got {mode!r}")
    if centers is not None:
        try:
            c = np.asarray(centers, float)
        except (TypeError, ValueError) as exc:
            raise FormatError(p, f"centers are not numbers ({exc})") from None
        if not (c.shape == (2,) or c.shape == (f, 2)):
            raise FormatError(p, f"centers must be one [cy, cx] or {f} pairs, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise FormatError(p, "centers hold NaN or infinite values")
    if not isinstance(arcs, list) or not all(isinstance(d, dict) for d in arcs):
        raise FormatError(p, "'arcs' must be a list of objects")
    try:
        raw = [
            Arc(int(d["frame"]), str(d["class"]), float(d["start_deg"]), float(d["end_deg"]))
            for d in arcs
        ]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise FormatError(p, f"bad arc entry ({exc})") from exc
    bad = [a for a in raw if not (np.isfinite(a.start_deg) and np.isfinite(a.end_deg))]
    if bad:
        raise FormatError(p, f"arc with a non-finite angle (frame {bad[0].frame})")
    try:
        out = ArcSet.from_dicts(arcs, f, shape, classes, mode, centers)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(p, f"bad arc entry ({exc})") from exc
    out.pullback_uid, out.n_alines, out.reader = file_uid, file_n, reader
    out.adjudication = adjudication
    out.mark_seen(p, raw + out.arcs)
    if stat is not None:
        out._seen_stat[_path_key(p)] = stat
    return out
