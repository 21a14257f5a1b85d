"""DICOM SEG out and in: highdicom objects aligned voxel-exactly with the CT reader's arrays."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _interop_util import PATIENT_ID, PATIENT_NAME, dciodvfy_errors, make_series
from napari_plaque._napari.reader import seg_layers
from napari_plaque.io import ReaderError, read_ct
from napari_plaque.io.seg import read_seg, write_seg

ORIENTATIONS = {
    "axial": ((1, 0, 0), (0, 1, 0)),
    "axial-flipped": ((-1, 0, 0), (0, -1, 0)),
    "coronal": ((1, 0, 0), (0, 0, -1)),
    "sagittal": ((0, 1, 0), (0, 0, -1)),
}


def _labels(shape, seed=1):
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.uint8)
    lab[1:3, 2:6, 3:7] = 1
    lab[rng.random(shape) > 0.9] = 3  # value 2 left empty on purpose
    return lab


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return make_series(tmp_path_factory.mktemp("ct") / "series")


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_round_trip_voxel_exact_and_aligned(tmp_path, orientation):
    row, col = ORIENTATIONS[orientation]
    folder = make_series(tmp_path / "ct", shape=(5, 12, 14), row_dir=row, col_dir=col)
    vol = read_ct(folder)[0]
    lab = _labels(vol.shape)
    out = write_seg(tmp_path / "seg" / "x.dcm", lab, folder, names=["calcium", "plaque", "lumen"])
    res = read_seg(out)  # the series is found next to the SEG (sibling folder)
    assert res.source == str(folder)
    (name, back), = res.labels
    assert back.shape == vol.shape
    assert np.array_equal(back, lab)
    # the layer overlays the CT layer exactly: same scale and translate
    (data, attrs, kind), = seg_layers(out)
    assert kind == "labels"
    assert np.allclose(attrs["scale"], vol.spacing_mm)
    assert np.allclose(attrs["translate"], vol.origin_mm)
    assert attrs["metadata"]["segment_names"] == {"1": "calcium", "2": "plaque", "3": "lumen"}


def test_seg_references_source_and_copies_patient_study(series, tmp_path):
    import highdicom as hd
    import pydicom

    vol = read_ct(series)[0]
    out = write_seg(tmp_path / "a.dcm", _labels(vol.shape), series,
                    names=["calcium", "vessel wall"])
    seg = hd.seg.segread(out)
    src = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(series.iterdir())]
    assert seg.FrameOfReferenceUID == src[0].FrameOfReferenceUID
    assert str(seg.PatientName) == PATIENT_NAME and seg.PatientID == PATIENT_ID
    assert seg.StudyInstanceUID == src[0].StudyInstanceUID
    assert seg.SeriesInstanceUID != src[0].SeriesInstanceUID
    refs = {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0]
            .ReferencedInstanceSequence}
    assert refs == {d.SOPInstanceUID for d in src}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src[0].SeriesInstanceUID
    d1, d2, d3 = (seg.get_segment_description(n) for n in (1, 2, 3))
    assert (d1.segmented_property_type.value, d1.segmented_property_type.scheme_designator) == (
        "5540006", "SCT")  # calcium
    assert d2.segment_label == "vessel wall"
    assert d3.segment_label == "segment 3"
    algo = d1.algorithm_identification[0]
    from napari_plaque import __version__

    assert d1.algorithm_type.value == "AUTOMATIC"
    assert algo.AlgorithmName == "napari-plaque" and algo.AlgorithmVersion == __version__
    manual = hd.seg.segread(write_seg(tmp_path / "m.dcm", _labels(vol.shape), series,
                                      manual=True))
    assert manual.get_segment_description(1).algorithm_type.value == "MANUAL"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_reports_no_error(series, tmp_path):
    vol = read_ct(series)[0]
    out = write_seg(tmp_path / "v.dcm", _labels(vol.shape), series, names=["calcium"])
    assert dciodvfy_errors(out) == []


def test_wrong_shape_is_refused_and_nothing_written(series, tmp_path):
    out = tmp_path / "bad.dcm"
    with pytest.raises(ReaderError, match=r"do not fit the series .*\(6, 20, 24\)"):
        write_seg(out, np.ones((6, 20, 23), np.uint8), series)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_series_without_frame_of_reference_is_refused(tmp_path):
    folder = make_series(tmp_path / "nofor", frame_of_reference=False)
    vol = read_ct(folder)[0]
    out = tmp_path / "x.dcm"
    with pytest.raises(ReaderError, match="FrameOfReferenceUID"):
        write_seg(out, _labels(vol.shape), folder)
    assert not out.exists()


def test_empty_labels_refused(series, tmp_path):
    with pytest.raises(ReaderError, match="empty"):
        write_seg(tmp_path / "e.dcm", np.zeros((6, 20, 24), np.uint8), series)


def test_napari_reader_opens_seg_next_to_its_series(series, tmp_path):
    from napari_plaque._napari.reader import get_reader, read_layers

    vol = read_ct(series)[0]
    lab = _labels(vol.shape)
    out = write_seg(series.parent / "seg.dcm", lab, series)  # in the series' parent folder
    assert get_reader(str(out)) is not None
    (data, attrs, kind), = read_layers(out)
    assert kind == "labels" and np.array_equal(data, lab)
    assert tuple(attrs["translate"]) == pytest.approx(vol.origin_mm)
    out.unlink()


def test_seg_without_series_uses_its_own_grid(series, tmp_path):
    vol = read_ct(series)[0]
    lab = np.zeros(vol.shape, np.uint8)
    lab[2:4, 5:9, 6:10] = 1
    out = write_seg(tmp_path / "alone" / "s.dcm", lab, series)
    res = read_seg(out)  # the series is not next to it
    assert res.source is None and "own grid" in res.notes[0]
    (_, arr), = res.labels
    # the SEG holds only the frames with the segment: the translate says where they are
    assert arr.sum() == lab.sum()
    z0 = vol.origin_mm[0] + 2 * vol.spacing_mm[0]
    assert res.origin_mm[0] == pytest.approx(z0)


def test_cli_export_seg(series, tmp_path, capsys):
    from napari_plaque.cli import main

    vol = read_ct(series)[0]
    lab = _labels(vol.shape)
    np.save(tmp_path / "lab.npy", lab)
    out = tmp_path / "cli.dcm"
    rc = main(["export-seg", str(tmp_path / "lab.npy"), "--series", str(series), "--out",
               str(out), "--names", "calcium,plaque,lumen", "--manual"])
    assert rc == 0 and out.exists()
    assert np.array_equal(read_seg(out, series=series).labels[0][1], lab)
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0  # described as a SEG, not as a CT series
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "dicom-seg" and list(d["segments"].values()) == [
        "calcium", "plaque", "lumen"
    ]  # fmt: skip
    assert d["shape"] == list(lab.shape) and d["aligned_with_series"] is True
    assert PATIENT_NAME.split("^")[0] not in json.dumps(d)
    np.save(tmp_path / "bad.npy", lab[:, :-1])
    rc = main(["export-seg", str(tmp_path / "bad.npy"), "--series", str(series), "--out",
               str(tmp_path / "bad.dcm")])
    assert rc == 2 and not (tmp_path / "bad.dcm").exists()
    assert "bad.npy" in capsys.readouterr().err


def test_napari_writer_writes_seg_for_a_layer_from_a_dicom_series(series, tmp_path):
    from napari_plaque._napari.reader import ct_layers
    from napari_plaque._napari.writer import write_labels

    (ct_data, ct_attrs, _), = ct_layers(series)
    lab = _labels(ct_data.shape)
    meta = {"name": "drawn", "scale": ct_attrs["scale"], "translate": ct_attrs["translate"],
            "metadata": {"source": ct_attrs["metadata"]["source"],
                         "series_uid_hash": ct_attrs["metadata"]["series_uid_hash"]}}
    out = write_labels(str(tmp_path / "w.dcm"), lab, meta)
    assert np.array_equal(read_seg(out[0], series=series).labels[0][1], lab)
    with pytest.raises(ValueError, match="needs the CT series"):
        write_labels(str(tmp_path / "n.dcm"), lab, {"name": "x", "metadata": {}})
    assert not (tmp_path / "n.dcm").exists()


def test_phantom_round_trip_voxel_exact(phantom_dir, phantom, tmp_path):
    lab = np.zeros(phantom.shape, np.uint8)
    lab[phantom.hu >= 130] = 1  # calcium inserts and rods
    lab[10:20, 200:300, 200:300] = 2
    out = write_seg(tmp_path / "phantom_seg.dcm", lab, phantom_dir,
                    names=["calcium", "plaque"])
    res = read_seg(out, series=phantom_dir)
    assert np.array_equal(res.labels[0][1], lab)
    assert res.spacing_mm == pytest.approx(phantom.spacing_mm)
    assert res.origin_mm == pytest.approx(phantom.origin_mm)


@pytest.mark.parametrize("seg_type", ["LABELMAP", "FRACTIONAL"])
def test_reads_seg_written_by_another_tool(tmp_path, seg_type):
    """A SEG made directly with highdicom (as other tools do), LABELMAP or FRACTIONAL."""
    import highdicom as hd
    import pydicom

    from napari_plaque.io.seg import canonical_to_native, load_source_series, segment_codes

    folder = make_series(tmp_path / "ct", shape=(5, 12, 14), row_dir=(-1, 0, 0))
    vol = read_ct(folder)[0]
    src = load_source_series(folder)
    lab = np.zeros(vol.shape, np.uint8)
    lab[1:3, 2:6, 3:7] = 1
    lab[4, 8:11, 9:13] = 2
    native = canonical_to_native(lab, src)
    cat, typ = segment_codes("calcium")
    descs = [hd.seg.SegmentDescription(i, f"s{i}", cat, typ, "MANUAL") for i in (1, 2)]
    if seg_type == "FRACTIONAL":
        native = (native == 1).astype(np.float32) * 0.75  # probability 0.75 inside
        descs, lab = descs[:1], (lab == 1).astype(np.uint8)
    sources = [pydicom.dcmread(d.filename) for d in src.datasets]
    seg = hd.seg.Segmentation(sources, native, seg_type, descs, hd.UID(), 5, hd.UID(), 1,
                              "other", "tool", "1", "0")
    seg.save_as(tmp_path / "other.dcm")
    res = read_seg(tmp_path / "other.dcm")
    assert np.array_equal(res.labels[0][1], lab)
    assert res.origin_mm == pytest.approx(vol.origin_mm)
