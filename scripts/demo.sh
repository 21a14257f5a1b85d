#!/usr/bin/env bash
# Install napari-plaque with napari[pyqt6] and torch (CPU build) into .venv and open the demo.
# Usage: bash scripts/demo.sh [--screenshot FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[all]"
exec "$VENV/bin/napari-plaque" demo "$@"
