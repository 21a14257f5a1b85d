"""Interoperability: ``api.export_seg`` (``napari-plaque export-seg``), ``api.pull`` and
``api.push`` (``napari-plaque pull`` / ``push``, DICOMweb).

Credentials are never options: ``auth=`` takes an :class:`~napari_plaque.io.dicomweb.Auth`,
else they are read from the environment variables the options name (``user`` with
``password_env``, or ``token_env``), as the CLI reads them (the CLI also asks on a terminal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.dicomweb import DICOMWEB_DEFAULTS
from ..io.seg import SEG_DEFAULTS
from ._result import Result


@dataclass
class ExportSegResult(Result):
    """``to_dict()``: ``{"out", "series", "labels", "segments"}`` (``export-seg --json``);
    ``to_rows()``: one row per segment (label value, name)."""

    command = "export-seg"
    out: Path | None = None


def export_seg(
    labels: Any,
    *,
    series: str | Path,
    out: str | Path,
    names: str | Sequence[str] | None = None,
    manual: bool = SEG_DEFAULTS["manual"],
    series_number: int = SEG_DEFAULTS["series_number"],
    description: str = SEG_DEFAULTS["series_description"],
) -> ExportSegResult:
    """A label map as a DICOM SEG of its CT series (written atomically to ``out``).

    ``labels``: a ``.npy`` / NIfTI label map in the CT reader's axis order, or the array;
    ``series``: the source CT series folder; ``names``: segment names for labels 1, 2, ...
    (a list, or one comma-separated text as ``--names``).
    """
    import numpy as np

    from ..io import read_labels
    from ..io.seg import write_seg

    where = str(labels) if isinstance(labels, (str, Path)) else "labels"
    arr = labels if isinstance(labels, np.ndarray) else read_labels(labels)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names) if names else None
    path = write_seg(out, arr, series, names=names, manual=manual, series_number=series_number,
                     series_description=description, where=where)
    n_seg = int(arr.max()) if arr.size else 0
    segs = [{"label": v, "name": (names[v - 1] if names and v <= len(names) else None)}
            for v in range(1, n_seg + 1)]
    data = {"out": str(path), "series": str(series), "labels": where, "segments": segs}
    return ExportSegResult(data=data, rows=segs, out=Path(path))


def _auth(auth: Any, user: str | None, password_env: str, token_env: str):
    if auth is not None:
        return auth
    from ..io.dicomweb import auth_from_env

    return auth_from_env(user=user, password_env=password_env, token_env=token_env,
                         prompt=False)


def _steps(desc: str, progress: Callable[[str, int | None], Any] | None):
    """A ``run_steps`` callback from a ``progress(desc, total) -> callback | None`` hook."""
    if progress is None:
        return None
    state: dict = {}

    def cb(step) -> None:
        done, total = step
        if "cb" not in state or state.get("total") != total:
            state["cb"], state["total"] = progress(desc, total), total
        if state["cb"]:
            state["cb"](done)

    return cb


@dataclass
class PullResult(Result):
    """``to_dict()``: ``{"out", "series", "instances"}`` (``pull --json``); ``to_rows()``:
    one row per series folder. ``folders``: the series folders written."""

    command = "pull"
    folders: list = field(default_factory=list)

    def summary(self) -> str:
        """The line ``pull`` prints without ``--json``."""
        d = self.data
        return f"pulled {d['instances']} instances of {len(d['series'])} series into {d['out']}"


def pull(
    url: str,
    *,
    study: str,
    out: str | Path,
    series: str | None = None,
    user: str | None = None,
    password_env: str = DICOMWEB_DEFAULTS["password_env"],
    token_env: str = DICOMWEB_DEFAULTS["token_env"],
    timeout: float = DICOMWEB_DEFAULTS["timeout_s"],
    deadline: float = DICOMWEB_DEFAULTS["deadline_s"],
    max_bytes: int = DICOMWEB_DEFAULTS["max_bytes"],
    max_instance_bytes: int = DICOMWEB_DEFAULTS["max_instance_bytes"],
    max_series: int = DICOMWEB_DEFAULTS["max_series"],
    max_instances: int = DICOMWEB_DEFAULTS["max_instances"],
    auth: Any = None,
    progress: Callable[[str, int | None], Any] | None = None,
) -> PullResult:
    """Retrieve a study (or one ``series``) from a DICOMweb server into
    ``out/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (``out`` new or empty; nothing kept on
    error). The server is not trusted: the limits are those of ``napari-plaque pull``."""
    from .._progress import run_steps
    from ..io.dicomweb import iter_pull

    folders = run_steps(
        iter_pull(url, study, out, series_uid=series,
                  auth=_auth(auth, user, password_env, token_env), timeout_s=timeout,
                  deadline_s=deadline, max_bytes=max_bytes,
                  max_instance_bytes=max_instance_bytes, max_series=max_series,
                  max_instances=max_instances),
        _steps("pull", progress),
    )
    counts = [len(list(Path(f).iterdir())) for f in folders]
    data = {"out": str(out), "series": [str(f) for f in folders], "instances": sum(counts)}
    rows = [{"series": str(f), "instances": n} for f, n in zip(folders, counts, strict=True)]
    return PullResult(data=data, rows=rows, folders=list(folders))


@dataclass
class PushResult(Result):
    """``to_dict()``: ``{"sent", "studies"}`` (``push --json``); ``to_rows()``: one row per
    study."""

    command = "push"

    def summary(self) -> str:
        """The line ``push`` prints without ``--json``."""
        return f"stored {self.data['sent']} instances ({len(self.data['studies'])} studies)"


def push(
    url: str,
    files: Sequence[str | Path],
    *,
    user: str | None = None,
    password_env: str = DICOMWEB_DEFAULTS["password_env"],
    token_env: str = DICOMWEB_DEFAULTS["token_env"],
    timeout: float = DICOMWEB_DEFAULTS["timeout_s"],
    auth: Any = None,
    progress: Callable[[str, int | None], Any] | None = None,
) -> PushResult:
    """Store DICOM files or folders (a series, a SEG, an SR) on a DICOMweb server (STOW-RS);
    every file is read and checked before the first is sent."""
    from .._progress import run_steps
    from ..io.dicomweb import iter_push

    if isinstance(files, (str, Path)):
        files = [files]
    res = run_steps(
        iter_push(url, list(files), auth=_auth(auth, user, password_env, token_env),
                  timeout_s=timeout),
        _steps("push", progress),
    )
    return PushResult(data=res, rows=[{"study": s} for s in res.get("studies", [])])


__all__ = ["ExportSegResult", "PullResult", "PushResult", "export_seg", "pull", "push"]
