"""The audio panel driven through its widgets (pytest-qt): a machine without sound devices, the live
view fed from a recording, A/B and dry/wet, the file view (denoise with progress, spectrograms, save,
unreadable files), training from the Train tab, and opening models."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QPushButton

import core.audio.devices
import core.sessions.audio
import core.sessions.audio_file

from audio_helpers import held_out_recording, speech_subset, trained_denoiser, trained_model
from layout_items import stale_layout_items
from core.audio.devices import AudioDevice
from core.audio.evaluate import band_pass
from core.audio.metrics import si_sdr
from core.train.checkpoint import save_checkpoint
from gui.audio.panel import AudioPanel
from gui.background.tasks import running_tasks
from gui.bridge import TrainingBridge
from gui.context import AppContext
from models import build_model, family

LONG_MS = 60_000


@pytest.fixture
def no_sound_devices(monkeypatch):
    """A machine without sound devices: PortAudio answers with an empty list."""
    import sounddevice
    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: sounddevice.DeviceList([]))


@contextlib.contextmanager
def shown_panel(qtbot, size: tuple[int, int] = (900, 700)):
    """An Audio panel (no model opened at start) on screen; afterwards stopped, with its training and tasks over."""
    bridge = TrainingBridge()
    p = AudioPanel(AppContext(), bridge, first_launch=False)
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    try:
        yield p
    finally:
        p.shutdown()
        bridge.stop(wait_s=30)
        qtbot.waitUntil(lambda: running_tasks() == 0 and not bridge.busy, timeout=LONG_MS)


@pytest.fixture
def panel(qtbot, no_sound_devices):
    with shown_panel(qtbot) as p:
        yield p


@pytest.fixture(scope="module")
def trained(shared_data):
    return (trained_denoiser(shared_data)[0], *trained_model(shared_data))


def gains_over_baseline(denoised: np.ndarray, noisy: np.ndarray, clean: np.ndarray, rate: int) -> tuple[float, float]:
    """SI-SDR improvement (dB) of ``denoised`` and of the fixed band-pass filter, over ``noisy``."""
    before = float(si_sdr(noisy, clean))
    return float(si_sdr(denoised, clean)) - before, float(si_sdr(band_pass(noisy, rate), clean)) - before


def live_gains(live, noisy: np.ndarray, clean: np.ndarray, seconds: float) -> tuple[float, float]:
    """``gains_over_baseline`` of the live view's output over its last ``seconds``: the input monitor is
    found in the recording it loops over, the output monitor is that input ``delay_samples`` later."""
    e, n = live.engine, int(seconds * live.engine.model_rate)
    d = e.delay_samples
    heard, out = e.monitor_in.latest()[-n - d:], e.monitor_out.latest()[-n:]
    looped_noisy, looped_clean = np.tile(noisy[0], 4), np.tile(clean[0], 4)
    size = len(looped_noisy) + len(heard)
    corr = np.fft.irfft(np.fft.rfft(looped_noisy, size) * np.conj(np.fft.rfft(heard, size)), size)
    start = int(np.argmax(corr[:len(looped_noisy) - len(heard)]))
    before, ref = (x[start:start + n][None] for x in (looped_noisy, looped_clean))
    return gains_over_baseline(out[None], before, ref, e.model_rate)


def test_without_sound_devices_the_panel_says_so_and_a_file_feeds_the_live_view(panel, trained, qtbot):
    live = panel.live
    assert "no audio input and output devices found" in live.message.text()
    assert not live.start_button.isEnabled() and not live.feed_button.isEnabled()  # no model yet either
    assert "No denoiser yet" in panel.model_label.text()
    path, model, data = trained
    panel.set_model(model, path)
    assert "audio-dae" in panel.model_label.text() and "20 ms latency" in panel.model_label.text()
    assert live.feed_button.isEnabled() and not live.start_button.isEnabled()
    noisy, clean = held_out_recording(data, "white_noise.wav", snr_db=0.0, seconds=2.0)
    assert panel.session.feed(noisy, model.sample_rate, "a test recording")
    qtbot.waitUntil(lambda: live.engine.stats.blocks > 3.2 * model.sample_rate / 320, timeout=LONG_MS)
    live.redraw()
    assert "Feeding a test recording" in live.message.text() and "real-time factor" in live.stats_label.text()
    assert live.in_meter.db > -40 and live.out_meter.db > -40
    before, after = (live.signals.spectrogram(i) for i in (0, 1))
    assert before.shape == after.shape and before.shape[0] == 129
    gain, fixed_filter = live_gains(live, noisy, clean, seconds=2.5)
    assert gain > fixed_filter + 3.0, (gain, fixed_filter)  # denoised, not just band-limited
    qtbot.mouseClick(live.bypass_check, Qt.MouseButton.LeftButton)
    live.wet_slider.setValue(40)
    assert live.engine.bypass and live.engine.wet == pytest.approx(0.4) and live.wet_label.text() == "40 %"
    qtbot.mouseClick(live.stop_button, Qt.MouseButton.LeftButton)
    assert not live.running and live.feed_button.isEnabled() and live.rate_combo.isEnabled()
    assert "Feeding" not in live.message.text()  # what said it was feeding goes with it


def test_file_view_denoises_with_progress_shows_spectrograms_and_saves(panel, trained, qtbot, tmp_path):
    path, model, data = trained
    noisy, clean = held_out_recording(data, "pink_noise.wav", snr_db=0.0, seconds=3.0)
    sf.write(tmp_path / "noisy.wav", noisy[0], model.sample_rate)
    (tmp_path / "broken.wav").write_bytes(b"RIFF? no")
    view = panel.file
    panel.tabs.setCurrentWidget(view)
    view.open(tmp_path / "broken.wav")
    qtbot.waitUntil(lambda: "Could not open it" in view.info.text(), timeout=LONG_MS)
    assert "not a readable audio file" in view.info.text() and not view.denoise_button.isEnabled()
    view.open(tmp_path / "noisy.wav")
    qtbot.waitUntil(lambda: view.original is not None, timeout=LONG_MS)
    assert "3.0 s, 16000 Hz, mono" in view.info.text() and not view.denoise_button.isEnabled()  # no model
    panel.set_model(model, path)
    assert not view.play_original_button.isEnabled()  # no output device to play on
    qtbot.mouseClick(view.denoise_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=LONG_MS)
    assert view.progress.value() == 1000 and view.result.shape == noisy.shape
    gain, fixed_filter = gains_over_baseline(view.result, noisy, clean, model.sample_rate)
    assert gain > fixed_filter + 3.0, (gain, fixed_filter)
    assert view.signals.spectrogram(1).shape == view.signals.spectrogram(0).shape
    view.save(tmp_path / "out" / "clean.wav")
    qtbot.waitUntil(lambda: "Saved" in view.info.text(), timeout=LONG_MS)
    saved, rate = sf.read(tmp_path / "out" / "clean.wav", dtype="float32")
    assert rate == 16000 and np.abs(saved - view.result[0]).max() < 1e-3


def test_train_tab_trains_with_live_metrics_and_hands_over_the_model(panel, shared_data, qtbot, tmp_path):
    train = panel.train
    panel.tabs.setCurrentWidget(train)
    train.speech_edit.setText(str(speech_subset(shared_data, tmp_path / "speech", every=50)))
    train.noise_edit.setText(str(shared_data / "noise"))
    train.epochs.setValue(1)
    train.batch.setValue(8)
    rows = []
    panel.train.bridge.metrics.connect(rows.append)
    qtbot.mouseClick(train.train_button, Qt.MouseButton.LeftButton)
    assert not train.train_button.isEnabled() or train.bridge.busy
    qtbot.waitUntil(lambda: panel.model is not None, timeout=3 * LONG_MS)
    assert panel.model.name == "audio-dae" and panel.checkpoint_path.name == "checkpoint.pt"
    val = [r for r in rows if r["split"] == "val"]
    assert val and {"sisdr", "sisdr_improvement", "loss"} <= set(val[-1])
    assert "held-out SI-SDR" in train.status.text() and train.train_button.isEnabled()


def test_bad_settings_and_non_audio_models_are_refused_clearly(panel, qtbot, tmp_path):
    train = panel.train
    train.speech_edit.setText("")
    assert not train.train() and "choose a folder of clean speech" in train.status.text().lower()
    train.speech_edit.setText(str(tmp_path / "nowhere"))
    train.noise_edit.setText("")
    for check in train.builtin.values():
        check.setChecked(False)
    assert not train.train() and "noise folder or at least one built-in noise" in train.status.text()
    assert not train.train_button.isEnabled()
    image_model = build_model("ae", {"image_shape": [1, 8, 8], "mean": [0.5], "std": [0.3], "hidden": [8]})
    save_checkpoint(tmp_path / "image.pt", image_model)
    panel.open_model(tmp_path / "image.pt")
    qtbot.waitUntil(lambda: "Could not open the model" in panel.live.message.text(), timeout=LONG_MS)
    assert "not an audio denoiser" in panel.live.message.text() and panel.model is None


# --- every control that opens a file dialog, clicked (issue 11) ----------------------------------------------------
FAKE_DEVICES = [AudioDevice(0, "Fake microphone", "ALSA", 1, 0, 16000.0), AudioDevice(1, "Fake speakers", "ALSA", 0, 2,
                                                                                       16000.0)]


def fake_devices(monkeypatch, devices=FAKE_DEVICES, rates=(16000,)) -> None:
    """PortAudio lists ``devices`` (0 the default input, 1 the default output), which take only ``rates``."""
    monkeypatch.setattr(core.sessions.audio, "list_devices", lambda rescan=False: (devices, ""))
    monkeypatch.setattr(core.sessions.audio, "default_devices", lambda: (0, 1))
    monkeypatch.setattr(core.audio.devices, "_accepts", lambda i, o, rate, channels: rate in rates)


def answer_files(monkeypatch, path) -> None:
    """Every QFileDialog answers ``path`` (a file or a folder), as if the user had chosen it."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(path)))


