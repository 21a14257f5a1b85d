"""Convert core types to napari layer data tuples and back, without importing napari.

Every layer napari-plaque creates carries ``scale`` in mm and ``translate`` where known, so CT,
masks and model outputs overlay exactly. Widgets use :func:`volume_from_layer` and
:func:`pullback_from_layer` to get core types back from layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .types import CTVolume, Pullback

#: physical unit of every axis of every layer napari-plaque makes (scale bar reads mm)
UNITS = "mm"

#: default CT display window (cardiac/calcium friendly): W 1000, L 200
CT_CONTRAST_LIMITS = (-300.0, 700.0)


def window(width: float, level: float) -> tuple[float, float]:
    """Contrast limits (low, high) HU of a CT window given as width and level."""
    return (level - width / 2.0, level + width / 2.0)


#: CT window presets (name -> contrast limits in HU); see docs/conventions.md
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "cardiac (W 1000 L 200)": CT_CONTRAST_LIMITS,
    "calcium (W 400 L 50)": window(400, 50),
    "CTA (W 800 L 300)": window(800, 300),
    "lung (W 1500 L -600)": window(1500, -600),
}

LayerDataTuple = tuple[Any, dict[str, Any], str]


def ct_layer_data(vol: CTVolume, **kwargs: Any) -> LayerDataTuple:
    """An image layer tuple for a CT volume (grey, cardiac window, mm scale)."""
    meta = {
        "napari_plaque": "ct",
        "spacing_mm": list(vol.spacing_mm),
        "origin_mm": list(vol.origin_mm),
        "direction": np.asarray(vol.direction).tolist(),
        **vol.meta,
    }
    attrs = {
        "name": vol.name,
        "scale": tuple(vol.spacing_mm),
        "translate": tuple(vol.origin_mm),
        "units": UNITS,
        "colormap": "gray",
        "contrast_limits": CT_CONTRAST_LIMITS,
        "metadata": meta,
    }
    attrs.update(kwargs)
    return (vol.hu, attrs, "image")


def labels_layer_data(
    labels: np.ndarray, like: CTVolume | Pullback | None = None, name: str = "labels", **kwargs: Any
) -> LayerDataTuple:
    """A labels layer tuple aligned to ``like`` (same scale/translate)."""
    attrs: dict[str, Any] = {"name": name}
    if like is not None:
        attrs["units"] = UNITS
    if isinstance(like, CTVolume):
        attrs["scale"] = tuple(like.spacing_mm)
        attrs["translate"] = tuple(like.origin_mm)
    elif isinstance(like, Pullback):
        attrs["scale"] = like.scale
    attrs.update(kwargs)
    return (np.asarray(labels), attrs, "labels")


def pullback_layer_data(pb: Pullback, **kwargs: Any) -> LayerDataTuple:
    """An image layer tuple for an IVUS pullback (lazy frames, mm scale)."""
    meta = {
        "napari_plaque": "ivus",
        "frame_time_s": pb.frame_time_s,
        "pullback_rate_mm_s": pb.pullback_rate_mm_s,
        "pixel_spacing_mm": list(pb.pixel_spacing_mm),
        "assumed": sorted(pb.assumed),
        "source": pb.source,
        "uid_hash": pb.uid_hash,
        **pb.meta,
    }
    attrs = {
        "name": pb.name,
        "scale": pb.scale,
        "units": UNITS,
        "colormap": "gray",
        "contrast_limits": (0, 255),
        "metadata": meta,
        "multiscale": False,
    }
    attrs.update(kwargs)
    return (pb.frames, attrs, "image")


def layer_geometry(layer: Any, ndim: int = 3) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(scale, translate) in mm of a layer's last ``ndim`` axes: the one place widgets read
    a layer's geometry from (new layers made from it line up exactly)."""
    scale = tuple(float(s) for s in np.asarray(layer.scale)[-ndim:])
    translate = tuple(float(t) for t in np.asarray(layer.translate)[-ndim:])
    return scale, translate


