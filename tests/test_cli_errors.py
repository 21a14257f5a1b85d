"""The command line's errors (issue 23): a user-facing error (:class:`NapariPlaqueError`, every
error class of the package derives from it) or an ``OSError`` is one line on stderr and exit
code 2; any other ``ValueError`` (maybe a bug) keeps its message with a hint to rerun with
``--debug``, which shows the full traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import napari_plaque.api.files as files
from napari_plaque.cli import DEBUG_HINT, CLIError, main
from napari_plaque.io.errors import NapariPlaqueError, ReaderError


def _raising(exc: BaseException):
    """A stand-in for ``api.files.describe`` (what ``info`` runs) that raises ``exc``."""

    def describe(path):
        raise exc

    return describe


def test_cli_error_is_a_napari_plaque_error():
    assert issubclass(CLIError, NapariPlaqueError) and issubclass(CLIError, ValueError)


def test_a_user_facing_error_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"napari-plaque: error: {bad}: not a file napari-plaque reads (not DICOM, NIfTI, an "
        "image, a frame folder or one of napari-plaque's own files)"
    ]
    assert "Traceback" not in err and "--debug" not in err


@pytest.mark.parametrize(
    "exc", [PermissionError(13, "Permission denied", "/data/x"), OSError("disk full")]
)
def test_an_os_error_is_one_line_and_exit_2(monkeypatch, capsys, exc):
    monkeypatch.setattr(files, "describe", _raising(exc))
    assert main(["info", "x"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"napari-plaque: error: {exc}"]


def test_a_plain_value_error_keeps_its_message_and_points_to_debug(monkeypatch, capsys):
    monkeypatch.setattr(files, "describe", _raising(ValueError("operands could not be broadcast")))
    assert main(["info", "x"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "napari-plaque: error: operands could not be broadcast",
        DEBUG_HINT,
    ]


def test_a_programming_error_is_not_swallowed(monkeypatch):
    monkeypatch.setattr(files, "describe", _raising(TypeError("unsupported operand")))
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["info", "x"])


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_reraises_with_the_traceback(monkeypatch, where):
    exc = ReaderError("a.dcm", "no pixel data")
    monkeypatch.setattr(files, "describe", _raising(exc))
    argv = ["--debug", "info", "x"] if where == "before" else ["info", "x", "--debug"]
    with pytest.raises(ReaderError) as info:
        main(argv)
    assert info.value is exc


def test_debug_prints_the_traceback_from_the_shell(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    cmd = [sys.executable, "-m", "napari_plaque.cli"]
    plain = subprocess.run([*cmd, "info", str(bad)], capture_output=True, text=True, timeout=120)
    debug = subprocess.run(
        [*cmd, "--debug", "info", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ReaderError: " in debug.stderr and "in describe" in debug.stderr


def test_debug_is_in_the_top_level_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--debug" in capsys.readouterr().out