@pytest.fixture(scope="module")
def tiny_denoiser(tmp_path_factory):
    """An untrained audio-dae at its tiny settings: quick to make, and it denoises (badly)."""
    return save_checkpoint(tmp_path_factory.mktemp("denoiser") / "checkpoint.pt",
                           build_model("audio-dae", dict(family("audio-dae").tiny)).eval())


def noise_wav(path, seconds: float = 1.0, rate: int = 16_000):
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


def test_open_model_opens_the_chosen_denoiser_and_refuses_an_image_model(panel, qtbot, tmp_path, tiny_denoiser,
                                                                          monkeypatch):
    image = save_checkpoint(tmp_path / "image.pt", build_model("ae", {"image_shape": [1, 8, 8], "mean": [0.5],
                                                                      "std": [0.3], "hidden": [8]}))
    answer_files(monkeypatch, image)
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Could not open the model" in panel.live.message.text(), timeout=LONG_MS)
    assert panel.model is None
    answer_files(monkeypatch, tiny_denoiser)
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.model is not None, timeout=LONG_MS)
    assert panel.checkpoint_path == tiny_denoiser and panel.model_label.text().startswith("<b>audio-dae</b>")


def test_refresh_finds_devices_plugged_in_since(panel, qtbot, tiny_denoiser, monkeypatch):
    live = panel.live
    panel.open_model(tiny_denoiser)
    qtbot.waitUntil(lambda: panel.model is not None, timeout=LONG_MS)
    assert not live.has_devices and not live.start_button.isEnabled()
    fake_devices(monkeypatch)
    qtbot.mouseClick(live.refresh_button, Qt.MouseButton.LeftButton)
    assert live.input_combo.currentText() == "Fake microphone (ALSA)" and live.output_combo.currentData() == 1
    assert live.message.text() == "" and live.start_button.isEnabled()


