"""DICOMweb: query (QIDO-RS), pull (WADO-RS) and push (STOW-RS) studies, over dicomweb-client.

Secrets (a bearer token, a basic-auth password) live in :class:`Auth`, whose ``repr`` hides
them, and never appear in a message: URLs are shown without their user-info part. Every
transport or HTTP failure becomes a :class:`DICOMwebError` (a ``ValueError``, so the CLI exits
with code 2) that says what happened in words: server unreachable, 401 (credentials needed or
refused), 403, 404 (wrong URL or unknown UID), 5xx.

``iter_pull`` writes into a hidden temporary folder beside the destination and renames it at
the end, so an interrupted or failed pull leaves nothing half-written. ``iter_push`` reads and
checks every file before it sends the first one. Both are generators yielding progress
(:mod:`napari_plaque._progress`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._progress import run_steps

DICOMWEB_DEFAULTS: dict[str, Any] = {
    "timeout_s": 30.0,
    "token_env": "DICOMWEB_TOKEN",
    "password_env": "DICOMWEB_PASSWORD",
    "limit": 200,
    "retries": 3,
}

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DICOMwebError(ValueError):
    """A DICOMweb request failed; the message says why, without any secret."""


@dataclass
class Auth:
    """Credentials for a DICOMweb server: basic (user + password) or a bearer token."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never the secret
        kind = "token" if self.token else ("basic" if self.user else "none")
        return f"Auth(kind={kind!r}, user={self.user!r})"

    @property
    def kind(self) -> str:
        return "token" if self.token else ("basic" if self.user else "none")


def auth_from_env(
    user: str | None = None,
    password_env: str = DICOMWEB_DEFAULTS["password_env"],
    token_env: str = DICOMWEB_DEFAULTS["token_env"],
    prompt: bool = False,
) -> Auth:
    """Credentials from environment variables (never from the command line).

    With ``user``, the password is read from ``$password_env`` (or asked on the terminal when
    ``prompt``); without, a token is read from ``$token_env`` when set.
    """
    if user:
        pw = os.environ.get(password_env)
        if pw is None and prompt:
            import getpass

            pw = getpass.getpass(f"password for {user}: ")
        if pw is None:
            raise DICOMwebError(
                f"--user {user}: no password (set the environment variable {password_env})"
            )
        return Auth(user=user, password=pw)
    token = os.environ.get(token_env)
    return Auth(token=token) if token else Auth()


