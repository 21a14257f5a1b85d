"""The model picker shared by the model docks (layer pickers, Run / Cancel: widgets._dock)."""

from __future__ import annotations

from ..models import DEVICES  # noqa: F401 - one home, re-exported for the docks


class _ModelPickerMixin:
    """The model combo of a "pick a model, Run" dock: browse, load, refuse with the reason.

    A dock sets ``model_combo``, ``model_info``, ``model`` and implements
    ``_load_model_file(path)`` (may raise FormatError / ImportError / OSError) and
    ``_show_model(path)`` (what the loaded model is).
    """

    _model_dialog_title = "Model"

    def _add_model_rows(self, form, models) -> None:
        """The rows of ``form`` that pick a model: an editable combo of ``models`` (name ->
        path; a path may be typed), a browse button and the line saying what is loaded."""
        from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton

        row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        for name, path in models.items():
            self.model_combo.addItem(name, str(path))
        self.browse_btn = QPushButton("...")
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.browse_btn)
        form.addRow("Model", row)
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)
        # two lines (what the model is, and that it was trained on synthetic data) show whole
        self.model_info.setMinimumHeight(self.model_info.fontMetrics().lineSpacing() * 2 + 4)
        form.addRow("", self.model_info)

    def _load_model_file(self, path):  # pragma: no cover - each dock defines it
        raise NotImplementedError

    def _show_model(self, path) -> None:  # pragma: no cover - each dock defines it
        raise NotImplementedError

    def _browse(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, self._model_dialog_title, "", "napari-plaque model (*.pt)"
        )
        if path:
            self.set_model(path)

    def model_path(self) -> str:
        data = self.model_combo.currentData()
        return str(data) if data else self.model_combo.currentText()

    def _model_changed(self) -> None:
        path = self.model_path()
        if path:
            self.set_model(path, add_item=False)

    def set_model(self, path, add_item: bool = True) -> bool:
        """Load a model file and show what it is; False (reason shown) when it is refused."""
        from pathlib import Path

        try:
            self.model = self._load_model_file(path)
        except (ValueError, ImportError, OSError) as exc:  # FormatError is a ValueError
            self.model = None
            self.model_info.setText(str(exc))
            return False
        if add_item and self.model_combo.findData(str(path)) < 0:
            self.model_combo.blockSignals(True)
            self.model_combo.addItem(Path(path).name, str(path))
            self.model_combo.setCurrentIndex(self.model_combo.count() - 1)
            self.model_combo.blockSignals(False)
        self._show_model(path)
        return True

    def set_input(self, name: str) -> None:
        self.input_combo.setCurrentText(name)

    def _model_and_layer(self, no_model: str, no_layer: str):
        """The loaded model and the chosen input layer, or None (a job is running, or the
        reason in the status)."""
        if self.running:
            return None
        if self.model is None and not self.set_model(self.model_path(), add_item=False):
            self.status.setText(no_model)
            return None
        name = self.input_combo.currentText()
        if name not in self.viewer.layers:
            self.status.setText(no_layer)
            return None
        return self.viewer.layers[name]
