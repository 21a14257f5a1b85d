"""Studies of a cohort: where they come from (paths, a manifest) and how they are identified.

A :class:`Study` is one unit of work: a ``study_id``, the image ``path`` and per-study inputs
(``roi``, ``vessels``, ``arcs``, ``ref`` ...) read from the manifest's other columns. Output
never names the path unless asked: :func:`input_id` is a hash of the study's input paths.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.detect import PULLED_STUDY_MARKER
from ..io.errors import NapariPlaqueError

#: file suffixes that are never an image study when a folder is expanded
_SKIP_SUFFIXES = {".txt", ".md", ".json", ".csv", ".npy", ".png", ".jpg", ".parquet"}

#: manifest columns with a meaning of their own (every other column is a per-study input)
MANIFEST_ID = "study_id"
MANIFEST_PATH = "path"


@dataclass
class Study:
    """One study of a cohort.

    ``inputs`` holds per-study inputs from the manifest (column name -> text, empty cells
    left out); :meth:`input_path` resolves one relative to the manifest's folder.
    """

    study_id: str
    path: Path
    inputs: dict[str, str] = field(default_factory=dict)
    base: Path | None = None  # folder that relative manifest paths are relative to
    #: per-study values that are not paths (e.g. ``landmarks`` of a fusion manifest)
    values: dict[str, str] = field(default_factory=dict)

    def input_path(self, name: str) -> Path | None:
        """The per-study input ``name`` as a path (relative to the manifest), or None."""
        v = self.inputs.get(name)
        if v is None or v == "":
            return None
        p = Path(v).expanduser()
        if not p.is_absolute() and self.base is not None:
            p = self.base / p
        return p

    @property
    def input_id(self) -> str:
        return input_id(self)

    def absolute(self) -> Study:
        """This study with absolute paths (what workers on other machines or in other
        folders need; their file systems must show the data at the same paths)."""
        inputs = {k: str(self.input_path(k).absolute()) for k in self.inputs}
        return Study(self.study_id, Path(self.path).absolute(), inputs, None, dict(self.values))


def check_study_id(sid: str, where: str) -> str:
    """``sid`` when it can name a study's output files (``<folder>/<study_id><suffix>``), else
    ValueError naming ``where`` (the manifest and line, or the path): an id that is empty,
    absolute, or holds ``/``, ``\\``, ``..`` or a control character could write outside the
    output folder (issue 22)."""
    from ..io.atomic import name_problem

    problem = name_problem(sid)
    if problem is not None:
        raise NapariPlaqueError(
            f"{where}: study id {sid!r} {problem}; a study id names the study's output files, "
            "so it must be a plain file name"
        )
    return sid


def _control_char(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _is_nifti(p: Path) -> bool:
    return p.name.lower().endswith((".nii", ".nii.gz"))


def study_name(path: str | Path) -> str:
    """Study name: the file or folder name without a NIfTI / DICOM extension."""
    name = Path(path).name
    for ext in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return name


def expand_paths(paths: Iterable[str | Path], expand_folders: bool = True) -> list[Path]:
    """Expand PATH arguments into studies (raises ValueError naming a missing/empty path).

    A file is one study. A folder that holds image files (DICOM) directly is one study, and so
    is a study ``pull`` retrieved (its :data:`PULLED_STUDY_MARKER`, one sub-folder per series);
    another folder holding only sub-folders and/or NIfTI files is a cohort: each of them is a
    study.
    With ``expand_folders=False`` every path is one study as given.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise NapariPlaqueError(f"{p}: no such file or folder")
        if p.is_file() or not expand_folders:
            out.append(p)
            continue
        if (p / PULLED_STUDY_MARKER).is_file():  # a DICOMweb pull: one study, its series inside
            out.append(p)
            continue
        children = sorted(c for c in p.iterdir() if not c.name.startswith("."))
        files = [c for c in children if c.is_file()]
        series_files = [
            c for c in files if not _is_nifti(c) and c.suffix.lower() not in _SKIP_SUFFIXES
        ]
        if series_files:
            out.append(p)
            continue
        studies = [c for c in children if c.is_dir() or _is_nifti(c)]
        if not studies:
            raise NapariPlaqueError(f"{p}: empty folder (no DICOM files, NIfTI files or study folders)")
        out.extend(studies)
    return out


