""""Send to other apps" through a real PulseAudio server (no sound card): while the live view runs with
the box checked, a microphone "Latent Explorer (denoised)" exists; another client (parec, as a call app
would) records it and hears the speech cleaner than the input; it goes away when live stops. Without a
server, the view says why."""
from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from audio_helpers import held_out_recording, trained_model
from audio_pulse import PulseServer, pulse_available
from core.audio.metrics import si_sdr
from core.audio.virtual_mic import MIC_NAME, SOURCE
from gui.audio_live import LiveView

LONG_MS = 30_000


@pytest.fixture
def no_sound_devices(monkeypatch):
    import sounddevice
    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: sounddevice.DeviceList([]))


@pytest.fixture
def view(qtbot, no_sound_devices, shared_data):
    v = LiveView()
    qtbot.addWidget(v)
    v.show()
    v.set_model(trained_model(shared_data)[0])
    yield v
    v.stop()


@pytest.fixture
def pulse_server():
    if pulse_available():
        pytest.skip(pulse_available())
    server = PulseServer().start()
    yield server
    server.stop()


def record_source(seconds: float, rate: int) -> np.ndarray:
    """What a call app hears from the virtual microphone for ``seconds``."""
    parec = subprocess.Popen(["parec", f"--device={SOURCE}", "--format=float32le", f"--rate={rate}", "--channels=1",
                              "--raw", "--latency-msec=20"], stdout=subprocess.PIPE)
    time.sleep(seconds)
    parec.terminate()
    return np.frombuffer(parec.communicate(timeout=10)[0], np.float32).copy()


def best_match(recording: np.ndarray, looped: np.ndarray) -> int:
    """Where in ``looped`` (a recording played over and over) ``recording`` starts."""
    n = len(looped) + len(recording)
    corr = np.fft.irfft(np.fft.rfft(looped, n) * np.conj(np.fft.rfft(recording, n)), n)
    return int(np.argmax(corr[:len(looped) - len(recording)]))


def test_other_apps_hear_the_denoised_voice_through_a_pulse_microphone(pulse_server, view, shared_data, qtbot):
    model, data = trained_model(shared_data)
    rate = model.sample_rate
    noisy, clean = held_out_recording(data, "white_noise.wav", snr_db=0.0, seconds=3.0)
    qtbot.mouseClick(view.send_check, Qt.MouseButton.LeftButton)
    assert view.send_check.isChecked() and view.mic is None  # nothing is made until live runs
    assert view.feed(noisy, rate, "a test recording")
    qtbot.waitUntil(lambda: view.mic is not None, timeout=LONG_MS)
    assert MIC_NAME in view.send_label.text() and f"Description: {MIC_NAME}" in pulse_server.sources()
    heard = record_source(2.5, rate)
    assert len(heard) > rate  # the call app got audio
    tail = heard[-rate:]  # its last second, found in the recording the view loops over
    start = best_match(tail, np.tile(clean[0], 3))
    ref = np.tile(clean[0], 3)[start:start + rate]
    before = np.tile(noisy[0], 3)[start:start + rate]
    gain = float(si_sdr(tail, ref) - si_sdr(before, ref))
    print(f"heard through the virtual microphone: {gain:+.1f} dB SI-SDR over the noisy input")
    assert gain > 3.0 and view.mic.dropped == 0
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert view.mic is None and MIC_NAME not in pulse_server.sources()  # gone with live


def test_without_a_sound_server_sending_says_why(view, monkeypatch, tmp_path, qtbot, shared_data):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    view.send_check.setChecked(True)
    assert view.feed(np.zeros((1, 16000), np.float32), 16000)
    qtbot.waitUntil(lambda: "Not sent to other apps" in view.send_label.text(), timeout=LONG_MS)
    assert "server" in view.send_label.text() and view.mic is None and view.running  # live goes on without it
