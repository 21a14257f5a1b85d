"""``python -m napari_plaque.cli`` = the ``napari-plaque`` console script."""

import sys

from . import main

sys.exit(main())
