#!/usr/bin/env bash
# Install napari-plaque with napari[pyqt6] and torch (CPU build) into .venv and open the demo.
# Usage: bash scripts/demo.sh [--screenshot FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
# without a display Qt aborts (rc 134): say what works instead, before installing anything
if [[ "$(uname -s)" == Linux && -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" \
      && "${QT_QPA_PLATFORM:-}" != offscreen* && " $* " != *" --screenshot"* ]]; then
    echo "demo.sh: no display (DISPLAY is not set), so the demo's napari windows cannot open." >&2
    echo "On a machine without a screen write a picture of them instead:" >&2
    echo "  bash scripts/demo.sh --screenshot demo.png   (starts a virtual display, Xvfb)" >&2
    exit 2
fi
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[all]"
exec "$VENV/bin/napari-plaque" demo "$@"
