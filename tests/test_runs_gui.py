"""Runs in their own processes, the runs list and the comparison of runs, through the real widgets (pytest-qt):
Start with "Own process" trains ``python main.py train …`` in a child process that the window follows to its end;
the run shows in the runs list; ticking two runs overlays their curves with a table of their settings; Stop asks
the process to save and stop; closing the window leaves it training, and a killed one shows as killed.

Every run is tiny (digits, a 16-unit VAE); waits are generous (the machine is shared and slow).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.sessions.runs import LIST_COLUMNS, RunsSession
from core.train.loop import TrainConfig
from gui.runs_list import RunsList
from gui.settings import runs_root
from gui.training_panel import COMPARE

LONG_MS = 180_000  # a process's start takes ~10 s on an idle machine, much more under load


def set_up_tiny_vae(window, qtbot, epochs: int) -> None:
    setup, training = window.panels["setup"], window.panels["training"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData("vae"))
    setup.family_fields("vae")["hidden"].widget.setText("16")
    setup.epochs_spin.setValue(epochs)
    if not training.own_process_box.isChecked():
        qtbot.mouseClick(training.own_process_box, Qt.MouseButton.LeftButton)
    assert window.context.setup.own_process and "process of its own" in window.context.setup.describe_start()


def start_process_run(window, qtbot, epochs: int) -> tuple[Path, float]:
    """Click Start with "Own process" on; the run folder and the seconds until the panel follows it."""
    training = window.panels["training"]
    set_up_tiny_vae(window, qtbot, epochs)
    qtbot.waitUntil(training.start_button.isEnabled, timeout=LONG_MS)
    clicked = time.monotonic()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bridge.process is not None, timeout=10_000)
    assert window.bridge.process.poll() is None and not window.bridge.busy  # no worker thread here
    qtbot.waitUntil(lambda: training.state == "following", timeout=LONG_MS)
    return window.bridge.process_folder, clicked


def tick(runs: RunsList, qtbot, name: str) -> None:
    """Click the check box of run ``name`` in the list."""
    item = runs.item(name)
    runs.tree.scrollToItem(item)
    rect = runs.tree.visualItemRect(item)
    qtbot.mouseClick(runs.tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 8, rect.center().y()))


def status_in_list(runs: RunsList, name: str) -> str:
    item = runs.item(name)
    return item.text(3) if item is not None else ""


def test_a_process_run_is_followed_to_its_end_listed_and_compared(window, qtbot, digits, capsys):
    training = window.panels["training"]
    folder, clicked = start_process_run(window, qtbot, epochs=3)
    followed = time.monotonic() - clicked
    assert folder.parent == runs_root() and "own process" in training.run_label.text()
    qtbot.waitUntil(lambda: (s := training.plots.series.get(("loss", "train"))) is not None and s.n > 0,
                    timeout=LONG_MS)
    first_point = time.monotonic() - clicked
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_MS)
    qtbot.waitUntil(lambda: window.bridge.process is None, timeout=LONG_MS)
    assert "the run finished" in training.run_label.text()
    assert (folder / "logs" / "rank-0.log").is_file() and "wrote" in (folder / "logs" / "rank-0.log").read_text()
    qtbot.waitUntil(lambda: window.context.checkpoint_path == folder / "checkpoint.pt", timeout=LONG_MS)  # its model
    qtbot.waitUntil(lambda: status_in_list(training.runs, folder.name) == "finished", timeout=LONG_MS)
    assert training.runs.item(folder.name).text(4) == "3.0 / 3 epochs"
    with capsys.disabled():
        print(f"\nprocess run: followed {followed:.1f} s after the click, first curve point after "
              f"{first_point:.1f} s, finished after {time.monotonic() - clicked:.1f} s")

    # a second run (trained here, headless) to compare with
    cfg = TrainConfig(epochs=2, log_every=5, device="cpu", batch_size=32)
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    Trainer(Run("vae", image_config("vae", digits, train_idx, hidden=[16], latent_dim=4), digits, "digits", cfg,
                runs_root() / "other")).train()
    qtbot.waitUntil(lambda: status_in_list(training.runs, "other") == "finished", timeout=LONG_MS)
    tick(training.runs, qtbot, folder.name)
    tick(training.runs, qtbot, "other")
    assert training.runs_session.ticked == [folder.resolve(), (runs_root() / "other").resolve()]
    compare = training.compare
    qtbot.waitUntil(lambda: training.pages.currentIndex() == COMPARE and compare.plots.curve_count("loss") == 2,
                    timeout=LONG_MS)
    assert set(compare.plots.plots) >= {"loss", "recon", "kl", "r2"}
    assert all(compare.plots.curve_count(key) == 2 for key in compare.plots.plots)
    table = compare.table
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert table.rowCount() == 2 and [table.item(r, 0).text() for r in range(2)] == [folder.name, "other"]
    column = {name: [table.item(r, c).text() for r in range(2)] for c, name in enumerate(header)}
    assert column["Batch"] == ["64", "32"] and column["Epochs"] == ["3", "2"] and column["latent_dim"] == ["16", "4"]
    assert all(v != "—" for v in column["Val loss"] + column["R²"])

    tick(training.runs, qtbot, "other")
    tick(training.runs, qtbot, folder.name)  # no run ticked: the live page again
    qtbot.waitUntil(lambda: training.pages.currentIndex() != COMPARE, timeout=10_000)


def test_a_process_run_clears_the_last_runs_page_as_it_starts(window, qtbot):
    training = window.panels["training"]
    set_up_tiny_vae(window, qtbot, epochs=1)
    qtbot.mouseClick(training.own_process_box, Qt.MouseButton.LeftButton)  # first a run here
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_MS)
    assert training.plots.series and "vae</b> on <b>" in training.run_label.text()
    qtbot.mouseClick(training.own_process_box, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bridge.process is not None, timeout=10_000)
    assert training.state == "starting" and window.bridge.process.poll() is None  # (before the run writes a row)
    assert training.run_label.text().startswith(f"Starting <b>{window.bridge.process_folder}</b> in its own process")
    assert not training.plots.series and training.progress.format() == "starting…"
    qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bridge.process is None, timeout=LONG_MS)


def test_stop_asks_the_process_to_save_and_stop(window, qtbot):
    training = window.panels["training"]
    folder, _ = start_process_run(window, qtbot, epochs=5000)
    qtbot.waitUntil(lambda: training.stop_button.isEnabled(), timeout=LONG_MS)
    qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "stopped" and window.bridge.process is None, timeout=LONG_MS)
    assert "checkpoint saved" in training.run_label.text()
    assert "SIGINT: stopped at step" in (folder / "logs" / "rank-0.log").read_text()
    assert (folder / "checkpoint.pt").is_file()
    qtbot.waitUntil(lambda: status_in_list(training.runs, folder.name) == "stopped", timeout=LONG_MS)


def test_closing_the_window_leaves_the_process_training_and_a_killed_one_shows_killed(window, qtbot, capsys):
    training = window.panels["training"]
    folder, _ = start_process_run(window, qtbot, epochs=5000)
    qtbot.waitUntil(lambda: status_in_list(training.runs, folder.name) == "running", timeout=LONG_MS)
    process = window.bridge.process
    window.close()
    assert "goes on training in its own process" in capsys.readouterr().err
    try:
        time.sleep(2)
        assert process.poll() is None  # still training
        size = (folder / "metrics.jsonl").stat().st_size
        deadline = time.monotonic() + 120
        while (folder / "metrics.jsonl").stat().st_size == size:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        os.kill(process.pids[0], signal.SIGKILL)
        process.wait()
    runs = RunsList(RunsSession(runs_root()))
    qtbot.addWidget(runs)
    qtbot.waitUntil(lambda: status_in_list(runs, folder.name) == "killed", timeout=LONG_MS)


def test_after_a_run_in_this_process_the_launch_choice_is_offered_again_and_the_list_says_finished(window, qtbot):
    setup, training = window.panels["setup"], window.panels["training"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData("vae"))
    setup.family_fields("vae")["hidden"].widget.setText("16")
    setup.epochs_spin.setValue(2)
    assert not training.own_process_box.isChecked()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "running", timeout=LONG_MS)
    assert not training.own_process_box.isEnabled()  # not while it trains
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_MS)
    assert training.own_process_box.isEnabled() and not training.processes_spin.isEnabled()
    qtbot.mouseClick(training.own_process_box, Qt.MouseButton.LeftButton)
    assert training.processes_spin.isEnabled()
    qtbot.waitUntil(lambda: any(training.runs.tree.topLevelItem(i).text(3) == "finished"
                                for i in range(training.runs.tree.topLevelItemCount())), timeout=10_000)


def test_the_runs_list_leaves_room_for_its_short_headers(window):
    tree = window.panels["training"].runs.tree
    header, metrics = tree.header(), tree.header().fontMetrics()
    for column, title in enumerate(LIST_COLUMNS):
        if title in ("R²", "Val loss"):
            assert header.sectionSize(column) >= max(metrics.horizontalAdvance(title), metrics.horizontalAdvance("0.8612")) + 12
