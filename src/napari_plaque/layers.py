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


#: metadata keys the converters below own (the core type's own fields; ``meta`` is stored
#: beside them, and under ``META_KEY`` so a meta entry that shares a name survives too)
META_KEY = "meta"
_CT_KEYS = ("napari_plaque", "spacing_mm", "origin_mm", "direction", META_KEY)
_PULLBACK_KEYS = (
    "napari_plaque", "frame_time_s", "pullback_rate_mm_s", "pixel_spacing_mm", "assumed",
    "source", "uid_hash", "frame_times_s", META_KEY,
)


def ct_layer_data(vol: CTVolume, **kwargs: Any) -> LayerDataTuple:
    """An image layer tuple for a CT volume (grey, cardiac window, mm scale).

    Every field of :class:`CTVolume` goes into the layer (``hu`` as data, spacing and origin as
    scale / translate and in the metadata, direction, meta, name), so :func:`volume_from_layer`
    gives back the same volume.
    """
    meta = {
        **vol.meta,
        "napari_plaque": "ct",
        "spacing_mm": list(vol.spacing_mm),
        "origin_mm": list(vol.origin_mm),
        "direction": np.asarray(vol.direction).tolist(),
        META_KEY: dict(vol.meta),
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
    """An image layer tuple for an IVUS pullback (lazy frames, mm scale).

    Every field of :class:`Pullback` goes into the layer, per-frame times included (the fusion
    dock maps irregular frame times from them), so :func:`pullback_from_layer` gives it back.
    """
    times = pb.frame_times_s
    meta = {
        **pb.meta,
        "napari_plaque": "ivus",
        "frame_time_s": pb.frame_time_s,
        "pullback_rate_mm_s": pb.pullback_rate_mm_s,
        "pixel_spacing_mm": list(pb.pixel_spacing_mm),
        "assumed": sorted(pb.assumed),
        "source": pb.source,
        "uid_hash": pb.uid_hash,
        "frame_times_s": None if times is None else np.asarray(times, float).tolist(),
        META_KEY: dict(pb.meta),
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


def core_meta(meta: dict[str, Any], own: tuple[str, ...]) -> dict[str, Any]:
    """The core type's ``meta`` from a layer's metadata: everything the type does not own (an
    entry edited or added on the layer wins), plus the stored copy's entries that share a name
    with a field (those the flat metadata cannot hold)."""
    stored = meta.get(META_KEY)
    out = {k: v for k, v in meta.items() if k not in own}
    if isinstance(stored, dict):
        return {**stored, **out}
    return out


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
    md = dict(getattr(layer, "metadata", {}) or {})
    direction = np.asarray(md.get("direction", np.eye(3).tolist()), dtype=float)
    return CTVolume(
        hu=data,
        spacing_mm=_layer_scale(layer),
        origin_mm=layer_geometry(layer)[1],
        direction=direction,
        meta=core_meta(md, _CT_KEYS),
        name=str(layer.name),
    )


def pullback_from_layer(layer: Any) -> Pullback:
    """A :class:`Pullback` from a napari image layer made by the IVUS reader (or any 3D image)."""
    md = dict(getattr(layer, "metadata", {}) or {})
    scale = _layer_scale(layer)
    frame_time = float(md.get("frame_time_s", 1 / 30))
    rate = float(md.get("pullback_rate_mm_s", 0.5))
    assumed = set(md.get("assumed", []))
    if "frame_time_s" not in md:
        assumed.add("frame_time_s")
        rate = scale[0] / frame_time
    px = tuple(md.get("pixel_spacing_mm", scale[1:]))
    times = md.get("frame_times_s")
    return Pullback(
        frames=layer.data,
        frame_time_s=frame_time,
        pullback_rate_mm_s=rate,
        pixel_spacing_mm=(float(px[0]), float(px[1])),
        assumed=assumed,
        meta=core_meta(md, _PULLBACK_KEYS),
        source=str(md.get("source", "")),
        uid_hash=str(md.get("uid_hash", "")),
        name=str(layer.name),
        frame_times_s=None if times is None else np.asarray(times, dtype=float),
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
    selected: Any = (),
    avoid_words: tuple[str, ...] = (),
) -> str | None:
    """The name of the most plausible layer for a picker (one rule for every dock).

    ``layers`` are candidates in viewer order (newest last). A layer tagged ``kind`` beats an
    untagged one, which beats one tagged for something else (a pullback is never the default
    for a CT dock while a CT is open); ``prefer_tags`` / ``prefer_words`` (in the name) raise a
    layer; a layer the user selected (``selected``: names, e.g. of ``viewer.layers.selection``)
    is raised, a hidden one lowered (the image on screen, not the hidden non-contrast twin
    added last), a name holding one of ``avoid_words`` lowered (a vessel mask is no QC
    reference); names in ``avoid`` (e.g. the layer the other picker holds) come last. Among
    equals the newest wins. None when there is no candidate.
    """
    chosen = {str(getattr(n, "name", n)) for n in selected}
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
        if any(w in lname for w in avoid_words):
            score -= 1.0
        if str(ly.name) in chosen:  # below a tag or a word: napari selects every new layer
            score += 0.75
        if not getattr(ly, "visible", True):
            score -= 0.5
        if ly.name in avoid:
            score -= 10.0
        if best is None or (score, i) >= best:
            best, name = (score, i), str(ly.name)
    return name
