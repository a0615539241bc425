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
from gui.audio.live import LiveView

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
    v.session.set_model(trained_model(shared_data)[0])
    yield v
    v.session.stop()


@pytest.fixture
def pulse_server():
    if pulse_available():
        pytest.skip(pulse_available())
    server = PulseServer().start()
    yield server
    server.stop()


def record_source(seconds: float, rate: int, timeout_s: float = 30.0) -> np.ndarray:
    """``seconds`` of what a call app hears from the virtual microphone."""
    parec = subprocess.Popen(["parec", f"--device={SOURCE}", "--format=float32le", f"--rate={rate}", "--channels=1",
                              "--raw", "--latency-msec=20"], stdout=subprocess.PIPE)
    data, want, deadline = b"", 4 * int(seconds * rate), time.monotonic() + timeout_s
    while len(data) < want and time.monotonic() < deadline:
        data += parec.stdout.read1(want - len(data))
    parec.terminate()
    parec.communicate(timeout=10)
    return np.frombuffer(data[:len(data) // 4 * 4], np.float32).copy()


def gain_heard(heard: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> float:
    """SI-SDR improvement of ``heard`` over the stretch of the looped ``noisy`` recording it came from
    (found by cross-correlation with the clean speech)."""
    looped_noisy, looped_clean = np.tile(noisy, 4), np.tile(clean, 4)
    n = len(looped_clean) + len(heard)
    corr = np.fft.irfft(np.fft.rfft(looped_clean, n) * np.conj(np.fft.rfft(heard, n)), n)
    start = int(np.argmax(corr[:len(looped_clean) - len(heard)]))
    ref, before = (x[start:start + len(heard)] for x in (looped_clean, looped_noisy))
    return float(si_sdr(heard, ref) - si_sdr(before, ref))


def test_other_apps_hear_the_denoised_voice_through_a_pulse_microphone(pulse_server, view, shared_data, qtbot):
    model, data = trained_model(shared_data)
    rate = model.sample_rate
    noisy, clean = held_out_recording(data, "white_noise.wav", snr_db=0.0, seconds=3.0)
    qtbot.mouseClick(view.send_check, Qt.MouseButton.LeftButton)
    assert view.send_check.isChecked() and view.session.mic is None  # nothing is made until live runs
    assert view.session.feed(noisy, rate, "a test recording")
    qtbot.waitUntil(lambda: view.session.mic is not None, timeout=LONG_MS)
    assert MIC_NAME in view.send_label.text() and f"Description: {MIC_NAME}" in pulse_server.sources()
    heard = record_source(2.0, rate)
    assert len(heard) == 2 * rate  # the call app gets audio
    gain = gain_heard(heard, noisy[0], clean[0])
    print(f"heard through the virtual microphone: {gain:+.1f} dB SI-SDR over the noisy input")
    assert gain > 3.0 and view.session.mic.dropped == 0
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert view.session.mic is None and MIC_NAME not in pulse_server.sources()  # gone with live


def test_without_a_sound_server_sending_says_why(view, monkeypatch, tmp_path, qtbot, shared_data):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    view.send_check.setChecked(True)
    assert view.session.feed(np.zeros((1, 16000), np.float32), 16000)
    qtbot.waitUntil(lambda: "Not sent to other apps" in view.send_label.text(), timeout=LONG_MS)
    assert "server" in view.send_label.text() and view.session.mic is None and view.running  # live goes on without it
