"""The denoiser that ships (resources/denoiser.pt) on wide-band speech of talkers it never heard, in noise it
never heard: it must beat noisereduce and the best fixed STFT band mask by 3 dB on each of two noises, keep
the 4-8 kHz band of the voice while taking the noise out of it, and be what ``denoise`` uses by default."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import core.audio.pretrained
from core.audio.evaluate import HIGH_BAND_HZ, band_kept, best_band_mask, ideal_gain, spectral_gating
from core.audio.metrics import si_sdr
from core.audio.offline import denoise_wave
from core.errors import LatentExplorerError
from denoiser_helpers import shipped_with_test_talkers, unheard_recording
from main import main

MARGIN_DB = 3.0


def gain(out: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> float:
    return float(si_sdr(out, clean) - si_sdr(noisy, clean))


def high_band(wave: np.ndarray, rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(wave, axis=-1)
    f = np.fft.rfftfreq(wave.shape[-1], 1 / rate)
    spectrum[..., (f < HIGH_BAND_HZ[0]) | (f > HIGH_BAND_HZ[1])] = 0
    return np.fft.irfft(spectrum, wave.shape[-1], axis=-1)


@pytest.mark.parametrize("noise", ["exercise_bike.wav", "pink_noise.wav"])
def test_the_shipped_denoiser_beats_noisereduce_and_the_best_band_mask_on_talkers_it_never_heard(shared_data, noise):
    model = shipped_with_test_talkers(shared_data)[0]
    rate = model.sample_rate
    rows = []
    for talker, snr in ((0, 0.0), (1, 5.0)):
        noisy, clean = unheard_recording(shared_data, noise, snr, talker=talker)
        rows.append({"model": gain(denoise_wave(model, noisy), noisy, clean),
                     "noisereduce": gain(spectral_gating(noisy, rate), noisy, clean),
                     "band mask": gain(best_band_mask(noisy, clean, rate), noisy, clean)})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(noise, {k: round(v, 1) for k, v in mean.items()})
    assert mean["model"] >= max(mean["noisereduce"], mean["band mask"]) + MARGIN_DB, mean


def test_the_4_to_8_khz_band_of_the_voice_survives_and_its_noise_goes(shared_data):
    model = shipped_with_test_talkers(shared_data)[0]
    rate = model.sample_rate
    noisy, clean = unheard_recording(shared_data, "pink_noise.wav", 5.0, talker=2)
    out = denoise_wave(model, noisy)
    kept = band_kept(out, clean, rate)
    band_gain = gain(high_band(out, rate), high_band(noisy, rate), high_band(clean, rate))
    print(f"4-8 kHz: {100 * kept:.0f} % of the voice kept, SI-SDR there {band_gain:+.1f} dB")
    assert kept >= 0.6 and band_gain >= 3.0


def test_denoise_uses_the_shipped_model_by_default_and_says_when_it_is_missing(shared_data, tmp_path, capsys,
                                                                                monkeypatch):
    model = shipped_with_test_talkers(shared_data)[0]
    noisy, clean = unheard_recording(shared_data, "doing_the_dishes.wav", 5.0, seconds=4.0, talker=3)
    sf.write(tmp_path / "in.wav", noisy[0], model.sample_rate)
    assert main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "out.wav")]) == 0
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert np.abs(out - denoise_wave(model, noisy)[0]).max() < 1e-3  # (through 16-bit PCM)
    assert core.audio.pretrained.default_denoiser_path().stat().st_size < 1_000_000  # small enough to ship
    monkeypatch.setattr(core.audio.pretrained, "RESOURCES", tmp_path / "nowhere")
    with pytest.raises(LatentExplorerError, match="shipped denoiser .* is missing"):
        core.audio.pretrained.load_default_denoiser()
    capsys.readouterr()
    assert main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "out2.wav")]) == 1
    assert "is missing" in capsys.readouterr().err and not (tmp_path / "out2.wav").exists()


def test_the_yardsticks_band_kept_and_the_best_band_mask():
    from core.audio.evaluate import BAND_MASKS, band_mask, band_pass
    rate, rng = 16000, np.random.default_rng(0)
    clean = rng.standard_normal((1, 3 * rate)).astype(np.float32)
    assert band_kept(clean, clean, rate) == pytest.approx(1.0)
    assert band_kept(0.3 * clean, clean, rate) == pytest.approx(1.0)  # the overall level does not count
    assert band_kept(band_pass(clean, rate), clean, rate) < 0.01  # a 4 kHz low-pass keeps none of it
    noise = rng.standard_normal(clean.shape).astype(np.float32)
    assert band_kept(clean + 10 * high_band(noise, rate), clean, rate) == pytest.approx(1.0, abs=0.05)  # noise: no credit
    assert band_kept(clean - 0.5 * high_band(clean, rate), clean, rate) == pytest.approx(0.25, abs=0.02)
    low = band_mask(clean, rate, (100.0, 3600.0))
    best = best_band_mask(low + 0.01 * noise, low, rate)  # speech below 3.6 kHz: the narrow masks win
    assert float(si_sdr(best, low)) == pytest.approx(max(float(si_sdr(band_mask(low + 0.01 * noise, rate, b), low))
                                                         for b in BAND_MASKS))


def test_the_ideal_gain_is_a_ceiling_the_shipped_model_stays_under(shared_data):
    """The oracle of bench/denoise.py: with the clean speech in hand, the best gain per 20 ms bin leaves clean
    speech as it is, takes most of the noise out of speech in noise, and does better than the model."""
    model = shipped_with_test_talkers(shared_data)[0]
    rate = model.sample_rate
    noisy, clean = unheard_recording(shared_data, "exercise_bike.wav", 5.0, talker=3)
    assert float(si_sdr(ideal_gain(clean, clean, rate), clean)) > 60  # nothing to take out: the identity
    ideal, learned = gain(ideal_gain(noisy, clean, rate), noisy, clean), gain(denoise_wave(model, noisy), noisy, clean)
    print(f"SI-SDR improvement: ideal gain {ideal:+.1f} dB, model {learned:+.1f} dB")
    assert ideal >= 6.0 and ideal > learned
