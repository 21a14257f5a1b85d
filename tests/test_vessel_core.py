"""Vessel analysis core on synthetic vessels with analytic truth (samples/vessels.py).

Tolerances (see docs/vessel.md): on sharp images (no PSF blur) the algorithm itself must be
accurate: % diameter / area stenosis within 5 points, reference diameter within 5 %, plaque
volume within 20 %. With a 0.35 mm PSF and 15 HU noise partial volume limits what any CT
measurement can do on a 1-3 mm lumen: stenosis within 10 points, the lesions still found where
they are; 70 % stenoses (a 0.96 mm lumen) within 20 points.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.ccta.centreline import (
    Centreline,
    centreline_from_labels,
    refine_centreline,
    resample_polyline,
)
from napari_plaque.ccta.contours import ContourSet, polygon_area, radii_from_polygon
from napari_plaque.ccta.reformat import cross_section, cross_sections, straightened_cpr
from napari_plaque.ccta.vessel import analyse_vessel
from napari_plaque.ccta.vessel_roi import rasterize
from napari_plaque.io.errors import FormatError
from napari_plaque.samples.vessels import default_vessels, make_vessel_phantom
from napari_plaque.types import CTVolume


@pytest.fixture(scope="module")
def sharp():
    ph = make_vessel_phantom(default_vessels()[:1], blur_mm=0.0, noise_hu=0.0)
    v = ph.vessels[0]
    cl = refine_centreline(ph.volume, v.user_points_mm, name="LAD")
    return ph, v, cl, analyse_vessel(ph.volume, cl)


@pytest.fixture(scope="module")
def noisy():
    ph = make_vessel_phantom(blur_mm=0.35, noise_hu=15.0, seed=3)
    out = []
    for v in ph.vessels:
        cl = refine_centreline(ph.volume, v.user_points_mm, name=v.spec.name)
        out.append((v, cl, analyse_vessel(ph.volume, cl)))
    return ph, out


def _match(res, truth):
    """Each truth lesion -> the measured lesion containing its MLA site."""
    out = []
    for t in truth.lesions():
        m = [les for les in res.lesions if les.start_mm - 0.5 <= t["s_mla_mm"] <= les.end_mm + 0.5]
        assert len(m) == 1, f"lesion at s={t['s_mla_mm']} found {len(m)} times"
        out.append((m[0], t))
    return out


# ------------------------------------------------------------------------------ centreline
def test_refined_centreline_follows_the_vessel(sharp):
    from scipy.spatial import cKDTree

    ph, v, cl, _ = sharp
    d, _ = cKDTree(v.points_mm).query(cl.points_mm)
    assert np.median(d) < 0.3  # healthy parts on the axis (eccentric lesions pull it aside)
    assert d.max() < 1.2
    assert cl.length_mm == pytest.approx(v.spec.length_mm, abs=1.0)
    assert np.allclose(np.diff(cl.s_mm)[:-1], 0.5, atol=1e-3)
    assert cl.s_mm[0] == 0 and np.allclose(cl.points_mm[0], v.user_points_mm[0], atol=0.2)


def test_rotation_minimising_frames_are_orthonormal_and_do_not_twist():
    s = np.linspace(0, 30, 61)
    helix = np.stack([s * 0.5, 10 * np.cos(s / 10), 10 * np.sin(s / 10)], -1)
    cl = Centreline(helix)
    t, u, v = cl.frames()
    for a, b in ((t, u), (t, v), (u, v)):
        assert np.abs(np.einsum("ij,ij->i", a, b)).max() < 1e-9
    assert np.allclose(np.linalg.norm(u, axis=1), 1)
    # rotation-minimising: u changes only as much as the tangent turns (no spin about t)
    du = np.diff(u, axis=0)
    spin = np.abs(np.einsum("ij,ij->i", du, v[1:]))
    assert spin.max() < 0.01


def test_centreline_json_roundtrip_and_validation(tmp_path, sharp):
    ph, v, cl, _ = sharp
    f = cl.save(tmp_path / "lad.json")
    back = Centreline.load(f)
    assert np.allclose(back.points_mm, cl.points_mm, atol=1e-4)
    assert back.name == "LAD" and back.source == cl.source
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "napari-plaque-centreline", "version": 99}))
    with pytest.raises(FormatError, match="version"):
        Centreline.load(bad)
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="bad.json"):
        Centreline.load(bad)


def test_points_csv_as_napari_saves_it(tmp_path):
    f = tmp_path / "pts.csv"
    f.write_text("index,axis-0,axis-1,axis-2\n0,1.5,2.0,3.0\n1,4.0,5.0,6.5\n")
    pts = Centreline.from_points_csv(f)
    assert pts.tolist() == [[1.5, 2.0, 3.0], [4.0, 5.0, 6.5]]
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="axis-0"):
        Centreline.from_points_csv(tmp_path / "x.csv")


def test_centreline_from_label_map(sharp):
    from scipy.spatial import cKDTree

    ph, v, _, _ = sharp
    cl = centreline_from_labels(ph.volume, ph.labels == 1, start_mm=v.user_points_mm[0])
    d, _ = cKDTree(v.points_mm).query(cl.points_mm)
    assert np.median(d) < 0.4
    assert cl.length_mm > 0.85 * v.spec.length_mm
    assert np.linalg.norm(cl.points_mm[0] - v.user_points_mm[0]) < 2.0


# ------------------------------------------------------------------------------ bad input
def test_bad_points_are_refused(sharp):
    ph, v, _, _ = sharp
    ct = ph.volume
    with pytest.raises(ValueError, match="at least 2 points"):
        refine_centreline(ct, v.user_points_mm[:1])
    far = v.user_points_mm.copy()
    far[1] += 500.0
    with pytest.raises(ValueError, match="outside the scan"):
        refine_centreline(ct, far)
    dup = np.vstack([v.user_points_mm[:2], v.user_points_mm[1:2] + 0.01])
    with pytest.raises(ValueError, match="duplicates"):
        refine_centreline(ct, dup)


def test_non_contrast_scan_is_refused(sharp):
    ph, v, cl, _ = sharp
    hu = ph.volume.hu.copy()
    hu[hu > 200] = 40  # lumen at blood HU, no contrast
    nc = CTVolume(hu, ph.volume.spacing_mm, ph.volume.origin_mm)
    with pytest.raises(ValueError, match="no contrast lumen"):
        refine_centreline(nc, v.user_points_mm)
    with pytest.raises(ValueError, match="no contrast lumen"):
        analyse_vessel(nc, Centreline(cl.points_mm, step_mm=0.5))


def test_centreline_of_another_scan_is_refused(sharp):
    ph, v, cl, _ = sharp
    other = CTVolume(ph.volume.hu[:-4], ph.volume.spacing_mm, ph.volume.origin_mm)
    with pytest.raises(ValueError, match="another scan"):
        analyse_vessel(other, cl)


# -------------------------------------------------------------------------------- reformats
def test_cross_section_angle_convention_and_cpr(sharp):
    ph, v, cl, _ = sharp
    img, fr = cross_section(ph.volume, cl, 2.0, field_mm=12, pixel_mm=0.1)
    assert img.shape == (120, 120)
    assert img[60, 60] > 300  # lumen in the centre
    # pixel (row, col) -> world; theta 0 is +u (columns), 90 is +v (rows)
    p = fr.to_world(np.array(fr.cy), np.array(fr.cx + 10))
    assert np.allclose(p, fr.centre_mm + 1.0 * fr.u)
    assert fr.theta_deg(fr.cy + 5, fr.cx) == pytest.approx(90.0)
    allx = cross_sections(ph.volume, cl, 12, 0.1)
    assert allx.shape == (len(cl), 120, 120)
    assert np.allclose(allx[cl.index_at(2.0)], img)
    cu, cv = straightened_cpr(ph.volume, cl)
    assert cu.image.shape == (len(cl), 120) and cu.scale == (0.5, 0.1)
    assert np.median(cu.image[:, 60]) > 300 and np.median(cv.image[:, 5]) < 0


# ------------------------------------------------------------------------ measurements: sharp
def test_sharp_stenoses_remodeling_volumes(sharp):
    ph, v, cl, res = sharp
    assert len(res.lesions) == 3
    healthy = np.abs(res.profile["s_mm"] - 18) < 2
    assert np.median(res.profile["lumen_area_mm2"][healthy]) == pytest.approx(
        np.pi * 1.6**2, rel=0.12)
    for les, t in _match(res, v):
        # the 0.96 mm lumen of the calcified 70 % lesion: its contour dips on 4 rays next to the
        # calcium, which the shortest chord through the centre sees (a caliper width hid it)
        tol = 10 if t["diameter_stenosis_pct"] >= 70 else 5
        assert les.diameter_stenosis_pct == pytest.approx(t["diameter_stenosis_pct"], abs=tol)
        assert les.area_stenosis_pct == pytest.approx(t["area_stenosis_pct"], abs=5)
        assert les.reference_diameter_mm == pytest.approx(3.2, rel=0.05)
        vt = v.component_volumes(les.start_mm - 0.25, les.end_mm + 0.25)
        assert les.plaque_volume_mm3 == pytest.approx(vt["plaque"], rel=0.2)
        total = les.lipid_mm3 + les.fibrous_mm3 + les.calcium_mm3 + les.outside_mm3 \
            + les.lumen_spill_mm3
        assert total == pytest.approx(les.plaque_volume_mm3, rel=1e-6)
    (l1, _), (l2, _), (l3, t3) = _match(res, v)
    assert l2.remodeling_index == pytest.approx(1.3, abs=0.1) and l2.positive_remodeling
    assert 0.9 <= l1.remodeling_index < 1.1 and not l1.positive_remodeling
    assert l1.calcium_mm3 < 0.5 and l2.calcium_mm3 < 0.5
    assert t3["volumes_mm3"]["calcium"] > 0
    assert 0.7 * t3["volumes_mm3"]["calcium"] < l3.calcium_mm3 < 2.0 * t3["volumes_mm3"][
        "calcium"]
    assert l3.calcium_density_hu > 400


def test_calcium_blooming_belongs_to_plaque_not_lumen(noisy):
    _, runs = noisy
    v, cl, res = runs[0]
    t3 = v.lesions()[2]
    i = cl.index_at(t3["s_mla_mm"])
    pol = res.polar[i]
    r = np.arange(pol.shape[1]) * res.dr_mm
    in_lumen = r[None, :] <= res.contours.r_lumen[i][:, None]
    in_plaque = ~in_lumen & (r[None, :] <= res.contours.r_vessel[i][:, None])
    assert pol[in_plaque].max() > 600  # the calcium is there ...
    # ... and the lumen stops half-way between the contrast level and the calcium peak
    assert pol[in_lumen].max() < 0.5 * (res.lumen_level[i] + pol[in_plaque].max()) + 45


# ----------------------------------------------------------------- measurements: blur + noise
def test_blur_noise_oblique_and_in_plane_vessels(noisy):
    _, runs = noisy
    (lad_t, _, lad), (rca_t, _, rca) = runs
    assert len(lad.lesions) == 3 and len(rca.lesions) == 1
    ds = []
    for les, t in _match(lad, lad_t) + _match(rca, rca_t):
        # a 70 % stenosis leaves a 0.96 mm lumen (2.4 voxels) whose contrast peak the PSF
        # erodes: 20 points there, 10 points for 30 and 50 %
        tol = 10 if t["diameter_stenosis_pct"] <= 50 else 20
        assert les.diameter_stenosis_pct == pytest.approx(t["diameter_stenosis_pct"], abs=tol)
        assert les.area_stenosis_pct == pytest.approx(t["area_stenosis_pct"], abs=tol)
        assert les.s_mla_mm == pytest.approx(t["s_mla_mm"], abs=2.5)
        ds.append(les.diameter_stenosis_pct)
    assert ds[0] + 15 < min(ds[1], ds[2])  # 30 % well below 50 and 70 %
    (l1, _), (l2, _), _ = _match(lad, lad_t)
    # remodeling under blur: a healthy wall thinner than the PSF looks thicker, so the
    # reference vessel area is overestimated and RI underestimated (1.3 reads ~1.15)
    assert l2.remodeling_index > l1.remodeling_index + 0.1
    (les_rca, _), = _match(rca, rca_t)
    assert les_rca.lipid_mm3 > les_rca.fibrous_mm3 > les_rca.calcium_mm3  # lipid-rich plaque
    d = lad.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) >= {"length_mm", "step_mm", "profile", "lesions", "parameters"}
    assert set(d["profile"][0]) >= {"s_mm", "lumen_area_mm2", "vessel_area_mm2",
                                    "plaque_area_mm2", "plaque_burden_pct",
                                    "lumen_min_diameter_mm"}


def test_anisotropic_voxels():
    ph = make_vessel_phantom(default_vessels()[:1], spacing_mm=(0.8, 0.35, 0.35),
                             blur_mm=0.35, noise_hu=15.0)
    v = ph.vessels[0]
    res = analyse_vessel(ph.volume, refine_centreline(ph.volume, v.user_points_mm))
    for les, t in _match(res, v):
        # 0.8 mm slices across a < 1 mm lumen: partial volume, 20 points
        assert les.diameter_stenosis_pct == pytest.approx(t["diameter_stenosis_pct"], abs=20)


# ------------------------------------------------------------------------- edits, references, ROI
def test_contour_edit_updates_measurements_and_is_kept(sharp):
    ph, v, cl, res0 = sharp
    res = analyse_vessel(ph.volume, cl)
    i = cl.index_at(18.0)
    th = res.contours.theta_deg
    r = np.full(th.size, 1.0)
    for k in range(i - 2, i + 3):
        res.contours.set_section(k, r_lumen=r)
    res.remeasure()
    assert res.profile["lumen_area_mm2"][i] == pytest.approx(np.pi, rel=0.01)
    assert res.profile["edited"][i]
    assert any(les.start_mm <= 18.0 <= les.end_mm for les in res.lesions)  # a new narrowing
    again = analyse_vessel(ph.volume, cl, contours=res.contours)
    assert again.contours.r_lumen[i] == pytest.approx(r)
    # polygon drawn in the cross-section (u, v mm) -> radii
    sq = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    rr = radii_from_polygon(sq, th)
    assert polygon_area(rr, th) == pytest.approx(4.0, rel=0.02)


def test_lumen_edit_moves_mld_and_diameter_stenosis(sharp):
    """Issue 21 item 9: a lumen dent changed MLA and % area stenosis but hardly MLD and % diameter
    stenosis (a caliper width follows the convex hull, blind to a dent)."""
    from napari_plaque.ccta.vessel_session import VesselSession

    ph, v, cl, _ = sharp
    res = analyse_vessel(ph.volume, cl)
    ses = VesselSession(ph.volume)
    ses.add(res)
    ses.go_to_lesion(0)
    i = ses.section
    les0 = res.lesions[0]
    ses.push_contour("lumen", 0.0, 0.3)  # dent the lumen to 0.3 mm at 0 degrees
    les = res.lesions[0]
    cs = res.contours
    across = cs.r_lumen[i][0] + cs.r_lumen[i][cs.theta_deg.size // 2]  # chord across the dent
    assert res.profile["lumen_min_diameter_mm"][i] <= across + 0.2
    assert les.mla_mm2 < les0.mla_mm2 and les.area_stenosis_pct > les0.area_stenosis_pct
    assert les.mld_mm <= across + 0.2
    assert les.diameter_stenosis_pct > les0.diameter_stenosis_pct + 10
    ses.undo()
    assert res.lesions[0].mld_mm == pytest.approx(les0.mld_mm)


def test_reference_override(sharp):
    ph, v, cl, _ = sharp
    res = analyse_vessel(ph.volume, cl, reference_mm={"proximal": (1.0, 5.0),
                                                      "distal": (45.0, 49.0)})
    for les in res.lesions:
        assert les.proximal_reference_mm[0] >= 0.99 and les.distal_reference_mm[1] <= 49.01
    with pytest.raises(ValueError, match="start < end"):
        res.set_references(proximal_mm=(5, 1))


def test_roi_rasterised_on_the_ct_grid(sharp):
    from napari_plaque.ccta.composition import composition

    ph, v, cl, res = sharp
    plaque, vessel = rasterize(res, ph.volume)
    assert plaque.shape == ph.volume.shape
    assert set(np.unique(plaque)) == {0, 1, 2, 3}
    vox = ph.volume.voxel_volume_mm3
    for les in res.lesions:
        assert np.count_nonzero(plaque == les.index) * vox == pytest.approx(
            les.plaque_volume_mm3, rel=0.2)
    # the lumen mask matches the truth lumen
    truth_lumen = ph.labels == 1
    inter = np.count_nonzero((vessel == 1) & truth_lumen)
    dice = 2 * inter / (np.count_nonzero(vessel == 1) + np.count_nonzero(truth_lumen))
    assert dice > 0.85
    comp = composition(ph.volume.hu, ph.volume.spacing_mm, plaque)
    assert [c.label for c in comp] == [1, 2, 3]
    # voxel composition counts lumen spill as calcium; the calcified lesion still stands out
    assert comp[2].calcium_mm3 > 2 * comp[0].calcium_mm3


def test_contours_file_roundtrip(tmp_path, sharp):
    from napari_plaque.ccta.contours import load_contours, save_contours

    _, _, cl, res = sharp
    f = save_contours(tmp_path / "c.json", res.contours, cl)
    cl2, cs2 = load_contours(f)
    assert isinstance(cs2, ContourSet) and np.allclose(cs2.r_lumen, res.contours.r_lumen,
                                                       atol=1e-4)
    assert len(cl2) == len(cl)


def test_resample_polyline_keeps_ends():
    p = np.array([[0, 0, 0], [0, 0, 10.2]], float)
    r = resample_polyline(p, 0.5)
    assert len(r) == 22 and np.allclose(r[-1], p[-1]) and np.allclose(np.diff(r[:, 2])[:-1], 0.5)


def test_session_edits_undo_redo_and_exports(sharp, tmp_path):
    from napari_plaque.ccta.vessel_session import VesselSession

    ph, v, cl, _ = sharp
    ses = VesselSession(ph.volume)
    seen = []
    ses.result_changed.connect(seen.append)
    res = analyse_vessel(ph.volume, cl)
    ses.add(res)
    ses.go_to_s(18.0)
    i = ses.section
    r0 = res.contours.r_vessel[i].copy()
    ses.push_contour("vessel", 0.0, 3.5)
    assert res.contours.r_vessel[i][0] == pytest.approx(3.5)
    assert res.contours.r_vessel[i][36] == pytest.approx(r0[36])  # far side untouched
    assert res.profile["edited"][i] and seen[-1] == "LAD"
    ses.undo()
    assert np.allclose(res.contours.r_vessel[i], r0) and not res.contours.edited[i]
    ses.redo()
    assert res.contours.r_vessel[i][0] == pytest.approx(3.5)
    ses.go_to_lesion(2)
    assert ses.section == cl.index_at(res.lesions[2].s_mla_mm)
    rows = ses.lesion_rows()
    assert [r["vessel"] for r in rows] == ["LAD"] * len(res.lesions)
    ses.export_csv(tmp_path / "l.csv")
    ses.export_json(tmp_path / "v.json")
    assert json.loads((tmp_path / "v.json").read_text())["vessels"][0]["vessel"] == "LAD"


def test_real_non_contrast_phantom_is_refused(phantom):
    """The QRM calcium phantom is a non-contrast scan: no lumen, a clear refusal."""
    ct = phantom
    c = np.asarray(ct.shape) // 2
    # two points in the phantom's soft tissue (checked below), a few slices apart
    idx = np.array([[c[0] - 2, c[1] + 40, c[2]], [c[0] + 2, c[1] + 40, c[2] + 40]], float)
    pts = idx * np.asarray(ct.spacing_mm) + np.asarray(ct.origin_mm)
    hu = ct.hu[tuple(idx[0].astype(int))]
    assert -200 < hu < 150  # soft tissue, not an insert
    with pytest.raises(ValueError, match="no contrast lumen"):
        refine_centreline(ct, pts)


def test_vessel_in_myocardium_outer_wall_not_seen(sharp):
    """No fat around the vessel (e.g. a myocardial bridge): the outer wall cannot be seen, so
    plaque burden does not make lesions and the lesions found by narrowing are flagged."""
    ph, v, cl, _ = sharp
    hu = ph.volume.hu.copy()
    hu[hu < -40] = 40  # fat -> myocardium
    ct = CTVolume(hu, ph.volume.spacing_mm, ph.volume.origin_mm)
    res = analyse_vessel(ct, Centreline(cl.points_mm, step_mm=0.5))
    assert np.median(res.profile["wall_seen_pct"]) < 20
    assert np.all(res.contours.r_vessel <= res.contours.r_lumen + 3.0 + 1e-9)
    assert len(res.lesions) == 3  # the three narrowings, nothing else
    assert all(any("outer wall not seen" in f for f in les.flags) for les in res.lesions)
    assert res.to_dict()["profile"][0]["wall_seen_pct"] < 50
