"""One versioned-JSON reader for the files users keep for years: every loader refuses a file of
another format, a newer version, broken JSON or a folder, naming the file."""

from __future__ import annotations

import json

import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.io.versioned import read_versioned_json


def test_reader_checks_before_trusting(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "fmt/a", "version": 2, "v": 1}))
    assert read_versioned_json(p, "fmt/a", 2, "thing")["v"] == 1
    for doc, msg in (
        ({"format": "fmt/b", "version": 1}, "not a fmt/a file"),
        ({"format": "fmt/a", "version": 3}, "version 3 is not supported"),
        ({"format": "fmt/a", "version": True}, "without an integer version"),
        ({"format": "fmt/a"}, "without an integer version"),
        ([1, 2], "not a fmt/a file"),
    ):
        p.write_text(json.dumps(doc))
        with pytest.raises(FormatError, match=msg) as exc:
            read_versioned_json(p, "fmt/a", 2, "thing")
        assert "x.json" in str(exc.value)
    p.write_text("{broken")
    with pytest.raises(FormatError, match="not valid JSON"):
        read_versioned_json(p, "fmt/a", 2, "thing")
    with pytest.raises(FormatError, match="not found"):
        read_versioned_json(tmp_path / "none.json", "fmt/a", 2, "thing")
    with pytest.raises(FormatError, match="is a folder"):
        read_versioned_json(tmp_path, "fmt/a", 2, "thing")


def _loaders():
    from napari_plaque.ccta.centreline import FORMAT_NAME as CL
    from napari_plaque.ccta.centreline import Centreline
    from napari_plaque.ccta.contours import FORMAT_NAME as CS
    from napari_plaque.ccta.contours import load_contours
    from napari_plaque.ivus.arcs import ARCS_FORMAT, load_arcs
    from napari_plaque.ivus.vessel_files import BORDERS_FORMAT, load_borders
    from napari_plaque.qc.review import REVIEW_FORMAT, ReviewFile

    return [
        (CL, Centreline.load),
        (CS, load_contours),
        (ARCS_FORMAT, load_arcs),
        (BORDERS_FORMAT, load_borders),
        (REVIEW_FORMAT, ReviewFile),
    ]


@pytest.mark.parametrize("fmt_loader", _loaders(), ids=lambda t: t[0])
def test_every_kept_file_refuses_a_newer_version(tmp_path, fmt_loader):
    fmt, load = fmt_loader
    p = tmp_path / "future.json"
    p.write_text(json.dumps({"format": fmt, "version": 99}))
    with pytest.raises(FormatError, match="version 99 is not supported") as exc:
        load(p)
    assert "future.json" in str(exc.value)
