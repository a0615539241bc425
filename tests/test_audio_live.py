"""The live engine with the trained denoiser switched on: at a sound card's rates (44.1 and 48 kHz,
resampled both ways) it must denoise as well as at the model's own rate, with the delay it reports;
and a minute of continuous speech streamed block by block must equal the offline result, with no
dropouts, no memory growth and no decay."""
from __future__ import annotations

import numpy as np
import pytest

from audio_helpers import held_out_recording, trained_model
from core.audio.engine import LiveConfig, LiveEngine
from core.audio.evaluate import band_pass, run_live, thirds_gain
from core.audio.io import resample
from core.audio.metrics import si_sdr
from core.audio.offline import denoise_wave


def resident_mb() -> float:
    import resource
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def lag_of(output: np.ndarray, reference: np.ndarray, max_lag: int) -> int:
    """The delay of ``output`` behind ``reference`` (both (1, T)), by cross-correlation."""
    n = 2 * output.shape[1]
    corr = np.fft.irfft(np.fft.rfft(output[0], n) * np.conj(np.fft.rfft(reference[0], n)), n)
    return int(np.argmax(corr[:max_lag]))


@pytest.mark.parametrize("rate,block", [(48000, 480), (44100, 441)])
def test_the_denoiser_works_at_a_sound_cards_rate_with_the_delay_it_reports(shared_data, rate, block):
    model, data = trained_model(shared_data)
    noisy, clean = held_out_recording(data, "pink_noise.wav", snr_db=5.0, seconds=6.0)
    at_model_rate = float(si_sdr(denoise_wave(model, noisy), clean) - si_sdr(noisy, clean))
    noisy_dev, clean_dev = resample(noisy, model.sample_rate, rate), resample(clean, model.sample_rate, rate)
    engine = LiveEngine(model, LiveConfig(rate, block))
    out, _ = run_live(engine, np.concatenate([noisy_dev, np.zeros((1, rate // 2), np.float32)], axis=1))
    lag = lag_of(out, clean_dev, rate // 10)
    assert abs(lag - engine.delay_samples) <= 2 and engine.latency_ms < 30  # the delay it reports (ms), measured
    d, n = engine.delay_samples, noisy_dev.shape[1]
    gain = float(si_sdr(out[:, d:d + n], clean_dev) - si_sdr(noisy_dev, clean_dev))
    fixed_filter = float(si_sdr(band_pass(noisy_dev, rate), clean_dev) - si_sdr(noisy_dev, clean_dev))
    print(f"{rate} Hz: {gain:+.1f} dB (at {model.sample_rate} Hz {at_model_rate:+.1f}, band-pass {fixed_filter:+.1f}); "
          f"delay {1000 * d / rate:.1f} ms")
    assert gain > at_model_rate - 1.5 and gain > fixed_filter + 2.0
    assert engine.stats.xruns == 0


def test_a_minute_of_continuous_speech_streams_exactly_with_no_dropouts_growth_or_decay(shared_data):
    model, data = trained_model(shared_data)
    noisy, clean = held_out_recording(data, "exercise_bike.wav", snr_db=5.0, seconds=60.0)
    engine = LiveEngine(model, LiveConfig(model.sample_rate, 320))
    rss = []
    out, busy = run_live(engine, np.concatenate([noisy, np.zeros((1, 320), np.float32)], axis=1),
                         every=model.sample_rate * 10, on_progress=lambda done: rss.append(resident_mb()))
    d, n = engine.delay_samples, noisy.shape[1]
    streamed = out[:, d:d + n]
    assert np.abs(streamed - denoise_wave(model, noisy)).max() < 1e-4  # equal to offline, block by block
    assert engine.stats.xruns == 0 and engine.stats.blocks == len(busy)
    assert max(rss) - rss[0] < 5.0, rss  # MB, from the first 10 s on
    first, last = thirds_gain(streamed, noisy, clean)
    gain = float(si_sdr(streamed, clean) - si_sdr(noisy, clean))
    print(f"a minute live: {gain:+.1f} dB, first third {first:+.1f}, last {last:+.1f}; resident set {rss[0]:.0f} MB "
          f"-> {max(rss):.0f} MB; slowest block {1000 * busy.max():.1f} ms")
    assert gain > 3.0 and last - first > -1.5  # no decay over the minute (the level tracker may still gain)
