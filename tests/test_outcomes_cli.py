"""`napari-plaque study-stats --time --event`: the survival analysis on the command line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.report import write_csv


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 300
    ics = rng.gamma(1.3, 80, n)
    age = rng.normal(65, 10, n)
    lam = 0.0003 * np.exp(np.log(1.5) * (ics >= 85) + 0.02 * (age - 65))
    t_ev, t_c = rng.exponential(1 / lam), rng.uniform(400, 3000, n)
    death = (rng.random(n) < 0.1) & (t_c < t_ev)
    rows = [
        {"days": round(float(min(a, b)), 1), "poce": int(a <= b), "ics": round(float(x), 1),
         "age": round(float(y), 1), "noncardiac_death": int(d)}
        for a, b, x, y, d in zip(t_ev, t_c, ics, age, death, strict=True)
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("surv") / "cohort.csv"
    write_csv(path, rows)
    return path, rows


def test_survival_json_csv_png(cohort, tmp_path, capsys):
    path, _ = cohort
    files = {k: tmp_path / f"{k}" for k in ("km.png", "cox.csv", "km.csv", "out.json")}
    rc = main(["study-stats", str(path), "--time", "days", "--event", "poce",
               "--per", "ics=100", "--cut", "ics=85", "--adjust", "age", "--horizon-days", "2191",
               "--competing-event", "noncardiac_death", "--n-boot", "50",
               "--plot", str(files["km.png"]), "--csv", str(files["cox.csv"]),
               "--km-csv", str(files["km.csv"]), "--out", str(files["out.json"]), "--json"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    out = json.loads(text)
    assert set(out["cox"]) == {"ics>=85", "ics"}
    adj = out["cox"]["ics>=85"]["adjusted"]
    assert adj["hr_ci"][0] < adj["hr"] < adj["hr_ci"][1] and 0 <= adj["p"] <= 1
    assert out["cox"]["ics"]["per"] == 100
    assert out["logrank"]["df"] == 1
    assert out["competing"]["groups"][0]["event"]["at"][0]["time"] == 2191
    assert json.loads(files["out.json"].read_text())["input"] == out["input"]
    assert files["km.png"].read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(files["cox.csv"].open()))
    assert [r["predictor"] for r in rows] == ["ics>=85", "ics"]
    assert "adjusted HR (95% CI)" in rows[0]
    assert len(list(csv.DictReader(files["km.csv"].open()))) == 2


def test_survival_text_table(cohort, capsys):
    path, _ = cohort
    assert main(["study-stats", str(path), "--time", "days", "--event", "poce",
                 "--cut", "ics=median", "--n-boot", "20"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "log-rank chi2" in out and "HR (95% CI)" in out and "ics >= " in out


@pytest.mark.parametrize(
    "edit, extra, message",
    [
        (lambda r: r.update(days=-5), [], "time column 'days' has 1 negative"),
        (lambda r: r.update(days="soon"), [], "column 'days' row 1 is not a number"),
        (lambda r: r.update(poce=3), [], "event column 'poce' must be coded 0/1"),
        (None, ["--competing-event", "2"], "competing-event code 2 is never used"),
        (None, ["--group", "one"], "single group"),
        (None, ["--cut", "ics=100000"], "single group"),
        (None, ["--predictors", "ics", "--outcome", "poce"], "not both"),
    ],
)
def test_bad_input_exit_2_nothing_written(cohort, tmp_path, capsys, edit, extra, message):
    path, rows = cohort
    rows = [dict(r, one="x") for r in rows]
    if edit:
        edit(rows[0])
    bad = tmp_path / "bad.csv"
    write_csv(bad, rows)
    png = tmp_path / "km.png"
    args = ["study-stats", str(bad), "--time", "days", "--event", "poce", "--plot", str(png),
            "--n-boot", "0", *extra]  # fmt: skip
    if "--cut" not in extra and "--outcome" not in extra:
        args += ["--cut", "ics=85"]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not png.exists()


def test_no_events_in_a_group_and_too_few_events(tmp_path, capsys):
    xs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    rows = [{"t": i + 1, "e": int(i < 3), "g": "a" if i < 5 else "b", "x": xs[i], "z": i % 2,
             "w": (i * 7) % 3} for i in range(10)]  # fmt: skip
    p = tmp_path / "t.csv"
    write_csv(p, rows)
    assert main(["study-stats", str(p), "--time", "t", "--event", "e", "--group", "g"]) == 2
    assert "no events in group b" in capsys.readouterr().err
    assert main(["study-stats", str(p), "--time", "t", "--event", "e", "--predictors", "x",
                 "--adjust", "z,w", "--n-boot", "0"]) == 0  # 3 events, 3 covariates: allowed
    capsys.readouterr()
    rows = [dict(r, e=int(i < 2)) for i, r in enumerate(rows)]
    write_csv(p, rows)
    assert main(["study-stats", str(p), "--time", "t", "--event", "e", "--predictors", "x",
                 "--adjust", "z,w", "--n-boot", "0"]) == 2  # fmt: skip
    assert "fewer events than covariates" in capsys.readouterr().err


def test_survival_options_need_time(cohort, capsys):
    path, _ = cohort
    assert main(["study-stats", str(path), "--outcome", "poce", "--per", "ics=100"]) == 2
    assert "--per need --time and --event" in capsys.readouterr().err
    assert main(["study-stats", str(path), "--time", "days"]) == 2
    assert "both --time and --event" in capsys.readouterr().err


def test_monotone_likelihood_is_refused_not_a_number(tmp_path, capsys):
    rows = [{"t": i + 1, "e": int(i < 3), "x": i} for i in range(10)]  # x orders the events
    p = tmp_path / "m.csv"
    write_csv(p, rows)
    assert main(["study-stats", str(p), "--time", "t", "--event", "e", "--predictors", "x",
                 "--n-boot", "0"]) == 2  # fmt: skip
    assert "did not converge" in capsys.readouterr().err
