"""Before there is anything to show, every view says what to do, on axes that make sense (the real main window
on the digits, no model)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QLabel

from gui.audio.file import BEFORE_AFTER_HINTS
from gui.audio.live import LIVE_HINT
from gui.audio.views import EMPTY_RATE, EMPTY_SECONDS
from gui.latent_panel import SLIDERS_HINT
from gui.morph_panel import SCRUB_EMPTY, STRIP_EMPTY, VECTOR_EMPTY

LONG_MS = 120_000


def assert_axes(pair, index: int, seconds: float, rate: int) -> None:
    """Spectrogram ``index`` spans ``seconds`` from 0 and 0 … rate/2 Hz, labelled in s and kHz."""
    plot = pair.spec_plots[index]
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    assert (x0, x1) == pytest.approx((0, seconds)) and (y0, y1) == pytest.approx((0, rate / 2))
    assert pair.waves[index].getViewBox().viewRange()[0] == pytest.approx([0, seconds])
    bottom, left = plot.getAxis("bottom"), plot.getAxis("left")
    assert (bottom.labelUnitPrefix, bottom.labelUnits) == ("", "s")
    assert (left.labelUnitPrefix, left.labelUnits) == ("k", "Hz")


@pytest.fixture
def audio(window):
    window.docks["audio"].raise_()
    return window.panels["audio"]


def test_audio_views_without_audio_say_what_to_do_on_seconds_and_kilohertz(audio):
    for pair, hints in ((audio.live.signals, (LIVE_HINT, LIVE_HINT)), (audio.file.signals, BEFORE_AFTER_HINTS)):
        for i in (0, 1):
            assert pair.hint(i) == hints[i] and pair.spectrogram(i) is None
            assert_axes(pair, i, EMPTY_SECONDS, EMPTY_RATE)


def test_a_recording_not_denoised_yet_leaves_after_empty_on_its_time_axis(audio, qtbot, tmp_path):
    view = audio.file
    audio.tabs.setCurrentWidget(view)
    rate = 8000
    wave = 0.3 * np.sin(np.arange(int(2.5 * rate)) * 0.3).astype(np.float32)
    sf.write(tmp_path / "tone.wav", wave, rate)
    view.open(tmp_path / "tone.wav")
    qtbot.waitUntil(lambda: view.original is not None, timeout=LONG_MS)
    assert view.signals.hint(0) == "" and view.signals.spectrogram(0).shape[0] == 129
    assert view.signals.hint(1) == BEFORE_AFTER_HINTS[1] and view.signals.spectrogram(1) is None
    assert_axes(view.signals, 0, 2.5, rate)
    assert_axes(view.signals, 1, 2.5, rate)


def test_training_panel_before_any_run_says_how_to_get_one(window):
    panel = window.panels["training"]
    assert panel.pages.currentWidget() is panel.empty and panel.empty.isVisible()
    text = panel.empty.text()
    assert "No training run yet" in text and "then press <b>Start</b>" in text and "Open checkpoint" in text


def test_latent_and_morph_views_without_a_model_say_what_shows_there(window):
    window.docks["latent"].raise_()
    latent = window.panels["latent"]
    hints = [latent.slider_grid.itemAt(i).widget() for i in range(latent.slider_grid.count())]
    assert [w.text() for w in hints if isinstance(w, QLabel)] == [SLIDERS_HINT] and not latent.sliders
    window.docks["morph"].raise_()
    morph = window.panels["morph"]
    for grid, text in ((morph.strip_view, STRIP_EMPTY), (morph.scrub_view, SCRUB_EMPTY),
                       (morph.vector_view, VECTOR_EMPTY)):
        assert not grid.has_image and grid.canvas.placeholder == text
