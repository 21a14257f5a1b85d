"""DICOMweb browser dock widget: list a server's studies (QIDO-RS), open one (WADO-RS).

A thin view over :mod:`napari_plaque.io.dicomweb`: the network runs in a worker thread (with
progress and Cancel); the study is pulled into a local folder (kept, so it opens again without
the network) and each series is opened with the napari-plaque reader, CT first, so a SEG of the
study overlays its CT. The password and token fields never echo their content, and no patient
name or ID is shown in the list.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qtpy.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..io.dicomweb import Auth, DICOMwebError, iter_fetch_study, search_studies
from ._dock import DockBase

COLUMNS = ("date", "description", "modalities", "n_series", "study_uid")
HEADERS = ("Date", "Description", "Modalities", "Series", "Study UID")


def default_download_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "napari-plaque" / "dicomweb"


def _search(url, auth):
    yield 0
    return search_studies(url, auth=auth)


class DICOMwebWidget(DockBase):
    """Browse a DICOMweb server's studies and open one in the viewer."""

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        self.studies: list[dict] = []

        form = QFormLayout()
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://host:8042/dicom-web")
        self.user = QLineEdit()
        self.user.setPlaceholderText("(basic auth, optional)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("(bearer token, optional)")
        self.folder = QLineEdit(str(default_download_dir()))
        form.addRow("Server", self.url)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow("Token", self.token)
        form.addRow("Download to", self.folder)

        self.search_btn = QPushButton("Search studies")
        self.open_btn = QPushButton("Open selected study")
        self.cancel_btn = QPushButton("Cancel")
        self.open_btn.setEnabled(False)
        self.cancel_btn.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.search_btn, self.open_btn, self.cancel_btn):
            buttons.addWidget(b)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel("Enter a DICOMweb URL and search.")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        layout.addWidget(self.status)

        self.search_btn.clicked.connect(self.search)
        self.open_btn.clicked.connect(self.open_selected)
        self.cancel_btn.clicked.connect(self.cancel)
        self.table.itemSelectionChanged.connect(
            lambda: self.open_btn.setEnabled(self.selected_study() is not None)
        )

    # -------------------------------------------------------------------------- helpers
    def auth(self) -> Auth:
        if self.token.text():
            return Auth(token=self.token.text())
        if self.user.text():
            return Auth(user=self.user.text(), password=self.password.text())
        return Auth()

    def selected_study(self) -> dict | None:
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1:
            return None
        return self.studies[rows.pop()]

    def _busy(self, busy: bool) -> None:
        self.search_btn.setEnabled(not busy)
        self.open_btn.setEnabled(not busy and self.selected_study() is not None)
        self.cancel_btn.setEnabled(busy)

    def _error(self, exc: Exception) -> None:
        self._busy(False)
        msg = (
            str(exc)
            if isinstance(exc, DICOMwebError | ValueError)
            else (f"{type(exc).__name__}: {exc}")
        )
        self.status.setText(f"Error: {msg}")

    def _on_finished(self) -> None:
        self._busy(False)

    # -------------------------------------------------------------------------- actions
    def search(self) -> None:
        self.status.setText("Searching...")
        self._busy(True)
        self.start(
            _search,
            self.url.text().strip(),
            self.auth(),
            total=0,
            replace=True,
            desc="DICOMweb search",
            on_done=self.show_studies,
            on_error=self._error,
            on_aborted=lambda: (self._busy(False), self.status.setText("Cancelled.")),
        )

    def show_studies(self, studies: list[dict]) -> None:
        self.studies = list(studies)
        self.table.setRowCount(len(self.studies))
        for r, s in enumerate(self.studies):
            for c, key in enumerate(COLUMNS):
                v = s.get(key)
                self.table.setItem(r, c, QTableWidgetItem("" if v is None else str(v)))
        self._busy(False)
        self.status.setText(f"{len(self.studies)} studies on the server.")

    def open_selected(self) -> None:
        study = self.selected_study()
        if study is None:
            return
        uid = str(study["study_uid"])
        root = Path(self.folder.text().strip() or tempfile.gettempdir())
        self.status.setText(f"Retrieving study {uid}...")
        self._busy(True)
        self.start(
            iter_fetch_study,
            self.url.text().strip(),
            uid,
            root / uid,
            auth=self.auth(),
            total=0,
            replace=True,
            desc="DICOMweb retrieve",
            on_done=self.open_folders,
            on_error=self._error,
            on_aborted=lambda: (self._busy(False), self.status.setText("Cancelled: nothing kept.")),
        )

    def open_folders(self, folders: list[Path]) -> None:
        from ..io.detect import Format, detect

        opened, skipped = 0, []
        for f in folders:
            fmt = detect(f)
            if fmt in (Format.DICOM_SR, None):
                skipped.append(f.name[-12:])
                continue
            self.viewer.open(str(f), plugin="napari-plaque")
            opened += 1
        self._busy(False)
        note = f" ({len(skipped)} series without images skipped)" if skipped else ""
        self.status.setText(f"Opened {opened} series{note}.")