def test_feed_a_file_runs_the_chosen_recording_through_the_live_view(panel, qtbot, tmp_path, tiny_denoiser,
                                                                     monkeypatch):
    live = panel.live
    panel.open_model(tiny_denoiser)
    qtbot.waitUntil(lambda: live.feed_button.isEnabled(), timeout=LONG_MS)
    answer_files(monkeypatch, noise_wav(tmp_path / "talk.wav"))
    qtbot.mouseClick(live.feed_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: live.running and live.engine.stats.blocks > 10, timeout=LONG_MS)
    assert "Feeding talk.wav" in live.message.text()
    qtbot.mouseClick(live.stop_button, Qt.MouseButton.LeftButton)
    assert not live.running


def test_file_tab_open_denoise_play_before_after_stop_and_save(panel, qtbot, tmp_path, tiny_denoiser, monkeypatch):
    fake_devices(monkeypatch)
    played, stopped = [], []
    monkeypatch.setattr(core.sessions.audio_file, "play", lambda wave, rate, device: played.append((wave, rate, device)))
    monkeypatch.setattr(core.sessions.audio_file, "stop_playback", lambda: stopped.append(True))
    qtbot.mouseClick(panel.live.refresh_button, Qt.MouseButton.LeftButton)
    panel.open_model(tiny_denoiser)
    view = panel.file
    panel.tabs.setCurrentWidget(view)
    answer_files(monkeypatch, noise_wav(tmp_path / "noisy.wav"))
    qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.original is not None and view.denoise_button.isEnabled(), timeout=LONG_MS)
    assert view.info.text().startswith("noisy.wav: 1.0 s, 16000 Hz")
    qtbot.mouseClick(view.play_original_button, Qt.MouseButton.LeftButton)
    assert len(played) == 1 and np.array_equal(played[0][0], view.original) and played[0][1:] == (16000, 1)
    qtbot.mouseClick(view.denoise_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=LONG_MS)
    qtbot.mouseClick(view.play_result_button, Qt.MouseButton.LeftButton)
    assert len(played) == 2 and np.array_equal(played[1][0], view.result)
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert stopped == [True]
    target = tmp_path / "out" / "clean.wav"
    answer_files(monkeypatch, target)
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.info.text() == f"Saved {target}", timeout=LONG_MS)
    saved, rate = sf.read(target, dtype="float32")
    assert rate == 16000 and np.abs(saved - view.result[0]).max() < 1e-3


