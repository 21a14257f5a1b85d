"""The examples of docs/api.md run (issue 23: an example per api function)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.slow
def test_the_api_examples_run_top_to_bottom(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in _blocks():
        exec(compile(code, str(DOC), "exec"), ns)  # noqa: S102 (our own documentation)
    out = capsys.readouterr().out
    assert "lesion(s)" in out and "arcs" in out


def test_every_api_function_has_an_example():
    from napari_plaque import api

    code = "\n".join(_blocks())
    missing = [n for n in api.FUNCTIONS if f"api.{n}(" not in code]
    assert not missing, f"docs/api.md has no example of {missing}"


def test_every_api_function_is_in_the_table_with_its_command():
    """The table of docs/api.md lists every function (``| `name(...)` | `command` |``)."""
    from napari_plaque import api

    text = DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)\(.*?\)` \| `([\w -]+)` \|", text, re.M))
    missing = sorted(set(api.FUNCTIONS) - set(rows))
    assert not missing, f"docs/api.md's table has no row for {missing}"
    unknown = sorted(set(rows) - set(api.FUNCTIONS))
    assert not unknown, f"docs/api.md's table lists {unknown}, which api.FUNCTIONS lacks"
    for name, cmd in rows.items():  # the command column names the function's command
        res_cls = getattr(api, name).__annotations__["return"]
        assert isinstance(res_cls, str) and res_cls.endswith("Result"), name
        assert cmd.replace(" ", "_").replace("-", "_") in (name, "arcs_interpolate"), (name, cmd)
