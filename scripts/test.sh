#!/usr/bin/env bash
# Install napari-plaque with its test extras into a virtual environment and run the whole test
# suite under Xvfb (pytest-xvfb). Usage: bash scripts/test.sh [pytest args]
# Env: VENV (default .venv), SKIP_INSTALL=1 to reuse an existing environment, RUN_SLOW=1 to include
# the tests marked slow (long real-data round trips, bigger fuzz runs, training); the default run
# leaves them out so the whole CI run stays well under 20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  bash scripts/install-system-deps.sh
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # the CPU build of torch 2.13.0; any other version pulls several GB of CUDA packages
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e ".[testing,torch]"
fi
"$VENV/bin/python" -m ruff check src tests benchmarks scripts
"$VENV/bin/npe2" validate napari-plaque
MARK=(-m "not slow")
if [ "${RUN_SLOW:-0}" = "1" ]; then MARK=(); fi
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "${MARK[@]}" "$@"
