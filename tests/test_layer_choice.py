"""Default layer choices: one Qt-free rule (layers.default_layer), and docks opened from the
Plugins menu pick the plausible layer, keep a user's choice, and never use one layer twice."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from napari_plaque.layers import PREDICTION_TAGS, PREDICTION_WORDS, default_layer


def _ly(name, tag=None):
    return SimpleNamespace(name=name, metadata={"napari_plaque": tag} if tag else {})


def test_rule_prefers_the_kind_then_untagged_then_newest():
    layers = [_ly("ct", "ct"), _ly("pullback", "ivus"), _ly("other")]
    assert default_layer(layers, "ct") == "ct"  # the newer pullback is not a CT
    assert default_layer(layers, "ivus") == "pullback"
    assert default_layer([_ly("pullback", "ivus"), _ly("x")], "ct") == "x"  # untagged > wrong
    assert default_layer(layers) == "other"  # no kind: the newest
    assert default_layer([]) is None


def test_rule_for_an_automated_and_a_reference_labels_layer():
    labels = [_ly("manual"), _ly("calcium", "model-labels"), _ly("z")]
    auto = default_layer(labels, prefer_tags=PREDICTION_TAGS, prefer_words=PREDICTION_WORDS)
    assert auto == "calcium"
    assert default_layer(labels, avoid=(auto,), prefer_words=("manual",)) == "manual"
    assert default_layer([_ly("a_pred"), _ly("b")], prefer_words=PREDICTION_WORDS) == "a_pred"
    assert default_layer([_ly("only")], avoid=("only",)) == "only"  # nothing else: still offered


def test_qc_dock_picks_prediction_and_reference_and_keeps_a_users_choice(make_napari_viewer):
    viewer = make_napari_viewer()
    lab = np.zeros((4, 16, 16), np.uint8)
    viewer.add_labels(lab, name="reader A")
    viewer.add_labels(lab, name="unet", metadata={"napari_plaque": "model-labels"})
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Segmentation QC")
    assert w.pred_combo.currentText() == "unet"
    assert w.ref_combo.currentText() == "reader A"
    w.ref_combo.setCurrentText("unet")  # the user's own choice ...
    viewer.add_labels(lab, name="reader B")  # ... survives layers being added
    assert w.ref_combo.currentText() == "unet"
    assert w.pred_combo.currentText() == "unet"


def test_calcium_dock_defaults_to_the_ct_not_a_newer_pullback(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 16, 16), np.int16), name="CT", metadata={"napari_plaque": "ct"})
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    viewer.add_image(np.zeros((5, 16, 16), np.uint8), name="IVUS",
                     metadata={"napari_plaque": "ivus"})  # fmt: skip
    assert w.image_combo.currentText() == "CT"
    viewer.add_image(np.zeros((4, 16, 16), np.int16), name="CT 2",
                     metadata={"napari_plaque": "ct"})  # fmt: skip
    assert w.image_combo.currentText() == "CT 2"  # not chosen by the user: follows the newest CT


def test_rule_prefers_visible_then_selected():
    a, b = _ly("CCTA", "ct"), _ly("CAC (non-contrast)", "ct")
    b.visible = False  # the hidden twin added last
    assert default_layer([a, b], "ct") == "CCTA"
    assert default_layer([a, b], "ct", selected=["CAC (non-contrast)"]) == "CAC (non-contrast)"
    assert default_layer([_ly("plaques"), _ly("vessels")], avoid_words=("vessel",)) == "plaques"


def test_qc_dock_uses_the_image_on_screen_and_not_a_mask_as_reference(make_napari_viewer, qtbot):
    """Issue 21 item 6: QC picked the last added, hidden image and `vessels` as the reference."""
    viewer = make_napari_viewer()
    img = np.zeros((4, 16, 16), np.int16)
    lab = np.zeros((4, 16, 16), np.uint8)
    lab[1:3, 4:8, 4:8] = 1
    viewer.add_image(img, name="synthetic CCTA", metadata={"napari_plaque": "ct"})
    viewer.add_labels(lab, name="plaques")
    viewer.add_labels(lab, name="vessels")
    viewer.add_image(img, name="CAC (non-contrast)", visible=False,
                     metadata={"napari_plaque": "ct"})  # fmt: skip
    viewer.add_labels(lab, name="synthetic CCTA unet", metadata={"napari_plaque": "model-labels"})
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Segmentation QC")
    assert w.image_combo.currentText() == "synthetic CCTA"
    assert w.pred_combo.currentText() == "synthetic CCTA unet"
    assert w.ref_combo.currentText() == "plaques"
    w.compute()
    qtbot.waitUntil(lambda: w.result is not None and w._worker is None, timeout=15000)
    # the result says what it came from
    assert "synthetic CCTA unet vs plaques on synthetic CCTA" in w.status.text()
