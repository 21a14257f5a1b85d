"""``api.readers`` against ``napari-plaque readers --json`` (issue 23)."""

from __future__ import annotations

import json

import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.ivus.arcs import ArcSet, save_arcs
from napari_plaque.ivus.readers import reader_path


def _case(tmp_path, name, seed, extents, n=6):
    from napari_plaque.samples.ivus import make_ivus_sample

    src = tmp_path / name
    pb, _ = make_ivus_sample(src, seed=seed, n_frames=n, size=64)
    files = []
    for rd, frames, e in extents:
        s = ArcSet(pb.n_frames, pb.frame_shape)
        for f in range(frames):
            s.add(f, "calcium", 0, e, annotator=rd)
        s.stamp(pb, 360)
        s.reader = rd
        files.append(save_arcs(s, reader_path(src, rd)))
    return src, pb, files


def test_readers_one_pullback_equals_cli_json(tmp_path, capsys):
    src, pb, files = _case(tmp_path, "pb.dcm", 0, [("A", 4, 90), ("B", 5, 90), ("C", 4, 45)])
    res = api.readers(str(src), arcs=[str(f) for f in files], frames="0:5")
    capsys.readouterr()
    assert main(["readers", str(src), "--arcs", *map(str, files), "--frames", "0:5",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert [r["reader"] for r in res.to_rows()] == ["A", "B", "C"]
    assert res.to_dict()["fleiss"]["raters"] == 3
    # a Pullback in memory: the same figures (the report names the pullback by its repr)
    mem = api.readers(pb, arcs=[str(f) for f in files], frames="0:5")
    assert mem.to_dict()["pairwise"] == res.to_dict()["pairwise"]
    with pytest.raises(ValueError, match="2 or more"):
        api.readers(str(src), arcs=[str(files[0])])
    with pytest.raises(ValueError, match="not both"):
        api.readers(str(src), arcs=[str(f) for f in files], manifest="m.csv")


def test_readers_manifest_equals_cli_json(tmp_path, capsys):
    rows = ["pullback,reader,arcs"]
    for i, e in enumerate((10, 40, 80)):
        src, _, files = _case(tmp_path, f"p{i}.dcm", i, [("A", 1, e), ("B", 1, e)])
        rows += [f"{src.name},{rd},{f.name}" for rd, f in zip("AB", files, strict=True)]
    man = tmp_path / "m.csv"
    man.write_text("\n".join(rows) + "\n")
    res = api.readers(manifest=str(man))
    capsys.readouterr()
    assert main(["readers", "--manifest", str(man), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert res.to_dict()["icc_ics"]["icc"] == pytest.approx(1.0)
    assert len(res.to_rows()) == 6 and len(res.pullbacks) == 3
    assert main(["readers", "--manifest", str(man)]) == 0
    assert "ICC(2,1) of ICS over 3 pullbacks, 2 readers" in capsys.readouterr().out
    man.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(ValueError, match="reader\\(s\\) B"):
        api.readers(manifest=man)
