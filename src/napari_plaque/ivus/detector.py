"""One A-line detector interface for the SVM and the deep model.

:func:`load_aline_detector` opens either kind of model file (an SVM ``.npz`` from
:mod:`napari_plaque.ivus.svm`, or a ``.pt`` checkpoint of task ``alines`` from
:mod:`napari_plaque.models`) and returns an :class:`ALineDetector` whose
:meth:`~ALineDetector.iter_predict` yields frames done and returns the predicted arcs as an
:class:`~napari_plaque.ivus.arcs.ArcSet` either way. A model of another task (a CT
segmentation model) is refused with a message naming the file. torch is imported only for
``.pt`` files.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError
from .arcs import ArcSet

__all__ = ["ALineDetector", "load_aline_detector"]


@dataclass
class ALineDetector:
    """A loaded A-line detector (SVM or deep), predicting arcs on a pullback."""

    name: str
    kind: str  # "svm" or "deep"
    path: Path
    classes: list[str]
    impl: Any = field(repr=False)
    synthetic: bool = False

    def iter_predict(
        self, pullback: Any, center: Any = None, **kwargs: Any
    ) -> Generator[int, None, ArcSet]:
        """Yields frames done; returns the predicted arcs (an ArcSet for this pullback)."""
        if self.kind == "svm":
            from .svm import iter_predict_pullback

            _, arcs = yield from iter_predict_pullback(self.impl, pullback, center)
            return arcs
        from .deep import alines_to_arcset, iter_predict_pullback

        c = None if center is None else np.asarray(center, float)
        if c is not None and c.ndim == 2:
            if np.allclose(c, c[0]):
                c = c[0]
            else:
                raise ValueError(
                    "the deep A-line model predicts about one centre per pullback; switch the "
                    "annotator to the catheter centre to use it"
                )
        pred = yield from iter_predict_pullback(
            self.impl, pullback, center=None if c is None else tuple(c), **kwargs
        )
        return alines_to_arcset(pred, annotator=f"model {self.name}")


def load_aline_detector(path: str | Path) -> ALineDetector:
    """Open an SVM (``.npz``) or deep (``.pt``) A-line model; FormatError/ValueError if not one."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        from .svm import load_model

        m = load_model(p)
        cls = str(m.meta.get("class", "calcium"))
        return ALineDetector(p.stem, "svm", p, [cls], m)
    if p.suffix.lower() in (".pt", ".pth"):
        from ..models.checkpoint import load_checkpoint

        lm = load_checkpoint(p)
        if lm.task != "alines":
            raise ValueError(
                f"{p}: a {lm.task!r} model (for CT volumes) cannot detect calcium on an IVUS "
                "pullback; choose an A-line model"
            )
        return ALineDetector(p.stem, "deep", p, list(lm.classes), lm, bool(lm.synthetic))
    raise FormatError(p, "not an A-line model (expected an SVM .npz or a napari-plaque .pt)")
