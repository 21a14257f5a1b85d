"""Seeded fuzz test of the DICOM readers: mutated real files never crash, hang or give NaN.

Sources: two slices of the real QRM phantom, pydicom's test files (CT, MR, big endian, RLE,
multi-frame MR, JPEG 2000) and synthetic IVUS pullbacks (native, RLE, RGB). Mutations (seeded):
header bytes flipped, the file truncated / cut / padded / duplicated, and geometry, intensity,
timing and matrix tags set to NaN, infinity, 0, negative, unparseable, one or three values,
huge, or deleted.

Each mutated file is read with the reader for its kind (``read_ct`` / ``read_pullback``, and
for pullbacks the first, middle and last frames are decoded). A case is

* ``ok``: read, and every geometry/timing figure is finite and > 0 and voxels are finite;
* ``refused``: a ReaderError/FormatError whose message names the file;
* ``crash``: any other exception (or a project error not naming the file);
* ``silent``: read, but a figure is NaN, infinite or <= 0 (a silent wrong number);
* ``hang``: over the per-case time bound.

The test asserts ``crash == silent == hang == 0`` and prints the figures. The default run tries
:data:`N_DEFAULT` small cases (well under a minute); ``-m slow`` adds a 2,000-case run.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import time
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_plaque.io import FormatError, ReaderError, read_ct, read_pullback
from napari_plaque.io.dicom_common import in_range
from napari_plaque.io.ivus_dicom import write_pullback_dicom

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEED = 20261123
N_DEFAULT = int(os.environ.get("NAPARI_PLAQUE_FUZZ_CASES", "600"))
TIME_LIMIT_S = 10.0
PLACEHOLDER = "7.123456"  # 8 characters: replaced in the file bytes by a bad value

BAD_TEXT = [
    "nan", "NaN", "inf", "-inf", "-1", "0", "abc", "", "1e309", "-1e309", "1\\2\\3", "1e300",
    "0.0000", "-0.5",
]  # fmt: skip
DS_TAGS = [
    "RescaleSlope", "RescaleIntercept", "PixelSpacing", "ImagePositionPatient",
    "ImageOrientationPatient", "SliceThickness", "SpacingBetweenSlices", "FrameTime",
    "FrameTimeVector", "IVUSPullbackRate", "NumberOfFrames", "CineRate",
]  # fmt: skip
US_TAGS = [
    "Rows", "Columns", "BitsAllocated", "BitsStored", "SamplesPerPixel", "PixelRepresentation",
    "PlanarConfiguration",
]  # fmt: skip
DELETABLE = [
    "Rows", "Columns", "PixelData", "ImagePositionPatient", "ImageOrientationPatient",
    "PixelSpacing", "BitsAllocated", "RescaleSlope", "FrameTime", "SequenceOfUltrasoundRegions",
    "NumberOfFrames", "PhotometricInterpretation", "TransferSyntaxUID",
]  # fmt: skip


class _Hang(Exception):
    pass


@contextmanager
def time_bound(seconds: float):
    """Raise _Hang in the main thread after ``seconds`` (SIGALRM)."""

    def handler(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- sources ------------------------------------------------------------------------------


def _sources(root: Path) -> list[tuple[str, str, bytes]]:
    """(name, kind, bytes) of the files to mutate; kind is 'ct' or 'pullback'."""
    from pydicom.data import get_testdata_file

    out: list[tuple[str, str, bytes]] = []
    phantom = Path(__file__).resolve().parents[2] / "shared" / "data" / "qrm-phantom-canon"
    if phantom.is_dir():
        files = sorted(p for p in phantom.iterdir() if p.name != "SOURCE.md")
        for p in files[:2]:
            out.append((f"phantom/{p.name}", "ct", p.read_bytes()))
    for name, kind in [
        ("CT_small.dcm", "ct"),
        ("MR_small.dcm", "ct"),
        ("ExplVR_BigEnd.dcm", "ct"),
        ("MR_small_RLE.dcm", "ct"),
        ("JPEG2000.dcm", "ct"),
        ("emri_small.dcm", "pullback"),
        ("emri_small_RLE.dcm", "pullback"),
        ("US1_UNCR.dcm", "pullback"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                p = get_testdata_file(name)
            except Exception:  # noqa: BLE001
                p = None
        if p is not None:
            out.append((f"pydicom/{name}", kind, Path(p).read_bytes()))
    ct_small = None
    for name, _kind, data in list(out):
        if name == "pydicom/CT_small.dcm":
            ct_small = data
    if ct_small is not None:  # a 4-slice series: one slice is mutated, the others intact
        slices = []
        for k in range(4):
            ds = _ds_from(ct_small)
            ipp = [float(x) for x in ds.ImagePositionPatient]
            ds.ImagePositionPatient = [ipp[0], ipp[1], ipp[2] + 5.0 * k]
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{k}"
            slices.append(_ds_bytes(ds))
        out.append(("series/CT_small x4", "series", slices))  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 40, 36), dtype=np.uint8)
    for kw, tag in [({}, "native"), ({"compress": "rle"}, "rle"), ({"photometric": "RGB"}, "rgb")]:
        p = write_pullback_dicom(frames, root / f"synthetic_{tag}.dcm", **kw)
        out.append((f"synthetic/{tag}", "pullback", p.read_bytes()))
    return out


# -- mutations ----------------------------------------------------------------------------


def _ds_from(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _ds_bytes(ds) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _set_text(ds, kw: str, rng) -> tuple[object, str]:
    """Set a DS/IS tag to a placeholder (one component of a multi-value tag); returns the
    replacement text for the placeholder."""
    bad = BAD_TEXT[int(rng.integers(len(BAD_TEXT)))]
    cur = ds.get(kw)
    vm = {"PixelSpacing": 2, "ImagePositionPatient": 3, "ImageOrientationPatient": 6}.get(kw, 1)
    if kw == "FrameTimeVector":
        vm = int(ds.get("NumberOfFrames", 4) or 4)
    if cur is not None and vm > 1 and rng.random() < 0.7:
        vals = [str(v) for v in (cur if hasattr(cur, "__len__") else [cur])][:vm]
        vals += ["1"] * (vm - len(vals))
        vals[int(rng.integers(len(vals)))] = PLACEHOLDER
        value: object = vals
    else:
        value = PLACEHOLDER
    if kw in ("NumberOfFrames", "CineRate"):
        value = "7123456"  # IS: placeholder of 7 digits
    return value, bad


def mutate(data: bytes, rng) -> tuple[bytes, str]:
    """One seeded mutation of a DICOM file's bytes; returns (bytes, description)."""
    op = int(rng.integers(7))
    n = len(data)
    if op == 0:  # flip header bytes
        buf = bytearray(data)
        k = int(rng.integers(1, 9))
        head = min(n, 4096)
        for _ in range(k):
            buf[int(rng.integers(128, max(129, head)))] ^= int(rng.integers(1, 256))
        return bytes(buf), f"flip {k} header bytes"
    if op == 1:  # truncate
        cut = int(rng.integers(0, n))
        return data[:cut], f"truncate at {cut}/{n}"
    if op == 2:  # zero or delete a range
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 2048)))
        if rng.random() < 0.5:
            return data[:a] + bytes(b - a) + data[b:], f"zero {a}:{b}"
        return data[:a] + data[b:], f"delete {a}:{b}"
    if op == 3:  # duplicate or append junk
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 512)))
        if rng.random() < 0.5:
            return data[:b] + data[a:b] + data[b:], f"duplicate {a}:{b}"
        return data + rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes(), (
            "append junk"
        )
    ds = _ds_from(data)
    if op in (4, 5):  # DS / IS tag to a bad value
        kw = DS_TAGS[int(rng.integers(len(DS_TAGS)))]
        if kw in ("PhysicalDeltaX",):
            kw = "FrameTime"
        if rng.random() < 0.2 and "SequenceOfUltrasoundRegions" in ds:
            r = ds.SequenceOfUltrasoundRegions[0]
            kw2 = ("PhysicalDeltaX", "PhysicalDeltaY")[int(rng.integers(2))]
            val = [float("nan"), float("inf"), 0.0, -1.0, 1e300][int(rng.integers(5))]
            setattr(r, kw2, val)
            return _ds_bytes(ds), f"{kw2} = {val}"
        value, bad = _set_text(ds, kw, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            setattr(ds, kw, value)
        out = _ds_bytes(ds)
        ph = b"7123456" if kw in ("NumberOfFrames", "CineRate") else PLACEHOLDER.encode()
        rep = bad.encode()[: len(ph)].ljust(len(ph), b" ")
        return out.replace(ph, rep, 1), f"{kw} = {bad!r}"
    # op 6: binary US tag to an odd value, or delete a tag
    if rng.random() < 0.5:
        kw = US_TAGS[int(rng.integers(len(US_TAGS)))]
        cur = int(ds.get(kw, 1) or 1)
        val = [0, 1, 3, 65535, cur + 1, max(0, cur - 1), 7, 32][int(rng.integers(8))]
        setattr(ds, kw, val)
        return _ds_bytes(ds), f"{kw} = {val}"
    kw = DELETABLE[int(rng.integers(len(DELETABLE)))]
    if kw == "TransferSyntaxUID":
        if "TransferSyntaxUID" in ds.file_meta:
            del ds.file_meta.TransferSyntaxUID
    elif kw in ds:
        delattr(ds, kw)
    return _ds_bytes(ds), f"delete {kw}"


# -- checks -------------------------------------------------------------------------------


def _implausible_pullback(pb) -> str | None:
    """A pullback figure outside its plausible range (PLAUSIBLE_RANGES) that is not flagged
    as assumed: a silent wrong number."""
    checks = [
        ("pixel_spacing_mm", "pixel_mm", pb.pixel_spacing_mm),
        ("frame_time_s", "frame_time_s", pb.frame_time_s),
        ("pullback_rate_mm_s", "pullback_mm_s", pb.pullback_rate_mm_s),
    ]
    for attr, key, value in checks:
        if attr not in pb.assumed and not in_range(key, value):
            return f"{attr} = {value} implausible and not flagged"
    return None


def _finite_pos(*vals) -> bool:
    a = np.asarray(vals, float)
    return bool(np.all(np.isfinite(a)) and np.all(a > 0))


def read_and_check(path: Path, kind: str) -> str | None:
    """Read; return None when the result is trustworthy, else what is wrong (silent result)."""
    if kind in ("ct", "series"):
        for v in read_ct(path):
            if not _finite_pos(*v.spacing_mm) or not np.all(np.isfinite(v.origin_mm)):
                return f"geometry {v.spacing_mm} {v.origin_mm}"
            if not in_range("PixelSpacing", v.spacing_mm[1:]) or not in_range(
                "ImagePositionPatient", v.origin_mm
            ):
                return f"implausible geometry {v.spacing_mm} {v.origin_mm}, not flagged"
            if v.hu.dtype.kind == "f" and not np.all(np.isfinite(v.hu)):
                return "non-finite voxels"
        return None
    pb = read_pullback(path)
    if not _finite_pos(pb.frame_time_s, pb.pullback_rate_mm_s, *pb.pixel_spacing_mm):
        return f"timing/scale {pb.frame_time_s} {pb.pullback_rate_mm_s} {pb.pixel_spacing_mm}"
    implausible = _implausible_pullback(pb)
    if implausible:
        return implausible
    if pb.frame_times_s is not None:
        t = np.asarray(pb.frame_times_s, float)
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            return "frame times not increasing"
    n = pb.n_frames
    for i in sorted({0, n // 2, n - 1}):
        f = np.asarray(pb.frames[i])
        if f.shape != tuple(pb.frame_shape):
            return f"frame {i} shape {f.shape} != {pb.frame_shape}"
    return None


def run_campaign(root: Path, n_cases: int, seed: int = SEED, cli_every: int = 25) -> dict:
    from napari_plaque.cli import main

    rng = np.random.default_rng(seed)
    sources = _sources(root)
    assert sources, "no source files"
    counts = {"tried": 0, "ok": 0, "refused": 0, "crash": 0, "silent": 0, "hang": 0}
    problems: list[str] = []
    slowest = 0.0
    for case in range(n_cases):
        name, kind, data = sources[case % len(sources)]
        victim = data if kind != "series" else data[int(rng.integers(len(data)))]
        try:
            mutated, what = mutate(victim, rng)
        except Exception as exc:  # noqa: BLE001  the mutation itself failed: try plain bytes
            mutated, what = victim[: len(victim) // 2], f"truncate (mutation failed: {exc})"
        path = root / f"case{case:05d}.dcm"
        if kind == "series":
            path.mkdir()
            for k, b in enumerate(data):
                (path / f"s{k}.dcm").write_bytes(mutated if b is victim else b)
        else:
            path.write_bytes(mutated)
        counts["tried"] += 1
        t0 = time.perf_counter()
        label = f"case {case} ({name}: {what})"
        try:
            with time_bound(TIME_LIMIT_S), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bad = read_and_check(path, kind)
        except _Hang:
            counts["hang"] += 1
            problems.append(f"{label}: no answer in {TIME_LIMIT_S} s")
        except (ReaderError, FormatError) as exc:
            if path.name in str(exc):
                counts["refused"] += 1
            else:
                counts["crash"] += 1
                problems.append(f"{label}: message does not name the file: {exc}")
        except Exception as exc:  # noqa: BLE001
            counts["crash"] += 1
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            if bad is None:
                counts["ok"] += 1
            else:
                counts["silent"] += 1
                problems.append(f"{label}: silent result: {bad}")
        slowest = max(slowest, time.perf_counter() - t0)
        if cli_every and case % cli_every == 0:  # the CLI: exit 0 or 2, never a traceback
            err = io.StringIO()
            try:
                with time_bound(TIME_LIMIT_S), redirect_stdout(io.StringIO()), redirect_stderr(err):
                    rc = main(["info", str(path)])
                if rc not in (0, 2):
                    counts["crash"] += 1
                    problems.append(f"{label}: CLI info exit {rc}")
            except _Hang:
                counts["hang"] += 1
                problems.append(f"{label}: CLI info hangs")
            except BaseException as exc:  # noqa: BLE001
                counts["crash"] += 1
                problems.append(f"{label}: CLI info {type(exc).__name__}: {exc}")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    counts["slowest_case_s"] = round(slowest, 3)
    counts["sources"] = len(sources)
    counts["problems"] = problems
    return counts


def _report(counts: dict) -> str:
    return (
        f"fuzz: tried {counts['tried']} mutated files from {counts['sources']} sources; "
        f"read ok {counts['ok']}, refused cleanly {counts['refused']}, crashes {counts['crash']},"
        f" silent results {counts['silent']}, hangs {counts['hang']}; slowest case "
        f"{counts['slowest_case_s']} s"
    )


def test_fuzz_readers(tmp_path):
    counts = run_campaign(tmp_path, N_DEFAULT)
    print("\n" + _report(counts))
    assert counts["tried"] >= min(N_DEFAULT, 300)
    assert counts["crash"] == 0, counts["problems"][:10]
    assert counts["silent"] == 0, counts["problems"][:10]
    assert counts["hang"] == 0, counts["problems"][:10]
    assert counts["refused"] > counts["tried"] // 4  # the mutations do bite


@pytest.mark.slow
def test_fuzz_readers_long(tmp_path):
    counts = run_campaign(tmp_path, 2000, seed=SEED + 1, cli_every=10)
    print("\n" + _report(counts))
    assert counts["crash"] == counts["silent"] == counts["hang"] == 0, counts["problems"][:10]


# -- napari-plaque's own files: arcs JSON and SVM model metadata ------------------------------

_JSON_BAD = [
    None, True, -1, 0, 1e308, float("nan"), float("inf"), "abc", "", [], {}, [1, 2, 3],
    {"a": 1}, 10**18, -(10**18), 2.5, "nan", [[1, 2]] * 3,
]  # fmt: skip


def _mutate_json(doc, rng):
    """Replace one value (at any depth) of a JSON document by a bad one, or delete a key."""
    import copy

    doc = copy.deepcopy(doc)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*path, k))
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:5]):
                paths.append((*path, i))
                walk(v, (*path, i))

    walk(doc, ())
    path = paths[int(rng.integers(len(paths)))]
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
        return doc, f"delete {path}"
    bad = _JSON_BAD[int(rng.integers(len(_JSON_BAD)))]
    parent[path[-1]] = bad
    return doc, f"{path} = {bad!r}"


