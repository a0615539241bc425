"""The runs list: a view of ``core.sessions.runs.RunsSession``, the run folders under the runs root and those the
user added or followed, with their family, data set, status, progress and final validation loss and R².

It is read again every ``REFRESH_MS`` off the UI thread (one read at a time). Tick runs to compare them (the
Training panel overlays their curves); double-click a run to follow it (a running one as it goes, a finished one
shows its curves and opens its model).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from core.sessions.runs import LIST_COLUMNS, RunRow, RunsSession

from .background.tasks import Task
from .settings import ADDED_KEY, app_settings, read_json, write_json

REFRESH_MS = 2000
STATUS_COLOUR = {"running": "#1a7f37", "finished": "#0969da", "failed": "#cf222e", "killed": "#cf222e",
                 "stopped": "#9a6700"}
FOLDER_ROLE = Qt.ItemDataRole.UserRole


class RunsList(QWidget):
    ticked_changed = Signal()
    open_requested = Signal(str)  # a run folder to follow
    refreshed = Signal()

    def __init__(self, session: RunsSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.settings = app_settings()
        for folder in read_json(self.settings, ADDED_KEY, []):  # (added or followed in an earlier session)
            if Path(folder).is_dir():
                session.add(folder)
        self._reading = False
        self._filling = False  # items being set from the session: not the user's ticks
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(LIST_COLUMNS))
        self.tree.setHeaderLabels(list(LIST_COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setStretchLastSection(False)
        for column in range(1, len(LIST_COLUMNS)):
            self.tree.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # room for a figure ("0.8612") and a short header ("R²") with its margins, however empty the list
        self.tree.header().setMinimumSectionSize(self.tree.fontMetrics().horizontalAdvance("0.00000") + 16)
        self.tree.setToolTip("Tick runs to compare their curves and settings; double-click one to follow or open it")
        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip("List the runs of another folder too (a run folder, or a folder of runs)")
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #57606a;")
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Runs</b>"))
        top.addWidget(self.summary, 1)
        top.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.tree)

        self.add_button.clicked.connect(self._on_add)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(
            lambda item, _column: self.open_requested.emit(item.data(0, FOLDER_ROLE)))
        self.timer = QTimer(self, interval=REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def add_folder(self, folder: str | Path) -> None:
        """List ``folder`` too (a run folder, or a folder of runs), in this session and the next ones."""
        if self.session.add(folder):
            write_json(self.settings, ADDED_KEY, [str(f) for f in self.session.added])
            self.refresh()

    def _on_add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "List the runs of a folder", str(self.session.root))
        if folder:
            self.add_folder(folder)

    def refresh(self) -> None:
        """Read the run folders again (off the UI thread), unless a read is under way."""
        if self._reading:
            return
        self._reading = True
        work = self.session.scan()
        task = Task(work.compute, *work.args, parent=self)
        task.done.connect(lambda rows: self._show(work.apply(rows)))
        task.failed.connect(lambda message, _tb: self._read_failed(message))
        task.start()

    def _read_failed(self, message: str) -> None:
        self._reading = False
        self.summary.setText(f"Cannot read the runs: {message}")

    def _show(self, rows: list[RunRow]) -> None:
        self._reading = False
        self._filling = True
        try:
            items = {self.tree.topLevelItem(i).data(0, FOLDER_ROLE): self.tree.topLevelItem(i)
                     for i in range(self.tree.topLevelItemCount())}
            wanted = [str(r.folder) for r in rows]
            if list(items) != wanted:  # (new runs, or a new order: built again, ticks kept)
                self.tree.clear()
                items = {}
                for row in rows:
                    item = QTreeWidgetItem()
                    item.setData(0, FOLDER_ROLE, str(row.folder))
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(0, Qt.CheckState.Unchecked)  # (shows the box)
                    self.tree.addTopLevelItem(item)
                    items[str(row.folder)] = item
            for row in rows:
                self._fill(items[str(row.folder)], row)
        finally:
            self._filling = False
        running = sum(r.status == "running" for r in rows)
        self.summary.setText(f"{len(rows)} in {self.session.root}" + (f", {running} running" if running else ""))
        self.refreshed.emit()

    def _fill(self, item: QTreeWidgetItem, row: RunRow) -> None:
        for column, text in enumerate(row.cells()):
            if item.text(column) != text:
                item.setText(column, text)
        ticked = Qt.CheckState.Checked if row.folder in self.session.ticked else Qt.CheckState.Unchecked
        if item.checkState(0) != ticked:
            item.setCheckState(0, ticked)
        item.setForeground(3, QColor(STATUS_COLOUR.get(row.status, "#57606a")))
        item.setToolTip(0, str(row.folder))
        item.setToolTip(3, row.message or row.status)

    def item(self, name: str) -> QTreeWidgetItem | None:
        """The row of the run folder named ``name``."""
        return next((self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())
                     if self.tree.topLevelItem(i).text(0) == name), None)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0:
            return
        folder = Path(item.data(0, FOLDER_ROLE))
        on = item.checkState(0) == Qt.CheckState.Checked
        if (folder in self.session.ticked) != on:
            self.session.set_ticked(folder, on)
            self.ticked_changed.emit()
