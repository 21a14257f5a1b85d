"""``api.study_stats`` / ``api.study_cohort`` equal ``napari-plaque study-stats`` /
``study-cohort`` (issue 23): the same JSON and CSV rows in each mode."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.report import write_csv


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(4)
    n = 120
    ics = rng.gamma(1.3, 80, n)
    age = rng.normal(65, 10, n)
    lam = 0.0004 * np.exp(np.log(1.8) * (ics >= 85))
    t_ev, t_c = rng.exponential(1 / lam), rng.uniform(400, 3000, n)
    rows = [{"patient": f"P{i // 2}", "days": round(float(min(a, b)), 1), "poce": int(a <= b),
             "ics": round(float(x), 1), "age": round(float(y), 1),
             "sex": "F" if i % 3 else "M"}
            for i, (a, b, x, y) in enumerate(zip(t_ev, t_c, ics, age, strict=True))]
    path = tmp_path_factory.mktemp("api_stats") / "t.csv"
    write_csv(path, rows)
    return path


CASES = [
    ("binary", ["--outcome", "poce", "--predictors", "ics,age", "--n-boot", "50"],
     {"outcome": "poce", "predictors": "ics,age", "n_boot": 50}),
    ("survival", ["--time", "days", "--event", "poce", "--cut", "ics=85", "--n-boot", "20"],
     {"time": "days", "event": "poce", "cut": ["ics=85"], "n_boot": 20}),
    ("linear", ["--linear", "ics", "--predictors", "age", "--transform", "log"],
     {"linear": "ics", "predictors": ["age"], "transform": "log"}),
]  # fmt: skip


@pytest.mark.parametrize("mode, argv, kwargs", CASES, ids=[c[0] for c in CASES])
def test_api_study_stats_equals_the_cli(table, tmp_path, capsys, mode, argv, kwargs):
    res = api.study_stats(table, **kwargs)
    assert res.mode == mode and res.stats is not None
    csv_path = tmp_path / "rows.csv"
    assert main(["study-stats", str(table), *argv, "--csv", str(csv_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert csv_path.read_text() == res.to_csv_text()


def test_api_study_stats_table1_alone_and_with_an_outcome(table, tmp_path, capsys):
    t1 = tmp_path / "t1.csv"
    res = api.study_stats(table, table1=t1, group="sex", variables="age,ics")
    assert res.mode == "table1" and res.table_1 is not None
    assert main(["study-stats", str(table), "--table1", str(tmp_path / "cli.csv"),
                 "--group", "sex", "--variables", "age,ics", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert t1.read_text() == (tmp_path / "cli.csv").read_text() == res.to_csv_text()
    both = api.study_stats(table, outcome="poce", predictors="ics", n_boot=20, table1=t1)
    assert both.mode == "binary" and "table1" in both.to_dict()


def test_api_study_stats_bad_input(table, tmp_path):
    with pytest.raises(ValueError, match="missing.csv"):
        api.study_stats(tmp_path / "missing.csv", outcome="poce")
    with pytest.raises(ValueError, match="--alpha"):
        api.study_stats(table, outcome="poce", alpha=2)
    with pytest.raises(ValueError, match="need --time and --event"):
        api.study_stats(table, outcome="poce", per=["ics=100"])
    with pytest.raises(ValueError, match="t.csv"):
        api.study_stats(table, outcome="nope")


def test_api_study_cohort_equals_the_cli(tmp_path, capsys):
    from napari_plaque.outcomes.synthetic import STUDIES
    from napari_plaque.report import rows_to_csv_text

    name = sorted(STUDIES)[0]
    res = api.study_cohort(name, n=30, seed=3)
    assert main(["study-cohort", name, str(tmp_path / "c.csv"), "--n", "30", "--seed", "3"]) == 0
    assert (tmp_path / "c.csv").read_text() == rows_to_csv_text(res.to_rows())
    assert res.to_dict()["n"] == 30
    with pytest.raises(ValueError, match="unknown study"):
        api.study_cohort("nope")