def run_json_campaign(root: Path, n_cases: int, seed: int = SEED) -> dict:
    import json

    from napari_plaque.ivus.arcs import ArcSet, load_arcs, save_arcs
    from napari_plaque.ivus.features import FEATURE_NAMES
    from napari_plaque.ivus.svm import MODEL_FORMAT, SVMModel, load_model, save_model

    rng = np.random.default_rng(seed)
    arcs = ArcSet(6, (32, 32))
    arcs.add(1, "calcium", 10, 50)
    arcs.add(2, "attenuation", 300, 20)
    arcs_doc = json.loads(save_arcs(arcs, root / "src.arcs.json").read_text())
    n = len(FEATURE_NAMES)
    svm_meta = json.loads(json.dumps({"format": MODEL_FORMAT, "version": 1}))
    model = SVMModel(np.ones(n), 0.0, np.zeros(n), np.ones(n), {})
    from napari_plaque.ivus.features import FEATURE_VERSION

    svm_meta.update(
        {
            "class": "calcium", "feature_names": list(FEATURE_NAMES),
            "feature_version": FEATURE_VERSION, "n_alines": 90, "depth_samples": 32,
            "depth_mm": 2.0, "smooth_alines": 3, "smooth_frames": 1, "threshold": 0.0,
            "n_train_alines": 10, "n_pullbacks": 1,
        }
    )  # fmt: skip
    counts = {"tried": 0, "ok": 0, "refused": 0, "crash": 0, "silent": 0, "hang": 0}
    problems: list[str] = []
    for case in range(n_cases):
        kind = "arcs" if case % 2 == 0 else "svm"
        doc = arcs_doc if kind == "arcs" else svm_meta
        mutated, what = _mutate_json(doc, rng)
        label = f"{kind} case {case} ({what})"
        counts["tried"] += 1
        try:
            with time_bound(TIME_LIMIT_S):
                if kind == "arcs":
                    p = root / f"c{case}.arcs.json"
                    p.write_text(json.dumps(mutated))
                    s = load_arcs(p)
                    lab = s.labels(36)
                    bad = None if lab.shape[0] == s.n_frames else "label shape"
                    for a in s.arcs:
                        if not (np.isfinite(a.start_deg) and np.isfinite(a.end_deg)):
                            bad = "non-finite arc"
                else:
                    model.meta = mutated
                    p = root / f"c{case}.npz"
                    try:
                        save_model(model, p)
                    except (TypeError, ValueError):
                        counts["tried"] -= 1  # cannot even be written: not a test case
                        continue
                    m = load_model(p)
                    score = m.predict_labels(np.zeros((3, int(m.meta["n_alines"]), n)))
                    bad = None if score.shape == (3, int(m.meta["n_alines"])) else "shape"
        except _Hang:
            counts["hang"] += 1
            problems.append(f"{label}: hang")
        except (ReaderError, FormatError) as exc:
            if p.name in str(exc):
                counts["refused"] += 1
            else:
                counts["crash"] += 1
                problems.append(f"{label}: message does not name the file: {exc}")
        except Exception as exc:  # noqa: BLE001
            counts["crash"] += 1
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            if bad is None:
                counts["ok"] += 1
            else:
                counts["silent"] += 1
                problems.append(f"{label}: {bad}")
    counts["problems"] = problems
    return counts


