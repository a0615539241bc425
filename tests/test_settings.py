"""Settings are advice, never a reason not to start: a bad value in the settings file is dropped (from the
file too) with a note in the status bar naming the file, and the app starts with the rest."""
from __future__ import annotations

import json

from gui.main_window import MainWindow
from gui.settings import app_settings, check_settings, read_json, recent_files


def write_settings(values: dict) -> None:
    settings = app_settings()
    for key, value in values.items():
        settings.setValue(key, value if isinstance(value, str) else json.dumps(value))
    settings.sync()


def test_bad_values_are_dropped_on_reading_and_named_once(qtbot):
    write_settings({"setup/common": {"batch_size": "abc", "epochs": 7, "model": "ae", "lr": "fast"},
                    "map/view": '{"thumbnail_px": 1e12, "images": false, "method": null}',
                    "setup/families": {"vae": {"latent_dim": 1e400, "beta": 2.0, "hidden": "32 16"}, "gan": 3},
                    "recent_checkpoints": ["/runs/a/checkpoint.pt", 5]})
    settings = app_settings()
    assert read_json(settings, "setup/common", {}) == {"epochs": 7, "model": "ae"}  # read alone: cleaned too
    assert recent_files(settings) == ["/runs/a/checkpoint.pt"]

    window = MainWindow()
    qtbot.addWidget(window)
    note = window.status_line.text()
    assert note.startswith(f"Ignored 6 bad setting(s) in {settings.fileName()}: ")
    for part in ('batch_size = "abc" (not a whole number from 1 to 1,048,576)', 'lr = "fast"',
                 "thumbnail_px = 1000000000000.0", "vae latent_dim = Infinity", "gan (not a table)",
                 "recent file 5 (not a path)"):
        assert part in note
    assert window.status_line.isVisibleTo(window)
    setup, map_panel = window.panels["setup"], window.panels["map"]
    assert setup.epochs_spin.value() == 7 and setup.batch_spin.value() == 64
    assert setup.family_combo.currentData() == "ae"
    assert not map_panel.images_check.isChecked() and map_panel.size_spin.value() == 36
    assert check_settings(app_settings()) == ""  # dropped from the file: said once
    assert json.loads(app_settings().value("setup/families")) == {"vae": {"beta": 2.0, "hidden": "32 16"}, "gan": {}}


def test_a_setting_that_is_not_json_is_dropped(qtbot):
    write_settings({"setup/common": "{not json", "map/view": {"thumbnail_px": 40}})
    window = MainWindow()
    qtbot.addWidget(window)
    assert "setup/common (not readable)" in window.status_line.text()
    assert window.panels["map"].size_spin.value() == 40 and not app_settings().contains("setup/common")
