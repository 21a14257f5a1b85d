"""Subcommands: ``export-seg`` (DICOM SEG), ``pull`` and ``push`` (DICOMweb).

The SR outputs are options of the commands that compute the numbers (``cac --sr``,
``composition --sr``). Credentials come from environment variables (or a terminal prompt),
never from the command line, and are never printed.
"""

from __future__ import annotations

import argparse
import sys

from ..io.dicomweb import DICOMWEB_DEFAULTS
from ..io.seg import SEG_DEFAULTS
from ._common import add_json_option, lazy_description


def _add_auth(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("authentication (secrets are read from the environment, never shown)")
    g.add_argument(
        "--user",
        help="basic-auth user name; the password is read from --password-env "
        "(or asked on a terminal)",
    )
    g.add_argument(
        "--password-env",
        metavar="VAR",
        default=DICOMWEB_DEFAULTS["password_env"],
        help="environment variable holding the password",
    )
    g.add_argument(
        "--token-env",
        metavar="VAR",
        default=DICOMWEB_DEFAULTS["token_env"],
        help="environment variable holding a bearer token, used when set and no --user",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DICOMWEB_DEFAULTS["timeout_s"],
        help="seconds to wait for the server per request",
    )


def _byte_count(text: str) -> int:
    """``"64G"``, ``"1M"``, ``"4096"`` -> bytes (binary units), for argparse."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    t = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    mult = units.get(t[-1:], 1)
    try:
        n = float(t[:-1] if t[-1:] in units else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a byte count: {text!r} (e.g. 1048576, 1M, 2G)"
        ) from None
    if not n >= 1:
        raise argparse.ArgumentTypeError(f"byte count must be >= 1, got {text!r}")
    return int(n)


def _auth(args):
    from ..io.dicomweb import auth_from_env

    return auth_from_env(
        user=args.user,
        password_env=args.password_env,
        token_env=args.token_env,
        prompt=sys.stdin.isatty(),
    )


def _cmd_export_seg(args) -> int:
    from ..api import options_from
    from ..api.interop import export_seg
    from ._common import print_json

    res = export_seg(args.labels, **options_from(export_seg, args))
    if args.json:
        print_json(res.to_dict())
    else:
        print(f"wrote {res.out}")
    return 0


def _cmd_pull(args) -> int:
    from ..api import options_from
    from ..api.interop import pull
    from ._common import print_json, stderr_progress

    res = pull(args.url, **options_from(pull, args, auth=_auth(args), progress=stderr_progress))
    if args.json:
        print_json(res.to_dict())
    else:
        print(res.summary())
    return 0


def _cmd_push(args) -> int:
    from ..api import options_from
    from ..api.interop import push
    from ._common import print_json, stderr_progress

    res = push(args.url, args.files,
               **options_from(push, args, auth=_auth(args), progress=stderr_progress))
    if args.json:
        print_json(res.to_dict())
    else:
        print(res.summary())
    return 0


#: the ``pull`` limits: option, DICOMWEB_DEFAULTS key, type, metavar, help
_PULL_LIMIT_OPTIONS = (
    ("--deadline", "deadline_s", float, "S", "seconds the whole pull may take"),
    ("--max-bytes", "max_bytes", _byte_count, "N",
     "bytes the pull may receive (suffix K, M or G: binary units)"),
    ("--max-instance-bytes", "max_instance_bytes", _byte_count, "N", "bytes one instance may have"),
    ("--max-series", "max_series", int, "N", "series the pull may retrieve"),
    ("--max-instances", "max_instances", int, "N", "instances the pull may retrieve"),
)  # fmt: skip


def _export_seg_description() -> str:
    from ..io.seg import known_segment_names

    return (
        "Writes LABELS (.npy in the reader's axis order, or NIfTI) as a DICOM SEG that "
        "references every instance and the frame of reference of the CT series, with the "
        "series' patient and study modules. Label value v becomes segment v (empty values "
        "included, so reading it back is voxel-exact); --names codes each segment "
        "(SNOMED CT) by name; known names: " + ", ".join(known_segment_names()) + "."
    )


def register(sub) -> None:
    """Add ``export-seg``, ``pull`` and ``push``."""
    p = sub.add_parser(
        "export-seg", help="a label map as a DICOM Segmentation (SEG) of its CT series"
    )
    lazy_description(p, _export_seg_description)  # the names need pydicom's code tables
    p.add_argument("labels", metavar="LABELS", help="label map (.npy or NIfTI)")
    p.add_argument("--series", required=True, metavar="CT_DIR", help="the source CT series")
    p.add_argument("--out", required=True, metavar="SEG.dcm", help="output file (atomic)")
    p.add_argument("--names", help="segment names for labels 1, 2, ... (comma separated)")
    p.add_argument(
        "--manual",
        action="store_true",
        help="hand-drawn labels (algorithm type MANUAL); default: AUTOMATIC, napari-plaque "
        "and its version as the algorithm",
    )
    p.add_argument(
        "--series-number",
        type=int,
        default=SEG_DEFAULTS["series_number"],
        help="SeriesNumber of the SEG",
    )
    p.add_argument(
        "--description",
        default=SEG_DEFAULTS["series_description"],
        help="SeriesDescription",
    )
    add_json_option(p, "print a JSON summary (out, series, labels, segments)")
    p.set_defaults(func=_cmd_export_seg)

    q = sub.add_parser(
        "pull",
        help="retrieve a study (or one series) from a DICOMweb server (QIDO-RS / WADO-RS)",
        description=(
            "Retrieves the study into OUT/<SeriesInstanceUID>/<SOPInstanceUID>.dcm. OUT must "
            "be new or empty; files arrive in a hidden folder renamed at the end, so a failed "
            "pull leaves nothing half-written. The server is not trusted: answers are "
            "streamed under a total deadline and byte caps, the numbers of series and "
            "instances are capped, every instance must be DICOM, of the study and series "
            "asked for, once, with its pixel data, and all the instances the server announced "
            "must arrive; redirects to another origin are refused when credentials are in "
            "use."
        ),
    )
    q.add_argument("url", metavar="URL", help="DICOMweb root, e.g. http://host:8042/dicom-web")
    q.add_argument("--study", required=True, metavar="UID", help="StudyInstanceUID")
    q.add_argument("--series", metavar="UID", help="only this SeriesInstanceUID")
    q.add_argument("--out", required=True, metavar="DIR", help="destination folder")
    add_json_option(q, "print a JSON summary")
    g = q.add_argument_group(
        "limits (a server that exceeds one is cut off: exit 2, nothing kept)"
    )
    for flag, key, kind, metavar, text in _PULL_LIMIT_OPTIONS:
        g.add_argument(flag, type=kind, metavar=metavar, default=DICOMWEB_DEFAULTS[key],
                       help=text)  # fmt: skip
    _add_auth(q)
    q.set_defaults(func=_cmd_pull)

    r = sub.add_parser(
        "push",
        help="store DICOM files (a series, a SEG, an SR) on a DICOMweb server (STOW-RS)",
        description=(
            "Every file is read and checked before the first is sent; folders are searched "
            "for DICOM files (other files are skipped)."
        ),
    )
    r.add_argument("url", metavar="URL", help="DICOMweb root, e.g. http://host:8042/dicom-web")
    r.add_argument("files", nargs="+", metavar="FILES", help="DICOM files or folders")
    add_json_option(r, "print a JSON summary")
    _add_auth(r)
    r.set_defaults(func=_cmd_push)
