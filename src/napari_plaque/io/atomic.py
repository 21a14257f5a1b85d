"""Atomic file and folder writes: write beside the destination, then rename in one step.

A crash or an error mid-write never leaves a half-written file at the destination.

* Temporary files are created with ``os.open(O_CREAT | O_EXCL, 0o666)``: the kernel applies the
  umask (no process-wide ``umask`` call, which would race with other threads), and the file is
  never shared with another writer.
* The data are fsynced before the rename and the folder after it, so the new name survives a
  power cut.
* A temporary name carries the writer's process id: hidden temp files left by a killed save
  (``.<name>.<pid>-<random>.tmp...``) are removed by the next save to the same destination when
  their process is gone (or they are older than :data:`STALE_AFTER_S`).
* An :class:`OSError` (read-only folder, full disk) names the destination file.
* :func:`atomic_dir` replaces a whole folder in one atomic step (``renameat2`` with
  ``RENAME_EXCHANGE`` on Linux), so there is never a moment without the folder.
* :func:`file_lock` holds an exclusive lock on a file for a block (a ``.<name>.lock`` file
  beside it, ``fcntl.flock``): two cohort runs never write one table at the same time.
* :func:`safe_child` is the one check of a per-study output name (``<folder>/<study>.x``):
  it stays inside its folder, and an existing file is not replaced unless asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: temp files of a dead or unknown process older than this are removed (seconds)
STALE_AFTER_S = 24 * 3600.0


def tmp_name(dest: Path, suffix: str = "") -> str:
    """The hidden temporary name of a write to ``dest``: ``.<name>.<pid>-<random>.tmp<suffix>``
    (the form :func:`clean_stale_temps` recognises)."""
    return f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}"


_tmp_name = tmp_name  # old private name: until ivus/dataset.py imports tmp_name


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temps(dest: str | Path) -> list[Path]:
    """Remove hidden temp files/folders of ``dest`` left by killed saves; returns them.

    A temp entry is stale when the process that made it is gone (same machine) or it is older
    than :data:`STALE_AFTER_S`. Entries of live writers are left alone.
    """
    dest = Path(dest)
    removed: list[Path] = []
    prefix = f".{dest.name}."
    try:  # names only (no Path per entry): cheap even beside thousands of DICOM files
        with os.scandir(dest.parent) as it:
            names = [
                d.name for d in it if d.name.startswith(prefix) and ".tmp" in d.name[len(prefix) :]
            ]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        e = dest.parent / name
        rest = name[len(prefix) :]
        pid_part = rest.split("-", 1)[0]
        try:
            stale = not _pid_alive(int(pid_part))
        except ValueError:  # an older temp name without a pid
            stale = False
        try:
            stale = stale or (now - e.lstat().st_mtime > STALE_AFTER_S)
        except OSError:
            continue
        if not stale:
            continue
        with contextlib.suppress(OSError):
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e)
            else:
                e.unlink()
            removed.append(e)
    return removed


def _fsync_dir(folder: Path) -> None:
    if sys.platform.startswith("win"):  # pragma: no cover - no directory fsync on Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _named(exc: OSError, path: Path) -> OSError:
    """The same kind of OSError, naming the destination (ENOSPC etc. name no file)."""
    if exc.errno is None:
        return exc
    try:
        new = type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    except Exception:  # noqa: BLE001
        return exc
    return new


def _create_tmp(dest: Path, suffix: str) -> Path:
    for _ in range(100):
        tmp = dest.parent / tmp_name(dest, suffix)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{dest}: could not create a temporary file beside it")


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On any exception the temporary file is removed and ``path`` is left untouched; an
    :class:`OSError` is re-raised naming ``path``. ``suffix`` defaults to the destination's
    suffix(es), so libraries that add an extension (``np.savez``) see the right one.
    """
    path = Path(path)
    if suffix is None:
        suffix = "".join(path.suffixes)
    with _removed_on_failure(path) as tmp:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path)
        tmp[0] = _create_tmp(path, suffix)
        yield tmp[0]
        with open(tmp[0], "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp[0], path)
        tmp[0] = None
        _fsync_dir(path.parent)


@contextlib.contextmanager
def _removed_on_failure(path: Path) -> Iterator[list[Path | None]]:
    """A one-item holder for the temporary file or folder made beside ``path``: on any
    exception the temporary (when one is held) is removed, and an :class:`OSError` is
    re-raised naming ``path``. Set the holder to None once the temporary has replaced ``path``.
    """
    tmp: list[Path | None] = [None]
    try:
        yield tmp
    except OSError as exc:
        _remove(tmp[0])
        named = _named(exc, path)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        _remove(tmp[0])
        raise


def _remove(p: Path | None) -> None:
    if p is None:
        return
    with contextlib.suppress(FileNotFoundError, OSError):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def atomic_write_dicom(path: str | Path, ds: Any) -> Path:
    """Write a pydicom Dataset as a DICOM file atomically. A write that fails (a full disk)
    raises ``OSError`` naming the file and the cause; nothing is left behind. (pydicom wraps
    such errors in a message holding a traceback: the root cause is taken from it.)"""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    except OSError as exc:
        root = exc
        while root.__cause__ is not None and isinstance(root.__cause__, OSError):
            root = root.__cause__
        why = os.strerror(root.errno) if root.errno else str(root).splitlines()[0]
        raise OSError(f"{path}: could not write the DICOM file: {why}") from None
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Serialise ``obj`` to JSON first (so a serialisation error writes nothing), then write.

    NaN and infinity are written as ``null`` (:func:`json_safe`): the JSON we write is always
    standard JSON.
    """
    text = json.dumps(json_safe(obj), indent=indent, default=json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


# -- locks ------------------------------------------------------------------------------------


class FileLockedError(OSError):
    """Another process holds the lock of the file (:func:`file_lock`)."""


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` beside it (left in place: removing a lock
    file while another process waits on it would give two holders)."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def file_lock(path: str | Path, what: str = "file") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (a lock file beside it) for the block.

    ``flock`` on the lock file, not waiting: when another process (or another open of it in
    this one) holds it, :class:`FileLockedError` names ``path`` and the holder's process id.
    The kernel releases the lock when its holder exits, even when killed. Where ``fcntl`` is
    missing (Windows) the block runs unlocked. Network file systems may not honour ``flock``.
    """
    path = Path(path)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield path
        return
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise _named(exc, lock) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").split()
            except OSError:
                holder = []
            by = f" (process {holder[0]})" if holder else ""
            raise FileLockedError(
                f"{path}: another napari-plaque run is writing this {what}{by}; wait for it to "
                "finish, or write another one (several machines: one run with --scheduler)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield lock
    finally:
        os.close(fd)  # (releases the lock)


# -- per-study output names ------------------------------------------------------------------


def name_problem(name: str, *, any_dots: bool = True) -> str | None:
    """Why ``name`` cannot be one file name inside a folder (None when it can): empty, ``.``
    or ``..`` (or holding ``..``), a path separator, an absolute path or drive, or a control
    character. The one rule of study ids (``cohort.study``) and of :func:`safe_child`."""
    if not name or not name.strip():
        return "is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    if "/" in name or "\\" in name:
        return "holds a path separator ('/' or '\\')"
    if (any_dots and ".." in name) or name in (".", ".."):
        # ids refuse any '..' (the manifest rule); an output name built from an id and a
        # suffix ("a." + ".csv") only needs to be more than '.' or '..'
        return "holds '..' (or is '.')"
    drive = len(name) > 1 and name[1] == ":" and name[0].isascii() and name[0].isalpha()
    if name[0] == "/" or drive:  # /x, or C:x (a drive on Windows)
        return "is an absolute path"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes (file systems allow 255 per name)"
    return None


#: the longest study id / file name stem accepted (255 bytes per name, room for a suffix)
MAX_NAME_BYTES = 200


def safe_child(folder: str | Path, name: str, *, overwrite: bool = False) -> Path:
    """``folder / name`` for a per-study output, refused when it would leave ``folder``.

    Raises ValueError when ``name`` is not one plain file name (:func:`name_problem`) or the
    resolved path (symbolic links followed) is not directly inside ``folder``, and
    FileExistsError when the file exists and ``overwrite`` is False: a run never replaces a
    file it did not create unless asked (``--overwrite``).
    """
    folder = Path(folder)
    problem = name_problem(name, any_dots=False)
    if problem is not None:
        raise ValueError(f"{folder}: output name {name!r} {problem}; refused")
    path = folder / name
    root = folder.resolve()
    if path.resolve().parent != root:
        raise ValueError(f"{path}: resolves outside the output folder {folder}; refused")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(
            f"{path}: exists and was not written by this run; give --overwrite to replace it"
        )
    return path


# -- folders --------------------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False if the
    platform or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rename_exchange = 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    import errno as _errno

    if err in (_errno.EINVAL, _errno.ENOSYS, _errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: str | Path, dest: str | Path) -> Path:
    """Put folder ``new`` in place of ``dest`` (which may exist) in one atomic step where the
    system allows (Linux: exchange, then remove the old one). Elsewhere the old folder is moved
    aside and restored if the second rename fails."""
    new, dest = Path(new), Path(dest)
    if not dest.exists():
        os.rename(new, dest)
        _fsync_dir(dest.parent)
        return dest
    if _exchange(new, dest):
        _fsync_dir(dest.parent)
        shutil.rmtree(new, ignore_errors=True)  # now holds the old contents
        return dest
    aside = dest.with_name(tmp_name(dest, "-old"))  # pragma: no cover - non-Linux fallback
    os.rename(dest, aside)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(aside, dest)
        raise
    _fsync_dir(dest.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return dest


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (a folder,
    which may exist) in one step; on any exception it is removed and ``path`` is untouched."""
    path = Path(path)
    with _removed_on_failure(path) as tmp:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path)
        folder = path.parent / tmp_name(path)
        folder.mkdir(mode=0o777)
        tmp[0] = folder
        yield folder
        replace_dir(folder, path)
        tmp[0] = None


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays, sets and paths."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serialisable")


_json_default = json_default  # old private name: until ivus/svm.py, models/checkpoint.py change


# -- JSON-safe values (the one home; napari_plaque.report re-exports it) -----------------------


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts.

    NaN and +/-inf become ``None``; numpy scalars/arrays become Python numbers/lists; Paths
    become strings; sets become sorted lists; objects with ``to_dict()`` are expanded.

    It lives here, beside the atomic writers, so that ``io`` never imports
    :mod:`napari_plaque.report` (which writes through this module: one direction only).
    """
    import math
    from collections.abc import Mapping

    import numpy as np

    if isinstance(obj, str):  # with --no-paths, file paths become salted hashes
        from .anon import redact_if_path

        return redact_if_path(obj)
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [json_safe(v) for v in sorted(obj)]
    if isinstance(obj, Path):
        return json_safe(str(obj))
    if hasattr(obj, "to_dict"):
        return json_safe(obj.to_dict())
    if hasattr(obj, "value") and isinstance(getattr(obj, "value", None), (str, int)):
        return obj.value  # enums
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")
