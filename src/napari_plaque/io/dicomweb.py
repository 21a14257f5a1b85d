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

Searching and pulling do not trust the server (:class:`_Fetcher`): every response is streamed
under a byte cap and a total deadline (a server dripping bytes or sending an endless body is cut
off), redirects are followed only to the same origin (scheme, host and port) or, without any
credential, elsewhere; 429 / 503 are retried after their Retry-After within the deadline; the
series list and the instances are capped in number; a multipart answer must declare its
boundary and hold DICOM parts; every instance must belong to the study and series asked for,
carry a SOP Instance UID seen once, and its pixel data when it is an image; the instances
received must be the instances the series search announced. Any failure is a
:class:`DICOMwebError` naming the server and the series; nothing is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._progress import run_steps
from .detect import PULLED_STUDY_MARKER
from .errors import NapariPlaqueError

DICOMWEB_DEFAULTS: dict[str, Any] = {
    "timeout_s": 30.0,
    "token_env": "DICOMWEB_TOKEN",
    "password_env": "DICOMWEB_PASSWORD",
    "limit": 200,
    "retries": 3,
    #: total seconds a pull may take, all requests together
    "deadline_s": 3600.0,
    #: total seconds a search (QIDO) may take
    "search_deadline_s": 120.0,
    #: bytes a whole pull may receive
    "max_bytes": 64 * 1024**3,
    #: bytes one instance (one multipart part) may have
    "max_instance_bytes": 2 * 1024**3,
    #: bytes of one JSON (QIDO) answer
    "max_json_bytes": 64 * 1024**2,
    #: series one pull may retrieve
    "max_series": 1000,
    #: instances one pull may retrieve
    "max_instances": 100_000,
    #: longest Retry-After (s) of a 429 / 503 that is waited for
    "max_retry_after_s": 60.0,
    #: redirects followed per request
    "max_redirects": 5,
}

#: the pull limits, in the order of the ``pull`` options
PULL_LIMITS: tuple[str, ...] = (
    "deadline_s", "max_bytes", "max_instance_bytes", "max_series", "max_instances",
)

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DICOMwebError(NapariPlaqueError):
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


