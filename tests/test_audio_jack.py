"""Live audio through a real sound server (JACK, dummy backend, no sound card): the test is the
microphone, and a second JACK client is another app (a call) recording the app's output port. It plays
a noisy recording of a talker the model never heard into the live engine's input port and checks that
the other app hears the speech denoised (and, in bypass, unchanged), reporting latency and dropouts.
A server that dies mid-stream is tested in a separate process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from audio_helpers import held_out_recording, trained_model
from audio_jack import PERIOD, RATE, align, jack_available, jack_device, play_and_record, windowed_gains
from core.audio.devices import LiveStream
from core.audio.engine import LiveConfig, LiveEngine
from core.audio.io import resample

pytestmark = pytest.mark.skipif(bool(jack_available()), reason=jack_available() or "")


@pytest.fixture(scope="module")
def denoiser(shared_data):
    return trained_model(shared_data)


def test_speech_comes_through_the_sound_server_denoised(jack_server, denoiser, record_property):
    model, data = denoiser
    noisy, clean = (resample(w, model.sample_rate, RATE)
                    for w in held_out_recording(data, "exercise_bike.wav", snr_db=0.0, seconds=3.0, seed=3))
    config = LiveConfig(RATE, PERIOD, channels=1)
    engine = LiveEngine(model, config)
    device = jack_device()
    stream = LiveStream(config, engine, device, device).start()
    try:
        denoised = play_and_record(jack_server, noisy[0])
        engine.bypass = True  # A/B: the same recording, unprocessed
        bypassed = play_and_record(jack_server, noisy[0])
        assert stream.running and not stream.problem
        device_ms = stream.device_latency_ms
    finally:
        stream.stop()
    _, lag = align(denoised, clean[0], RATE)
    gain = float(np.nanmedian(windowed_gains(denoised, noisy[0], clean[0], RATE)))  # (a dropout shifts the lag)
    _, dry_lag = align(bypassed, noisy[0], RATE)  # bypass: the input comes through, as late
    report = {"sisdr_improvement_db": round(gain, 2), "round_trip_ms": round(1000 * lag / RATE, 1),
              "engine_delay_ms": engine.latency_ms, "device_latency_ms": device_ms,
              "dropouts": engine.stats.xruns, "blocks": engine.stats.blocks, "rtf": round(engine.stats.rtf, 3)}
    print("live through JACK:", report)
    for key, value in report.items():
        record_property(key, value)
    assert gain > 3.0, report
    assert abs(lag - dry_lag) <= PERIOD and lag >= engine.delay_samples  # same delay both ways, >= the engine's
    assert engine.stats.blocks > 2 * len(noisy[0]) / PERIOD


def test_live_view_starts_and_stops_on_the_sound_server(jack_server, denoiser, qtbot):
    from gui.audio.live import LiveView
    view = LiveView()
    qtbot.addWidget(view)
    view.show()
    view.session.set_model(denoiser[0])
    assert view.has_devices and view.start_button.isEnabled()
    device = jack_device()
    view.session.choose_devices(device, device)
    assert view.rate_combo.currentData() == RATE  # the server's rate
    view.session.set_block(PERIOD)
    view.session.set_rate(16000)  # the model's rate; the server runs at 48 kHz
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert not view.running and "could not open the sound device at 16000 Hz" in view.message.text()
    view.session.set_rate(RATE)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.running and not view.start_button.isEnabled() and view.stop_button.isEnabled()
    qtbot.waitUntil(lambda: view.engine.stats.blocks > 20, timeout=10_000)
    qtbot.mouseClick(view.send_check, Qt.MouseButton.LeftButton)  # send to other apps: JACK needs no new device
    assert "connect this app's output ports" in view.send_label.text() and view.session.mic is None
    view.redraw()
    assert "+ device" in view.stats_label.text() and "dropouts" in view.stats_label.text()
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert not view.running and view.start_button.isEnabled()


def run_device_loss(*args: str) -> dict[str, str]:
    """Run tests/audio_device_loss.py in its own process: after a JACK server died, PortAudio cannot be
    used again in that process (see core.audio.devices), so this must not share the test process. It
    must exit normally (PortAudio's shutdown against a dead server would abort it). Its ``key: value`` lines."""
    script = Path(__file__).with_name("audio_device_loss.py")
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)


def test_a_server_that_dies_mid_stream_stops_cleanly_with_a_message():
    lines = run_device_loss()
    assert "disconnected, or the sound server quit" in lines["message"]
    assert lines["running"] == "False" and float(lines["stop_s"]) < 5
    assert "restart the app" in lines["devices"]
    assert int(lines["feed_blocks"]) > 0  # the rest works: a file still feeds the denoiser


def test_a_server_that_quits_while_idle_is_reported_and_the_app_still_exits_cleanly():
    lines = run_device_loss("idle")
    assert int(lines["devices_before"]) > 0 and "restart the app" in lines["devices"]
