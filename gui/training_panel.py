"""Training panel: Start / Pause / Stop, progress with ETA, live loss curves and preview images.

Start takes what the Setup session says (``context.setup``: a new run, or the loaded run continued; the
button says which, and stays off with the reasons while the setup is not valid); the main window hands the
request to the Setup panel, which builds the run and starts the bridge. Everything else follows the bridge's
signals. Before the first run the panel says how to get one; the preview grids follow what the model can do
(a GAN's say that it does not reconstruct, an audio run's show spectrograms); a followed run ends Finished or
Stopped when the process that trains it ends.

"Own process" next to Start trains the run in processes of its own (``python main.py train …``, N ranks when
more than one), which the panel follows through its folder (the last run's page is cleared at once); closing the
window leaves them training, Stop asks them to save and end, also after the window was reopened and the run
followed again. Any other followed run is only let go: the button then says "Let go". Under the curves, the runs list (``gui/runs_list.py``); ticking runs there overlays their
curves, with a table of their settings and final metrics (``gui/run_compare.py``), until every tick is off.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from core.runs.follow import preview_of
from core.sessions.runs import RunsSession
from core.sessions.setup import CONTINUE, MAX_PROCESSES
from models import Capabilities, family

from .background.tasks import Task
from .bridge import TrainingBridge
from .context import AppContext
from .image_grid import ImageGrid
from .message_line import MessageLine, headline
from .metric_plots import MetricPlots
from .number_field import WholeField
from .run_compare import RunCompare
from .runs_list import RunsList
from .settings import runs_root

PREVIEWS = ("original", "reconstruction", "samples")
STATE_TEXT = {"idle": "Ready", "starting": "Starting…", "running": "Training", "paused": "Paused",
              "stopping": "Stopping…", "stopped": "Stopped", "finished": "Finished", "error": "Failed",
              "following": "Following"}
STATE_COLOUR = {"running": "#1a7f37", "paused": "#9a6700", "error": "#cf222e", "finished": "#0969da",
                "following": "#1a7f37"}
BUSY = ("starting", "running", "paused", "stopping")
EMPTY_TEXT = ("<h3>No training run yet</h3>"
              "<p>Pick a data set and a model in <b>Setup</b>, then press <b>Start</b>.</p>"
              "<p>Or look at a model trained before: <b>File ▸ Open checkpoint…</b><br>"
              "or watch a run another process trains (<code>python main.py train …</code>): "
              "<b>File ▸ Follow a run folder…</b></p>")


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def preview_layout(name: str, caps: Capabilities) -> dict[str, tuple[str, str] | None]:
    """For each preview grid of a ``name`` model: (title, what it says while empty), or None: not shown."""
    if caps.modality == "audio":
        return {"original": ("Noisy input (spectrogram)", "no spectrograms yet"),
                "reconstruction": ("Denoised (spectrogram)", "no spectrograms yet"), "samples": None}
    if caps.reconstructs:
        layout = {"original": ("Validation images", "no images yet"), "reconstruction": ("Reconstructions", "no images yet")}
    else:
        layout = {"original": None, "reconstruction": (
            "Reconstructions", f"{family(name).kind} models do not reconstruct images: they make new ones from noise"
            + (" (see Samples)" if caps.samples else ""))}
    layout["samples"] = ("Samples", "no samples yet") if caps.samples else None
    return layout


LIVE, COMPARE = 1, 2  # pages after the empty one


class TrainingPanel(QWidget):
    start_requested = Signal()
    follow_requested = Signal(str)  # a run folder double-clicked in the runs list

    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.session = context.setup
        self.state = "idle"
        self.epochs = 0
        self.unit = "images"
        self.followed: Path | None = None
        self._first_steps = 0  # steps before the first figures, while none have come (0: they have)
        self._stop_lets_go = False  # the last Stop only let a followed run go

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.own_process_box = QCheckBox("Own process")
        self.own_process_box.setToolTip("Train in a process of its own (python main.py train …), followed here; it "
                                        "goes on training when the window closes")
        self.processes_spin = WholeField(1, max(1, min(MAX_PROCESSES, os.cpu_count() or 1)), "Processes")
        self.processes_spin.setPrefix("× ")
        self.processes_spin.setToolTip("Processes: more than one trains data parallel (each its share of every epoch)")
        self.state_label = QLabel()
        self.note = MessageLine(max_lines=2)  # why Start is off, or why it did not start
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.run_label = QLabel()
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label.setWordWrap(True)
        self.run_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.plots = MetricPlots(columns=2)
        self.previews = {key: ImageGrid() for key in PREVIEWS}
        preview_row = QWidget()
        row = QHBoxLayout(preview_row)
        row.setContentsMargins(0, 0, 0, 0)
        for grid in self.previews.values():
            row.addWidget(grid)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setStyleSheet("color: #57606a; padding: 24px;")

        buttons = QHBoxLayout()
        for b in (self.start_button, self.own_process_box, self.processes_spin, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addSpacing(12)
        buttons.addWidget(self.state_label, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(preview_row)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.compare = RunCompare()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(splitter)
        self.pages.addWidget(self.compare)
        self._live_page = 0  # the empty page until there is a run
        self.runs_session = RunsSession(runs_root())
        self.runs = RunsList(self.runs_session)
        self._reading_curves = False
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(self.pages)
        outer.addWidget(self.runs)
        outer.setStretchFactor(0, 5)
        outer.setStretchFactor(1, 1)
        outer.setSizes([800, 150])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.progress)
        layout.addWidget(self.run_label)
        layout.addWidget(outer, 1)
        self.progress.hide()  # until there is a run

        self.start_button.clicked.connect(self._on_start)
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button.clicked.connect(self._on_stop)
        self.own_process_box.toggled.connect(lambda on: self._set_launch(on, self.processes_spin.value()))
        self.processes_spin.valueChanged.connect(lambda n: self._set_launch(self.own_process_box.isChecked(), n))
        self.runs.ticked_changed.connect(self._read_ticked)
        self.runs.refreshed.connect(self._on_runs_refreshed)
        self.runs.open_requested.connect(self.follow_requested.emit)
        bridge.following.connect(self.runs.add_folder)
        bridge.started.connect(self._on_started)
        bridge.launched.connect(self._on_launched)
        bridge.following.connect(self._on_following)
        bridge.state_changed.connect(self._set_state)
        bridge.state_changed.connect(self._say_first_steps)
        bridge.metrics.connect(self._on_metrics)
        bridge.preview.connect(self._on_preview)
        context.setup_changed.connect(self._on_setup_changed)
        context.model_changed.connect(self._on_model)
        self._set_state("idle")

    @property
    def has_run(self) -> bool:
        """Whether the panel has a run (trained here or followed) to show rather than how to get one."""
        return self._live_page == LIVE

    def _show_page(self) -> None:
        """The ticked runs compared while any is ticked, else the live run (or how to get one)."""
        self.pages.setCurrentIndex(COMPARE if self.runs_session.ticked else self._live_page)

    # --- the runs list and the comparison -------------------------------------------------
    def _read_ticked(self) -> None:
        """Read the ticked runs' curves off the UI thread (one read at a time), then show them with their table."""
        self.compare.show_table(self.runs_session.comparison())
        self._show_page()
        if self._reading_curves or not self.runs_session.ticked:
            return
        self._reading_curves = True
        work = self.runs_session.read_ticked()
        ticked = list(self.runs_session.ticked)
        task = Task(work.compute, *work.args, parent=self)
        task.done.connect(lambda curves: self._on_curves(work.apply(curves), ticked))
        task.failed.connect(lambda message, _tb: self._on_curves_failed(message))
        task.start()

    def _on_curves(self, _curves, ticked: list) -> None:
        self._reading_curves = False
        self.compare.show_curves(self.runs_session.overlay())
        if ticked != self.runs_session.ticked:
            self._read_ticked()  # the ticks changed meanwhile

    def _on_curves_failed(self, message: str) -> None:
        self._reading_curves = False
        self.context.status.emit(f"Cannot read the runs' curves: {headline(message)}")

    def _on_runs_refreshed(self) -> None:
        if not self.runs_session.ticked:
            return
        self.compare.show_table(self.runs_session.comparison())
        if any(r.status == "running" for r in self.runs_session.ticked_rows()):
            self._read_ticked()  # their curves grow

    def _on_setup_changed(self, what: str) -> None:
        if what in ("form", "origin", "data") and self.note.text().startswith("Not started"):
            self.note.set_text("")  # (why the last Start failed is no longer the news once the form changed)
        self._update_buttons()

    def _set_launch(self, own_process: bool, processes: int) -> None:
        if not self.processes_spin.problem() and \
                (own_process, processes) != (self.session.own_process, self.session.processes):
            self.session.set_launch(own_process, processes)
        else:
            self._update_buttons()  # (a count out of range is kept as typed and named, and Start is off)

    # --- buttons --------------------------------------------------------------------------
    def _on_start(self) -> None:
        self._set_state("starting")
        self.start_requested.emit()

    def start_failed(self, message: str) -> None:
        """The run could not be built (bad setup): back to ready; the setup panel shows why."""
        self._set_state("idle")
        self.note.set_text(f"Not started: {headline(message)}")

    def _on_pause(self) -> None:
        if self.state == "paused":
            self.bridge.resume()
        else:
            self.bridge.pause()
        self.pause_button.setEnabled(False)  # until the worker confirms

    def _on_stop(self) -> None:
        self._stop_lets_go = self.bridge.session.stop_lets_go
        self._set_state("stopping")
        self.bridge.stop()  # (a followed run that Stop only lets go is at once: "stopped")

    def _set_state(self, state: str) -> None:
        if self.state == "stopping" and state in ("running", "paused"):
            return  # a late report from before the stop request
        if self.state in ("following", "stopping") and self.followed is not None and state in ("finished", "stopped"):
            self._followed_ended(state, let_go=self.state == "stopping")
        if state in ("finished", "stopped", "error") and self.has_run:
            self.progress.setFormat(self.progress.format().split("  ·  ETA")[0])  # no ETA once it has ended
            self.runs.refresh()  # its row says so now, not at the next tick
        self.state = state
        colour = STATE_COLOUR.get(state, "#57606a")
        self.state_label.setText(f"<b style='color:{colour}'>{STATE_TEXT.get(state, state)}</b>")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.state in BUSY
        problems = self.session.problems()
        if self.processes_spin.problem() and self.session.own_process:
            problems["processes"] = self.processes_spin.problem()
        self.start_button.setEnabled(not busy and self.state != "following" and not problems)
        self.start_button.setText("Continue" if self.session.plan_now == CONTINUE else "Start")
        self.start_button.setToolTip(
            "Start is off: " + "; ".join(problems.values()) if problems else
            "Stop following first" if self.state == "following" else self.session.describe_start())
        self.own_process_box.setChecked(self.session.own_process)
        if not self.processes_spin.problem():
            self.processes_spin.setValue(self.session.processes)
        free = not busy and self.state != "following"
        self.own_process_box.setEnabled(free)
        self.processes_spin.setEnabled(free and self.session.own_process)
        self.pause_button.setEnabled(self.state in ("running", "paused") and self.bridge.process is None)
        self.pause_button.setText("Resume" if self.state == "paused" else "Pause")
        self.stop_button.setEnabled(self.state in ("running", "paused", "following")
                                    or (self.state == "starting" and self.bridge.process is not None))
        lets_go = self.state == "following" and self.bridge.session.stop_lets_go
        self.stop_button.setText("Let go" if lets_go else "Stop")
        self.stop_button.setToolTip("Stop following: the run goes on in the process that trains it" if lets_go
                                    else "Stop after the current step; the checkpoint is saved")
        if busy or self.state == "following":
            self.note.set_text("")
        elif problems:
            self.note.set_text("Start is off: " + "; ".join(problems.values()))
        elif not self.note.text().startswith("Not started"):
            self.note.set_text("")

    # --- what the worker reports ----------------------------------------------------------
    def _show_run(self, name: str, caps: Capabilities | None) -> None:
        """A new run on the page: empty curves, and preview grids that fit what its model can do."""
        self._live_page = LIVE
        self._show_page()
        self.progress.show()
        self.note.set_text("")
        self.plots.reset(x_limit=self.epochs or float("inf"))
        self._layout_previews(name, caps)
        self.progress.setValue(0)

    def _layout_previews(self, name: str, caps: Capabilities | None) -> None:
        layout = preview_layout(name, caps) if caps is not None else {
            "original": ("Validation images", "no images yet"), "reconstruction": ("Reconstructions", "no images yet"),
            "samples": None}
        for key, grid in self.previews.items():
            shown = layout[key]
            grid.setVisible(shown is not None)
            if shown is not None:
                grid.title.setText(shown[0])
                grid.clear(shown[1])

    def _on_started(self, run) -> None:
        self.followed = None
        self.epochs = run.config.epochs
        self.unit = run.unit
        self._show_run(run.model_name, family(run.model_name).capabilities)
        for row in (run.resume or {}).get("history", []):  # a continued run's curves so far
            self.plots.add_row(row)
        self._first_steps = run.config.log_every
        self.progress.setFormat("starting: preparing the data and building the model…")
        where = f" → {run.out_dir}" if run.out_dir else ""
        verb = "Continuing " if run.resume is not None else ""
        self.run_label.setText(f"{verb}<b>{run.model_name}</b> on <b>{run.describe()}</b>, "
                               f"{run.config.epochs} epochs{where}")
        self._set_state("running")

    def _on_launched(self, folder: str) -> None:
        """A run starts in processes of its own: the page is its own (empty) at once, not the last run's."""
        self.followed, self.epochs, self.unit = None, None, "images"
        self._show_run("", None)
        self.progress.setFormat("starting…")
        pids = ", ".join(map(str, self.bridge.process.pids))
        self.run_label.setText(f"Starting <b>{folder}</b> in its own process (pid {pids})…")

    def _on_following(self, run_dir: str) -> None:
        self.followed = Path(run_dir)
        self.epochs = None  # until a row tells (epoch / progress)
        self.unit = "images"
        self._show_run("", None)
        self.progress.setFormat("waiting for the run…")
        process = self.bridge.process
        if process is not None:
            pids = ", ".join(map(str, process.pids))
            self.run_label.setText(f"Training <b>{run_dir}</b> in its own process (pid {pids}): closing the window "
                                   "leaves it training; Stop saves it and ends it")
        elif self.bridge.session.owner_pid is not None:
            self.run_label.setText(f"Following <b>{run_dir}</b>, trained in its own process (pid "
                                   f"{self.bridge.session.owner_pid}): Stop saves it and ends it")
        else:
            self.run_label.setText(f"Following <b>{run_dir}</b> (trained by another process; Let go leaves it training)")

    def _followed_ended(self, state: str, let_go: bool) -> None:
        if let_go and not self._stop_lets_go:
            text = "stopped at the current step, its checkpoint saved (Setup can continue it)"
        elif let_go:
            text = "let go: it goes on in its own process"
        elif state == "finished":
            text = "the run finished"
        else:
            text = "its process ended before the last epoch (stopped or killed); File ▸ Follow again if it resumes"
        self.run_label.setText(f"Followed <b>{self.followed}</b>: {text}")
        self.followed = None

    def show_followed_model(self, name: str, caps: Capabilities) -> None:
        """The followed run's model is known (from its checkpoint): preview grids that fit it."""
        if self.state == "following":
            self._layout_previews(name, caps)

    def _on_model(self, model) -> None:
        """A followed run's newest checkpoint was loaded: its previews, computed here (the run's own previews
        stay in its process)."""
        if not self.has_run:
            self._show_empty()
        data = self.context.data
        if self.state != "following" or model is None or model.capabilities.modality != "image":
            return
        self.show_followed_model(model.name, model.capabilities)
        if data is None or list(model.image_shape) != list(data.image_shape):
            return
        task = Task(preview_of, model, data, parent=self)
        task.done.connect(lambda grids: self._on_preview(grids) if self.state == "following" else None)
        task.failed.connect(lambda message, _tb: self.context.status.emit(f"No previews of the followed model: {message}"))
        task.start()

    def _show_empty(self) -> None:
        """How to get a run; with a model open, that Start can continue it."""
        model, path = self.context.model, self.context.checkpoint_path
        opened = "" if model is None else (
            f"<p>Open now: <b>{model.name}</b>" + (f" from {path}" if path else "") +
            ". Setup shows its settings: Start " + ("continues its run or " if path else "") +
            "trains a new one with them.</p>")
        self.empty.setText(EMPTY_TEXT + opened)

    def _say_first_steps(self, state: str) -> None:
        """While no figures have come yet: what the run does until they come (the loop reports 'running' once
        the model is built and its steps begin)."""
        if state == "running" and self._first_steps and self.progress.value() == 0:
            self.progress.setFormat(f"starting: training the first {self._first_steps} steps; the first figures "
                                    "come after them…")

    def _on_metrics(self, row: dict) -> None:
        self._first_steps = 0
        self.plots.add_row(row)
        if self.epochs is None and row.get("progress"):
            self.epochs = round(row["epoch"] / row["progress"])
        if "progress" in row:
            self.progress.setValue(round(1000 * row["progress"]))
            parts = [f"epoch {row['epoch']:.1f}" + (f" / {self.epochs}" if self.epochs else "")]
            if row.get("eta_s") is not None:
                parts.append(f"ETA {format_duration(row['eta_s'])}")
            if row.get("samples_per_s"):
                parts.append(f"{row['samples_per_s']:,.0f} {self.unit}/s")
            self.progress.setFormat("%p%  ·  " + "  ·  ".join(parts))

    def _on_preview(self, event: dict) -> None:
        for key, grid in self.previews.items():
            images = event.get(key)
            if isinstance(images, np.ndarray) and len(images):
                grid.set_images(images)
                grid.show()