class _Fetcher:
    """Bounded HTTP GETs against one DICOMweb root (streamed, capped, deadline, redirects).

    ``deadline`` is a ``time.monotonic()`` value shared by every request of one operation;
    reads are checked against it as bytes arrive (``read1``: a server dripping one byte at a
    time is cut at the deadline, one silent gap of at most ``timeout_s`` later at worst).
    """

    def __init__(self, url: str, auth: Auth | None, timeout_s: float | None,
                 deadline_s: float | None = None, max_bytes: int | None = None) -> None:
        import requests

        url = _check_url(url)
        parts = urlsplit(url)
        auth = auth or Auth()
        if parts.username:  # credentials written in the URL: use them, never show them
            auth = Auth(user=parts.username, password=parts.password or "")
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        self.scheme, self.netloc = parts.scheme, netloc
        self.root = parts.path.rstrip("/")
        self.query = parts.query  # e.g. ?token=...: kept for this origin only, never shown
        self.where = safe_url(url)
        self.session = requests.Session()
        self.session.trust_env = True
        if auth.token:
            self.session.headers["Authorization"] = f"Bearer {auth.token}"
        elif auth.user:
            self.session.auth = (auth.user, auth.password or "")
        self.credentials = bool(auth.token or auth.user or self.query)
        d = DICOMWEB_DEFAULTS
        self.timeout = float(d["timeout_s"] if timeout_s is None else timeout_s)
        self.deadline = time.monotonic() + float(d["deadline_s"] if deadline_s is None
                                                 else deadline_s)
        self.deadline_s = float(d["deadline_s"] if deadline_s is None else deadline_s)
        self.max_bytes = int(d["max_bytes"] if max_bytes is None else max_bytes)
        self.received = 0

    def url_for(self, path: str, params: Sequence[tuple[str, str]] = ()) -> str:
        from urllib.parse import urlencode

        query = "&".join(q for q in (self.query, urlencode(list(params))) if q)
        return urlunsplit((self.scheme, self.netloc, self.root + path, query, ""))

    def _left(self, what: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DICOMwebError(
                f"{self.where}: no answer within the deadline of {self.deadline_s:g} s while "
                f"{what} (--deadline)"
            )
        return left

    @contextlib.contextmanager
    def get(self, path: str, what: str, accept: str,
            params: Sequence[tuple[str, str]] = ()) -> Iterator[Any]:
        """A streamed response with status 200/204 (others raise), redirects checked."""
        import requests

        url = self.url_for(path, params)
        origin = (self.scheme, self.netloc.lower())
        tries = 0
        for _ in range(DICOMWEB_DEFAULTS["max_redirects"] + 1):
            left = self._left(what)
            try:
                resp = self.session.get(
                    url, headers={"Accept": accept}, stream=True, allow_redirects=False,
                    timeout=(min(self.timeout, left), min(self.timeout, left)),
                )
            except requests.exceptions.Timeout:
                raise DICOMwebError(
                    f"{self.where}: cannot reach the server (timed out) while {what}"
                ) from None
            except requests.exceptions.ConnectionError:
                raise DICOMwebError(
                    f"{self.where}: cannot reach the server (connection refused or host "
                    f"unknown) while {what}"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise DICOMwebError(
                    f"{self.where}: request failed while {what} ({type(exc).__name__})"
                ) from None
            code = resp.status_code
            if code in (301, 302, 303, 307, 308):
                resp.close()
                loc = resp.headers.get("Location")
                if not loc:
                    raise DICOMwebError(f"{self.where}: redirect {code} without a Location "
                                        f"while {what}")
                from urllib.parse import urljoin

                nxt = urljoin(url, loc)
                np_ = urlsplit(nxt)
                n_origin = (np_.scheme, (np_.netloc.rsplit("@", 1)[-1]).lower())
                if n_origin != origin:
                    if self.credentials or np_.scheme not in ("http", "https"):
                        raise DICOMwebError(
                            f"{self.where}: redirected to another origin ({safe_url(nxt)}) "
                            f"while {what}: refused, the credentials of this server are not "
                            "sent elsewhere"
                        )
                    origin = n_origin
                url = nxt
                continue
            if code in (429, 503) and tries < DICOMWEB_DEFAULTS["retries"]:
                wait = _retry_after(resp.headers.get("Retry-After"), tries)
                resp.close()
                if wait is None or wait > DICOMWEB_DEFAULTS["max_retry_after_s"] or (
                    time.monotonic() + wait >= self.deadline
                ):
                    raise DICOMwebError(
                        f"{self.where}: server busy ({code}"
                        + (f", Retry-After {wait:g} s" if wait is not None else "")
                        + f") while {what}: try again later (or a longer --deadline)"
                    )
                tries += 1
                time.sleep(wait)
                continue
            if code in (429, 503):
                resp.close()
                raise DICOMwebError(
                    f"{self.where}: server busy ({code}) while {what}, still after {tries} "
                    "retries: try again later"
                )
            if code not in (200, 204):
                resp.close()
                raise DICOMwebError(_http_message(self.where, what, code))
            try:
                yield resp
            finally:
                resp.close()
            return
        raise DICOMwebError(f"{self.where}: more than {DICOMWEB_DEFAULTS['max_redirects']} "
                            f"redirects while {what}")

    def chunks(self, resp, what: str, cap: int, cap_name: str) -> Iterator[bytes]:
        """The body as it arrives, under ``cap`` (this response), the pull's byte cap and the
        deadline."""
        import requests
        import urllib3

        n = 0
        raw = resp.raw
        try:
            announced = int(resp.headers.get("Content-Length", ""))
        except ValueError:
            announced = -1
        if announced > cap:  # refused before a byte of the body is read
            raise DICOMwebError(
                f"{self.where}: answer of {_size(announced)} (Content-Length), larger than "
                f"{_size(cap)} while {what} ({cap_name}); nothing kept"
            )
        while True:
            self._left(what)
            try:
                data = (raw.read1(1 << 16, decode_content=True) if hasattr(raw, "read1")
                        else raw.read(1 << 16, decode_content=True))
            except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException,
                    OSError) as exc:
                text = f"{type(exc).__name__} {exc}".lower()
                timed_out = "timed out" in text or "timeout" in text
                why = (f"no data for {self.timeout:g} s (--timeout)" if timed_out
                       else f"the connection broke ({type(exc).__name__})")
                raise DICOMwebError(f"{self.where}: {why} while {what}") from None
            if not data:
                return
            n += len(data)
            self.received += len(data)
            if n > cap:
                raise DICOMwebError(
                    f"{self.where}: answer larger than {_size(cap)} while {what} ({cap_name}); "
                    "nothing kept"
                )
            if self.received > self.max_bytes:
                raise DICOMwebError(
                    f"{self.where}: more than {_size(self.max_bytes)} received while {what} "
                    "(--max-bytes); nothing kept"
                )
            yield data

    def json(self, path: str, what: str, params: Sequence[tuple[str, str]] = ()) -> list:
        import json as _json

        with self.get(path, what, "application/dicom+json, application/json", params) as resp:
            if resp.status_code == 204:
                return []
            body = b"".join(self.chunks(resp, what, DICOMWEB_DEFAULTS["max_json_bytes"],
                                        "JSON answer cap"))
        if not body.strip():
            return []
        try:
            data = _json.loads(body)
        except (ValueError, RecursionError):
            raise DICOMwebError(
                f"{self.where}: the answer is not JSON while {what} "
                f"(Content-Type {resp.headers.get('Content-Type', 'missing')!r})"
            ) from None
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            raise DICOMwebError(
                f"{self.where}: the answer is not a DICOM JSON list while {what}"
            )
        return data


def _retry_after(value: str | None, tries: int) -> float | None:
    """Seconds to wait: Retry-After in seconds (or an HTTP date), else a short backoff."""
    if value is None:
        return 0.2 * (2**tries)
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        import datetime as _dt

        return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _size(n: int) -> str:
    for unit, f in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{n} bytes"


def search_studies(
    url: str, auth: Auth | None = None, limit: int = DICOMWEB_DEFAULTS["limit"],
    filters: dict[str, str] | None = None, timeout_s: float | None = None,
    deadline_s: float | None = None,
) -> list[dict[str, Any]]:
    """Studies on the server (QIDO-RS), newest first, as plain dicts (no patient names)."""
    f = _Fetcher(url, auth, timeout_s,
                 DICOMWEB_DEFAULTS["search_deadline_s"] if deadline_s is None else deadline_s)
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances", "StudyDate"]
    params = [("limit", str(int(limit)))] + [("includefield", k) for k in fields]
    params += [(str(k), str(v)) for k, v in (filters or {}).items()]
    found = f.json("/studies", "searching studies", params)
    rows = []
    for a in found[: int(limit)]:
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
    url: str, study_uid: str, auth: Auth | None = None, timeout_s: float | None = None,
    deadline_s: float | None = None, _fetcher: _Fetcher | None = None,
) -> list[dict[str, Any]]:
    """The series of one study (QIDO-RS)."""
    _check_uid(study_uid, "study")
    f = _fetcher or _Fetcher(
        url, auth, timeout_s,
        DICOMWEB_DEFAULTS["search_deadline_s"] if deadline_s is None else deadline_s,
    )
    fields = ["SeriesDescription", "Modality", "NumberOfSeriesRelatedInstances"]
    found = f.json(f"/studies/{study_uid}/series",
                   f"searching the series of study {study_uid}",
                   [("includefield", k) for k in fields])
    out = []
    for a in found:
        n = _plain(a, "NumberOfSeriesRelatedInstances")
        try:
            n = None if n is None else int(n)
        except (TypeError, ValueError):
            n = None
        out.append({
            "series_uid": _plain(a, "SeriesInstanceUID"),
            "modality": _plain(a, "Modality") or "",
            "description": _plain(a, "SeriesDescription") or "",
            "n_instances": n,
        })
    return out


