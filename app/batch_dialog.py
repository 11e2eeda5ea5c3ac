"""File > Batch…: many inputs, one job, on Ray (engine.batch; app/batch_controller.py runs it).

Thin: the dialog collects the inputs (files and folders), the job and its few options, the output
folder and where to run (a local Ray instance with N CPUs, or a cluster's address); it shows the
progress over items and the result table (the columns of the terminal table and report.html), and
emits what the user asks for. The controller turns :meth:`request` into the engine's batch job.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QProgressBar,
                               QPushButton, QSpinBox, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)  # fmt: skip

from engine.batch.report import HEADER, row_cells
from engine.errors import InputError

JOB_LABELS = [("Compress (.smol)", "compress"), ("Convert", "convert"), ("RD sweep", "rd"), ("Evaluate", "eval"),
              ("Image compress (.sgi)", "image"), ("Train (captures)", "train"), ("Distill (captures)", "distill")]  # fmt: skip
FORMATS = ["spz", "ply", "compressed.ply", "splat", "smol"]
COLUMNS = HEADER + ["error"]


def _row(*widgets) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        lay.addWidget(x)
    return w


class BatchDialog(QDialog):
    start_requested = Signal()
    cancel_requested = Signal()
    open_requested = Signal(int)  # a row of the result table
    report_requested = Signal()

    def __init__(self, parent=None, codecs: tuple[str, ...] = ("ladder",), cpus: int = 1):
        super().__init__(parent)
        self.setWindowTitle("Batch")
        self.setObjectName("batchDialog")
        self.inputs = QListWidget()
        self.inputs.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.inputs.setMaximumHeight(110)
        add_files, add_folder, remove = QPushButton("Add files…"), QPushButton("Add folder…"), QPushButton("Remove")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        remove.clicked.connect(lambda: [self.inputs.takeItem(self.inputs.row(i)) for i in self.inputs.selectedItems()])
        self.job = QComboBox()
        for label, name in JOB_LABELS:
            self.job.addItem(label, name)
        self.options = QStackedWidget()
        self._build_options(codecs)
        self.job.currentIndexChanged.connect(self.options.setCurrentIndex)
        self.output = QLineEdit()
        self.output.setPlaceholderText("output folder (outputs, batch.json, report.html)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        self.cpus = QSpinBox(minimum=1, maximum=max(1, cpus), value=max(1, cpus))
        self.address = QLineEdit()
        self.address.setPlaceholderText("HOST:PORT of a Ray cluster (empty: this machine)")
        form = QFormLayout()
        form.addRow("Inputs", self.inputs)
        form.addRow("", _row(add_files, add_folder, remove))
        form.addRow("Job", self.job)
        form.addRow("Options", self.options)
        form.addRow("Output folder", _row(self.output, browse))
        form.addRow("CPUs", _row(self.cpus, QLabel("Cluster"), self.address))

        self.start_button, self.cancel_button = QPushButton("Start"), QPushButton("Cancel")
        self.open_button, self.report_button = QPushButton("Open in viewport"), QPushButton("Open report")
        close = QPushButton("Close")
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.open_button.clicked.connect(lambda: self.open_requested.emit(self.table.currentRow()))
        self.report_button.clicked.connect(self.report_requested)
        close.clicked.connect(self.close)
        self.progress = QProgressBar()
        self.status = QLabel("Add inputs, choose a job and an output folder, then Start.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_requested.emit(row))
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(_row(self.start_button, self.cancel_button, self.progress))
        lay.addWidget(self.status)
        lay.addWidget(self.table, 1)
        lay.addWidget(_row(self.open_button, self.report_button, close))
        self.resize(900, 640)
        self.set_running(False)
        self.report_button.setEnabled(False)

    # ------------------------------------------------------------------ options per job
    def _build_options(self, codecs: tuple[str, ...]) -> None:
        self.codec = QComboBox()
        self.codec.addItems(list(codecs))
        self.levels = QLineEdit("3")
        self.levels.setToolTip("one level (3), a range (1-8) or a list (2,5,8): one output per level")
        self.measure = QCheckBox("measure PSNR")
        self.to_format = QComboBox()
        self.to_format.addItems(FORMATS)
        self.rd_levels = QLineEdit("1-8")
        self.baselines = QCheckBox("baselines (SPZ, compressed.ply, float16)")
        self.baselines.setChecked(True)
        self.reference = QLineEdit()
        self.reference.setPlaceholderText("reference scene file")
        self.bpp = QDoubleSpinBox(decimals=3, minimum=0.001, maximum=24.0, value=0.5, singleStep=0.1, suffix=" bpp")
        self.train_iterations = QSpinBox(minimum=0, maximum=1_000_000, value=0, specialValueText="default")
        self.distill_iterations = QSpinBox(minimum=0, maximum=1_000_000, value=0, specialValueText="default")
        self.keep = QDoubleSpinBox(decimals=2, minimum=0.01, maximum=1.0, value=0.15, singleStep=0.05)
        for widgets in ([QLabel("codec"), self.codec, QLabel("levels"), self.levels, self.measure],
                        [QLabel("to"), self.to_format],
                        [QLabel("levels"), self.rd_levels, self.baselines],
                        [QLabel("against"), self.reference],
                        [QLabel("rate"), self.bpp],
                        [QLabel("iterations"), self.train_iterations],
                        [QLabel("iterations"), self.distill_iterations, QLabel("keep"), self.keep]):  # fmt: skip
            self.options.addWidget(_row(*widgets))

    def request(self) -> dict:
        """What to run: {"job", "inputs", "output", "options", "address", "num_cpus"}; InputError
        for what is missing or malformed (shown in a dialog, nothing started)."""
        from engine.codec import parse_levels

        job = self.job.currentData()
        inputs = [self.inputs.item(i).text() for i in range(self.inputs.count())]
        if not inputs:
            raise InputError(None, "add inputs first (files or folders)")
        if not self.output.text().strip():
            raise InputError(None, "choose an output folder")
        options = {
            "compress": lambda: {"codec": self.codec.currentText(), "levels": parse_levels(self.levels.text().strip()),
                                 "psnr": self.measure.isChecked()},
            "convert": lambda: {"to": self.to_format.currentText()},
            "rd": lambda: {"levels": parse_levels(self.rd_levels.text().strip()), "baselines": self.baselines.isChecked()},
            "eval": lambda: {"reference": self.reference.text().strip() or None},
            "image": lambda: {"bpp": self.bpp.value()},
            "train": lambda: {"iterations": self.train_iterations.value() or None},
            "distill": lambda: {"iterations": self.distill_iterations.value() or None, "keep": self.keep.value()},
        }[job]()  # fmt: skip
        address = self.address.text().strip() or None
        return {"job": job, "inputs": inputs, "output": self.output.text().strip(), "options": options,
                "address": address, "num_cpus": None if address else self.cpus.value()}  # fmt: skip

    # ------------------------------------------------------------------ state and results
    def set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.inputs, self.job, self.options, self.output, self.cpus, self.address):
            w.setEnabled(not running)
        self._sync_buttons()

    def show_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(min(int(step), max(int(total), 1)))
        self.status.setText(message)

    def clear_rows(self) -> None:
        self.table.setRowCount(0)

    def set_row(self, row: int, record: dict) -> None:
        """Show ``record`` (a manifest record) in ``row``, adding rows as needed."""
        if row >= self.table.rowCount():
            self.table.setRowCount(row + 1)
        for col, text in enumerate(row_cells(record) + [record.get("error") or ""]):
            item = QTableWidgetItem(text)
            item.setToolTip(record.get("error") or record["input"])
            if 2 <= col < len(HEADER):
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.table.setItem(row, col, item)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        row = self.table.currentRow()
        status = self.table.item(row, 1).text() if row >= 0 and self.table.item(row, 1) else ""
        self.open_button.setEnabled(status in ("done", "skipped (done)"))

    # ------------------------------------------------------------------ pickers (tests fill the fields directly)
    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add inputs", os.getcwd())
        self.inputs.addItems(paths)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of inputs", os.getcwd())
        if folder:
            self.inputs.addItem(folder)

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text() or os.getcwd())
        if folder:
            self.output.setText(folder)
