"""Runs side by side: the ticked runs' curves overlaid (one colour per run) over a table of their settings and
final metrics (``core.sessions.runs.RunsSession.comparison``)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QLabel, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from core.sessions.runs import Table

from .metric_plots import RUN_COLOURS, OverlayPlots

TABLE_ROWS_SHOWN = 5


class RunCompare(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.plots = OverlayPlots(columns=2)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)

    def show_table(self, table: Table) -> None:
        self.title.setText(f"Comparing <b>{len(table.rows)}</b> run{'s' if len(table.rows) != 1 else ''} "
                           "(untick every run in the list below to see the live run again)")
        self.table.clear()
        self.table.setColumnCount(len(table.columns))
        self.table.setHorizontalHeaderLabels(list(table.columns))
        self.table.setRowCount(len(table.rows))
        for r, cells in enumerate(table.rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setForeground(Qt.GlobalColor.white)
                    item.setBackground(QColor(RUN_COLOURS[r % len(RUN_COLOURS)]))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        shown = min(len(table.rows), TABLE_ROWS_SHOWN)  # every row up to a few, without scrolling
        self.table.setMinimumHeight(self.table.horizontalHeader().height() + shown * self.table.verticalHeader()
                                    .defaultSectionSize() + 2 * self.table.frameWidth() + 4)

    def show_curves(self, overlay) -> None:
        self.plots.show_runs(overlay)

