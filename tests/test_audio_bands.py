"""The band above the model's rate, kept live (issue 18 item 2): at 48 kHz the 16 kHz model hears up to 8 kHz, yet
wide-band speech keeps its energy above 8 kHz; that band follows the model's gain in its top bands; the output
is causal, does not depend on the block sizes, and in bypass equals the input delayed, whole band."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from core.audio.bands import chain_delay
from core.audio.engine import RESAMPLE_MARGIN, LiveConfig, LiveEngine
from core.audio.evaluate import run_live
from core.audio.io import read_audio, resample
from models.family import Capabilities

SENTENCE = "She sells sea shells by the sea shore; six thick thistle sticks, fresh fish and chips."


class ConstantGain(nn.Module):
    """A streaming 'denoiser' that multiplies its input by ``gain``: what the engine does around the model, seen
    exactly."""
    capabilities = Capabilities(modality="audio", streams=True)
    sample_rate, channels, stride, stream_delay, latency_samples, name = 16000, 1, 160, 0, 160, "constant-gain"

    def __init__(self, gain: float):
        super().__init__()
        self.gain = gain

    def init_state(self, batch: int = 1) -> list:
        return []

    def stream_step(self, x: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        return x * self.gain, state


@pytest.fixture(scope="module")
def wide_band_speech(tmp_path_factory) -> np.ndarray:
    """Synthetic speech (espeak-ng, 22.05 kHz: fricatives up to 11 kHz) at 48 kHz, mono (T,)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True)
    return read_audio(path, 48000, channels=1)[0][0]


def above(wave: np.ndarray, rate: int, hz: float = 8000.0) -> float:
    spectrum, freqs = np.abs(np.fft.rfft(wave)) ** 2, np.fft.rfftfreq(len(wave), 1 / rate)
    return float(spectrum[freqs > hz].sum())


def live(model, wave: np.ndarray, block: int, rate: int = 48000, bypass: bool = False) -> tuple[np.ndarray, int]:
    """(output aligned with ``wave``, the engine's delay) of ``wave`` (T,) streamed in blocks of ``block``."""
    engine = LiveEngine(model, LiveConfig(rate, block))
    engine.bypass = bypass
    padded = np.concatenate([wave, np.zeros(rate // 5 + block, np.float32)])[None]
    out, _ = run_live(engine, padded)
    d = engine.delay_samples
    return out[0, d:d + len(wave)], d


def test_wide_band_speech_keeps_its_band_above_8_khz_at_48_khz(wide_band_speech):
    out, _ = live(ConstantGain(1.0), wide_band_speech, 480)
    kept = above(out, 48000) / above(wide_band_speech, 48000)
    error = out - wide_band_speech
    snr = 10 * np.log10(np.sum(wide_band_speech ** 2) / np.sum(error ** 2))
    print(f"above 8 kHz kept: {100 * kept:.1f} %; output vs input delayed: {snr:.1f} dB")
    assert above(wide_band_speech, 48000) > 1e-3 * np.sum(np.abs(np.fft.rfft(wide_band_speech)) ** 2)  # it has some
    assert 0.95 < kept < 1.05 and snr > 40  # a model that keeps everything: the whole band comes out, delay-matched


def test_the_band_above_follows_the_models_gain_in_its_top_bands(wide_band_speech):
    out, _ = live(ConstantGain(0.1), wide_band_speech, 480)  # the model turns everything down by 20 dB
    kept = above(out, 48000) / above(wide_band_speech, 48000)
    assert 0.005 < kept < 0.02, kept  # 0.1² of the energy, not all of it and not none


def test_bypass_is_the_input_delayed_whole_band_at_44_1_khz(wide_band_speech):
    """At 44.1 kHz the resamplers' delay is not a whole number of samples: the high band is delayed by the same
    fraction, so the bands still add up to the input."""
    wave = resample(wide_band_speech[None], 48000, 44100)[0]
    out, d = live(ConstantGain(0.0), wave, 441, rate=44100, bypass=True)
    exact = chain_delay(44100, 16000, LiveEngine(ConstantGain(0.0), LiveConfig(44100, 441)).denoiser.delay,
                        RESAMPLE_MARGIN)
    fraction = exact - d
    shifted = np.fft.irfft(np.fft.rfft(wave) * np.exp(-2j * np.pi * np.fft.rfftfreq(len(wave)) * fraction), len(wave))
    error = out - shifted
    assert d == round(exact) and abs(fraction) > 0.01  # a fraction of a sample, matched all the same
    assert 10 * np.log10(np.sum(shifted ** 2) / np.sum(error ** 2)) > 30
    assert above(out, 44100) / above(wave, 44100) > 0.95


def test_the_output_is_causal_and_the_same_whatever_the_block_size(wide_band_speech):
    model = ConstantGain(0.5)
    a, _ = live(model, wide_band_speech, 480)
    b, _ = live(model, wide_band_speech, 256)
    assert np.abs(a - b).max() < 1e-5
    changed = wide_band_speech.copy()
    cut = len(changed) // 2
    changed[cut:] = 0.0
    c, d = live(model, changed, 480)
    assert np.abs(c[:cut - d] - a[:cut - d]).max() < 1e-5  # no output sample before the change moves
    assert np.abs(c[cut - d:] - a[cut - d:]).max() > 1e-3
