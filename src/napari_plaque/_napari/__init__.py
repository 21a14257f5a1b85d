"""The one place for napari adapters (issue 23): everything that speaks napari's language.

* :mod:`.reader` - the npe2 reader hook (``get_reader``) and the layer-data-tuple builders of
  the formats the core reads (:data:`.reader.LAYER_READERS`);
* :mod:`.writer` - the npe2 writer hook (``write_labels``: NIfTI, .npy, DICOM SEG);
* :mod:`.viewer` - the ``napari.current_viewer()`` lookup and the notifications;
* :mod:`.colormaps` - napari colormaps the docks build.

The core (``io``, ``ivus``, ...) never imports this package or napari; ``napari.yaml`` points
here. Nothing is imported at package import time, so ``import napari_plaque._napari.reader``
stays as cheap as the core readers it wraps (napari itself is imported only where a function
needs it).
"""
