"""Calcium-scoring protocol checks: is this CT what the Agatston score is defined on?

The Agatston score (Agatston et al., JACC 1990) is defined on non-contrast, ECG-gated cardiac
CT at 120 kVp with ~3 mm contiguous slices and a 130 HU threshold; the multi-vendor standard
(McCollough et al., Radiology 2007) fixes 120 kVp and 2.5-3.0 mm reconstructions. Scores of
other input are numbers without a meaning, and nothing in the number says so. Every check
lives here (one home; ``cac`` and the calcium dock call :func:`check_protocol`) and ends in one
of three outcomes per study:

* ``refuse``: the study is not scored (:class:`ProtocolError`, a ``ValueError``: exit 2 for one
  study, a failed row in a cohort), with a message naming the file and the problem;
* ``flag``: the study is scored, and the finding goes into the report's ``warnings`` list, the
  ``warnings`` column of tables and a line on stderr;
* ``ok`` or ``unknown`` (the fact is not in the file: for the checks where this matters, an
  unknown value is itself flagged).

The decisions and their sources are in ``docs/conventions.md`` ("Calcium-scoring protocol").
Refusals listed in :data:`ACCEPTABLE` can be turned into flags by the user (``--accept``);
a single slice and a non-CT modality cannot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the header vocabulary has one home, next to the reader that keeps those words of a description
from ..io.dicom_series import CARDIAC_WORDS as _CARDIAC_WORDS
from ..io.dicom_series import OTHER_WORDS as _OTHER_WORDS
from ..io.errors import NapariPlaqueError

#: the reference protocol and the tolerances of the checks (read by the checks, the CLI and docs)
PROTOCOL_DEFAULTS: dict[str, float] = {
    "kvp": 120.0,
    "kvp_tolerance": 0.5,
    "threshold_hu": 130.0,
    "threshold_tolerance_hu": 0.5,
    "thickness_min_mm": 2.5,
    "thickness_max_mm": 3.0,
    "thickness_tolerance_mm": 0.05,
    #: increment > thickness x (1 + this): gaps between slices (refused)
    "gap_tolerance": 0.10,
    #: increment < thickness x (1 - this): overlapping slices (flagged)
    "overlap_tolerance": 0.10,
    #: a body (not touching the image sides) narrower than this is a head, neck or limb
    "min_chest_width_mm": 200.0,
    #: HU above which a voxel is taken as body (soft tissue, bone) for the width check
    "body_hu": -400.0,
}

#: kVp -> lesion threshold (HU) of ``--kv-threshold adjusted``. 120 kVp: Agatston 1990;
#: 100 kVp: 147 HU, Nakazato et al., J Cardiovasc Comput Tomogr 2009;3:394-400 (threshold
#: only; the 200/300/400 HU weight edges are kept). Other kVp: give the table (``--kv-table``).
KV_THRESHOLDS_HU: dict[float, float] = {120.0: 130.0, 100.0: 147.0}

#: how a lesion threshold is chosen for the tube voltage
KV_MODES: tuple[str, ...] = ("fixed", "adjusted")

#: refusals the user may turn into flags (``--accept CODE``)
ACCEPTABLE: tuple[str, ...] = ("anatomy", "slice_gap")

class ProtocolError(NapariPlaqueError):
    """A study refused by a protocol check; the message names the file and the check."""


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``level`` is ``ok``, ``unknown``, ``flag`` or ``refuse``."""

    code: str
    level: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "level": self.level, "message": self.message}


