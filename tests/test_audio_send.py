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

from audio_pulse import PulseServer, pulse_available
from core.audio.evaluate import best_band_mask
from core.audio.metrics import si_sdr
from core.audio.virtual_mic import MIC_NAME, SOURCE
from denoiser_helpers import shipped_with_test_talkers, unheard_recording
from gui.audio.live import LiveView

LONG_MS = 30_000
MARGIN_DB = 3.0  # over the best fixed band mask on the same stretch: a filter cannot pass


@pytest.fixture
def no_sound_devices(monkeypatch):
    import sounddevice
    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: sounddevice.DeviceList([]))


@pytest.fixture
def view(qtbot, no_sound_devices, shared_data):
    v = LiveView()
    qtbot.addWidget(v)
    v.show()
    v.session.set_model(shipped_with_test_talkers(shared_data)[0])
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


def gains_heard(heard: np.ndarray, noisy: np.ndarray, clean: np.ndarray, rate: int) -> tuple[float, float]:
    """SI-SDR improvement of ``heard``, and of the best fixed band mask, over the stretch of the looped
    ``noisy`` recording it came from (found by cross-correlation with the clean speech)."""
    looped_noisy, looped_clean = np.tile(noisy, 4), np.tile(clean, 4)
    n = len(looped_clean) + len(heard)
    corr = np.fft.irfft(np.fft.rfft(looped_clean, n) * np.conj(np.fft.rfft(heard, n)), n)
    start = int(np.argmax(corr[:len(looped_clean) - len(heard)]))
    ref, before = (x[start:start + len(heard)] for x in (looped_clean, looped_noisy))
    masked = best_band_mask(before[None], ref[None], rate)[0]
    return float(si_sdr(heard, ref) - si_sdr(before, ref)), float(si_sdr(masked, ref) - si_sdr(before, ref))


def test_other_apps_hear_the_denoised_voice_through_a_pulse_microphone(pulse_server, view, shared_data, qtbot):
    model = shipped_with_test_talkers(shared_data)[0]
    rate = model.sample_rate
    noisy, clean = unheard_recording(shared_data, "white_noise.wav", 0.0, seconds=4.0, talker=2)
    qtbot.mouseClick(view.send_check, Qt.MouseButton.LeftButton)
    assert view.send_check.isChecked() and view.session.mic is None  # nothing is made until live runs
    assert view.session.feed(noisy, rate, "a test recording")
    qtbot.waitUntil(lambda: view.session.mic is not None, timeout=LONG_MS)
    assert MIC_NAME in view.send_label.text() and f"Description: {MIC_NAME}" in pulse_server.sources()
    heard = record_source(2.0, rate)
    assert len(heard) == 2 * rate  # the call app gets audio
    gain, mask_gain = gains_heard(heard, noisy[0], clean[0], rate)
    print(f"heard through the virtual microphone: {gain:+.1f} dB SI-SDR over the noisy input "
          f"(the best band mask: {mask_gain:+.1f} dB)")
    assert gain >= max(mask_gain, 0.0) + MARGIN_DB and view.session.mic.dropped == 0
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert view.session.mic is None and MIC_NAME not in pulse_server.sources()  # gone with live


def test_without_a_sound_server_sending_says_why(view, monkeypatch, tmp_path, qtbot, shared_data):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    view.send_check.setChecked(True)
    assert view.session.feed(np.zeros((1, 16000), np.float32), 16000)
    qtbot.waitUntil(lambda: "Not sent to other apps" in view.send_label.text(), timeout=LONG_MS)
    assert "server" in view.send_label.text() and view.session.mic is None and view.running  # live goes on without it