def _check_uid(uid: str | None, what: str) -> str:
    if not uid or not _UID_RE.match(str(uid)) or len(str(uid)) > 64:
        raise DICOMwebError(f"{uid!r} is not a valid {what} instance UID")
    return str(uid)


#: what a WADO-RS series retrieval asks for (as dicomweb-client does: the server's default
#: transfer syntax)
_SERIES_ACCEPT = 'multipart/related; type="application/dicom"'


def _multipart_boundary(resp, where: str) -> bytes:
    """The boundary of a multipart/related answer (refused when missing or not multipart)."""
    ctype = resp.headers.get("Content-Type")
    if not ctype:
        raise DICOMwebError(f"{where}: the answer has no Content-Type (expected "
                            "multipart/related with a boundary)")
    m = re.search(r'boundary\s*=\s*(?:"([^"]+)"|([^;,\s]+))', ctype, re.IGNORECASE)
    if not ctype.lower().startswith("multipart/related") or not m:
        raise DICOMwebError(f"{where}: the answer is {ctype.split(';')[0]!r}, not "
                            "multipart/related with a boundary")
    boundary = (m.group(1) or m.group(2)).encode("latin-1", "replace")
    if not 1 <= len(boundary) <= 70:
        raise DICOMwebError(f"{where}: multipart boundary of {len(boundary)} characters")
    return boundary


#: bytes before the first multipart delimiter (the preamble, normally empty)
_MAX_PREAMBLE = 1 << 16


