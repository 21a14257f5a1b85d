"""One reader for the versioned JSON files users keep for years (arcs, borders, centrelines,
contours, review flags): the file is read, parsed, and its ``format`` and ``version`` checked
before a loader looks at anything else. Every refusal is a :class:`FormatError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import FormatError


def read_versioned_json(
    path: str | Path, fmt: str, max_version: int, what: str, min_version: int = 1
) -> dict[str, Any]:
    """The JSON object of ``path`` after checking it is a ``fmt`` file of a version this build
    reads (``min_version`` .. ``max_version``); ``what`` names the kind in messages."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(p, f"{what} file not found") from None
    except IsADirectoryError:
        raise FormatError(p, f"is a folder, not a {what} file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(p, f"not a readable {what} file: not valid JSON ({exc})") from None
    except RecursionError:  # "[[[[...": nested deeper than any file of ours
        raise FormatError(p, f"not a readable {what} file: JSON nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise FormatError(p, f"not a {fmt} file (format is not {fmt!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise FormatError(p, f"{what} file without an integer version ({version!r})")
    if not min_version <= version <= max_version:
        raise FormatError(
            p,
            f"{what} file version {version} is not supported (this napari-plaque reads "
            f"{min_version}..{max_version}); a newer napari-plaque wrote it?"
            if version > max_version
            else f"{what} file version {version} is not supported (this napari-plaque reads "
            f"{min_version}..{max_version})",
        )
    return doc