def test_the_train_tabs_browse_buttons_fill_the_folders(panel, qtbot, tmp_path, monkeypatch):
    train = panel.train
    panel.tabs.setCurrentWidget(train)
    for edit, folder in ((train.speech_edit, tmp_path / "speech"), (train.noise_edit, tmp_path / "noise")):
        folder.mkdir()
        answer_files(monkeypatch, folder)
        browse = edit.parentWidget().findChild(QPushButton)
        qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
        assert edit.text() == str(folder)
    answer_files(monkeypatch, "")  # cancelled: the folder stays
    qtbot.mouseClick(train.noise_edit.parentWidget().findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert train.noise_edit.text() == str(tmp_path / "noise")


def test_switching_the_family_shows_its_settings_keeps_each_familys_values_and_no_layout_item_goes_stale(panel,
                                                                                                          qtbot):
    # The rows of the family left used to be removed from the form: their layout items died in C++ while PySide
    # held wrappers of them, and the seeded monkey later got a 'QWidgetItem' back for a new OK button (and CI a
    # segfault). tests/layout_items.py says how that happens.
    train = panel.train
    panel.tabs.setCurrentWidget(train)
    combo = train.model_combo

    settings = {s.label for n in (combo.itemData(i) for i in range(combo.count()))
                for s in family(n).specs(editable_only=True)}

    def shown() -> dict:
        """The settings rows on show: label -> field."""
        return {label.text(): label.buddy() for label in train.findChildren(QLabel)
                if label.text() in settings and label.buddy() is not None and label.isVisibleTo(train)}

    def shows_the_chosen_familys() -> bool:
        return set(shown()) == {s.label for s in family(combo.currentData()).specs(editable_only=True)}

    assert shows_the_chosen_familys()
    first, other = combo.currentData(), combo.itemData(1 - combo.currentIndex())
    shown()["Sample rate"].setValue(8000)
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Up) * 2:  # as a user steps through the list
        qtbot.keyClick(combo, key)
        qtbot.waitUntil(shows_the_chosen_familys, timeout=5_000)
    assert train.session.family == first and shown()["Sample rate"].value() == 8000
    qtbot.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() == 0 else Qt.Key.Key_Up)
    qtbot.waitUntil(shows_the_chosen_familys, timeout=5_000)
    assert train.session.family == other and shown()["Sample rate"].value() == 16000
    assert stale_layout_items(train) == []


def test_at_first_launch_the_panel_opens_the_shipped_denoiser_and_start_works(qtbot, monkeypatch, tiny_denoiser):
    monkeypatch.setattr(core.sessions.audio, "default_denoiser_path", lambda: tiny_denoiser)
    fake_devices(monkeypatch)
    bridge = TrainingBridge()
    p = AudioPanel(AppContext(), bridge)
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.model is not None, timeout=LONG_MS)
    assert "(the shipped model)" in p.model_label.text() and p.checkpoint_path == tiny_denoiser
    assert p.live.start_button.isEnabled() and p.live.feed_button.isEnabled()  # no training needed
    p.shutdown()


def test_the_shipped_denoiser_is_there_and_streams():
    from core.audio.pretrained import default_denoiser_path
    path = default_denoiser_path()
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout yet")
    model = core.sessions.audio.load_denoiser(path)
    assert model.capabilities.streams and model.sample_rate == 16000


def test_the_audio_loss_plot_names_its_lines_outside_the_curves_and_no_title_is_raw(qtbot):
    from gui.metric_plots import MetricPlots
    plots = MetricPlots()
    qtbot.addWidget(plots)
    for epoch in range(1, 4):
        plots.add_row({"split": "train", "epoch": epoch, "step": epoch, "loss": -epoch, "sisdr": 3.0 * epoch,
                       "sisdr_improvement": epoch})
        plots.add_row({"split": "val", "epoch": epoch, "step": epoch, "loss": -epoch, "sisdr": 3.0 * epoch,
                       "sisdr_improvement": epoch, "sisdr_decay": 0.1, "sisdr_input": 1.0})
    plots.redraw()
    titles = {key: plot.titleLabel.text for key, plot in plots.plots.items()}
    assert set(titles) >= {"loss", "sisdr", "sisdr_decay"}
    assert all("_" not in t and "sisdr" not in t for t in titles.values()), titles
    assert plots.plots["loss"].legend is None  # a legend inside the plot covers the curve
    assert "train" in titles["loss"] and "validation" in titles["loss"]
