"""Parameter forms built with magicgui from a core ``DEFAULTS`` dict (stardist-napari's way):
the defaults live once, beside the function they feed; the form shows them and reads back
what the user set. The ``native`` Qt widgets stay reachable (``form.<name>.native``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox, create_widget


def parameter_form(
    defaults: Mapping[str, Any], options: Mapping[str, Mapping[str, Any]] | None = None
) -> Container:
    """A labelled magicgui form with one widget per key of ``defaults`` (in order).

    ``options[key]`` may give ``label``, ``choices`` (a combo box), ``min``/``max``/``step``,
    ``tooltip``; the widget type follows the default's type (bool, int, float, str)."""
    widgets = []
    for key, value in defaults.items():
        opts = dict((options or {}).get(key, {}))
        label = opts.pop("label", key.replace("_", " ").capitalize())
        tooltip = opts.pop("tooltip", None)
        kw: dict[str, Any] = {"name": key, "value": value, "label": label, "tooltip": tooltip}
        if "choices" in opts:
            w = ComboBox(choices=tuple(opts.pop("choices")), **kw)
        elif isinstance(value, bool):
            w = CheckBox(text=label, **{**kw, "label": ""})
        elif isinstance(value, int):
            w = SpinBox(**kw, **opts)
        elif isinstance(value, float):
            w = FloatSpinBox(**kw, **opts)
        else:
            w = create_widget(value=value, name=key, label=label, options=opts)
        widgets.append(w)
    form = Container(widgets=widgets, labels=True)
    form.margins = (0, 0, 0, 0)
    return form


def form_values(form: Container) -> dict[str, Any]:
    """What the user set, by key."""
    return {w.name: w.value for w in form}