@dataclass
class ProtocolReport:
    """Findings of every check, and the threshold to score with."""

    findings: list[Finding] = field(default_factory=list)
    threshold_hu: float = PROTOCOL_DEFAULTS["threshold_hu"]
    kv_mode: str = "fixed"

    @property
    def refusals(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "refuse"]

    @property
    def flags(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "flag"]

    @property
    def warnings(self) -> list[str]:
        """Flag messages, ``code: message`` (the report's ``warnings`` list)."""
        return [f"{f.code}: {f.message}" for f in self.flags]

    @property
    def gating(self) -> str:
        """ECG gating: ``"gated"``, ``"not gated"`` or ``"unknown"`` (from
        CardiacSynchronizationTechnique, the CT reader's ``cardiac_synchronization``)."""
        level = next((f.level for f in self.findings if f.code == "ecg_gating"), "unknown")
        return {"ok": "gated", "flag": "not gated"}.get(level, "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks": {f.code: f.level for f in self.findings},
            "gating": self.gating,
            "findings": [f.to_dict() for f in self.findings if f.level in ("flag", "refuse")],
            "threshold_hu": self.threshold_hu,
            "kv_mode": self.kv_mode,
        }

    def raise_refusals(self, where: str) -> None:
        """Raise :class:`ProtocolError` naming ``where`` when any check refused."""
        if self.refusals:
            why = "; ".join(f"{f.code}: {f.message}" for f in self.refusals)
            also = ", ".join(f.code for f in self.flags)
            also = f" (also flagged: {also})" if also else ""
            raise ProtocolError(f"{where}: not scored: {why}{also}")


def _num(meta: Mapping[str, Any], key: str) -> float | None:
    v = meta.get(key)
    if isinstance(v, list | tuple):
        v = v[0] if v else None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def header_anatomy(meta: Mapping[str, Any]) -> tuple[str, str]:
    """``("cardiac" | "other" | "unknown", evidence)`` from BodyPartExamined and descriptions.

    BodyPartExamined is read first; descriptions (study, series, protocol) only when it is
    absent or names nothing known. "other" only when nothing names the chest or heart.
    """
    fields = [
        ("BodyPartExamined", meta.get("body_part")),
        ("StudyDescription", meta.get("study_description")),
        ("SeriesDescription", meta.get("series_description")),
        ("ProtocolName", meta.get("protocol_name")),
    ]
    cardiac, other = [], []
    for tag, val in fields:
        if not val:
            continue
        text = str(val)
        if _CARDIAC_WORDS.search(text):
            cardiac.append(f"{tag} {text!r}")
        elif _OTHER_WORDS.search(text):
            other.append(f"{tag} {text!r}")
    if cardiac:
        return "cardiac", ", ".join(cardiac)
    if other:
        return "other", ", ".join(other)
    return "unknown", ""


def body_width_mm(hu: np.ndarray, spacing_mm: tuple[float, ...]) -> float | None:
    """Widest left-right extent (mm) of the largest body outline over five slices, or None
    when the body reaches a side of the image (cut by the field of view: width unknown)."""
    from scipy import ndimage as ndi

    hu = np.asarray(hu)
    if hu.ndim != 3 or hu.size == 0:
        return None
    idx = np.unique(np.linspace(0, hu.shape[0] - 1, 5).round().astype(int))
    widest = 0.0
    for i in idx:
        body = hu[i] > PROTOCOL_DEFAULTS["body_hu"]
        lab, n = ndi.label(body)
        if n == 0:
            continue
        big = lab == (int(np.argmax(np.bincount(lab.ravel())[1:])) + 1)
        cols = np.flatnonzero(big.any(axis=0))
        if cols[0] == 0 or cols[-1] == hu.shape[2] - 1:
            return None
        widest = max(widest, (cols[-1] - cols[0] + 1) * float(spacing_mm[2]))
    return widest or None


def kv_threshold(kvp: float | None, table: Mapping[float, float] | None = None) -> float:
    """The lesion threshold for ``kvp`` from ``table`` (default :data:`KV_THRESHOLDS_HU`)."""
    table = KV_THRESHOLDS_HU if table is None else table
    if kvp is None:
        raise ProtocolError("kVp unknown (no KVP (0018,0060)): cannot adjust the threshold")
    for kv, t in table.items():
        if abs(float(kv) - kvp) <= PROTOCOL_DEFAULTS["kvp_tolerance"]:
            return float(t)
    known = ", ".join(f"{k:g} kVp" for k in sorted(table))
    raise ProtocolError(
        f"no kV-adjusted threshold for {kvp:g} kVp (known: {known}; give --kv-table KVP=HU)"
    )


