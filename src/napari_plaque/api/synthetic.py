"""Synthetic data: ``api.samples`` (``napari-plaque samples DIR``): every synthetic sample on disk, with its truth, the masks and
the manifests the documentation's examples use (see ``docs/samples.md``).

Layout (each file as the readers take it)::

    DIR/ccta/ccta.nii.gz            contrast CCTA (HU)            plaques.nii.gz  plaque labels
    DIR/ccta/cac.nii.gz             non-contrast twin (Agatston)  vessels.nii.gz  1 LM 2 LAD 3 LCX 4 RCA
    DIR/ccta/truth.json             plaque volumes, Agatston, lesions
    DIR/ivus/pullback.dcm           US multi-frame DICOM          pullback.arcs.json  true arcs
    DIR/ivus/truth.json
    DIR/vessels/vessels.nii.gz      curved vessels with stenoses  labels.nii.gz  1 lumen 2 wall
    DIR/vessels/LAD.centreline.json (and RCA)                     truth.json  per-lesion truth
    DIR/cxr/cxr_*.png + manifest.csv  radiographs with their CAC score (a training manifest)
    DIR/cohort/cac.csv, ics.csv, vessel.csv   cohort manifests over the files above
    DIR/samples.json                what was written and the commands that use it
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.errors import OptionError
from ._result import Result

#: the samples, in the order written
SAMPLES = ("ccta", "ivus", "vessels", "cxr")
#: radiographs in the CXR sample's manifest
N_CXR = 8


@dataclass
class SamplesResult(Result):
    """``to_dict()``: the ``samples --json`` object (also written as ``DIR/samples.json``:
    ``dir``, ``seed``, and per sample its ``files`` and the ``commands`` that use them);
    ``to_rows()``: one row per sample written (``sample``, ``n_files``, ``folder``)."""

    command = "samples"


def samples(
    dir: str | Path,  # noqa: A002 (the CLI's DIR)
    *,
    only: Any = None,
    seed: int = 0,
    overwrite: bool = False,
) -> SamplesResult:
    """Write the synthetic samples (``only``: a name or names of :data:`SAMPLES`; None: all)
    under ``dir`` as the readers take them, with their truth, masks and cohort manifests.
    Refuses (FileExistsError) to replace a sample file unless ``overwrite``; NotADirectoryError
    when ``dir`` is a file."""
    which = SAMPLES if only is None else ([only] if isinstance(only, str) else list(only))
    unknown = [w for w in which if w not in SAMPLES]
    if unknown:
        raise OptionError(f"unknown sample(s) {', '.join(unknown)}: choose from {', '.join(SAMPLES)}")
    out = write_samples(dir, which, seed=seed, overwrite=overwrite)
    rows = [{"sample": k, "n_files": len(v["files"]), "folder": str(Path(out["dir"]) / k)}
            for k, v in out["samples"].items()]
    return SamplesResult(data=out, rows=rows)


# ----------------------------------------------------------------------------- writers
def _targets(kind: str) -> list[str]:
    return {
        "ccta": ["ccta/ccta.nii.gz", "ccta/cac.nii.gz", "ccta/plaques.nii.gz",
                 "ccta/vessels.nii.gz", "ccta/truth.json", "cohort/cac.csv"],
        "ivus": ["ivus/pullback.dcm", "ivus/pullback.arcs.json", "ivus/truth.json",
                 "cohort/ics.csv"],
        "vessels": ["vessels/vessels.nii.gz", "vessels/labels.nii.gz",
                    "vessels/LAD.centreline.json", "vessels/RCA.centreline.json",
                    "vessels/truth.json", "cohort/vessel.csv"],
        "cxr": ["cxr/manifest.csv"],
    }[kind]  # fmt: skip


def write_samples(
    dir: str | Path, which=SAMPLES, seed: int = 0, overwrite: bool = False
) -> dict[str, Any]:
    """Write the samples ``which`` under ``dir``; returns what was written (also saved as
    ``samples.json``). Refuses (FileExistsError) to replace a sample file unless ``overwrite``."""
    from ..report import write_json

    root = Path(dir)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, not a folder")
    which = [k for k in SAMPLES if k in set(which)]
    if not overwrite:
        there = [t for k in which for t in _targets(k) if (root / t).exists()]
        if there:
            raise FileExistsError(
                f"{root} already holds sample files ({', '.join(there[:3])}"
                f"{' ...' if len(there) > 3 else ''}): give --overwrite to replace them"
            )
    for sub in (*which, "cohort"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    writers = {"ccta": _write_ccta, "ivus": _write_ivus, "vessels": _write_vessels,
               "cxr": _write_cxr}  # fmt: skip
    out = {"format": "napari-plaque/samples", "version": 1, "dir": str(root), "seed": seed,
           "samples": {k: writers[k](root, seed) for k in which}}  # fmt: skip
    write_json(root / "samples.json", out)
    return out


def _nifti(path: Path, arr, like) -> str:
    from ..io.nifti import write_nifti

    write_nifti(path, arr, like.spacing_mm, like.origin_mm)
    return path.name


def _write_ccta(root: Path, seed: int) -> dict[str, Any]:
    from ..report import write_csv, write_json
    from ..samples.ccta import make_ccta

    d = root / "ccta"
    s = make_ccta(noise_hu=10.0, seed=seed)
    files = [
        _nifti(d / "ccta.nii.gz", s.volume.hu, s.volume),
        _nifti(d / "cac.nii.gz", s.cac_volume.hu, s.cac_volume),
        _nifti(d / "plaques.nii.gz", s.plaque_labels, s.volume),
        _nifti(d / "vessels.nii.gz", s.vessel_labels, s.volume),
    ]
    write_json(d / "truth.json", {"sample": "ccta", "seed": seed, "noise_hu": 10.0,
                                  "note": "truth of the noise-free volumes", **s.truth})
    files.append("truth.json")
    write_csv(root / "cohort" / "cac.csv",
              [{"study_id": f"ccta-seed{seed}", "path": "../ccta/cac.nii.gz",
                "vessels": "../ccta/vessels.nii.gz"}])  # fmt: skip
    return {
        "files": files,
        "commands": [
            "napari-plaque cac ccta/cac.nii.gz --vessels ccta/vessels.nii.gz",
            "napari-plaque composition ccta/ccta.nii.gz --roi ccta/plaques.nii.gz",
            "napari-plaque cac --manifest cohort/cac.csv --out cac.csv",
            "napari-plaque qc ccta/plaques.nii.gz ccta/plaques.nii.gz",
        ],
    }


def _write_ivus(root: Path, seed: int) -> dict[str, Any]:
    from ..ivus.arcs import save_arcs
    from ..report import write_csv, write_json
    from ..samples.ivus import make_ivus_sample, truth_arcset

    d = root / "ivus"
    path = d / "pullback.dcm"
    pb, truth = make_ivus_sample(path, seed=seed)
    arcs = d / "pullback.arcs.json"
    if arcs.exists():
        arcs.unlink()  # --overwrite: the truth of this run, not a merge with the old file
    save_arcs(truth_arcset(truth), arcs)
    keep = {k: v for k, v in truth.items() if k not in ("labels",)}
    write_json(d / "truth.json", {"sample": "ivus", "seed": seed, "n_frames": pb.n_frames,
                                  **keep})  # fmt: skip
    write_csv(root / "cohort" / "ics.csv",
              [{"study_id": f"ivus-seed{seed}", "path": "../ivus/pullback.dcm",
                "arcs": "../ivus/pullback.arcs.json"}])  # fmt: skip
    return {
        "files": [path.name, arcs.name, "truth.json"],
        "commands": [
            "napari-plaque info ivus/pullback.dcm",
            "napari-plaque ics ivus/pullback.dcm --arcs ivus/pullback.arcs.json",
            "napari-plaque ics --manifest cohort/ics.csv --out ics.csv",
            "napari-plaque ivus-vessel ivus/pullback.dcm",
        ],
    }


def _write_vessels(root: Path, seed: int) -> dict[str, Any]:
    from ..ccta.centreline import refine_centreline, source_of
    from ..io import read_image
    from ..report import write_csv, write_json
    from ..samples.vessels import make_vessel_phantom

    d = root / "vessels"
    ph = make_vessel_phantom(seed=seed)
    files = [_nifti(d / "vessels.nii.gz", ph.volume.hu, ph.volume),
             _nifti(d / "labels.nii.gz", ph.labels, ph.volume)]  # fmt: skip
    back = read_image(d / "vessels.nii.gz")  # the centrelines belong to the scan as read
    truth, rows = [], []
    for v in ph.vessels:
        name = v.spec.name
        # refined from the sparse points a user clicks (ostium first), as the dock and the CLI
        # make them: the true curve is the vessel's centre, off the lumen in eccentric plaque
        cl = refine_centreline(back, v.user_points_mm, name=name)
        cl.source = source_of(back)
        cl.save(d / f"{name}.centreline.json")
        files.append(f"{name}.centreline.json")
        truth.append({"vessel": name, "length_mm": v.spec.length_mm, "lesions": v.lesions(),
                      "user_points_mm": v.user_points_mm.tolist()})  # fmt: skip
        rows.append({"study_id": f"vessels-seed{seed}-{name}", "path": "../vessels/vessels.nii.gz",
                     "centreline": f"../vessels/{name}.centreline.json"})  # fmt: skip
    write_json(d / "truth.json", {"sample": "vessels", "seed": seed, "vessels": truth,
                                  "labels": {"1": "lumen", "2": "plaque / wall"}})  # fmt: skip
    files.append("truth.json")
    write_csv(root / "cohort" / "vessel.csv", rows)
    return {
        "files": files,
        "commands": [
            "napari-plaque vessel vessels/vessels.nii.gz --centreline vessels/LAD.centreline.json",
            "napari-plaque vessel --manifest cohort/vessel.csv --table vessel.csv",
        ],
    }


def _write_cxr(root: Path, seed: int) -> dict[str, Any]:
    from ..cxr.synthetic import write_manifest

    d = root / "cxr"
    path = write_manifest(d, N_CXR, size=256, seed=seed)
    files = sorted(p.name for p in d.glob(f"cxr_{seed}_*.png")) + [path.name]
    return {
        "files": files,
        "commands": [
            f"napari-plaque info cxr/{files[0]}",
            f"napari-plaque cxr predict demo_cxr cxr/{files[0]}",
            "napari-plaque cxr train cxr/manifest.csv --out cxr.pt --synthetic",
        ],
        "note": "SYNTHETIC radiographs; manifest.csv: path, cac_score, age, sex, bmi, patient_id",
    }


__all__ = ["N_CXR", "SAMPLES", "SamplesResult", "samples", "write_samples"]