def _layer_scale(layer: Any) -> tuple[float, ...]:
    return layer_geometry(layer)[0]


def volume_from_layer(layer: Any) -> CTVolume:
    """A :class:`CTVolume` from a napari image (or labels) layer; spacing from ``layer.scale``."""
    data = np.asarray(layer.data)
    if data.ndim != 3:
        raise ValueError(f"layer {layer.name!r} is {data.ndim}D; a CT volume must be 3D")
    meta = dict(getattr(layer, "metadata", {}) or {})
    direction = np.asarray(meta.pop("direction", np.eye(3).tolist()), dtype=float)
    for k in ("spacing_mm", "origin_mm", "napari_plaque"):
        meta.pop(k, None)
    return CTVolume(
        hu=data,
        spacing_mm=_layer_scale(layer),
        origin_mm=layer_geometry(layer)[1],
        direction=direction,
        meta=meta,
        name=str(layer.name),
    )


def pullback_from_layer(layer: Any) -> Pullback:
    """A :class:`Pullback` from a napari image layer made by the IVUS reader (or any 3D image)."""
    meta = dict(getattr(layer, "metadata", {}) or {})
    scale = _layer_scale(layer)
    frame_time = float(meta.pop("frame_time_s", 1 / 30))
    rate = float(meta.pop("pullback_rate_mm_s", 0.5))
    assumed = set(meta.pop("assumed", []))
    if "frame_time_s" not in layer.metadata:
        assumed.add("frame_time_s")
        rate = scale[0] / frame_time
    px = tuple(meta.pop("pixel_spacing_mm", scale[1:]))
    for k in ("napari_plaque",):
        meta.pop(k, None)
    return Pullback(
        frames=layer.data,
        frame_time_s=frame_time,
        pullback_rate_mm_s=rate,
        pixel_spacing_mm=(float(px[0]), float(px[1])),
        assumed=assumed,
        meta=meta,
        source=str(meta.pop("source", "")),
        uid_hash=str(meta.pop("uid_hash", "")),
        name=str(layer.name),
    )


#: words in a labels layer's name that mark an automated result (QC's "automated" side)
PREDICTION_WORDS = ("pred", "auto", "model", "infer", "seg")
#: the ``napari_plaque`` metadata tags of automated layers
PREDICTION_TAGS = ("model-labels", "model-arcs")


def layer_tag(layer: Any) -> str | None:
    """The ``napari_plaque`` metadata tag of a layer (``ct``, ``ivus``, ``model-labels`` ...)."""
    tag = (getattr(layer, "metadata", None) or {}).get("napari_plaque")
    return str(tag) if tag is not None else None


def default_layer(
    layers: Any,
    kind: str | None = None,
    prefer_words: tuple[str, ...] = (),
    prefer_tags: tuple[str, ...] = (),
    avoid: tuple[str, ...] = (),
) -> str | None:
    """The name of the most plausible layer for a picker (one rule for every dock).

    ``layers`` are candidates in viewer order (newest last). A layer tagged ``kind`` beats an
    untagged one, which beats one tagged for something else (a pullback is never the default
    for a CT dock while a CT is open); ``prefer_tags`` / ``prefer_words`` (in the name) raise a
    layer; names in ``avoid`` (e.g. the layer the other picker holds) come last. Among equals
    the newest wins. None when there is no candidate.
    """
    best: tuple[float, int] | None = None
    name: str | None = None
    for i, ly in enumerate(layers):
        tag = layer_tag(ly)
        score = 0.0
        if kind is not None:
            score += 2.0 if tag == kind else (1.0 if tag is None else 0.0)
        if tag is not None and tag in prefer_tags:
            score += 2.0
        lname = str(ly.name).lower()
        if any(w in lname for w in prefer_words):
            score += 1.0
        if ly.name in avoid:
            score -= 10.0
        if best is None or (score, i) >= best:
            best, name = (score, i), str(ly.name)
    return name
