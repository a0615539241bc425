"""The main window: one dock per registered panel, the File and View menus, the status bar.

It owns the shared ``AppContext`` and ``TrainingBridge``, opens and saves checkpoints (off the UI
thread), loads a finished run's checkpoint into the context (with its training state, so Setup shows how
it was trained) so every panel sees the trained model, and turns worker errors into dialogs. Window layout,
recent files (each file opened, saved or trained; the menu follows at once) and setup choices persist in
``gui.settings.app_settings()``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget

from core.errors import LatentExplorerError
from core.image.trainer import Run
from core.train.checkpoint import load_checkpoint, save_checkpoint
from core.train.device import pick_device
from models import GenerativeModel

from .background.collector import set_aside
from .background.jobs import Job
from .background.latest import LatestOnly
from .background.tasks import Task
from .bridge import TrainingBridge
from .context import AppContext
from .message_line import MessageLine
from .panels import panel_specs
from .settings import (RECENT_KEY, add_recent_file, app_settings, check_settings, recent_files, runs_root,
                       save_file_name, write_json)

CHECKPOINT_FILTER = "Checkpoints (*.pt);;All files (*)"
SETUP_WIDTH = 340  # px, the left dock area's first width
RUN_ENDS = ("finished", "stopped", "error")
STATUS_MS, SETTINGS_NOTE_MS = 10_000, 60_000  # how long a status message, and the note on bad settings, shows


def copy_checkpoint(source: Path | None, target: Path, model: GenerativeModel) -> Path:
    """Save the current model as ``target``: a copy of its checkpoint file (keeps optimiser state and
    history) when that still exists, else a fresh checkpoint of the weights."""
    target = Path(target)
    if source is None or not Path(source).is_file():
        return save_checkpoint(target, model)
    if Path(source).resolve() != target.resolve():
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return target


class MainWindow(QMainWindow):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Latent Explorer")
        self.setDockNestingEnabled(True)
        self.settings = app_settings()
        settings_note = check_settings(self.settings)  # bad values go before the panels read them
        self.context = AppContext(self)
        self.bridge = TrainingBridge(self)
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._run_checkpoint: str | None = None
        self._checkpoint_generation = 0
        self._pending_model: tuple[GenerativeModel, Path, dict, bool] | None = None  # waiting for its data set

        self.resize(1400, 860)
        self._build_docks()
        self._build_menus()
        self.device_label = QLabel(f"device: {pick_device('auto')}")
        self.statusBar().addPermanentWidget(self.device_label)
        # the status bar's message: wrapped to two lines (kept: it never jumps), the rest behind Details…
        self.status_line = MessageLine("info", max_lines=2)
        self.statusBar().addWidget(self.status_line, 1)
        self.statusBar().setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 8)
        self._status_timer = QTimer(self, singleShot=True)
        self._status_timer.timeout.connect(lambda: self.status_line.set_text(""))
        if settings_note:
            self.say(settings_note, SETTINGS_NOTE_MS)
        self._connect()
        self._restore_layout()

    def say(self, message: str, ms: int = STATUS_MS) -> None:
        """Show ``message`` in the status bar for ``ms`` milliseconds (until the next one)."""
        self.status_line.set_text(message)
        self._status_timer.start(ms)

    # --- construction ---------------------------------------------------------------------
    def _build_docks(self) -> None:
        first_in_area: dict[Qt.DockWidgetArea, QDockWidget] = {}
        for spec in panel_specs():
            panel = spec.factory(self.context, self.bridge)
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(f"dock-{spec.key}")
            dock.setWidget(panel)
            self.addDockWidget(spec.area, dock)
            if spec.area in first_in_area:
                self.tabifyDockWidget(first_in_area[spec.area], dock)
            else:
                first_in_area[spec.area] = dock
            self.panels[spec.key], self.docks[spec.key] = panel, dock
        for dock in first_in_area.values():
            dock.raise_()
        left = first_in_area.get(Qt.DockWidgetArea.LeftDockWidgetArea)
        right = first_in_area.get(Qt.DockWidgetArea.RightDockWidgetArea)
        if left is not None and right is not None:
            self.resizeDocks([left, right], [SETUP_WIDTH, 1400 - SETUP_WIDTH], Qt.Orientation.Horizontal)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = file_menu.addAction("&Open checkpoint…", QKeySequence.StandardKey.Open,
                                               lambda _checked=False: self.open_checkpoint())
        self.save_action = file_menu.addAction("&Save checkpoint as…", QKeySequence.StandardKey.SaveAs,
                                               lambda _checked=False: self.save_checkpoint_as())
        self.save_action.setEnabled(False)
        self.follow_action = file_menu.addAction("&Follow a run folder…", lambda _checked=False: self.follow_run())
        self.follow_action.setToolTip("Watch a run that another process trains (python main.py train …)")
        self.recent_menu = file_menu.addMenu("Recent files")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())

    def _connect(self) -> None:
        self.context.status.connect(self.say)
        self.bridge.notice.connect(self.context.status.emit)
        self.context.data_changed.connect(self._on_data_changed)
        self.context.model_changed.connect(self._on_model_changed)
        self.bridge.started.connect(self._on_run_started)
        self.bridge.checkpoint_saved.connect(self._on_checkpoint_saved)
        self.bridge.followed_checkpoint.connect(self._on_followed_checkpoint)
        self.bridge.state_changed.connect(self._on_run_state)
        self.bridge.error.connect(lambda message, tb: self.show_error("Training failed", message, tb))
        setup, training = self.panels.get("setup"), self.panels.get("training")
        if setup is not None and training is not None:
            training.start_requested.connect(setup.start_training)
            training.follow_requested.connect(self.follow_run)
            setup.start_failed.connect(training.start_failed)
            setup.data_failed.connect(lambda _message: self._apply_pending_model())

    # --- data -----------------------------------------------------------------------------
    def load_dataset(self, source: str) -> None:
        """Open a data set (off the UI thread) through the setup panel, which shows its progress."""
        self.panels["setup"].load_source(source)

    def _on_data_changed(self, _data) -> None:
        self._apply_pending_model()
        self._update_title()

    # --- checkpoints ----------------------------------------------------------------------
    def open_checkpoint(self, path: str | Path | None = None, followed: bool = False, keep_data: bool = False) -> None:
        """File ▸ Open checkpoint: load it off the UI thread; the model goes into the context with its training
        state (``followed``: the checkpoint of a run another process trains). If it was trained on images of
        another shape than the open data set, its data set is opened first, unless ``keep_data`` (a followed
        run's later checkpoints: the data set the user chose meanwhile stays, and the model waits)."""
        if path is None:
            start = str(Path(recent_files(self.settings)[0]).parent) if recent_files(self.settings) else ""
            path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", start, CHECKPOINT_FILTER)
            if not path:
                return
        path = Path(path)
        self._checkpoint_generation += 1
        generation = self._checkpoint_generation
        self.context.status.emit(f"Opening {path}…")
        task = Task(load_checkpoint, path, parent=self)
        task.done.connect(lambda result: self._on_checkpoint_loaded(generation, path, *result, followed, keep_data))
        task.failed.connect(lambda message, tb: self.show_error("Could not open the checkpoint", message, tb))
        task.start()

    def _on_checkpoint_loaded(self, generation: int, path: Path, model: GenerativeModel, payload: dict,
                              followed: bool, keep_data: bool = False) -> None:
        if generation != self._checkpoint_generation:
            return  # a newer open superseded this one
        self.remember_recent(path)
        if model.capabilities.modality == "audio" and "audio" in self.panels:  # denoisers: the audio panel's
            self.panels["audio"].set_model(model, path)
            if followed and "training" in self.panels:
                self.panels["training"].show_followed_model(model.name, model.capabilities)
            self.context.status.emit(f"Denoiser {model.name} from {path} (Audio panel)")
            return
        data = self.context.data
        train_state = payload.get("train_state") or {}
        source = train_state.get("dataset")
        other_shape = data is None or list(data.image_shape) != list(model.image_shape)
        if other_shape and keep_data:
            self.context.status.emit(f"The followed run's newer model is not shown: it trains on {source or 'other images'}"
                                     f", and {data.name if data else 'no data set'} is open")
            return
        self._pending_model = (model, path, train_state, followed)
        if other_shape and source and "setup" in self.panels and self.panels["setup"].load_source(source):
            return  # (the model follows its data set)
        self._apply_pending_model()

    def _apply_pending_model(self) -> None:
        if self._pending_model is not None:
            model, path, train_state, followed = self._pending_model
            self._pending_model = None
            self.context.set_model(model, path, train_state=train_state, followed=followed)
            self.context.status.emit(f"Model {model.name} from {path}")

    def save_checkpoint_as(self, path: str | Path | None = None) -> None:
        """File ▸ Save checkpoint as: write the current model to a file of the user's choice."""
        if self.context.model is None:
            return
        if path is None:
            if self.context.checkpoint_path is not None:
                path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint as", str(self.context.checkpoint_path),
                                                      CHECKPOINT_FILTER)
            else:  # (a model made in memory: where the user saved last, else the documents folder)
                path = save_file_name(self, "Save checkpoint as", f"{self.context.model.name}.pt", CHECKPOINT_FILTER)
            if not path:
                return
        path = Path(path)
        task = Task(copy_checkpoint, self.context.checkpoint_path, path, self.context.model, parent=self)
        task.done.connect(lambda saved: (self.remember_recent(saved), self.context.status.emit(f"Saved {saved}")))
        task.failed.connect(lambda message, tb: self.show_error("Could not save the checkpoint", message, tb))
        task.start()

    def remember_recent(self, path: str | Path) -> None:
        """Put ``path`` first in File ▸ Recent files (the menu is refilled now: a disabled menu never opens to
        refill itself)."""
        add_recent_file(self.settings, path)
        self._fill_recent_menu()

    def _clear_recent(self) -> None:
        write_json(self.settings, RECENT_KEY, [])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = recent_files(self.settings)
        for i, file in enumerate(files, 1):
            # (made here, not by addAction: clear() deleted the last fill's actions, and a wrapper PySide keeps for
            # an address can come back for a new object of another type)
            action = QAction(f"&{i}  {Path(file).parent.name}/{Path(file).name}", self.recent_menu)
            self.recent_menu.addAction(action)
            action.setToolTip(file)
            action.triggered.connect(lambda _checked=False, f=file: self.open_checkpoint(f))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda _checked=False: self._clear_recent())
        self.recent_menu.setEnabled(bool(files))

    # --- training runs --------------------------------------------------------------------
    def _on_run_started(self, run: Run) -> None:
        self._run_checkpoint = None
        self.device_label.setText(f"device: {pick_device(run.config.device)}")
        data = run.describe()
        self.context.status.emit(f"Training {run.model_name} on {data}; run folder {run.out_dir}")

    def follow_run(self, run_dir: str | Path | None = None) -> None:
        """File ▸ Follow a run folder: its curves fill in as another process trains, and each checkpoint it
        writes becomes the current model."""
        if run_dir is None:
            run_dir = QFileDialog.getExistingDirectory(self, "Follow a run folder", str(runs_root()))
            if not run_dir:
                return
        try:
            self.bridge.follow(run_dir)  # (refused while a run trains here)
        except LatentExplorerError as exc:
            self.show_error("Cannot follow the run", str(exc))
            return
        self.context.status.emit(f"Following {run_dir}")

    def _on_checkpoint_saved(self, path: str) -> None:
        self._run_checkpoint = path

    def _on_followed_checkpoint(self, path: str, first: bool) -> None:
        """A followed run's latest model, for every panel; only its first brings the run's data set along."""
        self.open_checkpoint(path, followed=True, keep_data=not first)

    def _on_run_state(self, state: str) -> None:
        if state == "running":
            set_aside()  # what the run's start imported lives for the session: no full scan of it while it trains
        if state in RUN_ENDS and self._run_checkpoint:
            path, self._run_checkpoint = self._run_checkpoint, None
            self.open_checkpoint(path)  # the trained model, for every panel

    # --- feedback -------------------------------------------------------------------------
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A non-blocking error dialog (the event loop and training go on); the traceback under Details."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.context.status.emit(message.splitlines()[0] if message else title)

    def _on_model_changed(self, model) -> None:
        self.save_action.setEnabled(model is not None)
        self._update_title()

    def _update_title(self) -> None:
        parts = ["Latent Explorer"]
        if self.context.data is not None:
            parts.append(self.context.data.name)
        if self.context.checkpoint_path is not None:
            parts.append(f"{self.context.model.name} ({self.context.checkpoint_path.parent.name})")
        self.setWindowTitle(" — ".join(parts))

    # --- persistence ----------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event) -> None:
        if self.bridge.process_alive:  # a run in processes of its own goes on
            pids = ", ".join(map(str, self.bridge.process.pids))
            print(f"the run in {self.bridge.process_folder} goes on training in its own process (pid {pids}); "
                  f"follow it again with File ▸ Follow a run folder", file=sys.stderr)
        if self.bridge.busy:
            self.bridge.stop(wait_s=10.0)  # the worker saves its checkpoint before it ends
            saved = self.bridge.session.last_checkpoint
            if saved and Path(saved).is_file():
                add_recent_file(self.settings, saved)  # (the window will not open it now)
        for job in self.findChildren(Job):  # background work ends with the window
            job.cancel()
        for runner in self.findChildren(LatestOnly):
            runner.close()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        for panel in self.panels.values():
            if hasattr(panel, "save_settings"):
                panel.save_settings()
        self.settings.sync()
        super().closeEvent(event)
