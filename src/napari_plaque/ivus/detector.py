"""One A-line detector interface for the SVM and the deep model.

:func:`load_aline_detector` opens either kind of model file (an SVM ``.npz`` from
:mod:`napari_plaque.ivus.svm`, or a ``.pt`` checkpoint of task ``alines`` from
:mod:`napari_plaque.models`, or the name of a shipped demo model such as ``demo_alines``) and
returns an :class:`ALineDetector`. :meth:`~ALineDetector.iter_predict` yields frames done and
returns the predicted arcs as an :class:`~napari_plaque.ivus.arcs.ArcSet` either way;
:meth:`~ALineDetector.iter_detect` returns the whole :class:`ALineDetection` (the arcs, the
per-A-line labels of the detector's class and, for the deep model, its per-A-line
probabilities of every class). The annotator dock, ``predict-arcs``, ``propose-frames`` and
``predict`` (an A-line checkpoint) all run a model on a pullback through it. A model of another
task (a CT segmentation model) is refused with a message naming the file. torch is imported
only for ``.pt`` files.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError, OptionError
from .arcs import ArcSet

__all__ = ["ALineDetection", "ALineDetector", "as_aline_detector", "load_aline_detector"]

#: said when a deep model is asked to predict about a centre per frame that differ
_ONE_CENTRE_ADVICE = "switch the annotator to the catheter centre to use it"


@dataclass
class ALineDetection:
    """What an :class:`ALineDetector` found on a pullback."""

    arcs: ArcSet  # every class the model predicts
    labels: np.ndarray  # bool (F, A): the A-lines of the detector's class (``cls``)
    cls: str
    #: the deep model's :class:`~napari_plaque.ivus.deep.ALinePrediction` (probabilities
    #: (F, A, C) of every class, its meta); None for the SVM
    prediction: Any = None


@dataclass
class ALineDetector:
    """A loaded A-line detector (SVM or deep), predicting arcs on a pullback."""

    name: str
    kind: str  # "svm" or "deep"
    path: Path
    classes: list[str]
    impl: Any = field(repr=False)
    synthetic: bool = False

    @property
    def cls(self) -> str:
        """The class measured on the pullback: calcium where the model predicts it."""
        return "calcium" if "calcium" in self.classes else self.classes[0]

    @classmethod
    def from_checkpoint(cls, lm: Any) -> ALineDetector:
        """The deep detector of a loaded checkpoint of task ``alines``
        (:class:`~napari_plaque.models.checkpoint.LoadedModel`); OptionError for another task."""
        p = Path(lm.path or "model.pt")
        if lm.task != "alines":
            from ..models import TASK_INPUT

            what = {"ct": "CT volumes", "radiograph": "chest radiographs"}.get(
                TASK_INPUT.get(lm.task, ""), "another kind of image")
            raise OptionError(
                f"{p}: a {lm.task!r} model (for {what}) cannot detect calcium on an IVUS "
                "pullback; choose an A-line model"
            )
        return cls(p.stem, "deep", p, list(lm.classes), lm, bool(lm.synthetic))

    def iter_detect(
        self, pullback: Any, center: Any = None, annotator: str | None = None, **kwargs: Any
    ) -> Generator[int, None, ALineDetection]:
        """Yields frames done; returns an :class:`ALineDetection`. ``center``: None (the
        catheter), one (cy, cx) or one per frame (the deep model takes one per pullback);
        ``annotator``: the deep model's arcs' annotator (default ``model <name>``); ``kwargs``
        go to the deep model's :func:`~napari_plaque.ivus.deep.iter_predict_pullback`
        (``batch_size``, ``device``, ``amp``)."""
        if self.kind == "svm":
            from .svm import iter_predict_pullback

            labels, arcs = yield from iter_predict_pullback(self.impl, pullback, center)
            return ALineDetection(arcs, labels, self.cls)
        from .active import deep_model_centre
        from .deep import alines_to_arcset, iter_predict_pullback

        c = None if center is None else deep_model_centre(center, _ONE_CENTRE_ADVICE)
        pred = yield from iter_predict_pullback(self.impl, pullback, center=c, **kwargs)
        arcs = alines_to_arcset(pred, annotator=annotator or f"model {self.name}")
        return ALineDetection(arcs, pred.class_labels(self.cls), self.cls, pred)

    def iter_predict(
        self, pullback: Any, center: Any = None, **kwargs: Any
    ) -> Generator[int, None, ArcSet]:
        """Yields frames done; returns the predicted arcs (an ArcSet for this pullback)."""
        found = yield from self.iter_detect(pullback, center, **kwargs)
        return found.arcs


def load_aline_detector(path: str | Path) -> ALineDetector:
    """Open an SVM (``.npz``) or deep (``.pt``) A-line model, or a shipped demo model by name
    (``demo_alines``); FormatError / OptionError (another task) if not one."""
    from ..models import resolve_model

    p = Path(resolve_model(path))
    if p.suffix.lower() == ".npz":
        from .svm import load_model

        m = load_model(p)
        cls = str(m.meta.get("class", "calcium"))
        return ALineDetector(p.stem, "svm", p, [cls], m)
    if p.suffix.lower() in (".pt", ".pth"):
        from ..models.checkpoint import load_checkpoint

        return ALineDetector.from_checkpoint(load_checkpoint(p))
    raise FormatError(p, "not an A-line model (expected an SVM .npz or a napari-plaque .pt)")


def as_aline_detector(model: Any) -> ALineDetector:
    """``model`` as a detector: a path or demo name (:func:`load_aline_detector`), a loaded
    SVM (:class:`~napari_plaque.ivus.svm.SVMModel`), a loaded checkpoint or a detector."""
    if isinstance(model, ALineDetector):
        return model
    if isinstance(model, (str, Path)):
        return load_aline_detector(model)
    from .svm import SVMModel

    if isinstance(model, SVMModel):
        cls = str(model.meta.get("class", "calcium"))
        return ALineDetector("svm", "svm", Path("svm.npz"), [cls], model)
    return ALineDetector.from_checkpoint(model)
