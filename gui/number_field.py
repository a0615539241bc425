"""Spin boxes that keep what the user types.

A plain ``QSpinBox`` silently puts back its previous value when a typed one is out of its range (type 0 in a
field from 1: nothing shows, and the old value is used). These take any number of the field's width as typed,
report it (``valueChanged``), and say themselves when it is out of ``limits``: a red frame, the reason in the
tooltip and ``problem()``, and ``problem_changed`` for whoever must not act on it (a Start button). The arrows
and the mouse wheel stay within the limits.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

INVALID_STYLE = "border: 1px solid #cf222e;"  # what marks a field whose value is not valid
INVALID_TINT = "background: #ffd7d5; color: #cf222e;"  # the same inside a spin box (which keeps its own frame)
_KINDS = (QAbstractSpinBox, QComboBox, QLineEdit, QCheckBox)


def set_help(widget: QWidget, text: str) -> None:
    """``widget``'s tooltip when its value is valid (``mark`` puts a problem before it)."""
    widget.setProperty("help_text", text)
    mark(widget, widget.property("problem_text") or "")


def mark(widget: QWidget, problem: str) -> None:
    """Frame ``widget`` in red with ``problem`` first in its tooltip, or take both away (``problem`` '')."""
    if widget.property("problem_text") is None:  # (first call: the frame must not change its height)
        widget.setFixedHeight(widget.sizeHint().height())
    widget.setProperty("problem_text", problem)
    QWidget.setToolTip(widget, "\n".join(filter(None, (problem, widget.property("help_text") or ""))))
    if isinstance(widget, QAbstractSpinBox):  # (framing the box itself would lose its native arrows: tinted)
        widget = widget.lineEdit()
        style = f"QLineEdit {{ {INVALID_TINT} }}" if problem else ""
    else:
        kind = next((k.__name__ for k in _KINDS if isinstance(widget, k)), "QWidget")
        style = f"{kind} {{ {INVALID_STYLE} }}" if problem else ""
    if widget.styleSheet() != style:
        widget.setStyleSheet(style)


def number_text(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:g}"


class _Checked:
    """What the whole-number and decimal fields share (Qt signals cannot live in a mixin: each class has its own)."""

    def _set_limits(self, low: float, high: float, room: float) -> None:
        self.low, self.high = low, high
        # Qt's own range is wider, so that a typed value outside the limits stays and can be named.
        self.setRange(min(low, 0) if low >= 0 else low * 10 - room, high * 10 + room)
        self._note()

    def problem(self) -> str:
        """Why the value is not valid ('' when it is)."""
        value = self.value()
        if self.low <= value <= self.high:
            return ""
        return f"{self.what}: {number_text(value)} is out of range ({number_text(self.low)} to {number_text(self.high)})"

    def step_limits(self) -> tuple[float, float]:
        """The limits the arrows and the wheel stop at: values the field can show."""
        return self.low, self.high

    def stepBy(self, steps: int) -> None:
        low, high = self.step_limits()
        self.setValue(min(high, max(low, self.value() + steps * self.singleStep())))

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:
        low, high = self.step_limits()
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() < high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def setToolTip(self, text: str) -> None:
        set_help(self, text)

    def _note(self) -> None:
        problem = self.problem()
        mark(self, problem)
        if problem != self._told:
            self._told = problem
            self.problem_changed.emit(problem)


class WholeField(_Checked, QSpinBox):
    problem_changed = Signal(str)  # why the value is not valid, '' once it is again

    def __init__(self, low: int, high: int, what: str = "Value", parent=None):
        super().__init__(parent)
        self.what, self._told = what, ""
        self.valueChanged.connect(lambda _v: self._note())
        self.set_limits(low, high)
        self.setValue(self.low)  # (Qt's own range starts lower)

    def set_limits(self, low: int, high: int) -> None:
        self._set_limits(int(low), int(min(high, (2**31 - 10) // 10)), 9)


MAX_DECIMALS = 8


def decimals_for(values, least: int) -> int:
    """The fewest decimals, from ``least`` up to ``MAX_DECIMALS``, that hold each of ``values`` exactly."""
    decimals = least
    for v in values:
        while decimals < MAX_DECIMALS and abs(round(v, decimals) - v) > 1e-12 * max(1.0, abs(v)):
            decimals += 1
    return decimals


class DecimalField(_Checked, QDoubleSpinBox):
    """Shows at least ``decimals`` decimals, and as many more as its limits and ``set_limits``' ``exact`` values
    need (Qt rounds a value to the decimals shown: a flow's pixel margin of 1e-4 became 0, out of its range)."""
    problem_changed = Signal(str)

    def __init__(self, low: float, high: float, what: str = "Value", decimals: int = 3, parent=None):
        super().__init__(parent)
        self.what, self._told, self.least_decimals = what, "", decimals
        self.setDecimals(decimals)
        self.valueChanged.connect(lambda _v: self._note())
        self.set_limits(low, high)
        self.setValue(self.low)  # (Qt's own range starts lower)

    def set_limits(self, low: float, high: float, exact: tuple[float, ...] = ()) -> None:
        high = float(high) if math.isfinite(high) else 1e9
        decimals = decimals_for((float(low), high, *exact), self.least_decimals)
        if decimals != self.decimals():
            self.setDecimals(decimals)
        self._set_limits(float(low), high, 9.0)

    def textFromValue(self, value: float) -> str:
        """The value without the zeros after its last digit that matters (0.0001, not 0.00010000)."""
        text, point = super().textFromValue(value), self.locale().decimalPoint()
        if point not in text:
            return text
        whole, fraction = text.split(point)
        return whole + point + fraction.rstrip("0").ljust(self.least_decimals, "0")

    def step_limits(self) -> tuple[float, float]:
        """The limits rounded inwards to the shown decimals (a high of 0.99999 shown with 3 decimals would
        round up to 1.000, out of range)."""
        scale = 10 ** self.decimals()
        return math.ceil(self.low * scale - 1e-9) / scale, math.floor(self.high * scale + 1e-9) / scale