def studies_from_paths(
    paths: Iterable[str | Path], expand_folders: bool = True, inputs: Sequence[dict] | None = None
) -> list[Study]:
    """One :class:`Study` per (expanded) path, named by :func:`study_name`."""
    found = expand_paths(paths, expand_folders)
    if inputs is not None and len(inputs) != len(found):
        raise NapariPlaqueError(f"{len(found)} studies but {len(inputs)} sets of per-study inputs")
    return [
        Study(check_study_id(study_name(p), str(p)), p, dict(inputs[i]) if inputs else {})
        for i, p in enumerate(found)
    ]


def read_manifest(
    path: str | Path, columns: Sequence[str] | None = None, values: Sequence[str] = ()
) -> list[Study]:
    """Read a cohort manifest: a CSV with a ``path`` column, optionally ``study_id``.

    Other columns are per-study inputs (paths); when ``columns`` is given, only those are kept
    (extra columns such as age or site are ignored). The ``values`` columns are per-study
    values that are not paths (``Study.values``, kept as written). Relative paths are relative to the manifest's
    folder. Raises ValueError naming the file (and line) for an unusable manifest: no ``path``
    column, an empty path, a study id used twice or that is not a plain file name
    (:func:`check_study_id`), a control character (e.g. a newline inside a quoted cell) in a
    path. Missing study files are *not* checked here: each becomes an error row when its
    study runs.
    """
    mpath = Path(path)
    try:
        text = mpath.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NapariPlaqueError(f"{mpath}: no such manifest file") from None
    except UnicodeDecodeError as exc:
        raise NapariPlaqueError(f"{mpath}: not a UTF-8 CSV manifest ({exc})") from None
    # (a StringIO, not splitlines(): a quoted cell keeps its newline and is refused below)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if MANIFEST_PATH not in header:
        raise NapariPlaqueError(
            f"{mpath}: a manifest needs a '{MANIFEST_PATH}' column (and optionally "
            f"'{MANIFEST_ID}'); found columns {header}"
        )
    base = mpath.parent
    studies: list[Study] = []
    seen: dict[str, int] = {}
    line = 1
    for raw in reader:
        line = reader.line_num - sum(str(v or "").count("\n") for v in raw.values())
        row = {(k or "").strip(): (v or "").strip(" \t") for k, v in raw.items() if k is not None}
        if not any(v.strip() for v in row.values()):
            continue  # blank line
        p = row.get(MANIFEST_PATH, "")
        if not p:
            raise NapariPlaqueError(f"{mpath}, line {line}: empty '{MANIFEST_PATH}'")
        for k, v in row.items():
            if k not in (MANIFEST_ID, *values) and _control_char(v):
                raise NapariPlaqueError(
                    f"{mpath}, line {line}: column {k!r} holds a control character (a newline "
                    f"inside a quoted cell?): {v!r}"
                )
        sid = row.get(MANIFEST_ID) or study_name(p)
        check_study_id(sid, f"{mpath}, line {line}")
        if sid in seen:
            raise NapariPlaqueError(
                f"{mpath}, line {line}: study id {sid!r} already used on line {seen[sid]}"
            )
        seen[sid] = line
        extra = {
            k: v
            for k, v in row.items()
            if k not in (MANIFEST_ID, MANIFEST_PATH, *values)
            and v != ""
            and (columns is None or k in columns)
        }
        vals = {k: row[k] for k in values if row.get(k, "") != ""}
        sp = Path(p).expanduser()
        if not sp.is_absolute():
            sp = base / sp
        studies.append(Study(sid, sp, extra, base, vals))
    if not studies:
        raise NapariPlaqueError(f"{mpath}: the manifest lists no study")
    return studies


def _plain(obj: Any) -> Any:
    """JSON-able without any redaction (hashes must not depend on --no-paths)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return "nan"
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalars
        return _plain(obj.item())
    return str(obj)  # paths and anything else


def _hash(obj: Any, n: int = 16) -> str:
    text = json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def params_hash(task_name: str, params: dict[str, Any] | None) -> str:
    """A short hash of the task's name and parameters (same parameters -> same hash)."""
    return _hash({"task": task_name, "params": params or {}})


def input_id(study: Study) -> str:
    """A short hash naming the study's inputs (absolute paths) without revealing them."""
    inputs = {k: str(study.input_path(k).resolve()) for k in sorted(study.inputs)}
    doc: dict[str, Any] = {"path": str(Path(study.path).resolve()), "inputs": inputs}
    if study.values:  # (studies without values keep the hash they always had)
        doc["values"] = dict(sorted(study.values.items()))
    return _hash(doc)