def check_protocol(
    meta: Mapping[str, Any],
    hu: np.ndarray | None = None,
    spacing_mm: tuple[float, float, float] | None = None,
    *,
    threshold_hu: float | None = None,
    roi_given: bool = False,
    kv_mode: str = "fixed",
    kv_table: Mapping[float, float] | None = None,
    accept: Iterable[str] = (),
) -> ProtocolReport:
    """Run every check on a CT's metadata (a CTVolume's ``meta``) and image.

    ``threshold_hu`` None means "the default": 130 HU, or the kV-adjusted threshold with
    ``kv_mode="adjusted"``. A threshold given together with ``adjusted`` is refused (two
    answers to one question). ``accept`` lists refusal codes (:data:`ACCEPTABLE`) to flag
    instead. The returned report's ``threshold_hu`` is the one to score with.
    """
    if kv_mode not in KV_MODES:
        raise ValueError(f"kv_mode must be one of {KV_MODES}, got {kv_mode!r}")
    accept = set(accept)
    bad = accept - set(ACCEPTABLE)
    if bad:
        raise ValueError(
            f"--accept {', '.join(sorted(bad))}: only {', '.join(ACCEPTABLE)} can be accepted"
        )
    out: list[Finding] = []

    def add(code: str, level: str, message: str = "") -> None:
        if level == "refuse" and code in accept:
            level, message = "flag", f"{message} (accepted with --accept {code})"
        out.append(Finding(code, level, message))

    d = PROTOCOL_DEFAULTS
    n_slices = int(np.asarray(hu).shape[0]) if hu is not None else meta.get("n_slices")
    # modality
    modality = meta.get("modality")
    if modality and str(modality).upper() != "CT":
        add("modality", "refuse", f"Modality (0008,0060) is {modality!r}; Agatston needs CT")
    else:
        add("modality", "ok" if modality else "unknown")
    # single slice: no slice increment, and every lesion is scaled by a guessed one
    if n_slices is not None and int(n_slices) < 2:
        inc = _num(meta, "slice_increment_mm")
        taken = f" (the reader took {inc:g} mm from the header)" if inc else ""
        add(
            "single_slice",
            "refuse",
            "one slice: the slice increment that scales every lesion's Agatston score is "
            f"not measured{taken}; calcium scoring needs a contiguous series",
        )
    else:
        add("single_slice", "ok")
    # anatomy: header words and the body's width
    where, evidence = header_anatomy(meta)
    width = body_width_mm(hu, spacing_mm) if hu is not None and spacing_mm is not None else None
    narrow = width is not None and width < d["min_chest_width_mm"]
    img = (
        f"the body is {width:.0f} mm wide (a chest is wider than {d['min_chest_width_mm']:g} mm)"
        if narrow
        else ""
    )
    if where == "other" and narrow:
        add("anatomy", "refuse", f"not a cardiac CT: {evidence}, and {img}")
    elif where == "other":
        add("anatomy", "flag", f"header says {evidence}: not a cardiac/chest CT?")
    elif narrow:
        add("anatomy", "flag", f"{img}: a head, neck or limb rather than a chest?")
    elif where == "unknown" and width is None:
        add("anatomy", "unknown")
    else:
        add("anatomy", "ok")
    # contrast: Agatston is defined on non-contrast CT (iodinated blood is > 130 HU)
    agent = meta.get("contrast_agent")
    if agent:
        add(
            "contrast",
            "flag",
            f"ContrastBolusAgent (0018,0010) {str(agent)!r}: contrast-enhanced blood above "
            "the threshold is counted as calcium; Agatston is defined on non-contrast CT",
        )
    else:
        add("contrast", "unknown")
    # kVp and threshold
    kvp = _num(meta, "kvp")
    std_t = d["threshold_hu"]
    if kv_mode == "adjusted":
        if threshold_hu is not None and abs(threshold_hu - std_t) > d["threshold_tolerance_hu"]:
            raise ValueError("--threshold-hu and --kv-threshold adjusted: give one of them")
        try:
            expected = kv_threshold(kvp, kv_table)
        except ProtocolError as exc:
            expected = std_t
            add("kvp", "refuse", str(exc))
        used = expected
        if kvp is None or any(f.code == "kvp" for f in out):
            pass
        elif abs(kvp - d["kvp"]) <= d["kvp_tolerance"]:
            add("kvp", "ok")
        else:
            add(
                "kvp",
                "flag",
                f"{kvp:g} kVp scored with the kV-adjusted threshold {expected:g} HU "
                f"(standard: {d['kvp']:g} kVp, {std_t:g} HU): a kV-adjusted, not a standard, "
                "Agatston score",
            )
    else:
        expected = std_t
        used = std_t if threshold_hu is None else float(threshold_hu)
        if kvp is None:
            add(
                "kvp",
                "flag",
                f"kVp unknown (no KVP (0018,0060)); the {std_t:g} HU threshold assumes "
                f"{d['kvp']:g} kVp",
            )
        elif abs(kvp - d["kvp"]) > d["kvp_tolerance"]:
            add(
                "kvp",
                "flag",
                f"{kvp:g} kVp scored with the {d['kvp']:g}-kVp threshold {used:g} HU: calcium "
                "HU change with tube voltage, so scores and categories are biased "
                "(--kv-threshold adjusted uses a kV-specific threshold)",
            )
        else:
            add("kvp", "ok")
    if abs(used - expected) > d["threshold_tolerance_hu"]:
        add(
            "threshold",
            "flag",
            f"threshold {used:g} HU, not the {expected:g} HU the Agatston score is defined "
            "with: not a standard Agatston score",
        )
    else:
        add("threshold", "ok")
    # slice thickness and increment
    thick = _num(meta, "slice_thickness_mm")
    inc = _num(meta, "slice_increment_mm")
    if inc is None and spacing_mm is not None:
        inc = float(spacing_mm[0])
    tol = d["thickness_tolerance_mm"]
    if thick is None:
        add(
            "slice_thickness",
            "flag",
            "slice thickness unknown (no SliceThickness (0018,0050)); the Agatston score is "
            f"defined on {d['thickness_min_mm']:g}-{d['thickness_max_mm']:g} mm slices",
        )
    elif not d["thickness_min_mm"] - tol <= thick <= d["thickness_max_mm"] + tol:
        add(
            "slice_thickness",
            "flag",
            f"slices {thick:g} mm thick, not {d['thickness_min_mm']:g}-"
            f"{d['thickness_max_mm']:g} mm: lesion areas and peaks differ (thinner slices score "
            "higher, thicker lose small lesions); an equivalent score, not a standard one",
        )
    else:
        add("slice_thickness", "ok")
    if thick is None or inc is None or (n_slices is not None and int(n_slices) < 2):
        add("slice_increment", "unknown")
    elif inc > thick * (1 + d["gap_tolerance"]):
        add(
            "slice_gap",
            "refuse",
            f"slice increment {inc:g} mm > thickness {thick:g} mm: {inc - thick:g} mm between "
            "slices are not imaged, and each lesion is extrapolated over them",
        )
    elif inc < thick * (1 - d["overlap_tolerance"]):
        add(
            "slice_increment",
            "flag",
            f"overlapping slices ({thick:g} mm every {inc:g} mm): scored as the equivalent "
            f"score (x increment / 3 mm); the standard reconstruction is contiguous",
        )
    else:
        add("slice_increment", "ok")
    # the heart / coronary ROI
    if roi_given:
        add("roi", "ok")
    else:
        add(
            "roi",
            "flag",
            "scored without a heart/coronary ROI: bone, table, stents and noise above the "
            "threshold are counted",
        )
    # ECG gating: CardiacSynchronizationTechnique (0018,9037), kept by the CT reader
    gating = meta.get("cardiac_synchronization")
    if gating is None:
        add("ecg_gating", "unknown")
    elif str(gating).upper() in ("NONE", ""):
        add("ecg_gating", "flag", "not ECG-gated (CardiacSynchronizationTechnique NONE)")
    else:
        add("ecg_gating", "ok")
    return ProtocolReport(out, float(used), kv_mode)


def parse_kv_table(text: str | None) -> dict[float, float] | None:
    """``"100=147,120=130"`` -> ``{100.0: 147.0, 120.0: 130.0}`` (None for None)."""
    if not text:
        return None
    out: dict[float, float] = {}
    for item in text.split(","):
        try:
            kv, t = item.split("=", 1)
            out[float(kv)] = float(t)
        except ValueError:
            raise ValueError(
                f"--kv-table: cannot read {item!r}; write e.g. 100=147,120=130"
            ) from None
    return out