def test_fuzz_own_files(tmp_path):
    counts = run_json_campaign(tmp_path, 300)
    print(
        f"\nfuzz (arcs files, SVM models): tried {counts['tried']}; read ok {counts['ok']}, "
        f"refused cleanly {counts['refused']}, crashes {counts['crash']}, silent results "
        f"{counts['silent']}, hangs {counts['hang']}"
    )
    assert counts["crash"] == counts["silent"] == counts["hang"] == 0, counts["problems"][:10]
    assert counts["refused"] > counts["tried"] // 4


@pytest.mark.slow
def test_fuzz_checkpoint_metadata(tmp_path):
    """Mutated metadata of the shipped demo checkpoints: load, build and run, or FormatError."""
    import json

    torch = pytest.importorskip("torch")
    from napari_plaque.models import pretrained_models
    from napari_plaque.models.checkpoint import example_input, load_checkpoint

    rng = np.random.default_rng(SEED)
    raws = {
        n: torch.load(p, map_location="cpu", weights_only=True)
        for n, p in pretrained_models().items()
    }
    counts = {"tried": 0, "ok": 0, "refused": 0, "crash": 0}
    problems = []
    for case in range(120):
        name = sorted(raws)[case % len(raws)]
        doc, what = _mutate_json(json.loads(raws[name]["metadata"]), rng)
        p = tmp_path / f"c{case}.pt"
        torch.save({"metadata": json.dumps(doc), "state_dict": raws[name]["state_dict"]}, p)
        counts["tried"] += 1
        try:
            with time_bound(30.0):
                lm = load_checkpoint(p)
                with torch.no_grad():
                    lm.module(example_input(lm))
            counts["ok"] += 1
        except FormatError as exc:
            counts["refused" if p.name in str(exc) else "crash"] += 1
        except Exception as exc:  # noqa: BLE001  (_Hang included)
            counts["crash"] += 1
            problems.append(f"{name} {what}: {type(exc).__name__}: {exc}")
        p.unlink()
    print(f"\nfuzz (checkpoint metadata): {counts}")
    assert counts["crash"] == 0, problems[:10]


