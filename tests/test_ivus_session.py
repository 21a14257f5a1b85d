"""The arc annotator's session file (ivus/session.py): round trip, version 1 still loads,
refusal of tampered, foreign and other-pullback files with a message naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.annotator import ArcAnnotator
from napari_plaque.ivus.loop import AnnotationLoop
from napari_plaque.ivus.session import (
    SESSION_FORMAT,
    SESSION_VERSION,
    load_session,
    save_session,
    session_path,
)
from napari_plaque.types import Pullback

N = 12


@pytest.fixture
def loop():
    frames = np.zeros((N, 32, 32), np.uint8)
    pb = Pullback(frames, 0.4, 0.5, (0.05, 0.05))
    lp = AnnotationLoop(ArcAnnotator(N, pb.frame_shape), pb, heldout_folds=0)
    lp.annotator.reviewed |= {1, 4}
    lp.proposals = [7, 9]
    return lp


def test_round_trip_and_the_loop_restores(loop, tmp_path):
    path = session_path(tmp_path / "pb.dcm", "Dr A")
    assert path.name == "pb.dcm.arcs-session.Dr-A.json"
    assert session_path(tmp_path / "pb.dcm").name == "pb.dcm.arcs-session.json"
    state = loop.to_json()
    assert save_session(path, state, "Dr A", "uid:abc", N) == path
    doc = json.loads(path.read_text())
    assert doc["format"] == SESSION_FORMAT and doc["version"] == SESSION_VERSION == 2
    assert not list(tmp_path.glob(".*tmp*"))  # atomic: no temporary file left behind
    s = load_session(path, "uid:abc", N)
    assert (s.reader, s.pullback, s.n_frames, s.version) == ("Dr A", "uid:abc", N, 2)
    assert s.loop == state
    other = AnnotationLoop(ArcAnnotator(N, loop.pullback.frame_shape), loop.pullback)
    assert other.from_json(s.loop) == []
    assert other.to_json() == state


def test_version_1_still_loads(loop, tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"format": SESSION_FORMAT, "version": 1, "reader": "A",
                             "loop": loop.to_json()}))  # fmt: skip
    s = load_session(p, "uid:whatever", N)  # no pullback id to check it against
    assert (s.version, s.reader, s.pullback, s.n_frames) == (1, "A", "", None)
    assert s.loop["reviewed"] == [1, 4]


def _tampered(path, edit):
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda d: d.update(format="napari-plaque/arcs"), "not a napari-plaque/arc-session"),
        (lambda d: d.update(version=99), "newer napari-plaque"),
        (lambda d: d.update(reader=["x"]), "'reader' is not a name"),
        (lambda d: d.update(loop={"format": "other"}), "not a napari-plaque/arc-loop state"),
        (lambda d: d["loop"].update(reviewed=[1, "2"]), "loop.reviewed is not a list"),
        (lambda d: d["loop"].update(proposals=[10**9]), "holds frame 1000000000"),
        (lambda d: d["loop"].update(pool=[{"pullback": 3}]), r"loop.pool\[0\]"),
        (lambda d: d["loop"].update(learning_curve=[{"n_frames": 1, "evil": 2}]),
         r"learning_curve\[0\]"),
        (lambda d: d.update(pullback="uid:other"), "another pullback"),
        (lambda d: d.update(n_frames=N + 1), f"{N + 1}-frame pullback"),
    ],
)
def test_tampered_or_foreign_files_are_refused_naming_the_file(loop, tmp_path, edit, says):
    path = save_session(tmp_path / "pb.dcm.arcs-session.json", loop.to_json(), "A", "uid:abc", N)
    _tampered(path, edit)
    with pytest.raises(FormatError, match=says) as err:
        load_session(path, "uid:abc", N)
    assert "pb.dcm.arcs-session.json" in str(err.value)


def test_not_json_is_refused(tmp_path):
    p = tmp_path / "s.json"
    p.write_bytes(b"\x00\xff not json")
    with pytest.raises(FormatError, match="s.json: not a readable session file"):
        load_session(p)
