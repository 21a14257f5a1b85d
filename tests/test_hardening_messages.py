"""Every refusal of a bad input file names that file (issue 22 item 14: "16 messages name no
file").

Each reader the commands and the napari reader reach (``io``, ``cxr.io``) is run on hostile
and wrong-kind inputs the test builds: nothing there, empty, garbage, a DICOM preamble over
garbage, truncated or header-broken DICOM, a file of another kind, a folder of junk, a damaged
sidecar. A refusal must be a user error (:class:`~napari_plaque.io.NapariPlaqueError` or
``OSError``) whose message holds the path given (or, for a file, its name). A reader that
accepts an input is not judged here (the fuzz and trust tests judge what comes out).

``python tests/test_hardening_messages.py`` prints the tried / refused / unnamed / crash
figures and every message that names no file.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.io import NapariPlaqueError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# -- bad inputs (each builder writes under ``d`` and returns the path to read) --------------


def _ct_dataset():
    """A small single-frame CT dataset (64 x 64 int16) in memory."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("ct.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel = 1, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 3.0
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = np.full((64, 64), 1000, np.int16).tobytes()
    assert pydicom  # the import is the dataset's backend
    return ds


def _save(ds, p: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(p, enforce_file_format=True) if _has_enforce() else ds.save_as(p)
    return p


def _has_enforce() -> bool:
    import inspect

    from pydicom.dataset import Dataset

    return "enforce_file_format" in inspect.signature(Dataset.save_as).parameters


def _pullback(d: Path, name: str = "pb.dcm") -> Path:
    from napari_plaque.io.ivus_dicom import write_pullback_dicom

    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32), dtype=np.uint8)
    return write_pullback_dicom(frames, d / name)


def _edited_ct(name: str, edit: Callable) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        ds = _ct_dataset()
        edit(ds)
        return _save(ds, d / name)

    return build


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p

    return build