def safe_url(url: str) -> str:
    """``url`` without user-info (``user:password@``) and query string."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DICOMwebError(
            f"{safe_url(url)}: not a DICOMweb URL (expected http(s)://host[:port]/dicom-web)"
        )
    return url.rstrip("/")


def make_client(url: str, auth: Auth | None = None, timeout_s: float | None = None):
    """A ``DICOMwebClient`` for ``url`` with the credentials of ``auth``."""
    import requests
    from dicomweb_client import DICOMwebClient

    url = _check_url(url)
    parts = urlsplit(url)
    session = requests.Session()
    auth = auth or Auth()
    if parts.username:  # credentials written in the URL: use them, never show them
        auth = Auth(user=parts.username, password=parts.password or "")
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if auth.token:
        session.headers["Authorization"] = f"Bearer {auth.token}"
    elif auth.user:
        session.auth = (auth.user, auth.password or "")
    timeout = DICOMWEB_DEFAULTS["timeout_s"] if timeout_s is None else timeout_s
    client = DICOMwebClient(url, session=session, timeout=timeout)
    # dicomweb-client retries failed requests (also refused connections) with 1-16 s waits;
    # keep a short retry for busy servers (429/503) and fail fast on an unreachable one
    client.set_http_retry_params(
        retry=True, max_attempts=DICOMWEB_DEFAULTS["retries"], wait_exponential_multiplier=200
    )
    return client


@contextlib.contextmanager
def _errors(url: str, what: str) -> Iterator[None]:
    """Turn transport and HTTP failures into DICOMwebError messages without secrets."""
    import requests

    where = safe_url(url)
    try:
        yield
    except requests.exceptions.HTTPError as exc:
        code = getattr(exc.response, "status_code", None)
        raise DICOMwebError(_http_message(where, what, code)) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        reason = "timed out" if isinstance(exc, requests.exceptions.Timeout) else (
            "connection refused or host unknown"
        )
        raise DICOMwebError(f"{where}: cannot reach the server ({reason}) while {what}") from None
    except requests.exceptions.RequestException as exc:
        raise DICOMwebError(f"{where}: request failed while {what} ({type(exc).__name__})") from None


def _http_message(where: str, what: str, code: int | None) -> str:
    if code == 401:
        return (f"{where}: 401 Unauthorized while {what}: the server needs credentials or "
                "refused them (--user with the password in $DICOMWEB_PASSWORD, or a token in "
                "$DICOMWEB_TOKEN)")
    if code == 403:
        return f"{where}: 403 Forbidden while {what}: these credentials may not do this"
    if code == 404:
        return (f"{where}: 404 Not Found while {what}: is this the DICOMweb root (e.g. "
                "http://host:8042/dicom-web) and does the UID exist on the server?")
    if code is not None and code >= 500:
        return f"{where}: server error {code} while {what} (see the server's log)"
    return f"{where}: HTTP {code} while {what}"


def _plain(attrs: dict, keyword: str) -> Any:
    """A value from a QIDO JSON object by keyword (first value, or None)."""
    from pydicom.datadict import tag_for_keyword

    tag = f"{tag_for_keyword(keyword):08X}"
    item = attrs.get(tag) or {}
    vals = item.get("Value") or []
    if not vals:
        return None
    v = vals[0]
    if isinstance(v, dict):  # PN
        return v.get("Alphabetic")
    if keyword == "ModalitiesInStudy":
        return "\\".join(str(x) for x in vals)
    return v


def search_studies(
    url: str, auth: Auth | None = None, limit: int = DICOMWEB_DEFAULTS["limit"],
    filters: dict[str, str] | None = None, timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Studies on the server (QIDO-RS), newest first, as plain dicts (no patient names)."""
    client = make_client(url, auth, timeout_s)
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances", "StudyDate"]
    with _errors(url, "searching studies"):
        found = client.search_for_studies(limit=limit, fields=fields,
                                          search_filters=filters or None)
    rows = []
    for a in found:
        rows.append({
            "study_uid": _plain(a, "StudyInstanceUID"),
            "date": _plain(a, "StudyDate") or "",
            "description": _plain(a, "StudyDescription") or "",
            "modalities": _plain(a, "ModalitiesInStudy") or "",
            "n_series": _plain(a, "NumberOfStudyRelatedSeries"),
            "n_instances": _plain(a, "NumberOfStudyRelatedInstances"),
        })
    rows.sort(key=lambda r: str(r["date"]), reverse=True)
    return rows


def search_series(
    url: str, study_uid: str, auth: Auth | None = None, timeout_s: float | None = None
) -> list[dict[str, Any]]:
    """The series of one study (QIDO-RS)."""
    _check_uid(study_uid, "study")
    client = make_client(url, auth, timeout_s)
    with _errors(url, f"searching the series of study {study_uid}"):
        found = client.search_for_series(
            study_instance_uid=study_uid,
            fields=["SeriesDescription", "Modality", "NumberOfSeriesRelatedInstances"],
        )
    return [
        {
            "series_uid": _plain(a, "SeriesInstanceUID"),
            "modality": _plain(a, "Modality") or "",
            "description": _plain(a, "SeriesDescription") or "",
            "n_instances": _plain(a, "NumberOfSeriesRelatedInstances"),
        }
        for a in found
    ]


def _check_uid(uid: str | None, what: str) -> str:
    if not uid or not _UID_RE.match(str(uid)) or len(str(uid)) > 64:
        raise DICOMwebError(f"{uid!r} is not a valid {what} instance UID")
    return str(uid)