def _iter_parts(chunks: Iterator[bytes], boundary: bytes, where: str,
                max_part: int) -> Iterator[tuple[dict[str, str], bytes]]:
    """``(headers, body)`` of each part of a multipart stream, as soon as it is complete.

    Memory is bounded by ``max_part``; a body that never shows the declared boundary ends in
    an error, as does a stream that stops before the closing delimiter."""
    delim = b"--" + boundary
    buf = bytearray()
    it = iter(chunks)
    wrong = (f"{where}: the multipart body does not use the boundary its Content-Type "
             "declares")

    def more() -> bool:
        for data in it:
            buf.extend(data)
            return True
        return False

    # preamble: up to the first delimiter, within the first _MAX_PREAMBLE bytes
    while True:
        i = buf.find(delim)
        if i >= 0:
            del buf[: i + len(delim)]
            break
        if len(buf) > _MAX_PREAMBLE:
            raise DICOMwebError(wrong)
        if not more():
            raise DICOMwebError(wrong if buf else f"{where}: empty answer (no multipart body)")
    n_part = 0
    while True:
        # after a delimiter: "--" closes, else CRLF and a part
        while len(buf) < 2 and more():
            pass
        if buf[:2] == b"--":
            return
        n_part += 1
        # headers
        pos = 0
        while True:
            j = buf.find(b"\r\n\r\n", pos)
            if j >= 0:
                break
            if len(buf) > 65536:
                raise DICOMwebError(f"{where}: part {n_part} has no end of headers")
            pos = max(0, len(buf) - 3)
            if not more():
                raise DICOMwebError(f"{where}: the answer ended inside part {n_part} "
                                    "(truncated)")
        head = bytes(buf[:j]).decode("latin-1").strip("\r\n")
        del buf[: j + 4]
        headers: dict[str, str] = {}
        for line in head.split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        # body: up to CRLF + delimiter
        end = b"\r\n" + delim
        pos = 0
        while True:
            k = buf.find(end, pos)
            if k >= 0:
                break
            if len(buf) > max_part:
                raise DICOMwebError(f"{where}: part {n_part} is larger than {_size(max_part)} "
                                    "(--max-instance-bytes)")
            pos = max(0, len(buf) - len(end) + 1)
            if not more():
                raise DICOMwebError(f"{where}: the answer ended inside part {n_part} "
                                    "(truncated, no closing boundary)")
        body = bytes(buf[:k])
        del buf[: k + len(end)]
        yield headers, body


def _check_instance(data: bytes, headers: dict[str, str], where: str, n: int, study: str,
                    series: str, seen: set[str]):
    """The dataset of one received part, checked (DICOM, UIDs, pixel data)."""
    import io

    import pydicom

    ctype = headers.get("content-type", "application/dicom").split(";")[0].strip().lower()
    if ctype != "application/dicom":
        raise DICOMwebError(f"{where}: part {n} is {ctype!r}, not application/dicom")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            ds.get("PixelData")  # values are read lazily: read the big one now
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad bytes
        raise DICOMwebError(f"{where}: part {n} is not a DICOM instance "
                            f"({type(exc).__name__})") from None
    sop = str(ds.get("SOPInstanceUID", ""))
    if not _UID_RE.match(sop) or len(sop) > 64:
        raise DICOMwebError(f"{where}: part {n} has no valid SOP Instance UID")
    got_study = str(ds.get("StudyInstanceUID", ""))
    got_series = str(ds.get("SeriesInstanceUID", ""))
    if got_study != study or got_series != series:
        raise DICOMwebError(
            f"{where}: instance {sop} belongs to study {got_study or '?'} series "
            f"{got_series or '?'}, not the one asked for"
        )
    if sop in seen:
        raise DICOMwebError(f"{where}: instance {sop} received twice (duplicate SOP Instance UID)")
    seen.add(sop)
    if "Rows" in ds and "Columns" in ds:  # an image: its pixel data must be there, whole
        px = ds.get("PixelData") or ds.get("FloatPixelData") or ds.get("DoubleFloatPixelData")
        if px is None or not len(px.value if hasattr(px, "value") else px):
            raise DICOMwebError(f"{where}: instance {sop} has no pixel data (truncated)")
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if "PixelData" in ds and ts is not None and not ts.is_compressed:
            try:
                frames = int(ds.get("NumberOfFrames", 1) or 1)
                need = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
                        * frames * int(ds.get("BitsAllocated", 16)) + 7) // 8
            except (TypeError, ValueError):
                need = 0
            if len(ds.PixelData) < need:
                raise DICOMwebError(
                    f"{where}: instance {sop} has {len(ds.PixelData)} of the {need} bytes of "
                    "pixel data its header describes (truncated)"
                )
    return ds




