"""``python -m napari_plaque``: the command line (same as ``napari-plaque``)."""

from napari_plaque.cli import main

raise SystemExit(main())
