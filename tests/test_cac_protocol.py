"""Calcium-scoring protocol checks (`napari_plaque.ccta.protocol`) and `cac` on studies that
are not what the Agatston score is defined on: real single-slice head/abdomen CT from
pydicom-data, the QRM phantom without a ROI, and synthetic series with edited headers."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from _interop_util import make_series
from napari_plaque.ccta.protocol import (
    PROTOCOL_DEFAULTS,
    ProtocolError,
    body_width_mm,
    check_protocol,
    header_anatomy,
    parse_kv_table,
)
from napari_plaque.cli import main

GOOD = {
    "modality": "CT",
    "kvp": 120.0,
    "slice_thickness_mm": 3.0,
    "slice_increment_mm": 3.0,
    "body_part": "CHEST",
    "series_description": "Calcium Score",
}


def _levels(rep):
    return {f.code: f.level for f in rep.findings}


def _chest(n=4, width_px=54, px_mm=6.0, size=64):
    """A body ellipse ``width_px`` pixels wide inside the image (not touching its sides)."""
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    body = ((xx - c) / (width_px / 2)) ** 2 + ((yy - c) / (width_px / 3)) ** 2 <= 1
    hu = np.where(body, 40, -1000).astype(np.int16)
    hu[30:33, 30:33] = 400
    return np.repeat(hu[None], n, axis=0), (3.0, px_mm, px_mm)


def test_standard_cardiac_study_has_only_the_roi_flag():
    hu, sp = _chest()
    rep = check_protocol(GOOD, hu, sp)
    lv = _levels(rep)
    assert not rep.refusals and [f.code for f in rep.flags] == ["roi"]
    assert lv["anatomy"] == lv["kvp"] == lv["slice_thickness"] == lv["threshold"] == "ok"
    assert lv["ecg_gating"] == "unknown" and rep.gating == "unknown"  # no gating in GOOD
    assert not check_protocol(GOOD, hu, sp, roi_given=True).flags
    assert rep.threshold_hu == PROTOCOL_DEFAULTS["threshold_hu"]


def test_single_slice_and_modality_are_refused_and_not_acceptable():
    hu, sp = _chest(n=1)
    rep = check_protocol(dict(GOOD, slice_increment_mm=20.0), hu, sp, accept=["anatomy"])
    assert [f.code for f in rep.refusals] == ["single_slice"]
    assert "20 mm" in rep.refusals[0].message
    with pytest.raises(ProtocolError, match="x.dcm: not scored: single_slice"):
        rep.raise_refusals("x.dcm")
    rep = check_protocol(dict(GOOD, modality="MR"), *_chest())
    assert [f.code for f in rep.refusals] == ["modality"]
    with pytest.raises(ValueError, match="only anatomy, slice_gap"):
        check_protocol(GOOD, *_chest(), accept=["single_slice"])


def test_anatomy_header_and_image():
    assert header_anatomy({"body_part": "HEAD"})[0] == "other"
    assert header_anatomy({"series_description": "CaScore 3mm"})[0] == "cardiac"
    assert header_anatomy({"body_part": "CHEST", "series_description": "head"})[0] == "cardiac"
    assert header_anatomy({"study_description": "CT BRAIN"})[0] == "other"
    assert header_anatomy({})[0] == "unknown"
    head, sp = _chest(width_px=40, px_mm=0.45, size=512 // 4)  # 18 mm: far narrower than a chest
    assert body_width_mm(head, sp) == pytest.approx(40 * 0.45, abs=1)
    chest, sp2 = _chest()
    assert body_width_mm(chest, sp2) == pytest.approx(54 * 6.0, abs=7)
    cut = np.full((3, 32, 32), 40, np.int16)  # body fills the field of view: width unknown
    assert body_width_mm(cut, (3, 1, 1)) is None
    meta = dict(GOOD, body_part="HEAD", series_description="")
    # header and image agree: refused; --accept anatomy scores it with a warning
    rep = check_protocol(meta, head, sp)
    assert [f.code for f in rep.refusals] == ["anatomy"] and "mm wide" in rep.refusals[0].message
    rep = check_protocol(meta, head, sp, accept=["anatomy"])
    assert not rep.refusals and "accepted with --accept anatomy" in rep.warnings[0]
    # only one signal: flagged
    assert _levels(check_protocol(meta, chest, sp2))["anatomy"] == "flag"
    assert _levels(check_protocol(GOOD, head, sp))["anatomy"] == "flag"


def test_kvp_fixed_and_adjusted_threshold():
    hu, sp = _chest()
    rep = check_protocol(dict(GOOD, kvp=140.0), hu, sp)
    assert _levels(rep)["kvp"] == "flag" and "140 kVp" in rep.warnings[0]
    assert rep.threshold_hu == 130
    rep = check_protocol(dict(GOOD, kvp=100.0), hu, sp, kv_mode="adjusted")
    assert rep.threshold_hu == 147 and _levels(rep)["threshold"] == "ok"
    assert "kV-adjusted" in [f for f in rep.flags if f.code == "kvp"][0].message
    rep = check_protocol(GOOD, hu, sp, kv_mode="adjusted")  # 120 kVp: the standard 130 HU
    assert rep.threshold_hu == 130 and _levels(rep)["kvp"] == "ok"
    rep = check_protocol(dict(GOOD, kvp=80.0), hu, sp, kv_mode="adjusted")
    assert [f.code for f in rep.refusals] == ["kvp"] and "80 kVp" in rep.refusals[0].message
    table = parse_kv_table("80=167,120=130")
    assert check_protocol(dict(GOOD, kvp=80.0), hu, sp, kv_mode="adjusted",
                          kv_table=table).threshold_hu == 167  # fmt: skip
    missing = {k: v for k, v in GOOD.items() if k != "kvp"}
    assert "kVp unknown" in check_protocol(missing, hu, sp).warnings[0]
    with pytest.raises(ValueError, match="--kv-table"):
        parse_kv_table("100:147")


def test_threshold_other_than_130_is_flagged():
    rep = check_protocol(GOOD, *_chest(), threshold_hu=100.0, roi_given=True)
    assert rep.threshold_hu == 100 and [f.code for f in rep.flags] == ["threshold"]
    assert not check_protocol(GOOD, *_chest(), threshold_hu=130.2, roi_given=True).flags
    with pytest.raises(ValueError, match="give one of them"):
        check_protocol(GOOD, *_chest(), threshold_hu=100.0, kv_mode="adjusted")


def test_slice_thickness_increment_gap_and_overlap():
    hu, sp = _chest()
    for t in (2.5, 3.0):
        assert _levels(check_protocol(dict(GOOD, slice_thickness_mm=t, slice_increment_mm=t),
                                      hu, sp))["slice_thickness"] == "ok"  # fmt: skip
    for t in (0.625, 1.0, 5.0):
        rep = check_protocol(dict(GOOD, slice_thickness_mm=t, slice_increment_mm=t), hu, sp)
        assert _levels(rep)["slice_thickness"] == "flag", t
    gap = check_protocol(dict(GOOD, slice_thickness_mm=3.0, slice_increment_mm=5.0), hu, sp)
    assert [f.code for f in gap.refusals] == ["slice_gap"]
    assert "2 mm between" in gap.refusals[0].message
    over = check_protocol(dict(GOOD, slice_thickness_mm=3.0, slice_increment_mm=1.5), hu, sp)
    assert _levels(over)["slice_increment"] == "flag"
    assert any(w.startswith("slice_increment:") and "equivalent" in w for w in over.warnings)
    nothick = {k: v for k, v in GOOD.items() if k != "slice_thickness_mm"}
    assert _levels(check_protocol(nothick, hu, sp))["slice_thickness"] == "flag"


def test_contrast_agent_is_flagged():
    rep = check_protocol(dict(GOOD, contrast_agent="ISOVUE300/100"), *_chest())
    assert _levels(rep)["contrast"] == "flag" and "ISOVUE" in rep.warnings[0]


# ------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("name", ["693_UNCR.dcm", "CT_small.dcm"])
def test_cli_refuses_a_single_slice_ct(name, capsys):
    path = get_testdata_file(name)
    assert main(["cac", path]) == 2
    err = capsys.readouterr().err
    assert name in err and "single_slice" in err and "Traceback" not in err


def test_cli_phantom_without_roi_is_flagged(phantom_dir, capsys):
    assert main(["cac", str(phantom_dir), "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert d["agatston"] > 100_000  # spine and table: the number the flag is about
    assert [w.split(":")[0] for w in d["warnings"]] == ["roi"]
    assert d["protocol"]["checks"]["anatomy"] == "ok" and d["protocol"]["checks"]["kvp"] == "ok"
    assert "qrm-phantom-canon: warning: roi:" in cap.err


def _series(tmp_path, name, edit, hu=None, spacing=(3.0, 0.45, 0.45)):
    hu = _chest(width_px=40, size=64)[0] if hu is None else hu
    folder = make_series(tmp_path / name, spacing=spacing, hu=hu)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        edit(ds)
        ds.save_as(f)
    return folder


def test_cli_head_series_refused_flag_columns_and_accept(tmp_path, capsys):
    head = _series(tmp_path, "head", lambda ds: setattr(ds, "BodyPartExamined", "HEAD"))
    assert main(["cac", str(head)]) == 2
    err = capsys.readouterr().err
    assert "head" in err and "anatomy" in err and "not a cardiac CT" in err
    assert main(["cac", str(head), "--accept", "anatomy", "--threshold-hu", "100"]) == 0
    cap = capsys.readouterr()
    row = cap.out.splitlines()[1]
    assert "anatomy:" in row and "threshold:" in row and "roi:" in row  # the warnings column
    assert cap.err.count("warning:") == 3
    assert main(["cac", str(head), "--accept", "single_slice"]) == 2
    assert "can be accepted" in capsys.readouterr().err


def test_cli_140_kvp_5mm_and_kv_adjusted(tmp_path, capsys):
    chest = _chest(size=64)[0]

    def edit(ds):
        ds.KVP, ds.SliceThickness = 140, 5.0

    s = _series(tmp_path, "kv", edit, hu=chest, spacing=(5.0, 6.0, 6.0))
    assert main(["cac", str(s), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {w.split(":")[0] for w in d["warnings"]} == {"kvp", "slice_thickness", "roi"}
    assert main(["cac", str(s), "--kv-threshold", "adjusted"]) == 2
    assert "no kV-adjusted threshold for 140 kVp" in capsys.readouterr().err
    assert main(["cac", str(s), "--kv-threshold", "adjusted", "--kv-table", "140=120",
                 "--json"]) == 0  # fmt: skip
    d = json.loads(capsys.readouterr().out)
    assert d["parameters"]["threshold_hu"] == 120 and d["protocol"]["kv_mode"] == "adjusted"
    assert main(["cac", str(s), "--kv-threshold", "adjusted", "--threshold-hu", "90"]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_cli_gap_refused_in_a_cohort_row(tmp_path, capsys):
    def edit(ds):
        ds.SliceThickness = 1.0

    gap = _series(tmp_path / "c", "gap", edit, hu=_chest(size=64)[0], spacing=(3.0, 6.0, 6.0))
    ok = _series(tmp_path / "c", "ok", lambda ds: None, hu=_chest(size=64)[0],
                 spacing=(3.0, 6.0, 6.0))  # fmt: skip
    assert ok.parent == gap.parent
    assert main(["cac", str(gap.parent)]) == 1  # a cohort: the refused study is a failed row
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert "slice_gap" in lines[1] and ",error," in lines[1] and ",ok," in lines[2]


# ----------------------------------------------------------------------------- the survey
def _set(**tags):
    def edit(ds):
        for k, v in tags.items():
            if v is None:
                if k in ds:
                    delattr(ds, k)
            else:
                setattr(ds, k, v)

    return edit


def test_survey_every_departure_is_refused_or_flagged(tmp_path, capsys):
    """Each input departs from the protocol in one way (or several, for the real files): the
    figures printed (``pytest -s -k survey``) are tried / refused / flagged / silent, where
    silent = scored with exit 0 and no warning. Every input must be refused or flagged."""
    from napari_plaque.io.nifti import write_nifti

    chest = _chest(size=64)[0]
    wide = (3.0, 6.0, 6.0)
    real = {n: ([get_testdata_file(n)], "single_slice")
            for n in ("693_UNCR.dcm", "693_J2KR.dcm", "CT_small.dcm", "bad_sequence.dcm",
                      "explicit_VR-UN.dcm")}  # fmt: skip
    synth = {  # name: (tags, hu, spacing, extra args, the check it departs in)
        "head_tag_and_narrow": ({"BodyPartExamined": "HEAD"}, None, (3.0, 0.45, 0.45), [],
                                "anatomy"),
        "head_tag_wide_body": ({"BodyPartExamined": "HEAD"}, chest, wide, [], "anatomy"),
        "narrow_body_no_tag": ({}, None, (3.0, 0.45, 0.45), [], "anatomy"),
        "kvp_140": ({"KVP": 140}, chest, wide, [], "kvp"),
        "kvp_100_adjusted": ({"KVP": 100}, chest, wide, ["--kv-threshold", "adjusted"], "kvp"),
        "kvp_80_adjusted": ({"KVP": 80}, chest, wide, ["--kv-threshold", "adjusted"], "kvp"),
        "kvp_missing": ({"KVP": None}, chest, wide, [], "kvp"),
        "threshold_100": ({}, chest, wide, ["--threshold-hu", "100"], "threshold"),
        "thick_5mm": ({"SliceThickness": 5.0}, chest, (5.0, 6.0, 6.0), [], "slice_thickness"),
        "thin_0.6mm": ({"SliceThickness": 0.625}, chest, (0.625, 6.0, 6.0), [],
                       "slice_thickness"),
        "gap_1mm_every_3mm": ({"SliceThickness": 1.0}, chest, wide, [], "slice_gap"),
        "overlap_3mm_every_1.5mm": ({"SliceThickness": 3.0}, chest, (1.5, 6.0, 6.0), [],
                                    "slice_increment"),
        "contrast": ({"ContrastBolusAgent": "IOHEXOL"}, chest, wide, [], "contrast"),
        "modality_mr": ({"Modality": "MR"}, chest, wide, [], "modality"),
    }
    cases = dict(real)  # the QRM phantom without ROI: test_cli_phantom_without_roi_is_flagged
    for name, (tags, hu, sp, extra, check) in synth.items():
        s = _series(tmp_path / "s", name, _set(**tags), hu=hu, spacing=sp)
        cases[name] = ([str(s), *extra], check)
    nii = tmp_path / "nifti_no_header.nii.gz"
    write_nifti(nii, chest, wide)
    cases["nifti_no_header"] = ([str(nii)], "kvp")
    tally: dict[str, list[int]] = {}
    lines = []
    for name, (args, check) in cases.items():
        rc = main(["cac", *args, "--json"])
        cap = capsys.readouterr()
        if rc == 0:
            d = json.loads(cap.out)
            codes = [w.split(":")[0] for w in d["warnings"]]
            outcome = "flagged" if check in codes else "silent"
        else:
            outcome = "refused" if check in cap.err else f"other-error rc={rc}"
            codes = []
        t = tally.setdefault(check, [0, 0, 0, 0])
        t[0] += 1
        t[1] += outcome == "refused"
        t[2] += outcome == "flagged"
        t[3] += outcome == "silent"
        lines.append(f"{name:28s} {check:16s} {outcome:8s} rc={rc} {','.join(codes)}")
        assert outcome in ("refused", "flagged"), (name, outcome, cap.err[-500:])
        assert "Traceback" not in cap.err
    print("\ninput                        check            outcome")
    print("\n".join(lines))
    print("check            tried refused flagged silent")
    for check, (n, r, f, s) in tally.items():
        print(f"{check:16s} {n:5d} {r:7d} {f:7d} {s:6d}")
    tot = [sum(t[i] for t in tally.values()) for i in range(4)]
    print(f"{'total':16s} {tot[0]:5d} {tot[1]:7d} {tot[2]:7d} {tot[3]:6d}")


@pytest.mark.parametrize(
    "sync, gating, level",
    [("PROSPECTIVE", "gated", "ok"), ("NONE", "not gated", "flag"), (None, "unknown", "unknown")],
)
def test_reader_keeps_gating_and_anatomy_words_and_protocol_reports_gating(
    tmp_path, sync, gating, level
):
    """CardiacSynchronizationTechnique, StudyDescription and ProtocolName reach the CT meta
    (descriptions reduced to their anatomy words) and the protocol check reads them."""
    from napari_plaque.io import read_ct

    def edit(ds):
        if sync is not None:
            ds.CardiacSynchronizationTechnique = sync
        ds.StudyDescription = "Cardiac CaScore Dr Smith 2024"
        ds.ProtocolName = "Heart calcium"
        ds.SeriesDescription = "axial 3mm"  # no anatomy word: the descriptions must carry it
        if "BodyPartExamined" in ds:
            del ds.BodyPartExamined

    vol = read_ct(_series(tmp_path, "s", edit))[0]
    assert vol.meta.get("cardiac_synchronization") == sync
    assert vol.meta["study_description"] == "CARD CASCOR"  # Smith, 2024: not kept
    assert vol.meta["protocol_name"] == "HEART CALC"
    rep = check_protocol(vol.meta, vol.hu, vol.spacing_mm)
    assert _levels(rep)["ecg_gating"] == level and rep.gating == gating
    assert rep.to_dict()["gating"] == gating
    where, evidence = header_anatomy(vol.meta)
    assert where == "cardiac" and "StudyDescription 'CARD CASCOR'" in evidence
