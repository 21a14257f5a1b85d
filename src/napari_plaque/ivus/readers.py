"""Several readers of one pullback: their own arcs files, inter-reader figures, adjudication.

Qt-free; the dock (:mod:`napari_plaque.widgets.ivus`) and ``napari-plaque readers`` bind it.
The design is in ``docs/readers.md``; in short:

- **one file per reader**, beside the pullback: ``<pullback>.arcs.<reader>.json``
  (:func:`reader_path`), an ordinary ``napari-plaque/arcs`` file (version 2) that records the
  pullback it belongs to, the A-line count and the reader. Blinded reading is the default:
  a reader's dock shows that reader's file only.
- **figures** (:func:`inter_reader`): ICS and max arc per reader, the readers' mean ICS,
  pairwise Cohen's kappa on A-line labels, Fleiss' kappa for three or more readers;
  :func:`icc_of_ics` over several pullbacks. Each reader is scored from its own file; a file
  holding arcs of several annotators (a union made by merging) is flagged in ``warnings``,
  never scored silently as one reader.
- **adjudication** (:class:`Adjudication`): the frames where readers disagree on any A-line,
  take one reader's arcs for a frame or edit them, and write an adjudicated set
  (``<pullback>.arcs.adjudicated.json``) whose arcs keep their author and whose
  ``adjudication`` record says, per frame, whose reading was taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .arcs import Arc, ArcSet, load_arcs, save_arcs
from .measure import arc_measurements
from .polar import N_ALINES

__all__ = [
    "ADJUDICATED",
    "Adjudication",
    "ReaderSet",
    "authors",
    "disagreement_frames",
    "icc_of_ics",
    "inter_reader",
    "load_reader",
    "pairwise_kappa",
    "reader_files",
    "reader_path",
    "reader_slug",
]

#: the reader name of an adjudicated set (and its file name part)
ADJUDICATED = "adjudicated"
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def reader_slug(name: str) -> str:
    """The file-name part of a reader's name (letters, digits, ``-`` and ``_``)."""
    slug = _SLUG.sub("-", str(name).strip()).strip("-")
    if not slug:
        raise ValueError(f"a reader needs a name with a letter or digit, got {name!r}")
    return slug


def reader_path(source: str | Path, reader: str) -> Path:
    """Where a reader's arcs of the pullback file ``source`` are kept:
    ``<pullback>.arcs.<reader>.json`` beside it."""
    p = Path(source)
    return p.with_name(f"{p.name}.arcs.{reader_slug(reader)}.json")


def reader_files(source: str | Path) -> dict[str, Path]:
    """Readers' arcs files found beside the pullback file ``source`` (reader slug -> path),
    the adjudicated set included; the unnamed ``<pullback>.arcs.json`` is not a reader's."""
    p = Path(source)
    prefix = f"{p.name}.arcs."
    out: dict[str, Path] = {}
    if not p.parent.is_dir():
        return out
    for f in sorted(p.parent.glob(f"{glob_escape(prefix)}*.json")):
        name = f.name[len(prefix) : -len(".json")]
        if re.fullmatch(r"[A-Za-z0-9_-]+", name):
            out[name] = f
    return out


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped (a pullback named ``run[1].dcm``)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def authors(arcset: ArcSet) -> list[str]:
    """The distinct annotators named in a set's arcs (sorted; "" for unnamed arcs)."""
    return sorted({a.annotator for a in arcset.arcs})


@dataclass
class ReaderSet:
    """One reader's arcs of one pullback."""

    name: str
    arcset: ArcSet
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def load_reader(
    path: str | Path,
    pullback: Any = None,
    n_frames: int | None = None,
    frame_shape: tuple[int, int] | None = None,
    name: str | None = None,
) -> ReaderSet:
    """Load one reader's arcs file, refused (FormatError naming it) when it belongs to another
    pullback (``pullback`` given: frame count, shape and the recorded pullback id checked).

    The reader's name: ``name``, else the file's ``reader`` field, else the single annotator
    of its arcs, else the file name. A file whose arcs name several annotators gets a warning
    (a union of readers scored as one reader would be a silent wrong number).
    """
    p = Path(path)
    if pullback is not None:
        n_frames, frame_shape = pullback.n_frames, pullback.frame_shape
    arcset = load_arcs(p, n_frames, frame_shape, pullback=pullback)
    who = [a for a in authors(arcset) if a]
    if name is None:
        name = arcset.reader or (who[0] if len(who) == 1 else _name_from_file(p))
    warnings = []
    if len(who) > 1 and arcset.reader != ADJUDICATED:
        warnings.append(
            f"{p.name}: arcs of {len(who)} annotators ({', '.join(who[:5])}) in one file: "
            f"scored as ONE reader {name!r}; give each reader's own file for inter-reader "
            "figures"
        )
    return ReaderSet(str(name), arcset, p, warnings)


