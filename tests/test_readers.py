"""Several readers of one pullback: files per reader, pullback identity, figures, adjudication."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.arcs import ArcSet, load_arcs, pullback_uid, save_arcs
from napari_plaque.ivus.readers import (
    ADJUDICATED,
    Adjudication,
    ReaderSet,
    disagreement_frames,
    icc_of_ics,
    inter_reader,
    load_reader,
    reader_files,
    reader_path,
    reader_slug,
)
from napari_plaque.types import Pullback

F, SHAPE = 10, (64, 64)


def _pb(seed=0, uid=""):
    frames = np.random.default_rng(seed).integers(0, 255, (F, *SHAPE), dtype=np.uint8)
    return Pullback(frames, 1 / 30, 15.0, (0.05, 0.05), uid_hash=uid)  # 0.5 mm per frame


def _reader(name, arcs, n_alines=360):
    s = ArcSet(F, SHAPE)
    for f, s_, e in arcs:
        s.add(f, "calcium", s_, e, annotator=name)
    s.reader, s.n_alines = name, n_alines
    return ReaderSet(name, s)


# ------------------------------------------------------------------ identity and the file


def test_pullback_uid_from_uid_hash_or_content():
    assert pullback_uid(_pb(uid="abc123")) == "uid:abc123"
    a, b = pullback_uid(_pb(0)), pullback_uid(_pb(0))
    assert a == b and a.startswith("content:")
    assert pullback_uid(_pb(1)) != a


def test_v2_file_records_pullback_and_refuses_another(tmp_path):
    pb, other = _pb(0), _pb(1)
    s = ArcSet(F, SHAPE)
    s.add(2, "calcium", 350, 10, annotator="ann")
    s.stamp(pb, 360)
    s.reader = "ann"
    p = save_arcs(s, tmp_path / "x.arcs.ann.json")
    doc = json.loads(p.read_text())
    assert doc["version"] == 2 and doc["reader"] == "ann"
    assert doc["pullback"] == {"uid": pullback_uid(pb), "n_alines": 360}
    back = load_arcs(p, F, SHAPE, pullback=pb, n_alines=360)
    assert back.pullback_uid == pullback_uid(pb) and back.reader == "ann"
    with pytest.raises(FormatError, match=r"x\.arcs\.ann\.json.*another pullback"):
        load_arcs(p, F, SHAPE, pullback=other)
    with pytest.raises(FormatError, match="360 A-lines per frame, not 720"):
        load_arcs(p, F, SHAPE, n_alines=720)
    with pytest.raises(ValueError, match="another pullback"):
        back.stamp(other)
    # saving this set over a file of another pullback is refused, nothing written
    t = ArcSet(F, SHAPE)
    t.stamp(other)
    with pytest.raises(FormatError, match="another pullback"):
        save_arcs(t, p)
    assert json.loads(p.read_text())["pullback"]["uid"] == pullback_uid(pb)


def test_version_1_files_still_load_and_plain_sets_stay_version_1(tmp_path):
    s = ArcSet(F, SHAPE)
    s.add(1, "calcium", 0, 90)
    p = save_arcs(s, tmp_path / "old.json")
    doc = json.loads(p.read_text())
    assert doc["version"] == 1 and "pullback" not in doc
    back = load_arcs(p, F, SHAPE, pullback=_pb(0), n_alines=720)
    assert back.pullback_uid == "" and len(back.arcs) == 1
    # a version 2 file without its pullback record is damaged
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "version": 2}))
    with pytest.raises(FormatError, match="bad.json.*pullback"):
        load_arcs(bad)


def test_reader_paths(tmp_path):
    src = tmp_path / "run[1].dcm"
    assert reader_path(src, "Dr. Smith").name == "run[1].dcm.arcs.Dr-Smith.json"
    with pytest.raises(ValueError, match="name"):
        reader_slug("  ..  ")
    for name in ("A", "B", ADJUDICATED):
        save_arcs(_reader(name, []).arcset, reader_path(src, name))
    (tmp_path / "run[1].dcm.arcs.json").write_text("{}")  # the unnamed autosave: not a reader
    assert list(reader_files(src)) == ["A", "B", ADJUDICATED]


# ------------------------------------------------------------------ figures


def test_two_readers_analytic_kappa_and_ics():
    # A: frames 0-4 at [0, 90); B: the same plus frame 5
    a = _reader("A", [(f, 0, 90) for f in range(5)])
    b = _reader("B", [(f, 0, 90) for f in range(6)])
    out = inter_reader([a, b], mm_per_frame=0.5)
    ra, rb = out["readers"]
    assert ra["ics"] == pytest.approx(1000 * 450 / 3600)
    assert rb["ics"] == pytest.approx(1000 * 540 / 3600)
    assert ra["max_arc_deg"] == pytest.approx(90.0) and rb["max_arc_deg"] == pytest.approx(90.0)
    assert out["mean_ics"] == pytest.approx(1000 * 495 / 3600)
    (pair,) = out["pairwise"]
    # po = 3510/3600, pe = .125*.15 + .875*.85 -> kappa = 17/19
    assert pair["kappa"] == pytest.approx(17 / 19)
    assert pair["table"] == [[3060, 90], [0, 450]]
    assert out["fleiss"] is None and out["warnings"] == []


def test_three_readers_fleiss_analytic():
    # 8 A-lines per frame, 1 frame: a = 0..3, b = 0..3, c = 0..1 positive
    def r(name, end):
        s = ArcSet(1, SHAPE)
        s.add(0, "calcium", 0, end, annotator=name)
        return ReaderSet(name, s)

    out = inter_reader([r("a", 180), r("b", 180), r("c", 90)], 0.5, n_alines=8, n_boot=0)
    # items 0,1: all 3 positive; 2,3: 2 of 3; 4..7: none. P_i = 1,1,1/3,1/3,1,1,1,1
    po = (6 + 2 / 3) / 8
    pj = np.array([14, 10]) / 24  # negatives 4*3+2, positives 2*3+2*2
    pe = float((pj**2).sum())
    assert out["fleiss"]["kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert len(out["pairwise"]) == 3
    ab = next(p for p in out["pairwise"] if (p["a"], p["b"]) == ("a", "b"))
    assert ab["kappa"] == pytest.approx(1.0)


def test_union_file_is_flagged_not_silent(tmp_path):
    s = ArcSet(F, SHAPE)
    s.add(0, "calcium", 0, 30, annotator="A")
    s.add(1, "calcium", 0, 30, annotator="B")
    p = save_arcs(s, tmp_path / "x.arcs.json")
    r = load_reader(p, n_frames=F, frame_shape=SHAPE)
    assert r.warnings and "2 annotators" in r.warnings[0] and "ONE reader" in r.warnings[0]
    other = _reader("C", [(0, 0, 30)])
    out = inter_reader([r, other], 0.5)
    assert any("ONE reader" in w for w in out["warnings"])


def test_inter_reader_refuses_mixed_pullbacks_and_duplicates():
    a, b = _reader("A", [(0, 0, 10)]), _reader("B", [(0, 0, 10)])
    a.arcset.pullback_uid, b.arcset.pullback_uid = "uid:1", "uid:2"
    with pytest.raises(ValueError, match="different pullbacks"):
        inter_reader([a, b], 0.5)
    with pytest.raises(ValueError, match="same reader"):
        inter_reader([_reader("A", []), _reader("A", [])], 0.5)
    c = _reader("C", [], n_alines=720)
    with pytest.raises(ValueError, match="A-line counts"):
        inter_reader([_reader("D", []), c], 0.5)


def test_icc_of_ics_perfect_and_offset():
    table = [[10.0, 10.0], [50.0, 50.0], [120.0, 120.0]]
    assert icc_of_ics(table)["icc"] == pytest.approx(1.0)
    assert icc_of_ics([[10, 30], [50, 60], [120, 110]])["icc"] < 1.0


# ------------------------------------------------------------------ adjudication


def test_adjudication_take_edit_undo_and_authors(tmp_path):
    a = _reader("A", [(0, 0, 90), (2, 10, 40), (3, 100, 120)])
    b = _reader("B", [(0, 0, 90), (2, 10, 60), (4, 200, 230)])
    assert disagreement_frames([a, b]) == {2: 20, 3: 20, 4: 30}
    adj = Adjudication([a, b], adjudicator="Chief")
    assert adj.frames == [2, 3, 4] and adj.next_pending() == 2
    with pytest.raises(ValueError, match="agree"):
        adj.take(0, "A")
    adj.take(2, "B")
    adj.take(3, "A")
    adj.edit(4, [("calcium", 205, 225)])
    assert adj.pending == []
    adj.undo()
    assert adj.pending == [4] and adj.next_pending(3) == 4
    with pytest.raises(ValueError, match="1 disagreeing frame.*4"):
        adj.arcset()
    adj.take(4, "A")  # A has no arc there: taking A means no calcium
    adj.undo()
    adj.edit(4, [("calcium", 205, 225)])
    p = adj.save(tmp_path / "x.arcs.adjudicated.json")
    back = load_arcs(p)
    assert back.reader == ADJUDICATED
    got = [(x.frame, x.start_deg, x.end_deg, x.annotator) for x in back.arcs]
    assert got == [(0, 0, 90, "A"), (2, 10, 60, "B"), (3, 100, 120, "A"), (4, 205, 225, "Chief")]
    rec = back.adjudication
    assert rec["decisions"] == {"2": "B", "3": "A", "4": "edit"} and rec["pending"] == []
    assert [r["name"] for r in rec["readers"]] == ["A", "B"] and rec["agreed_frames"] == F - 3


def test_adjudication_refuses_other_centres():
    a = _reader("A", [(0, 0, 90)])
    b = _reader("B", [(0, 0, 80)])
    b.arcset.centers = [10.0, 10.0]
    with pytest.raises(ValueError, match="centre"):
        Adjudication([a, b])


# ------------------------------------------------------------------ the command line


def _dicom(tmp_path, name, seed, n=8):
    from napari_plaque.samples.ivus import make_ivus_sample

    pb, _ = make_ivus_sample(tmp_path / name, seed=seed, n_frames=n, size=64)
    return tmp_path / name, pb


def _save_reader(pb, path, name, arcs):
    s = ArcSet(pb.n_frames, pb.frame_shape)
    for f, a, b in arcs:
        s.add(f, "calcium", a, b, annotator=name)
    s.stamp(pb, 360)
    s.reader = name
    return save_arcs(s, path)


def test_cli_readers_one_pullback_json_and_refusals(tmp_path, capsys):
    from napari_plaque.cli import main

    src, pb = _dicom(tmp_path, "pb.dcm", 0)
    a = _save_reader(pb, reader_path(src, "A"), "A", [(f, 0, 90) for f in range(4)])
    b = _save_reader(pb, reader_path(src, "B"), "B", [(f, 0, 90) for f in range(5)])
    c = _save_reader(pb, reader_path(src, "C"), "C", [(f, 0, 45) for f in range(4)])
    assert main(["readers", str(src), "--arcs", str(a), str(b), str(c), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["readers"]] == ["A", "B", "C"]
    n = pb.n_frames * 360
    assert out["readers"][0]["ics"] == pytest.approx(1000 * 360 / n)
    assert len(out["pairwise"]) == 3 and out["fleiss"]["raters"] == 3
    assert main(["readers", str(src), "--arcs", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "Cohen's kappa A vs B" in text and "mean ICS" in text
    # arcs of another pullback: refused, the file named
    src2, pb2 = _dicom(tmp_path, "other.dcm", 1)
    assert main(["readers", str(src2), "--arcs", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "pb.dcm.arcs.A.json" in err and "another pullback" in err
    # a missing file, one reader only
    assert main(["readers", str(src), "--arcs", str(a), str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    assert main(["readers", str(src), "--arcs", str(a)]) == 2
    assert "2 or more" in capsys.readouterr().err


def test_cli_readers_manifest_icc(tmp_path, capsys):
    from napari_plaque.cli import main

    rows = ["pullback,reader,arcs"]
    for i, ext in enumerate((10, 40, 80)):
        src, pb = _dicom(tmp_path, f"p{i}.dcm", i, n=6)
        for rd, e in (("A", ext), ("B", ext)):  # both readers agree exactly
            p = _save_reader(pb, reader_path(src, rd), rd, [(0, 0, e)])
            rows.append(f"{src.name},{rd},{p.name}")
    man = tmp_path / "m.csv"
    man.write_text("\n".join(rows) + "\n")
    assert main(["readers", "--manifest", str(man), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["readers"] == ["A", "B"] and len(out["ics_table"]) == 3
    assert out["icc_ics"]["icc"] == pytest.approx(1.0)
    man.write_text("\n".join(rows[:-1]) + "\n")  # reader B missing on p2
    assert main(["readers", "--manifest", str(man)]) == 2
    err = capsys.readouterr().err
    assert "m.csv" in err and "reader(s) B" in err


def test_save_reads_back_only_a_file_someone_changed(tmp_path, monkeypatch):
    import napari_plaque.ivus.arcs as arcs_mod

    p = tmp_path / "x.arcs.json"
    mine = ArcSet(F, SHAPE)
    mine.add(0, "calcium", 0, 30, annotator="A")
    save_arcs(mine, p)
    calls = []
    real = arcs_mod.load_arcs
    monkeypatch.setattr(arcs_mod, "load_arcs", lambda *a, **k: calls.append(1) or real(*a, **k))
    mine.add(1, "calcium", 0, 30, annotator="A")
    save_arcs(mine, p)  # the file is as this session wrote it: not parsed again
    assert calls == []
    other = real(p)  # someone else saves an arc
    other.add(5, "calcium", 100, 120, annotator="B")
    save_arcs(other, p)
    mine.add(2, "calcium", 0, 30, annotator="A")
    with pytest.raises(FormatError, match="not seen"):
        save_arcs(mine, p)
    assert calls  # read back, their arc found
