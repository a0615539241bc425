"""A message that always fits: wrapped to a few lines and elided to the width it is given (it never widens
its panel or pushes the status bar away), the whole text in its tooltip and, when shortened, behind Details.

``headline`` shortens an error for such a line: long parenthesised causes (several lines of urllib text, say)
go, what the user can do stays.
"""
from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextLayout, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QSizePolicy, QToolButton, QWidget

LONG_CAUSE = 60  # characters: a parenthesised part longer than this (or spanning lines) is a detail
COLOURS = {"error": "#cf222e", "info": "#57606a"}


def headline(message: str) -> str:
    """``message`` without its long parenthesised parts, on one line."""
    kept, depth, start = [], 0, 0
    for i, ch in enumerate(message):
        if ch == "(":
            if depth == 0:
                kept.append(message[start:i])
                start = i
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                part = message[start:i + 1]
                if len(part) <= LONG_CAUSE and "\n" not in part:
                    kept.append(part)
                start = i + 1
    kept.append(message[start:])
    return re.sub(r"\s+([;,.:])", r"\1", " ".join("".join(kept).split()))


def fit_lines(text: str, font: QFont, width: int, max_lines: int) -> str:
    """``text`` wrapped into lines of ``width`` pixels (at word boundaries, anywhere in a word longer than a
    line), at most ``max_lines`` of them, the last one elided."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    lines = []
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        lines.append(text[line.textStart():line.textStart() + line.textLength()])
    layout.endLayout()
    if len(lines) > max_lines:
        rest = "".join(lines[max_lines - 1:])
        lines = lines[:max_lines - 1] + [QFontMetrics(font).elidedText(rest, Qt.TextElideMode.ElideRight, width)]
    return "\n".join(line.rstrip() for line in lines)


class MessageLine(QWidget):
    """An error or a note, fitted to its width; ``text()`` is the whole message."""

    def __init__(self, kind: str = "error", max_lines: int = 3, details: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.max_lines = max_lines
        self._text = ""
        self.label = QLabel()
        self.label.setStyleSheet(f"color: {COLOURS[kind]};")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(1)
        self.details_button = QToolButton()
        self.details_button.setText("Details…")
        self.details_button.setAutoRaise(True)
        self.details_button.clicked.connect(self.show_details)
        self.details_button.setVisible(False)
        self._details_enabled = details
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hide()

    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        """Show ``text`` (hidden when empty)."""
        if text == self._text:
            return
        self._text = text
        self.setToolTip(text)
        self.setVisible(bool(text))
        self._fit()

    def show_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Details", headline(self._text), QMessageBox.StandardButton.Ok,
                          self)
        box.setDetailedText(self._text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Wrap the headline to the width there is (less the Details button's, when it shows)."""
        short, font = headline(self._text), self.label.font()
        width = max(40, self.width())
        shown = fit_lines(short, font, width, self.max_lines)
        shortened = "".join(shown.split()) != "".join(short.split()) or len(short) < len(" ".join(self._text.split()))
        details = self._details_enabled and bool(self._text) and shortened
        if details:
            width = max(40, width - self.details_button.sizeHint().width() - self.layout().spacing())
            shown = fit_lines(short, font, width, self.max_lines)
        self.label.setText(shown)
        self.details_button.setVisible(details)
