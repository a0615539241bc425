"""Setup panel: the data set, the model family and its settings, and the training settings.

The fields shown follow the chosen family: its declared settings (``models.family``), with their labels,
help and ranges, so a newly registered family gets its knobs without GUI changes; a latent diffusion's
``base`` is a checkpoint chosen in the "Base model" row. The learning rate follows the family's until the
user edits it. ``start_training`` turns the form into a ``core.trainer.Run`` through the recipe (off the
UI thread: data statistics of a large set take a moment) and starts the bridge.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from core.data import ImageData, load_dataset
from core.device import available_devices, pick_device
from core.loop import TrainConfig
from core.recipe import image_run, needs_base
from core.trainer import Run
from models import SettingError, SettingSpec, family, names
from models.latent_diffusion import can_be_base

from .background.tasks import Task
from .bridge import TrainingBridge
from .context import AppContext
from .settings import app_settings, new_run_dir, read_json, write_json

DATASETS = {"digits": "Digits (8×8, built in)", "mnist": "MNIST (28×28)", "fashion-mnist": "Fashion-MNIST (28×28)",
            "cifar10": "CIFAR-10 (32×32, colour)", "cifar100": "CIFAR-100 (32×32, colour)",
            "olivetti": "Olivetti faces (64×64)"}
DEFAULT_MODEL = "vae"
OPEN_FILE, OPEN_FOLDER = "<open-file>", "<open-folder>"


class _Field:
    """One model setting of one kind: a widget, shown with the current family's label, help and range, and
    its value read back (checked by the setting's declaration)."""

    def __init__(self, spec: SettingSpec):
        self.kind = spec.kind
        if spec.kind == "choice":
            self.widget = QComboBox()
        elif spec.kind == "bool":
            self.widget = QCheckBox()
        elif spec.kind == "int":
            self.widget = QSpinBox()
        elif spec.kind == "float":
            self.widget = QDoubleSpinBox()
            self.widget.setDecimals(3)
        else:
            self.widget = QLineEdit()
        self.apply(spec)

    def apply(self, spec: SettingSpec) -> None:
        """Show ``spec`` (the same setting as another family declares it)."""
        self.spec, w = spec, self.widget
        if isinstance(w, QComboBox):
            w.clear()
            w.addItems(spec.choices)
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            top = 1_000_000 if spec.kind == "int" else 10_000.0
            w.setRange(spec.low if spec.low is not None else 0, min(spec.high if spec.high is not None else top, top))
            if isinstance(w, QDoubleSpinBox):
                w.setSingleStep(0.05 if (spec.high or 10) <= 10 else 0.1)
        w.setToolTip(spec.help + (f" ({spec.describe_range()})" if spec.describe_range() else ""))

    @property
    def label(self) -> str:
        return self.spec.label

    def raw(self) -> object:
        w = self.widget
        return (w.currentText() if isinstance(w, QComboBox) else w.isChecked() if isinstance(w, QCheckBox)
                else w.text() if isinstance(w, QLineEdit) else w.value())

    def set_raw(self, value: object) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QLineEdit):
            w.setText(" ".join(map(str, value)) if isinstance(value, list) else str(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            w.setValue(value)

    def value(self) -> object:
        """The checked value; ValueError naming the setting's label if it is not valid."""
        raw = self.raw()
        try:
            return self.spec.parse(raw) if isinstance(raw, str) else self.spec.check(raw)
        except SettingError as exc:
            raise ValueError(f"{self.spec.label}{str(exc).removeprefix(self.spec.name)}") from None


def editable_specs(name: str) -> list[SettingSpec]:
    """The settings of family ``name`` this form shows (the base model has its own row)."""
    return [s for s in family(name).specs(editable_only=True)]


class SetupPanel(QWidget):
    data_failed = Signal(str)  # a data set could not be loaded (the message is shown here too)
    start_failed = Signal(str)  # the form could not become a run

    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.settings = app_settings()
        self._load_generation = 0
        self._source = ""

        # data
        self.data_combo = QComboBox()
        for key, text in DATASETS.items():
            self.data_combo.addItem(text, key)
        self.data_combo.insertSeparator(self.data_combo.count())
        self.data_combo.addItem("Open .npz/.mat…", OPEN_FILE)
        self.data_combo.addItem("Open image folder…", OPEN_FOLDER)
        self.data_info = QLabel("No data set loaded")
        self.data_info.setWordWrap(True)
        data_box = QGroupBox("Data")
        data_form = QVBoxLayout(data_box)
        data_form.addWidget(self.data_combo)
        data_form.addWidget(self.data_info)

        # model
        self.family_combo = QComboBox()
        for name in names("image"):
            self.family_combo.addItem(name, name)
            self.family_combo.setItemData(self.family_combo.count() - 1, family(name).summary,
                                          Qt.ItemDataRole.ToolTipRole)
        self.fields: dict[tuple[str, str], _Field] = {}  # (setting, kind) -> field, shared by families
        model_box = QGroupBox("Model")
        self.model_form = QFormLayout(model_box)
        self.model_form.addRow("Family", self.family_combo)
        self.base_edit = QLineEdit()
        self.base_edit.setReadOnly(True)
        self.base_edit.setPlaceholderText("checkpoint of a trained autoencoder or VAE")
        self.base_edit.setToolTip("Latent diffusion learns the codes of this trained autoencoder/VAE")
        self.base_button = QPushButton("Choose…")
        self.base_button.clicked.connect(self._choose_base)
        self.base_row = QWidget()
        base_layout = QHBoxLayout(self.base_row)
        base_layout.setContentsMargins(0, 0, 0, 0)
        base_layout.addWidget(self.base_edit, 1)
        base_layout.addWidget(self.base_button)
        self.model_form.addRow("Base model", self.base_row)
        self._base_chosen = False  # until the user picks one, the base follows the app's current AE/VAE
        for name in names("image"):
            for spec in editable_specs(name):
                key = spec.name, spec.kind
                if key not in self.fields:
                    self.fields[key] = field = _Field(spec)
                    self.model_form.addRow(spec.label, field.widget)

        # training
        self.lr_edit = QLineEdit(str(TrainConfig.lr))
        self.lr_edit.setToolTip("Adam learning rate, e.g. 1e-3 (follows the family's default until edited)")
        self._lr_edited = False
        self.lr_edit.textEdited.connect(lambda _t: setattr(self, "_lr_edited", True))
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65_536)
        self.batch_spin.setValue(TrainConfig.batch_size)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100_000)
        self.epochs_spin.setValue(TrainConfig.epochs)
        self.device_combo = QComboBox()
        self.device_combo.addItem(f"auto ({pick_device('auto')})", "auto")
        for d in available_devices():
            self.device_combo.addItem(d, d)
        train_box = QGroupBox("Training")
        train_form = QFormLayout(train_box)
        train_form.addRow("Learning rate", self.lr_edit)
        train_form.addRow("Batch size", self.batch_spin)
        train_form.addRow("Epochs", self.epochs_spin)
        train_form.addRow("Device", self.device_combo)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #cf222e;")
        self.message.hide()
        layout = QVBoxLayout(self)
        for w in (data_box, model_box, train_box, self.message):
            layout.addWidget(w)
        layout.addStretch(1)
        self.inputs = (data_box, model_box, train_box)

        self._family_values: dict[str, dict] = read_json(self.settings, "setup/families", {})
        self._family = ""
        self._restore_common()
        self.family_combo.currentIndexChanged.connect(lambda _i: self._switch_family(self.family_combo.currentData()))
        self._switch_family(self.family_combo.currentData())
        self.data_combo.activated.connect(self._on_data_chosen)
        context.data_changed.connect(self._show_data)
        context.model_changed.connect(lambda _m: self._follow_current_model())
        bridge.started.connect(lambda _run: self._set_inputs_enabled(False))
        bridge.state_changed.connect(
            lambda s: self._set_inputs_enabled(True) if s in ("stopped", "finished", "error") else None)

    # --- data -----------------------------------------------------------------------------
    def load_source(self, source: str) -> None:
        """Load a data set by name or path off the UI thread; on success it becomes ``context.data``."""
        path = Path(source).expanduser()
        if source not in DATASETS and path.exists():
            source = str(path.resolve())
        self._select_source(source)
        self._load_generation += 1
        generation = self._load_generation
        self.data_info.setText(f"Loading {Path(source).name or source}…")
        self._show_problem("")
        self.context.status.emit(f"Loading data set {source}…")
        task = Task(load_dataset, source, parent=self)
        task.done.connect(lambda data: self._on_data(generation, source, data))
        task.failed.connect(lambda message, _tb: self._on_data_failed(generation, message))
        task.start()

    def _select_source(self, source: str) -> None:
        index = self.data_combo.findData(source)
        if index < 0:
            index = self.data_combo.count() - 3  # before the separator and the two 'Open' entries
            self.data_combo.insertItem(index, Path(source).name, source)
            self.data_combo.setItemData(index, source, Qt.ItemDataRole.ToolTipRole)
        self.data_combo.setCurrentIndex(index)

    def _on_data_chosen(self, index: int) -> None:
        choice = self.data_combo.itemData(index)
        if choice == OPEN_FILE:
            choice, _ = QFileDialog.getOpenFileName(self, "Open data set", "", "Image arrays (*.npz *.mat)")
        elif choice == OPEN_FOLDER:
            choice = QFileDialog.getExistingDirectory(self, "Open image folder")
        if choice:
            self.load_source(choice)
        else:
            self._select_source(self._source or "digits")

    def _on_data(self, generation: int, source: str, data: ImageData) -> None:
        if generation != self._load_generation:
            return  # a newer choice superseded this load
        self.context.set_data(data, source)  # -> _show_data
        self.context.status.emit(f"Data set {data.name}: {len(data):,} images")

    def _show_data(self, data: ImageData) -> None:
        """The context's data set (loaded here or by another panel) in the combo and the info line."""
        self._source = self.context.data_source or data.name
        self._select_source(self._source)
        c, h, w = data.image_shape
        classes = f", {len(data.class_names)} classes" if data.class_names else ""
        skipped = f"; {len(data.skipped)} unreadable files skipped" if data.skipped else ""
        self.data_info.setText(f"{len(data):,} images, {c}×{h}×{w}{classes}{skipped}")

    def _on_data_failed(self, generation: int, message: str) -> None:
        if generation != self._load_generation:
            return
        self.data_info.setText(f"Current: {self.context.data.name}" if self.context.data else "No data set loaded")
        self._select_source(self._source or "digits")
        self._show_problem(message)
        self.context.status.emit(message)
        self.data_failed.emit(message)

    # --- model and training settings ------------------------------------------------------
    def _switch_family(self, name: str) -> None:
        if self._family:
            self._remember_family()
        self._family = name
        fields = self.family_fields(name)
        saved = self._family_values.get(name, {})
        for field in self.fields.values():
            self.model_form.setRowVisible(field.widget, field in fields.values())
        for spec in editable_specs(name):
            field = fields[spec.name]
            field.apply(spec)
            self.model_form.labelForField(field.widget).setText(spec.label)
            field.set_raw(saved.get(spec.name, spec.default))
        self.model_form.setRowVisible(self.base_row, needs_base(name))
        self._follow_current_model()
        if not self._lr_edited:
            self.lr_edit.setText(str(family(name).lr))
        self._show_problem("")

    # --- latent diffusion's base model ----------------------------------------------------
    def set_base_path(self, path: str | Path) -> None:
        """Use this checkpoint as the base model (what "Choose…" does); it is checked when training starts."""
        self._base_chosen = True
        self.base_edit.setText(str(Path(path).expanduser()))
        self._show_problem("")

    def _choose_base(self) -> None:
        start = self.base_edit.text() or str(self.context.checkpoint_path or "")
        path, _ = QFileDialog.getOpenFileName(self, "Base model: a trained autoencoder or VAE", start,
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.set_base_path(path)

    def _follow_current_model(self) -> None:
        """Until the user picks a base, offer the app's current model when it is an autoencoder or VAE."""
        model, path = self.context.model, self.context.checkpoint_path
        if not self._base_chosen and path is not None and model is not None and can_be_base(model):
            self.base_edit.setText(str(path))

    def family_fields(self, name: str) -> dict[str, _Field]:
        """The fields of family ``name`` by setting."""
        return {s.name: self.fields[s.name, s.kind] for s in editable_specs(name)}

    def base_path(self, name: str) -> Path | None:
        """The base checkpoint family ``name`` needs (None if it needs none); ValueError if none is chosen."""
        if not needs_base(name):
            return None
        if not self.base_edit.text():
            raise ValueError(f"{name} works on a trained autoencoder or VAE: choose its checkpoint as the Base model")
        return Path(self.base_edit.text())

    def read_form(self) -> tuple[str, dict, TrainConfig]:
        """(model name, model settings, training config); ValueError with a readable message if invalid."""
        name = self.family_combo.currentData()
        overrides = {param: field.value() for param, field in self.family_fields(name).items()}
        try:
            lr = float(self.lr_edit.text())
        except ValueError:
            raise ValueError(f"Learning rate: {self.lr_edit.text()!r} is not a number") from None
        if not 0 < lr < 10:
            raise ValueError(f"Learning rate: {lr:g} is out of range (0 < lr < 10, typically 1e-4 to 1e-2)")
        config = TrainConfig(epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(), lr=lr,
                             device=self.device_combo.currentData())
        return name, overrides, config

    def start_training(self) -> None:
        """Build the run from the form (off the UI thread) and start it; problems show inline."""
        try:
            if self.context.data is None:
                raise ValueError("No data set is loaded yet")
            if self.bridge.busy:
                raise ValueError("A training run is still going")
            name, overrides, config = self.read_form()
            base = self.base_path(name)
        except ValueError as exc:
            self._fail(str(exc))
            return
        self.save_settings()
        self._show_problem("")
        self._set_inputs_enabled(False)
        data, source = self.context.data, self.context.data_source
        task = Task(image_run, name, overrides, data, source, config, new_run_dir(name, source), base, parent=self)
        task.done.connect(self._start_run)
        task.failed.connect(lambda message, _tb: self._fail(message))
        task.start()

    def _start_run(self, run: Run) -> None:
        try:
            self.bridge.start(run)
        except RuntimeError as exc:
            self._fail(str(exc))

    def _fail(self, message: str) -> None:
        self._set_inputs_enabled(not self.bridge.busy)
        self._show_problem(message)
        self.start_failed.emit(message)

    def _show_problem(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for box in self.inputs:
            box.setEnabled(enabled)

    # --- persistence ----------------------------------------------------------------------
    def _restore_common(self) -> None:
        common = read_json(self.settings, "setup/common", {})
        model = common.get("model", DEFAULT_MODEL)
        self.family_combo.setCurrentIndex(max(self.family_combo.findData(model), 0))
        lr = family(self.family_combo.currentData()).lr
        self.lr_edit.setText(str(common.get("lr", lr)))
        self._lr_edited = self.lr_edit.text() != str(lr)
        self.batch_spin.setValue(int(common.get("batch_size", self.batch_spin.value())))
        self.epochs_spin.setValue(int(common.get("epochs", self.epochs_spin.value())))
        index = self.device_combo.findData(common.get("device", "auto"))
        self.device_combo.setCurrentIndex(max(index, 0))

    def _remember_family(self) -> None:
        self._family_values[self._family] = {p: f.raw() for p, f in self.family_fields(self._family).items()}

    def save_settings(self) -> None:
        """Remember the choices (per family) for the next session."""
        self._remember_family()
        write_json(self.settings, "setup/families", self._family_values)
        write_json(self.settings, "setup/common", {
            "model": self._family, "lr": self.lr_edit.text(), "batch_size": self.batch_spin.value(),
            "epochs": self.epochs_spin.value(), "device": self.device_combo.currentData()})