def iter_pull(
    url: str,
    study_uid: str,
    out: str | Path,
    series_uid: str | None = None,
    auth: Auth | None = None,
    timeout_s: float | None = None,
) -> Generator[tuple[int, int], None, list[Path]]:
    """Retrieve a study (or one series of it) into ``out/<SeriesInstanceUID>/<SOP UID>.dcm``.

    Yields ``(instances done, instances expected)``; returns the series folders. ``out`` must
    not exist or be empty. Files go to a hidden temporary folder beside ``out`` which is renamed
    at the end: a failed or cancelled pull leaves nothing behind.
    """
    _check_uid(study_uid, "study")
    if series_uid is not None:
        _check_uid(series_uid, "series")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DICOMwebError(f"{out}: exists and is not an empty folder; choose a new folder")
    series = search_series(url, study_uid, auth, timeout_s)
    if series_uid is not None:
        series = [s for s in series if s["series_uid"] == series_uid]
        if not series:
            raise DICOMwebError(
                f"{safe_url(url)}: series {series_uid} is not in study {study_uid}"
            )
    if not series:
        raise DICOMwebError(f"{safe_url(url)}: study {study_uid} has no series on the server")
    total = sum(int(s["n_instances"] or 0) for s in series)
    client = make_client(url, auth, timeout_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    done = 0
    try:
        yield (0, total)
        folders = []
        for s in series:
            uid = _check_uid(s["series_uid"], "series")
            folder = tmp / uid
            folder.mkdir()
            with _errors(url, f"retrieving series {uid}"):
                for ds in client.iter_series(study_uid, uid):
                    sop = str(ds.get("SOPInstanceUID", ""))
                    name = sop if _UID_RE.match(sop) else f"instance-{done:06d}"
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ds.save_as(folder / f"{name}.dcm", enforce_file_format=True)
                    done += 1
                    yield (done, max(total, done))
            folders.append(out / uid)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folders


def iter_fetch_study(
    url: str, study_uid: str, out: str | Path, auth: Auth | None = None,
    timeout_s: float | None = None,
) -> Generator[Any, None, list[Path]]:
    """A local copy of a study for viewing: pulled into ``out`` unless already there.

    Returns the series folders with images first and SEG/SR last, so that a SEG opened after
    its CT lands on it. A copy left by an earlier (complete: pulls are atomic) pull is reused
    without the network.
    """
    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        folders = sorted(p for p in out.iterdir() if p.is_dir())
    else:
        yield 0
        folders = yield from iter_pull(url, study_uid, out, auth=auth, timeout_s=timeout_s)
    return sorted(folders, key=lambda f: (_derived(f), f.name))


def _derived(folder: Path) -> bool:
    """Whether a series folder holds a SEG or SR (opened after the images)."""
    from .detect import Format, detect

    return detect(folder) in (Format.DICOM_SEG, Format.DICOM_SR)


def pull(url: str, study_uid: str, out: str | Path, **kwargs: Any) -> list[Path]:
    """:func:`iter_pull` run to completion."""
    return run_steps(iter_pull(url, study_uid, out, **kwargs))


def dicom_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files to push: files as given, DICOM files of folders (searched recursively; hidden and
    non-DICOM files such as notes are skipped)."""
    from ._dicom_common import list_files
    from .detect import _is_dicom_file

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DICOMwebError(f"{p}: no such file or folder")
        if p.is_file():
            out.append(p)
            continue
        files, _ = list_files(p)
        out.extend(f for f in files if _is_dicom_file(f))
    if not out:
        raise DICOMwebError("nothing to push: no files found")
    return out


def iter_push(
    url: str,
    paths: Sequence[str | Path],
    auth: Auth | None = None,
    batch: int = 16,
    timeout_s: float | None = None,
) -> Generator[tuple[int, int], None, dict[str, Any]]:
    """Store DICOM files on the server (STOW-RS). Every file is read and checked first.

    Yields ``(files sent, files)``; returns ``{"sent": n, "studies": [...]}``. Raises
    :class:`DICOMwebError` when the server refuses any instance (naming how many).
    """
    import pydicom

    files = dicom_files(paths)
    datasets = []
    for p in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p)
        except Exception as exc:  # noqa: BLE001
            raise DICOMwebError(
                f"{p}: not a DICOM file ({type(exc).__name__}); nothing sent"
            ) from None
        if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
            raise DICOMwebError(f"{p}: no SOP/Study Instance UID; nothing sent")
        datasets.append(ds)
    client = make_client(url, auth, timeout_s)
    yield (0, len(datasets))
    sent, failed = 0, 0
    for i in range(0, len(datasets), batch):
        chunk = datasets[i : i + batch]
        with _errors(url, "storing instances"):
            resp = client.store_instances(chunk)
        failed += len(resp.get("FailedSOPSequence", []) or []) if resp is not None else 0
        sent += len(chunk)
        yield (sent, len(datasets))
    if failed:
        raise DICOMwebError(f"{safe_url(url)}: the server refused {failed} of {sent} instances")
    studies = sorted({str(ds.StudyInstanceUID) for ds in datasets})
    return {"sent": sent, "studies": studies}


def push(url: str, paths: Sequence[str | Path], **kwargs: Any) -> dict[str, Any]:
    """:func:`iter_push` run to completion."""
    return run_steps(iter_push(url, paths, **kwargs))