# -- surfaces of issue 22: frame folders, DICOM SEG, centreline files ------------------------
#
# Each case is ``refused`` (ReaderError / FormatError naming the file), ``flagged`` (read, with
# something assumed, a warning or a note saying what was set aside), ``ok`` (read, nothing to
# flag), ``silent`` (read, but a figure is implausible and unflagged, or the labels are not the
# truth and nothing says so), ``crash`` or ``hang``. Run ``python tests/test_fuzz.py surfaces N``
# for the figures.

_SIDE_BAD = [
    True, False, None, -1, 0, 1e308, 1e-30, "abc", "", [], {}, [0.02], [0.02, 0.02, 0.02],
    "nan", 10**18, 2.5, 0.02, [True, 0.02],
]  # fmt: skip


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(arr).save(path)


def _mutate_folder(folder: Path, rng) -> tuple[dict, str]:
    """One seeded mutation of a 6-frame PNG folder; returns read_ivus options and a label."""
    import json

    files = sorted(folder.glob("*.png"))
    op = int(rng.integers(12))
    opts: dict = {}
    if op == 0:
        for f in files[1:]:
            f.unlink()
        return opts, "single frame"
    if op == 1:
        _png(files[2], np.zeros((30, 44), np.uint8))
        return opts, "odd-sized frame"
    if op == 2:
        data = files[3].read_bytes()
        files[3].write_bytes(data[: int(rng.integers(0, len(data)))])
        return opts, "truncated frame"
    if op == 3:
        files[1].write_bytes(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
        return opts, "garbage frame"
    if op == 4:
        key = sorted(["pixel_mm", "pixel_spacing_mm", "frame_rate", "frame_time_s",
                      "pullback_mm_s"])[int(rng.integers(5))]
        bad = _SIDE_BAD[int(rng.integers(len(_SIDE_BAD)))]
        (folder / "pullback.json").write_text(json.dumps({key: bad}))
        return opts, f"sidecar {key} = {bad!r}"
    if op == 5:
        (folder.parent / f"{folder.name}.json").write_text(
            ["", "{", "[]", '{"summary": 1}', '{"pixel_mm": "x"}'][int(rng.integers(5))]
        )
        if rng.random() < 0.5:
            opts = {"pixel_mm": 0.02, "frame_rate": 30.0, "pullback_mm_s": 0.5}
        return opts, f"<folder>.json beside, options {bool(opts)}"
    if op == 6:
        for f in files[1:]:
            f.write_bytes(files[0].read_bytes())
        return opts, "static frames"
    if op == 7:
        for f in files:
            _png(f, np.full((int(rng.integers(1, 4)),) * 2, 7, np.uint8))
        return opts, "tiny frames"
    if op == 8:
        _png(files[4], np.stack([np.asarray(rng.integers(0, 255, (48, 48)), np.uint8)] * 3, -1))
        return opts, "one RGB frame"
    if op == 9:
        _png(files[0], rng.integers(0, 65535, (48, 48), dtype=np.uint16))
        return opts, "16-bit frame"
    if op == 10:
        (folder / "notes.txt").write_text("x")
        opts = {"pixel_mm": [1e-30, 1e300, 0.02, 5.0][int(rng.integers(4))]}
        return opts, f"pixel_mm option {opts['pixel_mm']}"
    (folder / "pullback.json").write_text("[" * 50_000 + "]" * 50_000)
    return opts, "deep sidecar"


def _check_pullback(pb) -> str | None:
    bad = _implausible_pullback(pb)
    if bad:
        return bad
    n = pb.n_frames
    for i in sorted({0, n // 2, n - 1}):
        f = np.asarray(pb.frames[i])
        if f.shape != tuple(pb.frame_shape) or f.dtype != np.uint8:
            return f"frame {i} shape {f.shape} != {pb.frame_shape}"
    return None


def _seg_base(root: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from _interop_util import make_series
    from napari_plaque.io.seg import write_seg

    folder = make_series(root / "ct", shape=(5, 12, 14))
    vol = read_ct(folder)[0]
    lab = np.zeros(vol.shape, np.uint8)
    lab[1:4, 2:8, 3:9] = 1
    lab[2:4, 9:11, 9:12] = 2
    out = write_seg(root / "segsrc" / "x.dcm", lab, folder, names=["calcium", "plaque"])
    return out.read_bytes(), lab


_SEG_TAGS = ["Rows", "Columns", "NumberOfFrames", "BitsAllocated"]


def _mutate_seg(data: bytes, rng) -> tuple[bytes, str]:
    op = int(rng.integers(6))
    if op <= 1:
        return mutate(data, rng)  # the generic byte / tag mutations
    ds = _ds_from(data)
    if op == 2:
        kw = _SEG_TAGS[int(rng.integers(len(_SEG_TAGS)))]
        cur = int(ds.get(kw, 1))
        val = [0, 1, cur - 1, cur + 1, cur // 2, cur * 2, 65535][int(rng.integers(7))]
        setattr(ds, kw, max(0, val))
        return _ds_bytes(ds), f"{kw} = {val}"
    if op == 3:
        segs = ds.SegmentSequence
        k = int(rng.integers(len(segs)))
        val = [0, 1, 2, 3, 7, 65535][int(rng.integers(6))]
        segs[k].SegmentNumber = val
        return _ds_bytes(ds), f"SegmentNumber[{k}] = {val}"
    if op == 4:
        g = ds.PerFrameFunctionalGroupsSequence
        if rng.random() < 0.5:
            k = int(rng.integers(len(g)))
            val = [0, 3, 9][int(rng.integers(3))]
            g[k].SegmentIdentificationSequence[0].ReferencedSegmentNumber = val
            return _ds_bytes(ds), f"frame {k} segment = {val}"
        ds.PerFrameFunctionalGroupsSequence = g[: int(rng.integers(0, len(g)))]
        return _ds_bytes(ds), "fewer per-frame groups"
    if rng.random() < 0.5:
        ds.FrameOfReferenceUID = pydicom.uid.generate_uid()
        return _ds_bytes(ds), "other FrameOfReferenceUID"
    g = ds.PerFrameFunctionalGroupsSequence
    k = int(rng.integers(len(g)))
    val = ["nan", "1e300", "-1e300"][int(rng.integers(3))]
    g[k].PlanePositionSequence[0].ImagePositionPatient = [val, "0", "0"]
    return _ds_bytes(ds), f"frame {k} position {val}"


def _check_seg(res, truth: np.ndarray) -> tuple[str | None, bool]:
    """(silent problem or None, flagged)."""
    if not res.labels:
        return ("no labels and no note", False) if not res.notes else (None, True)
    flagged = bool(res.notes)
    if res.source is None:
        return None, True  # own grid, always with a note
    union = np.zeros(truth.shape, bool)
    for _, arr in res.labels:
        if arr.shape != truth.shape:
            return f"labels of shape {arr.shape} on a {truth.shape} series", flagged
        union |= arr > 0
    if not np.array_equal(union, truth > 0) and not flagged:
        return f"{int(union.sum())} voxels labelled, truth {int((truth > 0).sum())}", flagged
    return None, flagged


def _centreline_doc():
    return {
        "format": "napari-plaque-centreline", "version": 1, "name": "LAD", "step_mm": 0.5,
        "units": "mm", "axes": ["z", "y", "x"], "source": {},
        "points_mm": [[0.0, 1.0, 2.0], [0.5, 1.0, 2.0], [1.0, 1.2, 2.1], [1.5, 1.3, 2.2]],
    }  # fmt: skip


def _check_centreline(cl, pts) -> str | None:
    p = cl.points_mm if cl is not None else pts
    if p is None or not np.all(np.isfinite(p)) or p.ndim != 2 or p.shape[1] != 3:
        return "bad points"
    if cl is not None:
        if not (np.isfinite(cl.step_mm) and cl.step_mm > 0):
            return f"step {cl.step_mm}"
        if np.any(np.diff(cl.s_mm) <= 0):
            return "arc length not increasing"
    return None


def run_surface_campaign(root: Path, n_cases: int, seed: int = SEED) -> dict:
    """Mutated frame folders, DICOM SEGs and centreline files (JSON, CSV), per surface."""
    import json

    from napari_plaque.ccta.centreline import load_centreline_any
    from napari_plaque.io.frames import read_ivus
    from napari_plaque.io.seg import read_seg

    rng = np.random.default_rng(seed)
    surfaces = ("frame-folder", "seg", "centreline-json", "centreline-csv")
    counts = {
        s: {"tried": 0, "ok": 0, "flagged": 0, "refused": 0, "silent": 0, "crash": 0, "hang": 0}
        for s in surfaces
    }
    problems: list[str] = []
    seg_bytes, truth = _seg_base(root)
    base = rng.integers(0, 255, (6, 48, 48), dtype=np.uint8)
    for case in range(n_cases):
        surface = surfaces[case % len(surfaces)]
        c = counts[surface]
        work = root / f"case{case:05d}"
        work.mkdir()
        flagged = False
        try:
            if surface == "frame-folder":
                folder = work / "pb"
                folder.mkdir()
                for i, fr in enumerate(base):
                    _png(folder / f"frame{i}.png", fr)
                opts, what = _mutate_folder(folder, rng)
                target = folder
            elif surface == "seg":
                (work / "seg").mkdir()
                shutil.copytree(root / "ct", work / "ct")
                data, what = _mutate_seg(seg_bytes, rng)
                target = work / "seg" / "x.dcm"
                target.write_bytes(data)
            elif surface == "centreline-json":
                doc, what = _mutate_json(_centreline_doc(), rng)
                target = work / "cl.json"
                target.write_text(json.dumps(doc))
            else:
                rows = [[0.0, 1.0, 2.0], [0.5, 1.0, 2.0], [1.0, 1.2, 2.1]]
                op = int(rng.integers(4))
                if op == 0:
                    text = "axis-0,axis-1,axis-2\n" + "".join(
                        f"{a},{b},{cc}\n" for a, b, cc in rows)
                    k = int(rng.integers(len(text)))
                    text = text[:k] + ["", "x", ",", "\n", "nan", "1e309"][
                        int(rng.integers(6))] + text[k + 1:]
                    what = f"edit char {k}"
                elif op == 1:
                    text, what = "a,b,c\n1,2,3\n", "other columns"
                elif op == 2:
                    text, what = "axis-0,axis-1,axis-2\n", "header only"
                else:
                    text, what = "\xff\xfe".encode("latin-1").decode("latin-1"), "binary"
                target = work / "pts.csv"
                target.write_text(text, encoding="latin-1")
            c["tried"] += 1
            label = f"{surface} case {case} ({what})"
            with time_bound(TIME_LIMIT_S), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if surface == "frame-folder":
                    pb = read_ivus(target, **opts)
                    bad = _check_pullback(pb)
                    flagged = bool(pb.assumed or pb.meta.get("warnings")) or any(
                        "ignored" in n or "no mask" in n or "single frame" in n
                        for n in pb.meta.get("notes", []))
                elif surface == "seg":
                    res = read_seg(target)
                    bad, flagged = _check_seg(res, truth)
                else:
                    cl, pts = load_centreline_any(target)
                    bad = _check_centreline(cl, pts)
        except _Hang:
            c["hang"] += 1
            problems.append(f"{label}: hang")
        except (ReaderError, FormatError) as exc:
            if target.name in str(exc) or str(work) in str(exc):
                c["refused"] += 1
            else:
                c["crash"] += 1
                problems.append(f"{label}: message does not name the file: {exc}")
        except Exception as exc:  # noqa: BLE001
            c["crash"] += 1
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        else:
            if bad is not None:
                c["silent"] += 1
                problems.append(f"{label}: silent: {bad}")
            else:
                c["flagged" if flagged else "ok"] += 1
        shutil.rmtree(work, ignore_errors=True)
    counts["problems"] = problems  # type: ignore[assignment]
    return counts


def _surface_report(counts: dict) -> str:
    lines = []
    for s, c in counts.items():
        if s == "problems":
            continue
        lines.append(
            f"{s}: tried {c['tried']}, refused {c['refused']}, flagged {c['flagged']}, ok "
            f"{c['ok']}, silent {c['silent']}, crash {c['crash']}, hang {c['hang']}"
        )
    return "\n".join(lines)


def test_fuzz_surfaces(tmp_path):
    counts = run_surface_campaign(tmp_path, int(os.environ.get("NAPARI_PLAQUE_FUZZ_SURFACES",
                                                                "120")))
    print("\n" + _surface_report(counts))
    for s, c in counts.items():
        if s == "problems":
            continue
        assert c["crash"] == c["silent"] == c["hang"] == 0, counts["problems"][:10]
        assert c["refused"] > 0, s


@pytest.mark.slow
def test_fuzz_surfaces_long(tmp_path):
    counts = run_surface_campaign(tmp_path, 1000, seed=SEED + 2)
    print("\n" + _surface_report(counts))
    for s, c in counts.items():
        if s != "problems":
            assert c["crash"] == c["silent"] == c["hang"] == 0, counts["problems"][:10]


if __name__ == "__main__":  # python tests/test_fuzz.py [surfaces] [N]: print the figures
    import sys
    import tempfile

    if len(sys.argv) > 1 and sys.argv[1] == "surfaces":
        with tempfile.TemporaryDirectory() as d:
            c = run_surface_campaign(Path(d), int(sys.argv[2]) if len(sys.argv) > 2 else 120)
            print(_surface_report(c))
            for line in c["problems"][:40]:
                print("  ", line)
        sys.exit(0)
    with tempfile.TemporaryDirectory() as d:
        c = run_campaign(Path(d), int(sys.argv[1]) if len(sys.argv) > 1 else N_DEFAULT)
        print(_report(c))
        for line in c["problems"][:40]:
            print("  ", line)