def _name_from_file(p: Path) -> str:
    stem = p.name[: -len(".json")] if p.name.endswith(".json") else p.stem
    if ".arcs." in stem:
        return stem.rsplit(".arcs.", 1)[1]
    return stem


# -- figures ---------------------------------------------------------------------------------


def _labels(reader: ReaderSet, cls: str, n_alines: int, frames: tuple[int, int]) -> np.ndarray:
    lab = reader.arcset.labels(n_alines, [cls])[:, :, 0]
    return lab[frames[0] : frames[1]]


def _kappa_2x2(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    from ..stats.agreement import kappa_ci

    a = np.asarray(a, bool).ravel()
    b = np.asarray(b, bool).ravel()
    table = np.bincount(a.astype(np.int64) * 2 + b, minlength=4).reshape(2, 2)
    out: dict[str, Any] = dict(kappa_ci(table, weights=None))
    out["n"] = int(a.size)
    out["observed_agreement"] = float(np.trace(table) / max(a.size, 1))
    out["table"] = table.tolist()  # [[neither, b only], [a only, both]]
    return out


def pairwise_kappa(labels: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Cohen's kappa on A-line labels for every pair of readers (name -> (F, N) bool)."""
    out = []
    for (na, la), (nb, lb) in combinations(labels.items(), 2):
        out.append({"a": na, "b": nb, **_kappa_2x2(la, lb)})
    return out


def inter_reader(
    readers: list[ReaderSet],
    mm_per_frame: float,
    n_alines: int | None = None,
    cls: str = "calcium",
    frames: tuple[int, int] | None = None,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Inter-reader figures of one pullback.

    ``n_alines``: the A-line grid the labels are compared on; default the count the files
    record (all must agree, else ValueError), else 360. ``frames``: ``[start, stop)``.

    Returns ``readers`` (per reader: ``name``, ``file``, ``ics``, ``max_arc_deg``,
    ``max_arc_frame``, ``positive_alines``, ``arcs``, ``authors``), ``mean_ics``,
    ``sd_ics``, ``pairwise`` (Cohen's kappa with SE and CI, observed agreement and the 2x2
    table per pair), ``fleiss`` (three or more readers, else None), ``n_alines``,
    ``frame_range`` and ``warnings``.
    """
    if len(readers) < 2:
        raise ValueError(f"inter-reader figures need at least 2 readers, got {len(readers)}")
    warnings: list[str] = []
    for r in readers:
        warnings.extend(r.warnings)
    names = [r.name for r in readers]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"two files for the same reader {', '.join(dup)}: name them apart")
    recorded = {r.arcset.n_alines for r in readers if r.arcset.n_alines}
    if n_alines is None:
        if len(recorded) > 1:
            raise ValueError(
                f"the readers' files record different A-line counts {sorted(recorded)}: "
                "give the A-line count to compare them on"
            )
        n_alines = recorded.pop() if recorded else N_ALINES
    elif recorded - {int(n_alines)}:
        warnings.append(
            f"labels compared on {int(n_alines)} A-lines; the files record {sorted(recorded)}"
        )
    uids = {r.arcset.pullback_uid for r in readers if r.arcset.pullback_uid}
    if len(uids) > 1:
        raise ValueError(f"the readers' files belong to different pullbacks ({sorted(uids)})")
    n_frames = readers[0].arcset.n_frames
    if any(r.arcset.n_frames != n_frames for r in readers):
        raise ValueError("the readers' files are for pullbacks of different frame counts")
    frames = (0, n_frames) if frames is None else (int(frames[0]), int(frames[1]))
    labels = {r.name: _labels(r, cls, int(n_alines), frames) for r in readers}
    rows = []
    for r in readers:
        m = arc_measurements(labels[r.name], mm_per_frame)
        rows.append(
            {
                "name": r.name,
                "file": str(r.path) if r.path is not None else None,
                "ics": m["ics"],
                "max_arc_deg": m["max_arc_deg"],
                "max_arc_frame": frames[0] + m["max_arc_frame"],
                "positive_alines": m["positive_alines"],
                "length_mm": m["length_mm"],
                "arcs": sum(1 for a in r.arcset.arcs if a.cls == cls),
                "authors": [a for a in authors(r.arcset) if a],
            }
        )
        if not any(a.cls == cls for a in r.arcset.arcs):
            warnings.append(f"reader {r.name!r} has no {cls} arc: ICS 0 (not read yet?)")
    ics = np.array([row["ics"] for row in rows], float)
    fleiss = None
    if len(readers) >= 3:
        from ..stats.agreement import fleiss_kappa

        stack = np.stack([labels[n].ravel() for n in names], axis=1)
        pos = stack.sum(axis=1)
        counts = np.stack([len(names) - pos, pos], axis=1)
        fleiss = fleiss_kappa(counts=counts, n_boot=n_boot)
        fleiss["categories"] = ["no " + cls, cls]
    return {
        "class": cls,
        "n_alines": int(n_alines),
        "frame_range": list(frames),
        "mm_per_frame": float(mm_per_frame),
        "readers": rows,
        "mean_ics": float(ics.mean()),
        "sd_ics": float(ics.std(ddof=1)),
        "pairwise": pairwise_kappa(labels),
        "fleiss": fleiss,
        "warnings": warnings,
    }


def icc_of_ics(ics_table: np.ndarray | list[list[float]]) -> dict[str, float]:
    """ICC(2,1) (two-way random, absolute agreement) of ICS: rows pullbacks, columns readers
    (:func:`napari_plaque.stats.agreement.icc_a1`)."""
    from ..stats.agreement import icc_a1

    return icc_a1(np.asarray(ics_table, float))


# -- adjudication ----------------------------------------------------------------------------


def disagreement_frames(
    readers: list[ReaderSet], n_alines: int = N_ALINES, classes: list[str] | None = None
) -> dict[int, int]:
    """Frames where the readers disagree on any A-line of any class -> how many A-lines."""
    classes = classes or _classes(readers)
    labs = np.stack([r.arcset.labels(n_alines, classes) for r in readers])  # R, F, N, C
    differ = (labs != labs[:1]).any(axis=0).any(axis=-1)  # F, N
    counts = differ.sum(axis=1)
    return {int(f): int(counts[f]) for f in np.flatnonzero(counts)}


def _classes(readers: list[ReaderSet]) -> list[str]:
    out: list[str] = []
    for r in readers:
        for c in r.arcset.classes:
            if c not in out:
                out.append(c)
    return out


class Adjudication:
    """Adjudicate two or more readers of one pullback, frame by frame.

    Frames where all readers agree (same A-line labels, every class) are taken as agreed (the
    first reader's arcs, their authors kept) and recorded ``"agreed"``. Each disagreeing frame
    waits (:attr:`pending`) until :meth:`take` (one reader's arcs of that frame, authors kept)
    or :meth:`edit` (arcs given by the adjudicator, author the adjudicator). Every decision is
    undoable (:meth:`undo`). :meth:`arcset` is the adjudicated set, :meth:`save` writes it.
    """

    def __init__(self, readers: list[ReaderSet], n_alines: int = N_ALINES, adjudicator: str = ""):
        if len(readers) < 2:
            raise ValueError("adjudication needs at least 2 readers")
        names = [r.name for r in readers]
        if len(set(names)) != len(names):
            raise ValueError(f"two readers of the same name among {names}")
        first = readers[0].arcset
        for r in readers[1:]:
            a = r.arcset
            if (a.n_frames, a.frame_shape) != (first.n_frames, first.frame_shape):
                raise ValueError(f"reader {r.name!r} read another pullback (frames or shape)")
            if a.pullback_uid and first.pullback_uid and a.pullback_uid != first.pullback_uid:
                raise ValueError(f"reader {r.name!r} read another pullback ({a.pullback_uid})")
            if a.center_mode != first.center_mode or not np.allclose(
                a.centers_array(), first.centers_array()
            ):
                raise ValueError(
                    f"reader {r.name!r} drew arcs about another centre: angles are not "
                    "comparable"
                )
        self.readers = {r.name: r for r in readers}
        self.n_alines = int(n_alines)
        self.adjudicator = str(adjudicator)
        self.classes = _classes(readers)
        self.disagreements = disagreement_frames(readers, self.n_alines, self.classes)
        #: frame -> reader name, "edit", for every disagreeing frame decided so far
        self.decisions: dict[int, str] = {}
        self._edits: dict[int, list[Arc]] = {}
        self._undo: list[tuple[int, str | None, list[Arc] | None]] = []

    @property
    def frames(self) -> list[int]:
        """The disagreeing frames, in order."""
        return sorted(self.disagreements)

    @property
    def pending(self) -> list[int]:
        return [f for f in self.frames if f not in self.decisions]

    def next_pending(self, after: int = -1) -> int | None:
        """The next undecided disagreeing frame after ``after`` (wrapping), or None."""
        pend = self.pending
        if not pend:
            return None
        return next((f for f in pend if f > after), pend[0])

    def arcs_of(self, reader: str, frame: int) -> list[Arc]:
        """A reader's arcs of a frame, each with its author (the reader when unnamed)."""
        r = self.readers[reader]
        return [
            Arc(a.frame, a.cls, a.start_deg, a.end_deg, a.annotator or reader, a.time)
            for a in r.arcset.arcs_for(frame)
        ]

    def _check(self, frame: int) -> int:
        frame = int(frame)
        if frame not in self.disagreements:
            raise ValueError(f"frame {frame}: the readers agree there, nothing to adjudicate")
        return frame

    def _record(self, frame: int) -> None:
        self._undo.append((frame, self.decisions.get(frame), self._edits.get(frame)))

    def take(self, frame: int, reader: str) -> None:
        """Take ``reader``'s arcs for a disagreeing frame."""
        frame = self._check(frame)
        if reader not in self.readers:
            raise ValueError(f"no reader {reader!r} (readers: {', '.join(self.readers)})")
        self._record(frame)
        self.decisions[frame] = reader
        self._edits.pop(frame, None)

    def edit(self, frame: int, arcs: list[tuple[str, float, float]]) -> None:
        """Set a disagreeing frame's arcs ``(class, start_deg, end_deg)`` by hand."""
        frame = self._check(frame)
        who = self.adjudicator or "adjudicator"
        from .arcs import _now_iso

        now = _now_iso()
        self._record(frame)
        self.decisions[frame] = "edit"
        self._edits[frame] = [Arc(frame, c, float(s), float(e), who, now) for c, s, e in arcs]

    def undo(self) -> bool:
        if not self._undo:
            return False
        frame, decision, edits = self._undo.pop()
        if decision is None:
            self.decisions.pop(frame, None)
        else:
            self.decisions[frame] = decision
        if edits is None:
            self._edits.pop(frame, None)
        else:
            self._edits[frame] = edits
        return True

    def arcset(self, allow_pending: bool = False) -> ArcSet:
        """The adjudicated set; ValueError while frames are pending (unless allowed: they are
        then left without arcs and listed as pending in the record)."""
        pend = self.pending
        if pend and not allow_pending:
            shown = ", ".join(map(str, pend[:8])) + (" ..." if len(pend) > 8 else "")
            raise ValueError(f"{len(pend)} disagreeing frame(s) not adjudicated yet: {shown}")
        names = list(self.readers)
        base = self.readers[names[0]].arcset
        out = ArcSet(
            base.n_frames, base.frame_shape, list(self.classes), base.center_mode,
            np.asarray(base.centers, float).tolist(),
        )
        out.pullback_uid = next(
            (r.arcset.pullback_uid for r in self.readers.values() if r.arcset.pullback_uid), ""
        )
        out.n_alines = self.n_alines
        out.reader = ADJUDICATED
        arcs: list[Arc] = []
        for f in range(base.n_frames):
            if f not in self.disagreements:
                arcs.extend(self.arcs_of(names[0], f))
            elif self.decisions.get(f) == "edit":
                arcs.extend(self._edits.get(f, []))
            elif f in self.decisions:
                arcs.extend(self.arcs_of(self.decisions[f], f))
        out.arcs = arcs
        out._sort()
        out.adjudication = {
            "readers": [
                {"name": n, "file": str(r.path) if r.path else None}
                for n, r in self.readers.items()
            ],
            "adjudicator": self.adjudicator,
            "n_alines": self.n_alines,
            "decisions": {str(f): self.decisions[f] for f in sorted(self.decisions)},
            "pending": pend,
            "agreed_frames": base.n_frames - len(self.disagreements),
        }
        return out

    def save(self, path: str | Path, allow_pending: bool = False, overwrite: bool = False) -> Path:
        """Write the adjudicated set (an arcs file, version 2, reader ``adjudicated``)."""
        return save_arcs(
            self.arcset(allow_pending), path, on_conflict="overwrite" if overwrite else "refuse"
        )

