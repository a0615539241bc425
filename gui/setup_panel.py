"""Setup panel: a view of the ``SetupSession`` (``core/sessions/setup.py``): the data set, the model family and
its settings, the training settings, and what Start (Training panel) will do.

The fields follow the chosen family's declared settings (``models.family``), with their labels, help and
ranges, so a newly registered family gets its knobs without GUI changes; a latent diffusion's ``base`` is a
checkpoint chosen in the "Base model" row. Every field is checked as the user types, all at once, each
problem under its field; Start stays off, with the reasons, while any is not valid. A model loaded from a
checkpoint or delivered by a followed run shows here with its settings and where they came from, and the
Start box offers to continue that run or to start a new one with these settings.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QGroupBox, QLabel, QLineEdit, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from core.errors import LatentExplorerError
from core.sessions import Work
from core.sessions.setup import (CONTINUE, LR_SCHEDULES, NEW, TRAINING_LABELS, TRAINING_RANGES, SetupSession,
                                 editable_specs)
from core.train.loop import TrainConfig
from models import SettingSpec, family

from .background.tasks import Task
from .bridge import TrainingBridge
from .context import AppContext
from .message_line import MessageLine, headline
from .number_field import DecimalField, WholeField, mark, set_help
from .settings import app_settings, existing_folder, new_run_dir, open_file_name, read_json, write_json
from .vertical_scroll import Unsqueezed, VerticalScroll

OPEN_FILE, OPEN_FOLDER = "<open-file>", "<open-folder>"
RUN_ENDS = ("stopped", "finished", "error")


class _Field:
    """One model setting of one kind: a widget, shown with the current family's label, help and range (framed
    in red, the problem in its tooltip, while its value is not valid). Families that share a setting share its
    field."""

    def __init__(self, spec: SettingSpec):
        if spec.kind == "choice":
            self.widget = QComboBox()
        elif spec.kind == "bool":
            self.widget = QCheckBox()
        elif spec.kind == "int":
            self.widget = WholeField(0, 1)
        elif spec.kind == "float":
            self.widget = DecimalField(0.0, 1.0)
        else:
            self.widget = QLineEdit()
        self.apply(spec)

    def apply(self, spec: SettingSpec) -> None:
        """Show ``spec`` (the same setting as another family declares it)."""
        self.spec, w = spec, self.widget
        if isinstance(w, QComboBox):
            if [w.itemText(i) for i in range(w.count())] != list(spec.choices):
                w.clear()
                w.addItems(spec.choices)
        elif isinstance(w, (WholeField, DecimalField)):
            top = 1_000_000 if spec.kind == "int" else 10_000.0
            w.what = spec.label
            low, high = spec.low if spec.low is not None else 0, min(spec.high if spec.high is not None else top, top)
            if isinstance(w, WholeField):
                w.set_limits(low, high)
            else:
                w.set_limits(low, high, exact=(spec.default,))
                step = 0.05 if (spec.high or 10) <= 10 else 0.1
                if w.singleStep() != step:  # (Qt reformats the text being typed)
                    w.setSingleStep(step)
        set_help(w, spec.help + (f" ({spec.describe_range()})" if spec.describe_range() else ""))

    @property
    def label(self) -> str:
        return self.spec.label

    def connect(self, changed) -> None:
        """Call ``changed(value as typed)`` when the widget's value changes (the panel tells the user's changes
        from its own)."""
        w = self.widget
        if isinstance(w, QComboBox):
            w.currentTextChanged.connect(changed)
        elif isinstance(w, QCheckBox):
            w.toggled.connect(changed)
        elif isinstance(w, QLineEdit):
            w.textChanged.connect(changed)
        else:
            w.valueChanged.connect(changed)

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
            text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            if w.text() != text:
                w.setText(text)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and w.value() != value:
            w.setValue(value)


class SetupPanel(QWidget):
    data_failed = Signal(str)  # a data set could not be loaded (the message is shown here too)
    start_failed = Signal(str)  # the form could not become a run

    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.session: SetupSession = context.setup
        self.settings = app_settings()
        self._syncing = False  # widgets being set from the session: not the user's input
        self._building = False  # a run is being built (off the UI thread)
        self._start_failure = ""

        # where the settings came from: its room is kept while shown, so that its changes never move the fields
        self.origin_line = MessageLine("info", max_lines=3)
        self.origin_line.setFixedHeight(3 * self.origin_line.fontMetrics().lineSpacing() + 4)

        # data
        self.data_combo = QComboBox()
        self.data_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data_combo.setMinimumContentsLength(16)
        self.data_info = QLabel("No data set loaded")
        self.data_info.setWordWrap(True)
        self.data_info.setMinimumHeight(2 * self.data_info.fontMetrics().lineSpacing())  # (1 or 2 lines: no jump)
        self.data_info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        data_box = QGroupBox("Data")
        data_form = QVBoxLayout(data_box)
        data_form.addWidget(self.data_combo)
        data_form.addWidget(self.data_info)

        # model
        self.family_combo = QComboBox()
        for name in self.session.families():
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
        set_help(self.base_edit, "Latent diffusion learns the codes of this trained autoencoder/VAE")
        self.base_button = QPushButton("Choose…")
        self.base_button.clicked.connect(self._choose_base)
        self.base_row = QWidget()
        base_layout = QGridLayout(self.base_row)
        base_layout.setContentsMargins(0, 0, 0, 0)
        base_layout.addWidget(self.base_edit, 0, 0)
        base_layout.addWidget(self.base_button, 0, 1)
        self.model_form.addRow("Base model", self.base_row)
        for name in self.session.families():
            for spec in editable_specs(name):
                key = spec.name, spec.kind
                if key not in self.fields:
                    self.fields[key] = field = _Field(spec)
                    self.model_form.addRow(spec.label, field.widget)
                    field.connect(lambda value, setting=spec.name: self._user(self.session.set_value, setting, value))

        # training
        self.lr_edit = QLineEdit()
        set_help(self.lr_edit, "Adam learning rate, e.g. 1e-3 (follows the family's default until edited)")
        self.schedule_combo = QComboBox()
        for key, label in LR_SCHEDULES.items():
            self.schedule_combo.addItem(label, key)
        set_help(self.schedule_combo, "How the learning rate changes over the run: constant, or cosine: each epoch "
                                      "at a share of it that falls along half a cosine to 0 by the last epoch")
        self.batch_spin = WholeField(*TRAINING_RANGES["batch_size"], "Batch size")
        self.epochs_spin = WholeField(*TRAINING_RANGES["epochs"], "Epochs")
        self.device_combo = QComboBox()
        for key, label in self.session.devices():
            self.device_combo.addItem(label, key)
        train_box = QGroupBox("Training")
        self.train_form = train_form = QFormLayout(train_box)
        self.training_fields = {"lr": self.lr_edit, "lr_schedule": self.schedule_combo, "batch_size": self.batch_spin,
                                "epochs": self.epochs_spin, "device": self.device_combo}
        for key, widget in self.training_fields.items():
            train_form.addRow(TRAINING_LABELS[key], widget)

        # what Start does
        self.new_radio = QRadioButton("New run with these settings, in a new folder")
        self.continue_radio = QRadioButton("Continue this run")
        self.plan_group = QButtonGroup(self)
        for button in (self.new_radio, self.continue_radio):
            self.plan_group.addButton(button)
        self.start_info = QLabel()
        self.start_info.setWordWrap(True)
        self.start_box = QGroupBox("Start")
        start_layout = QVBoxLayout(self.start_box)
        for w in (self.new_radio, self.continue_radio, self.start_info):
            start_layout.addWidget(w)

        self.message = MessageLine(max_lines=4)  # (under every field: its changes move none of them)
        form = Unsqueezed()
        layout = QVBoxLayout(form)
        for w in (self.origin_line, data_box, model_box, train_box, self.start_box, self.message):
            layout.addWidget(w)
        layout.addStretch(1)
        QVBoxLayout(self).addWidget(VerticalScroll(form))  # a short screen scrolls the form: no field moves
        self.inputs = (data_box, model_box, train_box, self.start_box)

        self.session.restore(read_json(self.settings, "setup/families", {}), read_json(self.settings, "setup/common", {}))
        self.family_combo.currentIndexChanged.connect(
            lambda _i: self._user(self.session.set_family, self.family_combo.currentData()))
        self.lr_edit.textChanged.connect(lambda text: self._user(self.session.set_lr, text))
        self.schedule_combo.currentIndexChanged.connect(
            lambda _i: self._user(self.session.set_lr_schedule, self.schedule_combo.currentData()))
        self.batch_spin.valueChanged.connect(lambda value: self._user(self.session.set_batch_size, value))
        self.epochs_spin.valueChanged.connect(lambda value: self._user(self.session.set_epochs, value))
        self.device_combo.currentIndexChanged.connect(
            lambda _i: self._user(self.session.set_device, self.device_combo.currentData()))
        self.new_radio.toggled.connect(lambda on: self._user(self.session.set_plan, NEW) if on else None)
        self.continue_radio.toggled.connect(lambda on: self._user(self.session.set_plan, CONTINUE) if on else None)
        self.data_combo.activated.connect(self._on_data_chosen)
        context.setup_changed.connect(self._on_session_changed)
        bridge.started.connect(self.session.run_started)
        bridge.following.connect(self.session.following)
        bridge.state_changed.connect(lambda state: self.session.run_ended() if state in RUN_ENDS else None)
        self._refresh()

    def _user(self, setter, *args) -> None:
        """A change the user made: to the session (which tells every view)."""
        if not self._syncing:
            setter(*args)

    def _on_session_changed(self, what: str) -> None:
        if what in ("form", "origin"):
            self._start_failure = ""
        self._refresh()

    # --- data -----------------------------------------------------------------------------
    def load_source(self, source: str) -> bool:
        """Load a data set by name or path off the UI thread; on success it becomes ``context.data``. False if
        it is the one open already."""
        work = self.session.load_data(source)
        if work is None:
            self._refresh()
            return False
        source = self.session.loading
        self.context.status.emit(f"{work.what}…")
        task = Task(work.compute, *work.args, parent=self)
        task.done.connect(lambda data: self._on_data(work, data))
        task.failed.connect(lambda message, _tb: self._on_data_failed(source, message))
        task.start()
        return True

    def _on_data(self, work: Work, data) -> None:
        if work.apply(data) is not None:
            self.context.status.emit(f"Data set {data.name}: {len(data):,} images")

    def _on_data_failed(self, source: str, message: str) -> None:
        if source != self.session.loading:
            return  # a newer choice superseded this load
        self.session.data_failed(source, message)
        self.context.status.emit(headline(message))
        self.data_failed.emit(message)

    def _on_data_chosen(self, index: int) -> None:
        choice = self.data_combo.itemData(index)
        if choice == OPEN_FILE:
            choice = open_file_name(self, "Open data set", "Image arrays (*.npz *.mat)")
        elif choice == OPEN_FOLDER:
            choice = existing_folder(self, "Open image folder")
        if choice:
            self.load_source(choice)
        else:
            self._refresh()  # back to the current choice

    # --- latent diffusion's base model ----------------------------------------------------
    def set_base_path(self, path: str | Path) -> None:
        """Use this checkpoint as the base model (what "Choose…" does); it is read when the run is built."""
        self.session.set_base(path)

    def _choose_base(self) -> None:
        start = self.session.base or str(self.context.checkpoint_path or "")
        path, _ = QFileDialog.getOpenFileName(self, "Base model: a trained autoencoder or VAE", start,
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.set_base_path(path)

    def family_fields(self, name: str) -> dict[str, _Field]:
        """The fields of family ``name`` by setting."""
        return {s.name: self.fields[s.name, s.kind] for s in editable_specs(name)}

    def read_form(self) -> tuple[str, dict, TrainConfig]:
        """(family, its checked settings, the TrainConfig) shown; SettingError/ValueError if not valid."""
        return self.session.family, self.session.model_values(), self.session.train_config()

    # --- the run --------------------------------------------------------------------------
    def start_training(self) -> None:
        """Start the run Start means where the launch choice says (``TrainingSession.launch``): in processes of
        its own at once, or here once built (off the UI thread: data statistics or a checkpoint take a moment);
        problems show here."""
        try:
            work = self.bridge.session.launch(self.session, new_run_dir)
        except (LatentExplorerError, OSError) as exc:
            self._fail(str(exc))
            return
        self.save_settings()
        self._start_failure = ""
        if work is None:
            self._refresh()
            process, folder = self.bridge.process, self.bridge.process_folder
            pids = ", ".join(map(str, process.pids))
            self.context.status.emit(f"Training in its own process{'es' if len(process.pids) > 1 else ''} (pid {pids}) "
                                     f"→ {folder}; closing the window leaves it training")
            return
        self._building = True
        self._refresh()
        self.context.status.emit(f"{work.what}…")
        task = Task(work.compute, *work.args, parent=self)
        task.done.connect(lambda run: self._start_run(work, run))
        task.failed.connect(lambda message, _tb: self._fail(message))
        task.start()

    def _start_run(self, work: Work, run) -> None:
        """The run is built: the session trains it."""
        self._building = False
        try:
            work.apply(run)
        except LatentExplorerError as exc:
            self._fail(str(exc))
            return
        self._refresh()

    def _fail(self, message: str) -> None:
        self._building = False
        self._start_failure = message
        self._refresh()
        self.start_failed.emit(message)

    # --- the view -------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Show the session: every widget, every problem, where the settings came from, what Start does."""
        s = self.session
        self._syncing = True
        try:
            self._show_data()
            self._show_model()
            self._show_training()
            self._show_plan()
        finally:
            self._syncing = False
        problems = s.problems()
        shown = self.family_fields(s.family)
        for field in self.fields.values():
            mark(field.widget, problems.get(field.spec.name, "") if field in shown.values() else "")
        mark(self.base_edit, problems.get("base", ""))
        for key, widget in self.training_fields.items():
            mark(widget, problems.get(key, ""))
        lines = [s.running.describe()] if s.running is not None else []
        self.origin_line.set_text(" · ".join(lines + [s.describe_origin()] if s.describe_origin() else lines))
        fixable = [text for key, text in problems.items() if key != "data"]  # (the data line says it is loading)
        summary = "Start is off until this is fixed: " + "; ".join(fixable) if fixable else ""
        self.message.set_text(self._start_failure or s.data_problem or summary)
        for box in self.inputs:
            box.setEnabled(not (s.form_is_training or self._building))

    def _show_data(self) -> None:
        s, combo = self.session, self.data_combo
        choices = [*s.data_choices(), (OPEN_FILE, "Open .npz/.mat…"), (OPEN_FOLDER, "Open image folder…")]
        if [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count()) if combo.itemData(i)] != choices:
            combo.clear()
            for key, label in choices:
                if key == OPEN_FILE:
                    combo.insertSeparator(combo.count())
                combo.addItem(label, key)
                combo.setItemData(combo.count() - 1, key, Qt.ItemDataRole.ToolTipRole)
        index = combo.findData(s.data_choice)
        combo.setCurrentIndex(index if index >= 0 else combo.findData("digits"))
        combo.setToolTip(s.loading or self.context.data_source)
        data = self.context.data
        if s.loading:
            self.data_info.setText(f"Loading {Path(s.loading).name or s.loading}…")
        elif data is None:
            self.data_info.setText("No data set loaded")
        else:
            c, h, w = data.image_shape
            classes = f", {len(data.class_names)} classes" if data.class_names else ""
            skipped = f"; {len(data.skipped)} unreadable files skipped" if data.skipped else ""
            self.data_info.setText(f"{len(data):,} images, {c}×{h}×{w}{classes}{skipped}")

    def _show_model(self) -> None:
        s = self.session
        self.family_combo.setCurrentIndex(self.family_combo.findData(s.family))
        shown = self.family_fields(s.family)
        for field in self.fields.values():
            self.model_form.setRowVisible(field.widget, field in shown.values())
        for spec in s.specs():
            field = shown[spec.name]
            field.apply(spec)
            self.model_form.labelForField(field.widget).setText(spec.label)
            field.set_raw(s.value(spec.name))
        self.model_form.setRowVisible(self.base_row, s.needs_base)
        self.base_edit.setText(s.base)

    def _show_training(self) -> None:
        s = self.session
        if self.lr_edit.text() != s.lr_text:
            self.lr_edit.setText(s.lr_text)
        self.schedule_combo.setCurrentIndex(max(self.schedule_combo.findData(s.lr_schedule), 0))
        self.batch_spin.setValue(s.batch_size)
        self.epochs_spin.setValue(s.epochs)
        self.device_combo.setCurrentIndex(max(self.device_combo.findData(s.device), 0))

    def _show_plan(self) -> None:
        s = self.session
        plans = s.plans()
        for radio in (self.new_radio, self.continue_radio):
            radio.setVisible(CONTINUE in plans)
        if CONTINUE in plans:
            origin = s.origin
            self.continue_radio.setText(f"Continue this run (trained {origin.epoch} epochs)")
            key, reason = s.continue_problem()
            self.continue_radio.setEnabled(key != "plan")
            self.continue_radio.setToolTip(f"Cannot continue: {reason}" if reason else
                                           f"Resume from {origin.path}: its weights, optimiser and counters")
        (self.continue_radio if s.plan_now == CONTINUE else self.new_radio).setChecked(True)
        self.start_info.setText(s.describe_start())

    # --- persistence ----------------------------------------------------------------------
    def save_settings(self) -> None:
        """Remember the choices (per family) for the next session."""
        remembered = self.session.remembered()
        write_json(self.settings, "setup/families", remembered["families"])
        write_json(self.settings, "setup/common", remembered["common"])
