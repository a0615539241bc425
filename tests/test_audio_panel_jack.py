"""The Audio panel's real widgets on a real JACK server at 48 kHz (a sound card's rate; the model runs at 16 kHz),
clicked with pytest-qt: Refresh makes the rate follow the server, Start and Stop, ▶ Before and ▶ After play back
resampled to the server's rate; and "learn my voice": ● Record hears a talker through the server with a level meter
and a timer, Fine-tune trains on it, the before/after score shows and the fine-tuned model becomes the live one."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from audio_helpers import talker_clips
from audio_jack import JackServer, jack_available, jack_device
from core.audio.io import resample
from core.train.checkpoint import save_checkpoint
from models import build_model, family
from test_audio_panel import answer_files, shown_panel

pytestmark = pytest.mark.skipif(bool(jack_available()), reason=jack_available() or "")
LONG_MS = 120_000
RATE = 48000


@pytest.fixture
def panel(qtbot, jack_server):
    with shown_panel(qtbot, (1000, 760)) as p:
        yield p


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "base" / "checkpoint.pt",
                           build_model("audio-dae", dict(family("audio-dae").tiny)).eval())


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def open_model(panel, qtbot, path) -> None:
    panel.open_model(path)
    qtbot.waitUntil(lambda: panel.model is not None, timeout=LONG_MS)


def test_refresh_start_stop_and_playback_at_48_khz(panel, qtbot, tmp_path, tiny_checkpoint, monkeypatch, capfd):
    live, view = panel.live, panel.file
    open_model(panel, qtbot, tiny_checkpoint)
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(np.arange(32000) / 5)).astype(np.float32), 16000)
    panel.session.choose_devices(None, None)  # as before any device was found
    panel.session.set_rate(16000)
    panel.tabs.setCurrentWidget(view)
    answer_files(monkeypatch, tmp_path / "tone.wav")
    click(qtbot, view.open_button)
    qtbot.waitUntil(lambda: view.original is not None, timeout=LONG_MS)
    assert not view.play_original_button.isEnabled()  # nothing to play on
    click(qtbot, live.refresh_button)
    assert view.play_original_button.isEnabled()  # the devices found are there for playback at once
    assert live.rate_combo.currentData() == RATE and 16000 not in [live.rate_combo.itemData(i)
                                                                  for i in range(live.rate_combo.count())]
    assert "ALSA" in live.input_combo.currentText()  # PortAudio's default
    panel.session.set_rate(16000)  # a rate it does not take (the session would not choose it)
    click(qtbot, live.start_button)
    assert not live.running and "could not open the sound device at 16000 Hz" in live.message.text()
    assert "paInvalidSampleRate" not in capfd.readouterr().err  # ALSA's complaint went to the log, not stderr
    device = jack_device()
    panel.session.choose_devices(device, device)
    click(qtbot, live.start_button)
    assert live.running, live.message.text()
    qtbot.waitUntil(lambda: live.engine.stats.blocks > 20, timeout=LONG_MS)
    live.redraw()
    assert "48000 Hz" in live.stats_label.text() and "band above the model's kept" in live.stats_label.text()
    click(qtbot, live.stop_button)
    assert not live.running and live.start_button.isEnabled()

    click(qtbot, view.play_original_button)
    assert "resampled to 48000 Hz" in view.info.text(), view.info.text()
    click(qtbot, view.denoise_button)
    qtbot.waitUntil(lambda: view.play_result_button.isEnabled(), timeout=LONG_MS)
    click(qtbot, view.play_result_button)
    assert "Playing the denoised recording, resampled to 48000 Hz" in view.info.text()
    click(qtbot, view.stop_button)


@contextlib.contextmanager
def speaking(server: JackServer, voice: np.ndarray, prefix: str = "PortAudio"):
    """Play ``voice`` (at the server's rate) into the app's recording port, in real time, while the block runs;
    yields a dict whose "at" says how far it got."""
    mouth = server.client("latent-explorer-test-mouth")
    port = mouth.outports.register("out")
    state = {"at": 0}

    @mouth.set_process_callback
    def speak(frames: int) -> None:
        out, i = port.get_array(), state["at"]
        n = max(0, min(frames, len(voice) - i))
        out[:n], out[n:] = voice[i:i + n], 0.0
        state["at"] = i + frames

    with mouth:
        target = next(p for p in mouth.get_ports(is_input=True, is_audio=True) if p.name.startswith(prefix))
        mouth.connect(port, target)
        yield state


def test_learn_my_voice_records_finetunes_scores_and_swaps_the_model(panel, qtbot, jack_server, tiny_checkpoint,
                                                                     shared_data):
    train = panel.train
    open_model(panel, qtbot, tiny_checkpoint)
    device = jack_device()
    panel.session.choose_devices(device, device)
    panel.tabs.setCurrentWidget(train)
    assert not train.finetune_button.isEnabled() and "Record your voice" in train.finetune_button.toolTip()
    clips = talker_clips(16000)
    voice = resample(np.concatenate([np.concatenate([c, np.zeros(3200, np.float32)]) for c in clips[:24]])[None],
                     16000, RATE)[0]
    click(qtbot, train.record_button)
    assert train.record_button.text().startswith("■") and "Recording" in train.voice_status.text()
    levels = []
    with speaking(jack_server, voice) as said:
        qtbot.waitUntil(lambda: levels.append(train.level.db) or said["at"] >= len(voice), timeout=LONG_MS)
    assert max(levels) > -30 and train.timer_label.text() != "0:00"  # the meter and the timer moved
    click(qtbot, train.record_button)
    recordings = panel.session.train.recordings
    assert len(recordings) == 1 and sf.info(str(recordings[0])).samplerate == 16000
    assert sf.info(str(recordings[0])).duration == pytest.approx(len(voice) / RATE, abs=1.5)
    base = panel.model
    panel.session.train.finetune_epochs = 2  # (the app's default: a few CPU minutes)
    click(qtbot, train.finetune_button)
    qtbot.waitUntil(lambda: panel.model is not base, timeout=3 * LONG_MS)
    before, after = panel.session.train.scores
    assert "before →" in train.score_label.text() and f"{after:+.1f} dB" in train.score_label.text()
    assert panel.checkpoint_path.name == "checkpoint.pt" and panel.checkpoint_path != tiny_checkpoint
    assert "now the live one" in train.voice_status.text()
