"""Seeded fuzz of cohort manifests (issue 22, "the fuzz test extended to manifests").

Each case is a small manifest CSV, mutated: ids with path characters, absolute ids, ``..``,
control characters, empty ids and paths, duplicate ids, quoted newlines, missing columns, stray
bytes, BOMs, very long cells. ``read_manifest`` must either refuse (ValueError naming the
manifest) or return studies whose ids are plain file names and whose per-study outputs stay in
the output folder (``cohort.cli.study_output``); never crash, never an id that leaves the folder.
Run ``python tests/test_fuzz_manifests.py 2000`` for a bigger campaign with the figures.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from napari_plaque.cohort.cli import study_output
from napari_plaque.cohort.study import read_manifest

PIECES = ["a", "b", "x1", "../x", "..", "/abs", "C:x", "a/b", "a\\b", "\x00", "\x1b", "\t", "",
          " ", "é", "..\\..\\x", "\u202e", "id" * 200, "\n", "\r", ".", "-", "a.dcm"]


def _case(rng: random.Random, folder: Path) -> bytes:
    n = rng.randint(1, 4)
    header = rng.choice([["study_id", "path"], ["path"], ["study_id", "path", "roi"],
                         ["id", "file"], ["study_id", "path", "path"]])
    lines = [",".join(header)]
    for _ in range(n):
        cells = []
        for col in header:
            v = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3)))
            if col in ("path", "file", "roi") and rng.random() < 0.6:
                v = str(folder / f"s{rng.randint(0, 3)}")
            if rng.random() < 0.3:
                v = '"' + v.replace('"', '""') + '"'
            cells.append(v)
        lines.append(",".join(cells))
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8", "surrogatepass")
    r = rng.random()
    if r < 0.1:
        data = b"\xef\xbb\xbf" + data
    elif r < 0.15:
        data = data + bytes(rng.randrange(256) for _ in range(8))
    return data


def campaign(n: int, tmp: Path, seed: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    out_dir = tmp / "out"
    out_dir.mkdir(exist_ok=True)
    counts = {"tried": 0, "refused": 0, "ok": 0, "crash": 0, "escaped": 0}
    for k in range(n):
        man = tmp / f"m{k}.csv"
        man.write_bytes(_case(rng, tmp))
        counts["tried"] += 1
        try:
            studies = read_manifest(man)
        except ValueError as exc:
            assert man.name in str(exc), f"case {k}: message names no manifest: {exc}"
            counts["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - counted and reported
            counts["crash"] += 1
            print(f"case {k}: {type(exc).__name__}: {exc}")
            continue
        counts["ok"] += 1
        for s in studies:
            try:
                p = study_output({}, out_dir, s, ".csv")
            except FileExistsError:
                continue
            if p.resolve().parent != out_dir.resolve():
                counts["escaped"] += 1
    return counts


def test_fuzz_manifests(tmp_path):
    c = campaign(300, tmp_path)
    assert c["crash"] == 0 and c["escaped"] == 0, c
    assert c["refused"] > 0 and c["ok"] > 0, c  # both kinds were exercised


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as d:
        print(campaign(n, Path(d)))
    sys.exit(0)
