"""DICOM SR (TID 1500) for calcium scores and plaque composition."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from _interop_util import PATIENT_ID, PATIENT_NAME, dciodvfy_errors, make_series
from napari_plaque.ccta import calcium_score, composition
from napari_plaque.io import ReaderError, read_ct
from napari_plaque.io.sr import read_sr, write_cac_sr, write_composition_sr


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return make_series(tmp_path_factory.mktemp("ct") / "series")


@pytest.fixture(scope="module")
def vol(series):
    return read_ct(series)[0]


def _vessels(shape):
    v = np.zeros(shape, np.uint8)
    v[:, :, : shape[2] // 2] = 2  # LAD
    v[:, :, shape[2] // 2 :] = 4  # RCA
    return v


def test_cac_sr_values_and_modules(series, vol, tmp_path):
    import highdicom as hd

    res = calcium_score(vol.hu, vol.spacing_mm, vessel_labels=_vessels(vol.shape))
    assert res.agatston > 0
    out = write_cac_sr(tmp_path / "cac.dcm", res, series)
    sr = hd.sr.srread(out)  # highdicom reads it back
    assert str(sr.PatientName) == PATIENT_NAME and sr.PatientID == PATIENT_ID
    src = next(iter(series.iterdir()))
    import pydicom

    assert sr.StudyInstanceUID == pydicom.dcmread(src, stop_before_pixels=True).StudyInstanceUID
    rep = read_sr(out)
    assert rep["procedure"] == "Cardiac CT for calcium scoring"
    groups = {g["tracking_id"]: g for g in rep["groups"]}
    total = groups["total"]
    assert total["measurements"]["Calcium score"]["value"] == pytest.approx(res.agatston)
    assert total["measurements"]["Calcium Volume"]["value"] == pytest.approx(res.volume_mm3)
    assert total["measurements"]["Calcium Volume"]["unit"] == "mm3"
    assert total["evaluations"]["CAC-DRS"] == res.cac_drs
    assert "Calcium Mass" not in total["measurements"]  # not calibrated: not written
    pv = res.per_vessel
    for name, site in (("LAD", "Anterior Descending"), ("RCA", "Right Coronary")):
        g = groups[name]
        assert site in g["finding_site"]
        assert g["measurements"]["Calcium score"]["value"] == pytest.approx(pv[name]["agatston"])
    assert sum(groups[n]["measurements"]["Calcium score"]["value"]
               for n in ("LM", "LAD", "LCX", "RCA")) == pytest.approx(res.agatston)


def test_cac_sr_with_mass(series, vol, tmp_path):
    from napari_plaque.ccta import MassCalibration

    res = calcium_score(vol.hu, vol.spacing_mm).with_calibration(
        MassCalibration(0.0008, 200.0, 250.0, 0.0, 10, 0)
    )
    rep = read_sr(write_cac_sr(tmp_path / "m.dcm", res, series))
    mass = rep["groups"][0]["measurements"]["Calcium Mass"]
    assert mass["unit"] == "mg" and mass["value"] == pytest.approx(res.mass_mg)


def test_composition_sr(series, vol, tmp_path):
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    roi[4, 11:16, 14:21] = 2
    plaques = composition(vol.hu, vol.spacing_mm, roi, vessel_labels=_vessels(vol.shape))
    out = write_composition_sr(tmp_path / "comp.dcm", plaques, series)
    rep = read_sr(out)
    groups = {g["tracking_id"]: g for g in rep["groups"]}
    for p in plaques:
        g = groups[f"plaque {p.label}"]
        assert g["finding_type"] == "atheroma"
        assert g["measurements"]["Volume"]["value"] == pytest.approx(p.volume_mm3)
        for comp in ("lipid", "fibrous", "calcium"):
            gc = groups[f"plaque {p.label} {comp}"]
            assert gc["measurements"]["Volume"]["value"] == pytest.approx(
                getattr(p, f"{comp}_mm3"))


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_reports_no_error(series, vol, tmp_path):
    res = calcium_score(vol.hu, vol.spacing_mm, vessel_labels=_vessels(vol.shape))
    assert dciodvfy_errors(write_cac_sr(tmp_path / "c.dcm", res, series)) == []
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    plaques = composition(vol.hu, vol.spacing_mm, roi)
    assert dciodvfy_errors(write_composition_sr(tmp_path / "p.dcm", plaques, series)) == []


def test_non_finite_value_refused_nothing_written(series, vol, tmp_path):
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    p = composition(vol.hu, vol.spacing_mm, roi)[0].to_dict()
    p["volume_mm3"] = float("nan")
    with pytest.raises(ValueError, match="not a finite number"):
        write_composition_sr(tmp_path / "nan.dcm", [p], series)
    assert not (tmp_path / "nan.dcm").exists()


def test_sr_needs_frame_of_reference(tmp_path):
    folder = make_series(tmp_path / "nofor", frame_of_reference=False)
    v = read_ct(folder)[0]
    with pytest.raises(ReaderError, match="FrameOfReferenceUID"):
        write_cac_sr(tmp_path / "x.dcm", calcium_score(v.hu, v.spacing_mm), folder)
    assert not (tmp_path / "x.dcm").exists()


def test_cli_cac_and_composition_sr(series, vol, tmp_path, capsys):
    from napari_plaque.cli import main

    out = tmp_path / "cac_sr.dcm"
    assert main(["cac", str(series), "--sr", str(out)]) == 0
    res = calcium_score(vol.hu, vol.spacing_mm)
    total = read_sr(out)["groups"][0]["measurements"]["Calcium score"]["value"]
    assert total == pytest.approx(res.agatston)
    capsys.readouterr()
    assert main(["info", str(out)]) == 0  # described as an SR with its measurements
    text = capsys.readouterr().out
    assert "dicom-sr" in text and "Calcium score" in text and f"{res.agatston:.0f}"[:3] in text
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    np.save(tmp_path / "roi.npy", roi)
    out2 = tmp_path / "comp_sr.dcm"
    assert main(["composition", str(series), "--roi", str(tmp_path / "roi.npy"),
                 "--sr", str(out2)]) == 0
    assert read_sr(out2)["groups"][0]["tracking_id"] == "plaque 1"
    capsys.readouterr()
    # one .dcm for two studies would be overwritten: refused before anything runs
    rc = main(["cac", str(series), str(series), "--sr", str(tmp_path / "two.dcm")])
    assert rc == 2 and "give a folder" in capsys.readouterr().err
    assert not (tmp_path / "two.dcm").exists()


def test_cli_sr_refuses_nifti(vol, tmp_path, capsys):
    from napari_plaque.cli import main
    from napari_plaque.io.nifti import write_nifti

    nii = tmp_path / "ct.nii.gz"
    write_nifti(nii, vol.hu, vol.spacing_mm, vol.origin_mm)
    rc = main(["cac", str(nii), "--sr", str(tmp_path / "n.dcm")])
    assert rc == 2 and "needs the DICOM series" in capsys.readouterr().err
    assert not (tmp_path / "n.dcm").exists()


def test_vessel_sr_from_a_report(series, tmp_path):
    """Fast variant: a vessel report dict (the CLI's JSON layout) to SR and back."""
    from napari_plaque.io.seg import load_source_series
    from napari_plaque.io.sr import build_vessel_sr

    les = {"index": 1, "length_mm": 8.0, "diameter_stenosis_pct": 50.0, "area_stenosis_pct": 75.0,
           "mla_mm2": 2.5, "mld_mm": 1.8, "remodeling_index": 1.12, "plaque_volume_mm3": 30.0,
           "plaque_burden_pct": 70.0, "lipid_mm3": 10.0, "fibrous_mm3": 15.0, "calcium_mm3": 5.0,
           "lipid_pct": 33.3, "fibrous_pct": 50.0, "calcium_pct": 16.7, "lipid_mean_hu": 20.0,
           "fibrous_mean_hu": 90.0, "calcium_mean_hu": 600.0}
    ds = build_vessel_sr({"vessel": "RCA", "length_mm": 40.0, "lesions": [les]},
                         load_source_series(series))
    ds.save_as(tmp_path / "v.dcm", enforce_file_format=True)
    groups = {g["tracking_id"]: g for g in read_sr(tmp_path / "v.dcm")["groups"]}
    g = groups["RCA lesion 1"]
    assert g["measurements"]["Lumen Diameter Stenosis"]["value"] == 50.0
    assert g["measurements"]["Remodeling Index"]["value"] == pytest.approx(1.12)
    assert groups["RCA lesion 1 plaque"]["measurements"]["Plaque Burden"]["value"] == 70.0
    assert groups["RCA lesion 1 plaque calcium"]["measurements"]["Mean"]["value"] == 600.0
    assert groups["RCA"]["finding_site"] == "Right Coronary Artery"


@pytest.mark.slow
def test_cli_vessel_sr(tmp_path, capsys, lad_phantom):
    import json

    from napari_plaque.cli import main

    ph = lad_phantom
    v = ph.volume
    ct = make_series(tmp_path / "ct", hu=v.hu, spacing=v.spacing_mm,
                     origin=(v.origin_mm[2], v.origin_mm[1], v.origin_mm[0]))
    assert read_ct(ct)[0].origin_mm == pytest.approx(v.origin_mm, abs=1e-3)
    csv = tmp_path / "pts.csv"
    csv.write_text("index,axis-0,axis-1,axis-2\n" + "".join(
        f"{i},{p[0]},{p[1]},{p[2]}\n" for i, p in enumerate(ph.vessels[0].user_points_mm)))
    out = tmp_path / "vessel_sr.dcm"
    capsys.readouterr()
    assert main(["vessel", str(ct), "--centreline", str(csv), "--name", "LAD", "--json",
                 "--sr", str(out)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["lesions"]
    groups = {g["tracking_id"]: g for g in read_sr(out)["groups"]}
    for les in rep["lesions"]:
        g = groups[f"LAD lesion {les['index']}"]
        assert g["finding_site"].startswith("Anterior Descending")
        assert g["measurements"]["Vessel Lumen Cross-Sectional Area"]["value"] == pytest.approx(
            les["mla_mm2"])
        p = groups[f"LAD lesion {les['index']} plaque"]
        assert p["measurements"]["Volume"]["value"] == pytest.approx(les["plaque_volume_mm3"])
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(out) == []
    # a NIfTI study cannot have an SR: refused before any file is written
    from napari_plaque.io.nifti import write_nifti

    nii = write_nifti(tmp_path / "ct.nii.gz", v.hu, v.spacing_mm, v.origin_mm)
    rc = main(["vessel", str(nii), "--centreline", str(csv), "--sr", str(tmp_path / "n.dcm"),
               "--roi-out", str(tmp_path / "roi.npy")])
    assert rc == 2
    assert not (tmp_path / "n.dcm").exists() and not (tmp_path / "roi.npy").exists()


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("agatston", -5.0, "total Agatston is negative"),
        ("agatston", float("nan"), "total Agatston is not a finite number"),
        ("agatston", None, "total Agatston has no value"),
        ("volume_mm3", -1.0, "total volume is negative"),
        ("mass_mg", float("inf"), "total mass is not a finite number"),
        ("n_lesions", "x", "total lesion count is not a number"),
    ],
)
def test_bad_calcium_values_refused_nothing_written(series, vol, tmp_path, field, value, match):
    import dataclasses

    from napari_plaque.ccta.calcium import CalciumResult

    res = calcium_score(vol.hu, vol.spacing_mm)

    class Bad(CalciumResult):  # a result whose totals were edited (or computed wrongly)
        @property
        def per_vessel(self):
            pv = super().per_vessel
            pv["total"] = dict(pv["total"], **{field: value})
            return pv

    bad = Bad(**{f.name: getattr(res, f.name) for f in dataclasses.fields(res)})
    with pytest.raises(ValueError, match=match) as exc:
        write_cac_sr(tmp_path / "bad.dcm", bad, series)
    assert str(tmp_path / "bad.dcm") in str(exc.value)  # names the SR it refused to write
    assert list(tmp_path.iterdir()) == []


def test_negative_composition_volume_refused_but_negative_hu_written(series, vol, tmp_path):
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    (p,) = composition(vol.hu, vol.spacing_mm, roi)
    d = dict(p.to_dict(), lipid_mean_hu=-60.0)  # lipid is below 0 HU: a valid mean
    out = write_composition_sr(tmp_path / "ok.dcm", [d], series)
    comps = {g["tracking_id"]: g for g in read_sr(out)["groups"]}
    assert comps["plaque 1 lipid"]["measurements"]["Mean"]["value"] == -60.0
    with pytest.raises(ValueError, match=r"bad\.dcm: plaque 1 lipid volume is negative"):
        write_composition_sr(tmp_path / "bad.dcm", [dict(d, lipid_mm3=-2.0)], series)
    assert not (tmp_path / "bad.dcm").exists()


def test_sr_fuzz_bad_values_refused_by_name_or_written_exactly(series, vol, tmp_path):
    """Random bad values in random measurements of a composition report: each build either
    refuses with a ValueError naming the measurement (so nothing is written) or holds only
    finite values, non-negative except mean HU; no other exception."""
    from napari_plaque.io.seg import load_source_series
    from napari_plaque.io.sr import build_composition_sr

    src = load_source_series(series)  # once: the writes differ only in their values
    rng = np.random.default_rng(22)
    roi = np.zeros(vol.shape, np.uint8)
    roi[1:4, 4:10, 5:11] = 1
    (p,) = composition(vol.hu, vol.spacing_mm, roi)
    base = p.to_dict()
    fields = ["volume_mm3", "mean_hu", "lipid_mm3", "fibrous_mm3", "calcium_mm3",
              "lipid_mean_hu", "calcium_mean_hu", "calcium_pct", "plaque_burden_pct"]
    bad = [float("nan"), float("inf"), float("-inf"), -5.0, -1e-9, 1e300, "x", None, 0.0, 42.5]
    written = refused = 0
    for _ in range(20):
        d = dict(base)
        field = fields[int(rng.integers(len(fields)))]
        d[field] = bad[int(rng.integers(len(bad)))]
        try:
            build_composition_sr([d], src)
        except ValueError as exc:
            refused += 1
            assert "plaque 1" in str(exc), (field, d[field], exc)
            continue
        written += 1
        v = d[field]
        assert v is None or (isinstance(v, float) and np.isfinite(v)), (field, v)
        assert v is None or v >= 0 or field.endswith("_hu"), (field, v)
    print(f"\nSR fuzz: 20 tried, {refused} refused by name, {written} written (valid values)")
    assert written and refused


def test_cli_sr_named_by_study_id_not_folder(tmp_path, capsys):
    """Defect (issue 23): two manifest studies ``A/CT`` and ``B/CT`` both wrote ``CT.dcm``."""
    from napari_plaque.cli import main

    make_series(tmp_path / "A" / "CT", seed=1)
    make_series(tmp_path / "B" / "CT", seed=2)
    man = tmp_path / "manifest.csv"
    man.write_text("study_id,path\nA,A/CT\nB,B/CT\n")
    for cmd in ("cac", "composition"):
        out = tmp_path / f"sr_{cmd}"
        extra = []
        if cmd == "composition":
            roi = np.zeros((6, 20, 24), np.uint8)
            roi[1:4, 4:10, 5:11] = 1
            np.save(tmp_path / "roi.npy", roi)
            extra = ["--roi", str(tmp_path / "roi.npy")]
        assert main([cmd, "--manifest", str(man), "--sr", str(out), *extra]) == 0, cmd
        capsys.readouterr()
        assert sorted(p.name for p in out.iterdir()) == ["A.dcm", "B.dcm"], cmd


def test_sr_folder_name_that_leaves_the_folder_is_refused(series, tmp_path):
    from napari_plaque import api

    out = tmp_path / "reports"
    with pytest.raises(ValueError, match="refused"):
        api.cac(str(series), sr=str(out), study_id="../escape")
    assert not (tmp_path / "escape.dcm").exists()
    api.cac(str(series), sr=str(out), study_id="S1")
    api.cac(str(series), sr=str(out), study_id="S1")  # a rerun replaces its own report
    assert [p.name for p in out.iterdir()] == ["S1.dcm"]