def _truncated_ct(d: Path) -> Path:
    full = _save(_ct_dataset(), d / "full.dcm").read_bytes()
    p = d / "cut.dcm"
    p.write_bytes(full[: len(full) // 3])
    return p


def _truncated_pullback(d: Path) -> Path:
    full = _pullback(d, "full.dcm").read_bytes()
    p = d / "cutpb.dcm"
    p.write_bytes(full[: len(full) // 2])
    return p


def _pullback_frames_lie(d: Path) -> Path:
    import pydicom

    p = _pullback(d)
    ds = pydicom.dcmread(p)
    ds.NumberOfFrames = 40
    return _save(ds, d / "lies.dcm")


def _folder(name: str, files: dict[str, bytes]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        f = d / name
        f.mkdir()
        for n, b in files.items():
            (f / n).write_bytes(b)
        return f

    return build


def _ct_folder_one_bad(d: Path) -> Path:
    f = d / "series"
    f.mkdir()
    ds = _ct_dataset()
    ds.RescaleSlope = "nan"
    _save(ds, f / "s1.dcm")
    return f


def _frames_bad_sidecar(d: Path) -> Path:
    from PIL import Image

    f = d / "frames"
    f.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(f / f"f{i}.png")
    (f / "pullback.json").write_text('{"pixel_mm": "big"}')
    return f


def _frames_odd_sizes(d: Path) -> Path:
    from PIL import Image

    f = d / "odd"
    f.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(f / "f0.png")
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(f / "f1.png")
    return f


def _nifti_4d_garbage(d: Path) -> Path:
    p = d / "bad.nii.gz"
    p.write_bytes(b"\x1f\x8b" + b"not gzip at all" * 10)
    return p


def _npy_object(d: Path) -> Path:
    p = d / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return p


def _seg_of_ct(d: Path) -> Path:
    """A CT slice that says it is a SEG (no segment sequence, no frames)."""
    ds = _ct_dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.Modality = "SEG"
    return _save(ds, d / "fake_seg.dcm")


def _tiff_two_channels(d: Path) -> Path:
    import tifffile

    p = d / "two.tif"
    tifffile.imwrite(p, np.zeros((3, 32, 32, 2), np.uint8), photometric="minisblack",
                     planarconfig="contig")
    return p


def _nifti(name: str, shape) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        import nibabel as nib

        p = d / name
        nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), str(p))
        return p

    return build


def _npy(name: str, arr: np.ndarray) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        np.save(p, arr)
        return p

    return build


def _png(name: str, arr: np.ndarray) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        from PIL import Image

        p = d / name
        Image.fromarray(arr).save(p)
        return p

    return build


GARBAGE = bytes(np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8))
DICM_GARBAGE = b"\0" * 128 + b"DICM" + GARBAGE

#: name -> builder(dir) -> path
CASES: dict[str, Callable[[Path], Path]] = {
    "missing": lambda d: d / "nothing_here.dcm",
    "empty": _write("empty.dcm", b""),
    "garbage": _write("garbage.dcm", GARBAGE),
    "dicm-garbage": _write("dicm.dcm", DICM_GARBAGE),
    "truncated-ct": _truncated_ct,
    "ct-no-pixels": _edited_ct("nopix.dcm", lambda ds: delattr(ds, "PixelData")),
    "ct-no-rows": _edited_ct("norows.dcm", lambda ds: delattr(ds, "Rows")),
    "ct-slope-nan": _edited_ct("slope.dcm", lambda ds: setattr(ds, "RescaleSlope", "nan")),
    "ct-spacing-1": _edited_ct("sp.dcm", lambda ds: setattr(ds, "PixelSpacing", "0.5")),
    "ct-bits-40": _edited_ct("bits.dcm", lambda ds: setattr(ds, "BitsAllocated", 40)),
    "ct-folder-bad-slice": _ct_folder_one_bad,
    "ct-as-pullback": _edited_ct("ct1.dcm", lambda ds: None),
    "truncated-pullback": _truncated_pullback,
    "pullback-frames-lie": _pullback_frames_lie,
    "empty-folder": _folder("empty_folder", {}),
    "junk-folder": _folder("junk", {"a.txt": b"hello", "b.dcm": GARBAGE}),
    "garbage-png": _write("garbage.png", GARBAGE),
    "garbage-tiff": _write("garbage.tif", GARBAGE),
    "frames-bad-sidecar": _frames_bad_sidecar,
    "frames-odd-sizes": _frames_odd_sizes,
    "garbage-nifti": _write("garbage.nii", GARBAGE),
    "garbage-nifti-gz": _nifti_4d_garbage,
    "garbage-npy": _write("garbage.npy", GARBAGE),
    "object-npy": _npy_object,
    "garbage-json": _write("garbage.json", b"{not json"),
    "fake-seg": _seg_of_ct,
    "tiff-two-channels": _tiff_two_channels,
    "nifti-2d": _nifti("flat.nii", (16, 16)),
    "nifti-5d": _nifti("five.nii", (4, 4, 4, 2, 2)),
    "npy-1d": _npy("line.npy", np.arange(5)),
    "npy-float": _npy("float.npy", np.full((2, 3, 4), 0.5)),
    "png-1x1": _png("dot.png", np.zeros((1, 1), np.uint8)),
    "png-all-black": _png("black.png", np.zeros((64, 64), np.uint8)),
}


# -- readers ---------------------------------------------------------------------------------


def _read_ct(p):
    from napari_plaque.io import read_ct

    return read_ct(p)


def _read_pullback(p):
    from napari_plaque.io import read_pullback

    pb = read_pullback(p)
    pb.frames[0], pb.frames[len(pb.frames) - 1]  # noqa: B018  decode the first and last frames
    return pb


def _read_ivus(p):
    from napari_plaque.io.frames import read_ivus

    pb = read_ivus(p)
    pb.frames[0], pb.frames[len(pb.frames) - 1]  # noqa: B018
    return pb


def _read_frames(p):
    from napari_plaque.io.frames import read_frame_sequence

    pb = read_frame_sequence(p)
    pb.frames[0], pb.frames[len(pb.frames) - 1]  # noqa: B018
    return pb


def _read_nifti(p):
    from napari_plaque.io import read_nifti

    return read_nifti(p)


def _read_labels(p):
    from napari_plaque.io import read_labels

    return read_labels(p)


def _read_image(p):
    from napari_plaque.io import read_image

    return read_image(p)


def _read_seg(p):
    from napari_plaque.io.seg import read_seg

    return read_seg(p)


def _read_sr(p):
    from napari_plaque.io.sr import read_sr

    return read_sr(p)


def _read_radiograph(p):
    from napari_plaque.cxr.io import read_radiograph

    return read_radiograph(p)


def _napari_layers(p):
    from napari_plaque._napari.reader import read_layers

    return read_layers(p)


READERS: dict[str, Callable] = {
    "read_ct": _read_ct,
    "read_pullback": _read_pullback,
    "read_ivus": _read_ivus,
    "read_frame_sequence": _read_frames,
    "read_nifti": _read_nifti,
    "read_labels": _read_labels,
    "read_image": _read_image,
    "read_seg": _read_seg,
    "read_sr": _read_sr,
    "read_radiograph": _read_radiograph,
    "napari read_layers": _napari_layers,
}


def attempt(reader: str, case: str, d: Path) -> tuple[str, str, Path]:
    """(outcome, message, path): outcome ``read`` | ``named`` | ``unnamed`` | ``crash``."""
    p = CASES[case](d)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            READERS[reader](p)
    except (NapariPlaqueError, OSError) as exc:
        msg = str(exc)
        names = str(p) in msg or (not p.is_dir() and p.name in msg)
        return ("named" if names else "unnamed"), msg, p
    except Exception as exc:  # noqa: BLE001  a programming error on bad input
        return "crash", f"{type(exc).__name__}: {exc}", p
    return "read", "", p


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_refusal_names_the_file(reader, case, tmp_path):
    outcome, msg, p = attempt(reader, case, tmp_path)
    assert outcome != "crash", f"{reader} on {case}: {msg}"
    assert outcome != "unnamed", f"{reader} on {case} ({p.name}): message names no file: {msg}"


def test_push_of_a_folder_without_dicom_names_it(tmp_path):
    from napari_plaque.io.dicomweb import DICOMwebError, dicom_files

    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(DICOMwebError, match="no DICOM file") as exc:
        dicom_files([tmp_path])
    assert str(tmp_path) in str(exc.value)


def test_refusals_of_label_grids_and_sr_options_are_user_errors(tmp_path):
    """User errors (exit 2 with the message, no "--debug for the traceback" hint), naming the
    file: a label map on another grid, --sr FILE.dcm for several studies, --sr on NIfTI."""
    from napari_plaque.io.nifti import check_label_grid
    from napari_plaque.io.sr import check_sr_option, prepare_study_sr
    from napari_plaque.types import CTVolume

    ct = CTVolume(hu=np.zeros((2, 4, 4), np.int16), spacing_mm=(1.0, 0.5, 0.5),
                  origin_mm=(0.0, 0.0, 0.0))
    with pytest.raises(NapariPlaqueError, match=r"lumen\.nii\.gz: label map voxel size"):
        check_label_grid((2.0, 0.5, 0.5), (0.0, 0.0, 0.0), ct, "lumen.nii.gz")
    with pytest.raises(NapariPlaqueError, match=r"lumen\.nii\.gz: label map origin"):
        check_label_grid((1.0, 0.5, 0.5), (5.0, 0.0, 0.0), ct, "lumen.nii.gz")
    with pytest.raises(NapariPlaqueError, match=r"--sr r\.dcm: one file for 2 studies"):
        check_sr_option("r.dcm", 2)
    with pytest.raises(NapariPlaqueError, match=r"ct\.nii\.gz: NIfTI"):
        prepare_study_sr("cac", tmp_path, "s", tmp_path / "ct.nii.gz", None)

def main() -> None:  # pragma: no cover - the audit's figures
    import collections
    import tempfile

    warnings.simplefilter("ignore")
    counts: collections.Counter = collections.Counter()
    unnamed = []
    for reader in sorted(READERS):
        for case in sorted(CASES):
            with tempfile.TemporaryDirectory() as d:
                outcome, msg, p = attempt(reader, case, Path(d))
            counts[outcome] += 1
            if outcome in ("unnamed", "crash"):
                unnamed.append((outcome, reader, case, msg.replace(str(Path(d)), "<tmp>")))
    print(json.dumps({"tried": sum(counts.values()), **counts}))
    distinct = sorted({(o, m[:160]) for o, _r, _c, m in unnamed})
    print(f"{len(distinct)} distinct messages without a file (or crashes):")
    for o, r, c, m in unnamed:
        print(f"  {o:8s} {r:20s} {c:22s} {m[:160]}")


if __name__ == "__main__":  # pragma: no cover
    main()