def iter_pull(
    url: str,
    study_uid: str,
    out: str | Path,
    series_uid: str | None = None,
    auth: Auth | None = None,
    timeout_s: float | None = None,
    deadline_s: float | None = None,
    max_bytes: int | None = None,
    max_instance_bytes: int | None = None,
    max_series: int | None = None,
    max_instances: int | None = None,
) -> Generator[tuple[int, int], None, list[Path]]:
    """Retrieve a study (or one series of it) into ``out/<SeriesInstanceUID>/<SOP UID>.dcm``.

    Yields ``(instances done, instances expected)``; returns the series folders. ``out`` must
    not exist or be empty. Files go to a hidden temporary folder beside ``out`` which is renamed
    at the end: a failed or cancelled pull leaves nothing behind. The limits (total deadline,
    bytes, instance size, numbers of series and instances) default to
    :data:`DICOMWEB_DEFAULTS`; every answer is checked (see the module docstring).
    """
    d = DICOMWEB_DEFAULTS
    max_instance_bytes = int(d["max_instance_bytes"] if max_instance_bytes is None
                             else max_instance_bytes)
    max_series = int(d["max_series"] if max_series is None else max_series)
    max_instances = int(d["max_instances"] if max_instances is None else max_instances)
    _check_uid(study_uid, "study")
    if series_uid is not None:
        _check_uid(series_uid, "series")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DICOMwebError(f"{out}: exists and is not an empty folder; choose a new folder")
    f = _Fetcher(url, auth, timeout_s, deadline_s, max_bytes)
    where = f.where
    series = search_series(url, study_uid, _fetcher=f)
    if series_uid is not None:
        series = [s for s in series if s["series_uid"] == series_uid]
        if not series:
            raise DICOMwebError(f"{where}: series {series_uid} is not in study {study_uid}")
    if not series:
        raise DICOMwebError(f"{where}: study {study_uid} has no series on the server")
    if len(series) > max_series:
        raise DICOMwebError(
            f"{where}: study {study_uid} lists {len(series)} series, more than --max-series "
            f"{max_series}; nothing pulled (pull one with --series, or raise the cap)"
        )
    uids = [_check_uid(s["series_uid"], "series") for s in series]
    if len(set(uids)) != len(uids):
        raise DICOMwebError(f"{where}: study {study_uid} lists a series twice; nothing pulled")
    total = sum(int(s["n_instances"] or 0) for s in series)
    if total > max_instances:
        raise DICOMwebError(
            f"{where}: study {study_uid} announces {total} instances, more than "
            f"--max-instances {max_instances}; nothing pulled"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    done = 0
    try:
        yield (0, total)
        folders = []
        seen: set[str] = set()
        for s, uid in zip(series, uids, strict=True):
            folder = tmp / uid
            folder.mkdir()
            what = f"retrieving series {uid}"
            at = f"{where}: series {uid}"
            got = 0
            with f.get(f"/studies/{study_uid}/series/{uid}", what, _SERIES_ACCEPT) as resp:
                boundary = _multipart_boundary(resp, at)
                chunks = f.chunks(resp, what, d["max_bytes"] if max_bytes is None
                                  else int(max_bytes), "--max-bytes")
                for headers, data in _iter_parts(chunks, boundary, at, max_instance_bytes):
                    if done + 1 > max_instances:
                        raise DICOMwebError(f"{at}: more than --max-instances {max_instances} "
                                            "instances; nothing kept")
                    ds = _check_instance(data, headers, at, got + 1, study_uid, uid, seen)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
                    got += 1
                    done += 1
                    yield (done, max(total, done))
            announced = s["n_instances"]
            if announced is not None and got != int(announced):
                raise DICOMwebError(
                    f"{at}: received {got} of the {announced} instances the server announced; "
                    "nothing kept"
                )
            if got == 0:
                raise DICOMwebError(f"{at}: the server sent no instance; nothing kept")
            folders.append(out / uid)
        # the marker makes the folder one study for the commands (not a cohort of series)
        (tmp / PULLED_STUDY_MARKER).write_text(json.dumps({
            "format": "napari-plaque-pulled-study", "version": 1,
            "n_series": len(folders), "n_instances": int(done),
        }) + "\n")
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
    from .detect import is_dicom_file
    from .dicom_common import list_files

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DICOMwebError(f"{p}: no such file or folder")
        if p.is_file():
            out.append(p)
            continue
        files, _ = list_files(p)
        out.extend(f for f in files if is_dicom_file(f))
    if not out:
        given = ", ".join(str(p) for p in paths) or "no path given"
        raise DICOMwebError(f"{given}: no DICOM file found; nothing to push")
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
