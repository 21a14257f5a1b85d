"""A task reads its inputs once (issue 23 item 1): ``cac --sr`` reads each file of the series
once, and a CT path given to an api function decodes only the series it keeps."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from _interop_util import make_series
from napari_plaque import api
from napari_plaque.cli import main


@pytest.fixture
def two_series(tmp_path):
    make_series(tmp_path / "f" / "big", shape=(6, 20, 24), seed=1)
    make_series(tmp_path / "f" / "small", shape=(3, 20, 24), seed=2)
    return tmp_path / "f"


def _count_reads(monkeypatch) -> Counter:
    import pydicom

    reads: Counter = Counter()
    real = pydicom.dcmread

    def counting(fp, *a, **k):
        if isinstance(fp, (str, Path)):
            reads[Path(fp).name] += 1
        return real(fp, *a, **k)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    return reads


def test_cac_sr_reads_each_file_of_the_series_once(tmp_path, monkeypatch, capsys):
    folder = make_series(tmp_path / "ct", seed=3)
    names = sorted(p.name for p in folder.iterdir())
    reads = _count_reads(monkeypatch)
    assert main(["cac", str(folder), "--sr", str(tmp_path / "cli.dcm"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert {n: reads[n] for n in names} == dict.fromkeys(names, 1)
    reads.clear()
    res = api.cac(str(folder), sr=str(tmp_path / "api.dcm"))
    assert {n: reads[n] for n in names} == dict.fromkeys(names, 1)
    assert json.loads(res.to_json_text()) == cli
    assert (tmp_path / "api.dcm").is_file() and (tmp_path / "cli.dcm").is_file()


def test_a_ct_path_decodes_only_the_series_kept(two_series, decode_counter):
    from napari_plaque.api._inputs import ct_volume
    from napari_plaque.io.dicom_series import read_ct_series

    every = read_ct_series(two_series)
    calls = decode_counter
    calls.clear()  # count from here
    vol = ct_volume(two_series)
    assert len(calls) == 6 and all("big" in c for c in calls)
    np.testing.assert_array_equal(vol.hu, every[0].hu)
    assert (vol.spacing_mm, vol.origin_mm, vol.meta) == \
        (every[0].spacing_mm, every[0].origin_mm, every[0].meta)
    calls.clear()  # through a command: qc's --image
    labels = np.zeros(vol.shape, np.uint8)
    labels[1:4, 5:9, 6:10] = 1
    api.qc(labels, labels, image=str(two_series))
    assert len(calls) == 6 and all("big" in c for c in calls)


def test_read_image_decodes_only_the_series_kept(two_series, decode_counter):
    from napari_plaque.io import read_image

    calls = decode_counter
    read_image(two_series)
    assert len(calls) == 6 and all("big" in c for c in calls)


@pytest.mark.parametrize("content", [b"garbage, not numpy", b""])
def test_info_on_a_broken_npy_names_the_file(tmp_path, content, capsys):
    from napari_plaque.cli import main

    bad = tmp_path / "broken.npy"
    bad.write_bytes(content)
    rc = main(["info", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(bad) in err and "--debug" not in err


def test_info_refuses_a_pickled_npy_without_loading_it(tmp_path, capsys):
    import numpy as np

    from napari_plaque.cli import main

    bad = tmp_path / "objects.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rc = main(["info", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "pickle" in err.lower()
