"""Inference and training widgets: layers with the right scale, Cancel, per-epoch metrics."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_plaque.ivus.dataset import write_aline_dataset  # noqa: E402
from napari_plaque.layers import ct_layer_data, pullback_layer_data  # noqa: E402
from napari_plaque.models.checkpoint import make_metadata, save_model  # noqa: E402
from napari_plaque.models.inference import predict_volume  # noqa: E402
from napari_plaque.models.nets import ALineNet, UNet  # noqa: E402
from napari_plaque.models.synthetic import (  # noqa: E402
    synthetic_ct_case,
    synthetic_polar_pullback,
)
from napari_plaque.types import CTVolume, Pullback  # noqa: E402
from napari_plaque.widgets.models import InferenceWidget, TrainingWidget  # noqa: E402

pytestmark = pytest.mark.gui


def _unet(tmp_path):
    torch.manual_seed(0)
    net = UNet(dims=2, n_classes=2, base_channels=4, levels=2)
    meta = make_metadata(
        net, "ct-seg", ["background", "calcium"], {"kind": "hu_window", "window_hu": [-300, 1300]}
    )
    return save_model(tmp_path / "unet.pt", net, meta)


def _alinenet(tmp_path, width=4):
    torch.manual_seed(0)
    net = ALineNet(n_classes=2, context=1, width=width, n_blocks=2)
    meta = make_metadata(
        net,
        "alines",
        ["calcium", "attenuation"],
        {"kind": "uint8_scale"},
        {"polar": {"n_alines": 90, "depth_samples": 32, "depth_mm": 1.5}},
        {"synthetic": True},
    )
    return save_model(tmp_path / "alines.pt", net, meta)


def _wait(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def test_inference_widget_adds_ct_labels_with_input_scale(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    vol, _ = synthetic_ct_case((4, 24, 28), seed=0, spacing_mm=(2.0, 0.5, 0.5))
    vol = CTVolume(vol.hu, vol.spacing_mm, origin_mm=(10.0, -5.0, 3.0), name="ct")
    data, attrs, _ = ct_layer_data(vol)
    viewer.add_image(data, **attrs)
    w = InferenceWidget(viewer)
    assert w.set_model(_unet(tmp_path))
    w.set_input("ct")
    w.probs_check.setChecked(True)
    assert w.run() is not None
    _wait(qtbot, w)
    assert len(viewer.layers) == 3, w.status.text()
    lab = viewer.layers["ct unet"]
    np.testing.assert_allclose(lab.scale, (2.0, 0.5, 0.5))
    np.testing.assert_allclose(lab.translate, (10.0, -5.0, 3.0))
    want = predict_volume(_unet(tmp_path), vol, device="cpu").labels
    assert np.array_equal(np.asarray(lab.data), want)
    prob = viewer.layers["ct unet probability"]
    np.testing.assert_allclose(prob.scale, (2.0, 0.5, 0.5))
    np.testing.assert_allclose(prob.translate, (10.0, -5.0, 3.0))


def _pullback_layer(viewer, n_frames):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n_frames, 48, 48), dtype=np.uint8)
    pb = Pullback(frames, 0.4, 0.5, (0.05, 0.05), name="pb")
    data, attrs, _ = pullback_layer_data(pb)
    return viewer.add_image(data, **attrs)


def test_inference_widget_ivus_adds_arcs_and_ics(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    layer = _pullback_layer(viewer, 6)
    w = InferenceWidget(viewer)
    assert w.set_model(_alinenet(tmp_path))
    assert "SYNTHETIC" in w.model_info.text()
    w.set_input("pb")
    w.run()
    _wait(qtbot, w)
    arcs = viewer.layers["pb alines arcs"]
    np.testing.assert_allclose(arcs.scale, layer.scale)
    assert np.asarray(arcs.data).shape == (6, 48, 48)
    assert arcs.metadata["arcs"]["format"] == "napari-plaque/arcs"
    pred = w.last_result
    ics = 1000 * pred.class_labels("calcium").mean()
    assert f"ICS {ics:.1f}" in w.ics_label.text()


def test_cancel_stops_inference_and_adds_no_layer(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _pullback_layer(viewer, 400)
    w = InferenceWidget(viewer)
    assert w.set_model(_alinenet(tmp_path, width=16))
    w.set_input("pb")
    w.batch_spin.setValue(1)
    worker = w.run()
    aborted = []
    worker.aborted.connect(lambda: aborted.append(True))
    qtbot.waitUntil(lambda: w.progress.value() >= 1, timeout=30_000)
    w.cancel()
    _wait(qtbot, w)
    assert aborted == [True]
    assert w.progress.value() < 400
    assert [ly.name for ly in viewer.layers] == ["pb"]
    assert w.last_result is None
    assert "cancelled" in w.status.text()


def test_inference_widget_refuses_unsafe_model(make_napari_viewer, tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'x')!r}, 'w')",))

    bad = tmp_path / "bad.pt"
    torch.save({"metadata": "{}", "state_dict": {}, "p": Evil()}, bad)
    w = InferenceWidget(make_napari_viewer())
    assert not w.set_model(bad)
    assert "refused" in w.model_info.text()
    assert not (tmp_path / "x").exists()


def test_training_widget_alines_shows_epoch_metrics(make_napari_viewer, qtbot, tmp_path):
    pbs = [(f"p{s}", *synthetic_polar_pullback(16, seed=s)) for s in range(3)]
    data = write_aline_dataset(tmp_path / "ds", pbs, ["calcium", "attenuation"], 4.0)
    w = TrainingWidget(make_napari_viewer())
    w.task_combo.setCurrentText("alines")
    w.data_edit.setText(str(data))
    w.epochs_spin.setValue(2)
    w.batch_spin.setValue(8)
    w.out_edit.setText(str(tmp_path / "m.pt"))
    assert w.run() is not None
    _wait(qtbot, w)
    lines = w.metrics.toPlainText().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1") and "val_loss" in lines[1]
    assert (tmp_path / "m.pt").is_file()
    assert "saved" in w.status.text()


def test_training_widget_ct_from_layers_and_nnunet_export(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    vol, lab = synthetic_ct_case((8, 32, 32), seed=0)
    data, attrs, _ = ct_layer_data(vol)
    viewer.add_image(data, **attrs)
    viewer.add_labels(lab, name="calcium", scale=vol.spacing_mm)
    w = TrainingWidget(viewer)
    out = w.export_layers(tmp_path / "nn")
    assert (out / "dataset.json").is_file() and len(list((out / "labelsTr").iterdir())) == 1
    w.task_combo.setCurrentText("ct-seg")
    w.source_combo.setCurrentIndex(1)
    w.epochs_spin.setValue(1)
    w.out_edit.setText(str(tmp_path / "ct.pt"))
    assert w.run() is not None
    _wait(qtbot, w)
    assert (tmp_path / "ct.pt").is_file(), w.status.text()
    assert len(w.metrics.toPlainText().splitlines()) == 1


def test_training_widget_reports_errors_from_the_worker(make_napari_viewer, qtbot, tmp_path):
    pbs = []
    for s in range(2):
        polar, labels = synthetic_polar_pullback(8, seed=s)
        pbs.append((f"p{s}", polar, np.zeros_like(labels)))
    data = write_aline_dataset(tmp_path / "ds", pbs, ["calcium", "attenuation"], 4.0)
    w = TrainingWidget(make_napari_viewer())
    w.data_edit.setText(str(data))
    w.out_edit.setText(str(tmp_path / "m.pt"))
    assert w.run() is not None
    _wait(qtbot, w, timeout=20_000)
    assert "no positive A-line" in w.status.text()
    assert not (tmp_path / "m.pt").exists()


def test_predicted_arcs_reach_a_docked_arc_annotator(make_napari_viewer, qtbot, tmp_path):
    from napari_plaque.models import pretrained_models
    from napari_plaque.samples.ivus import make_pullback_frames
    from napari_plaque.widgets.ivus import ArcAnnotatorWidget

    viewer = make_napari_viewer()
    frames, truth = make_pullback_frames(n_frames=30, seed=4)
    pb = Pullback(frames, 0.4, 0.5, tuple(truth["pixel_spacing_mm"]), name="pb")
    data, attrs, _ = pullback_layer_data(pb)
    layer = viewer.add_image(data, **attrs)
    annot = ArcAnnotatorWidget(viewer)
    viewer.window.add_dock_widget(annot, name="annotator")
    annot.set_pullback_layer(layer)
    w = InferenceWidget(viewer)
    assert w.set_model(pretrained_models()["demo_alines"])
    w.set_input("pb")
    w.run()
    _wait(qtbot, w)
    assert annot.predicted is not None
    want = w.last_result.labels
    assert want[:, :, 0].any() and truth["labels"][:, :, 0].any()
    got = annot.predicted.labels(360, ["calcium", "attenuation"])
    assert np.array_equal(got, want)
    # accepting a frame moves its predicted arcs into the (editable) annotation
    f = int(np.flatnonzero(want[:, :, 0].any(axis=1))[0])
    assert annot.accept_prediction_frame(f) > 0
    assert annot.arcset.arcs_for(f)


def test_predictions_reach_the_annotator_through_the_plugin_menu(make_napari_viewer, qtbot):
    """Fix 1: both docks opened the way users open them (proxy viewers) still connect."""
    from napari_plaque.models import pretrained_models
    from napari_plaque.samples.ivus import make_pullback_frames

    viewer = make_napari_viewer()
    frames, truth = make_pullback_frames(n_frames=20, seed=4)
    pb = Pullback(frames, 0.4, 0.5, tuple(truth["pixel_spacing_mm"]), name="pb")
    viewer._add_layer_from_data(*pullback_layer_data(pb))
    _, annot = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model inference")
    assert annot.layer is not None and annot.layer.name == "pb"
    assert w.set_model(pretrained_models()["demo_alines"])
    w.set_input("pb")
    w.run()
    _wait(qtbot, w)
    assert annot.predicted is not None
    got = annot.predicted.labels(360, ["calcium", "attenuation"])
    assert np.array_equal(got, w.last_result.labels)
    assert "predicted: ICS" in annot.pred_label.text()


def test_a_model_for_another_task_is_refused(make_napari_viewer, tmp_path):
    """Fix 7: a CT model on a pullback and an A-line model on a CT are refused, not run."""
    viewer = make_napari_viewer()
    frames = np.zeros((6, 32, 32), np.uint8)
    viewer._add_layer_from_data(
        *pullback_layer_data(Pullback(frames, 0.1, 0.5, (0.02, 0.02), name="pb"))
    )
    vol, _ = synthetic_ct_case((4, 24, 28), seed=0, spacing_mm=(2.0, 0.5, 0.5))
    viewer._add_layer_from_data(*ct_layer_data(CTVolume(vol.hu, vol.spacing_mm, name="ct")))
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model inference")
    n = len(viewer.layers)
    assert w.set_model(_unet(tmp_path))
    w.set_input("pb")
    assert w.run() is None and "refused" in w.status.text() and "IVUS" in w.status.text()
    assert w.set_model(_alinenet(tmp_path))
    w.set_input("ct")
    assert w.run() is None and "CT volume" in w.status.text()
    assert len(viewer.layers) == n


def test_training_defaults_come_from_the_task_registry(make_napari_viewer):
    """One home for training defaults: models.TRAIN_TASKS feeds the widget (and the CLI)."""
    from napari_plaque.cli import build_parser
    from napari_plaque.models import TRAIN_TASKS

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model training")
    assert w.batch_spin.value() == TRAIN_TASKS["alines"].settings.batch_size == 16
    w.task_combo.setCurrentText("ct-seg")
    assert w.batch_spin.value() == TRAIN_TASKS["ct-seg"].settings.batch_size == 8
    args = build_parser().parse_args(["train", "data", "--task", "ct-seg", "--out", "m.pt"])
    assert args.batch_size is None  # resolved per task when training


def test_inference_form_defaults_are_the_core_and_cli_defaults(make_napari_viewer):
    """One home: PREDICT_DEFAULTS feeds the engine's signature, `predict`'s options and the
    dock's magicgui form; the form's values reach the run."""
    import argparse
    import inspect

    from napari_plaque.cli import build_parser
    from napari_plaque.models import PREDICT_DEFAULTS
    from napari_plaque.models.inference import iter_predict_volume
    from napari_plaque.widgets._form import form_values

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model inference")
    values = form_values(w.params)
    sig = inspect.signature(iter_predict_volume).parameters
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    cli = {a.dest: a.default for a in sub.choices["predict"]._actions}
    for key, value in PREDICT_DEFAULTS.items():
        assert values[key] == value == cli[key], key
        if key in sig:
            assert sig[key].default == value, key
    assert values["batch_size"] == 0 and w.params.batch_size.label == "Batch size (0 = auto)"
    w.params.overlap.value = 0.5
    w.device_combo.setCurrentText("cpu")
    assert form_values(w.params)["overlap"] == 0.5 and form_values(w.params)["device"] == "cpu"


def test_training_form_shows_each_tasks_settings(make_napari_viewer):
    """The training dock's magicgui form holds the task's TrainSettings, every field, and
    switches with the task (one home: models.TRAIN_TASKS)."""
    from dataclasses import asdict

    from napari_plaque.models import TRAIN_TASKS
    from napari_plaque.widgets._form import form_values

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model training")
    for task in ("ct-seg", "alines"):
        w.task_combo.setCurrentText(task)
        assert form_values(w.params) == asdict(TRAIN_TASKS[task].settings), task


def test_qc_and_inference_docked_together_fit_a_1080_pixel_screen(make_napari_viewer):
    viewer = make_napari_viewer()
    d1, _ = viewer.window.add_plugin_dock_widget("napari-plaque", "Segmentation QC")
    d2, _ = viewer.window.add_plugin_dock_widget("napari-plaque", "Model inference")
    need = d1.minimumSizeHint().height() + d2.minimumSizeHint().height()
    assert 200 < need < 1080 - 120, need  # window frame, menu and status bars take the rest


def test_training_dock_trains_alines_from_the_annotators_arcs_off_the_main_thread(
    make_napari_viewer, qtbot, tmp_path
):
    """Issue 20: "image + label layers" for A-lines reads the arc annotator's labels; issue 21
    item 3: Run returns at once, the training set is made and read on the worker."""
    import time

    from napari_plaque.ivus.annotator import autosave_path
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset
    from napari_plaque.widgets._training import annotated_arcs

    viewer = make_napari_viewer()
    pb, truth = make_ivus_sample(tmp_path / "pb.dcm", n_frames=8, seed=1, size=96)
    data, attrs, _ = pullback_layer_data(pb)
    layer = viewer.add_image(data, **attrs)
    _, annot = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    if annot.layer is not layer:
        annot.set_pullback_layer(layer)
    for a in truth_arcset(truth).arcs:
        annot.add_arc(a.frame, a.cls, a.start_deg, a.end_deg)
    n_arcs = len(annot.arcset.arcs)
    assert n_arcs > 0
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Model training")
    w.task_combo.setCurrentText("alines")
    w.source_combo.setCurrentIndex(1)
    w.image_combo.setCurrentText(layer.name)
    assert w.labels_combo.currentText() == "arcs"  # the annotator's layer is the default
    w.epochs_spin.setValue(1)
    w.batch_spin.setValue(8)
    w.out_edit.setText(str(tmp_path / "m.pt"))
    t0 = time.perf_counter()
    worker = w.run()
    run_s = time.perf_counter() - t0
    assert worker is not None and w.running
    statuses = []
    worker.yielded.connect(lambda _: statuses.append(w.status.text()))
    _wait(qtbot, w, timeout=120_000)
    assert (tmp_path / "m.pt").is_file(), w.status.text()
    assert run_s < 1.0, run_s  # nothing heavy on the main thread
    text = w.metrics.toPlainText()
    assert f"labels: {n_arcs} arcs from the arc annotator's layer 'arcs' on " in text
    assert any(s.startswith("making the training set") for s in statuses), statuses
    assert any(s.startswith("epoch 1/1: batch 1/") for s in statuses), statuses
    # the same arcs from the autosave file when the annotator's layer is not chosen
    assert autosave_path(tmp_path / "pb.dcm").is_file()
    arcs, where = annotated_arcs(layer, None)
    assert len(arcs.arcs) == n_arcs and where.endswith("pb.dcm.arcs.json")
    vol, _ = synthetic_ct_case((4, 16, 16), seed=0)
    ct = viewer.add_image(*ct_layer_data(vol)[:1], **ct_layer_data(vol)[1])
    with pytest.raises(ValueError, match="not an IVUS pullback"):
        annotated_arcs(ct, None)


def test_training_dock_reads_a_ct_folder_on_the_worker(make_napari_viewer, qtbot, tmp_path):
    """A CT training set folder is read off the main thread too; a bad one is reported."""
    from napari_plaque.models.data import export_ct_patches

    cases = [synthetic_ct_case((4, 32, 32), seed=s) for s in range(2)]
    data = export_ct_patches([c[0] for c in cases], [c[1] for c in cases], tmp_path / "p",
                             patch_size=(1, 32, 32), n_patches=8)  # fmt: skip
    w = TrainingWidget(make_napari_viewer())
    w.task_combo.setCurrentText("ct-seg")
    w.epochs_spin.setValue(1)
    w.out_edit.setText(str(tmp_path / "ct.pt"))
    w.data_edit.setText(str(tmp_path / "nothere"))
    assert w.run() is not None  # the folder is not touched on the main thread
    _wait(qtbot, w)
    assert "nothere" in w.status.text() and not (tmp_path / "ct.pt").exists()
    w.data_edit.setText(str(data))
    assert w.run() is not None
    _wait(qtbot, w)
    assert (tmp_path / "ct.pt").is_file(), w.status.text()
