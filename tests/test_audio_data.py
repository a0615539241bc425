"""Audio data: reading and resampling, built-in noises, mixing at an exact SNR, continuous speech and
changing noise, the held-out split, SI-SDR, and clear errors for bad files and folders."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from core.audio.continuous import band_limited, changing_noise, speech_track
from core.audio.dataset import MixConfig, SpeechNoiseData
from core.audio.io import list_audio_files, read_audio, write_audio
from core.audio.metrics import si_sdr, si_sdr_improvement
from core.audio.noise import builtin_noise, mix_at_snr
from core.errors import DataError


def band_power(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[(f >= lo) & (f < hi)].mean())


def test_built_in_noises_have_their_spectra():
    rng, rate = np.random.default_rng(0), 16000
    slopes = {}
    for kind in ("white", "pink", "brown"):
        x = builtin_noise(kind, 4 * rate, rate, rng, [])
        assert x.dtype == np.float32 and np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-4)
        slopes[kind] = 10 * np.log10(band_power(x, rate, 1000, 2000) / band_power(x, rate, 2000, 4000))
    assert abs(slopes["white"]) < 1.0  # flat
    assert slopes["pink"] == pytest.approx(3.0, abs=1.0)  # -3 dB per octave
    assert slopes["brown"] == pytest.approx(6.0, abs=1.0)  # -6 dB per octave
    hum = builtin_noise("hum", rate, rate, rng, [])
    power = np.abs(np.fft.rfft(hum)) ** 2  # 1 Hz bins
    fundamental = 40 + np.argmax(power[40:70])
    assert 49 <= fundamental <= 51 or 59 <= fundamental <= 61  # mains: 50 or 60 Hz
    assert power[1000:].sum() < 1e-3 * power.sum()  # harmonics only
    clips = [np.sin(np.arange(3000) * f).astype(np.float32) for f in (0.05, 0.11, 0.23, 0.31)]
    assert np.isfinite(builtin_noise("babble", rate, rate, rng, clips)).all()
    with pytest.raises(ValueError, match="unknown noise"):
        builtin_noise("rain", 10, rate, rng, [])


def test_mixing_hits_the_snr_and_si_sdr_behaves():
    clean, noise = torch.randn(3, 2, 4000), torch.randn(3, 2, 4000) * 7
    snr = torch.tensor([[-5.0, 0.0], [5.0, 10.0], [20.0, 3.0]])
    noisy = mix_at_snr(clean, noise, snr)
    measured = 10 * torch.log10(clean.pow(2).sum(-1) / (noisy - clean).pow(2).sum(-1))
    assert torch.allclose(measured, snr, atol=1e-3)
    ref = np.random.default_rng(1).standard_normal(8000)
    assert float(si_sdr(0.3 * ref, ref)) > 100  # scale does not matter
    half = ref + np.random.default_rng(2).standard_normal(8000)  # equal power noise: 0 dB
    assert float(si_sdr(half, ref)) == pytest.approx(0.0, abs=0.5)
    out, gain = si_sdr_improvement(ref[None] + 0.1 * half[None], half[None], ref[None])
    assert out > 15 and gain > 15


def test_read_write_resample_and_channels(tmp_path, shared_data):
    wave, rate = read_audio(sorted((shared_data / "fsdd").glob("*.wav"))[0], rate=16000, channels=2)
    assert rate == 16000 and wave.shape[0] == 2 and wave.dtype == np.float32 and np.array_equal(wave[0], wave[1])
    native, native_rate = read_audio(sorted((shared_data / "fsdd").glob("*.wav"))[0])
    assert native_rate == 8000 and abs(wave.shape[1] - 2 * native.shape[1]) <= 1
    path = write_audio(tmp_path / "out" / "x.flac", np.stack([native[0], -native[0]]), 8000)
    back, back_rate = read_audio(path, channels=1)
    assert back_rate == 8000 and back.shape == (1, native.shape[1]) and np.abs(back).max() < 1e-3  # L + R cancel


def test_bad_audio_files_and_folders_say_why(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DataError, match="not a readable audio file"):
        read_audio(tmp_path / "junk.wav")
    with pytest.raises(DataError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav")
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1)), 16000)
    with pytest.raises(DataError, match="no samples"):
        read_audio(tmp_path / "empty.wav")
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no speech files"):
        list_audio_files(tmp_path / "only_text", "speech")
    with pytest.raises(DataError, match="no such folder of noise files"):
        list_audio_files(tmp_path / "no-such-dir", "noise")
    with pytest.raises(DataError, match="could be read"):
        SpeechNoiseData.load(tmp_path, None, 16000, 1, MixConfig())  # junk.wav and empty.wav only
    with pytest.raises(DataError, match="upside down"):
        MixConfig(snr_db=(10, 0))
    with pytest.raises(DataError, match="unknown built-in noise"):
        MixConfig(builtin=("rain",))


def test_continuous_speech_changing_noise_and_band_limits():
    rate, rng = 8000, np.random.default_rng(0)
    clips = [np.full(int(rate * d), a, np.float32) for d, a in ((0.4, 0.1), (0.5, 0.2), (0.3, 0.3))]
    track = speech_track(clips, 20 * rate, rate, rng)
    loud = np.abs(track) > 0
    starts = np.flatnonzero(np.diff(loud.astype(int)) == 1)
    pauses = np.diff(starts) / rate - 0.3  # at least 0.05 s between utterances of at most 0.5 s
    assert len(starts) > 15 and pauses.min() > -0.25 and 0.3 < loud.mean() < 0.9
    assert {round(float(np.abs(track[s + 1])), 1) for s in starts} <= {0.1, 0.2, 0.3, 0.4}  # +-3 dB per utterance
    ordered = speech_track(clips, 3 * rate, rate, rng, in_order=True, long_pause_p=0.0)
    assert not ordered[:10].any()  # in order: it starts with a pause, then clip 0
    mid = [speech_track(clips, 2 * rate, rate, np.random.default_rng(seed))[0] != 0 for seed in range(40)]
    assert 5 < sum(mid) < 35  # about half the tracks start in the middle of an utterance
    long = np.arange(5 * rate, dtype=np.float32)
    assert np.all(np.diff(speech_track([long], rate, rate, rng)) == 1)  # a long recording is cropped as it is
    sources = {"a": np.ones(4 * rate, np.float32), "b": -np.ones(4 * rate, np.float32)}
    switched = 0
    for seed in range(30):
        noise = changing_noise(lambda kind: sources[kind], ["a", "b"], 4 * rate, rate, np.random.default_rng(seed))
        assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(1.0, rel=1e-4)
        level_db = 20 * np.log10(np.abs(noise[-rate // 10:]).mean() / np.abs(noise[:rate // 10]).mean())
        assert abs(level_db) < 6.5  # a drift of at most 6 dB (plus the fade)
        switched += bool((np.sign(noise) != np.sign(noise[0])).any())
    assert 3 < switched < 20  # the noise changes within some tracks
    waves = np.random.default_rng(1).standard_normal((2, 1, 16000)).astype(np.float32)
    cut = [band_limited(waves, 16000, np.random.default_rng(seed)) for seed in range(20)]
    limited = [c for c in cut if c is not waves]
    assert 4 < len(limited) < 16
    for c in limited:  # speech and noise through one filter: the top of the band cut, below 4.4 kHz untouched
        for i in range(2):
            assert band_power(c[i, 0], 16000, 7950, 8000) < 0.5 * band_power(waves[i, 0], 16000, 7950, 8000)
            assert np.allclose(np.fft.rfft(c[i, 0])[:4400], np.fft.rfft(waves[i, 0])[:4400], atol=1e-2)


def test_held_out_split_batches_and_fixed_validation(tmp_path, shared_data):
    speech = tmp_path / "speech"
    speech.mkdir()
    for f in sorted((shared_data / "fsdd").glob("*.wav"))[::50]:
        (speech / f.name).write_bytes(f.read_bytes())
    (speech / "broken.wav").write_bytes(b"nope")
    mix = MixConfig(segment_s=1.5, snr_db=(0.0, 0.0), level_db=(0.0, 0.0), val_fraction=0.25, val_s=2.0, reverb_p=0.0)
    data = SpeechNoiseData.load(speech, shared_data / "noise", 16000, 2, mix, seed=3)
    assert data.skipped == [str(speech / "broken.wav")]
    assert len(data.val_speech) == 10 and len(data.train_speech) == 30
    assert set(data.val_files) < {str(p) for p in speech.glob("*.wav")}
    assert not any(np.array_equal(v, t) for v in data.val_speech for t in data.train_speech)  # held out
    assert data.noise_kinds[:4] == ["doing_the_dishes.wav", "exercise_bike.wav", "pink_noise.wav", "white_noise.wav"]
    for name, train_part in data.noise_train.items():  # the held-out part is the end of each noise file
        full, _ = read_audio(shared_data / "noise" / name, rate=16000, channels=1)
        assert np.array_equal(np.concatenate([train_part, data.noise_val[name]]), full[0])
    assert data.batches_per_epoch(4) == int(np.ceil(sum(map(len, data.train_speech)) / (4 * 1.5 * 16000)))
    noisy, clean = data.batch(6, np.random.default_rng(0))
    assert noisy.shape == clean.shape == (6, 2, 24000)
    measured = 10 * torch.log10(clean.pow(2).sum(-1) / (noisy - clean).pow(2).sum(-1))
    assert torch.allclose(measured, torch.zeros(6, 2), atol=1e-2)  # every mixture at 0 dB, both channels
    assert ((clean != 0).float().mean(-1) > 0.2).all()  # continuous speech, not one clip in silence
    first, again = data.validation(seed=3), data.validation(seed=3)
    assert all(np.array_equal(a.noisy, b.noisy) for a, b in zip(first, again))
    assert {m.noise for m in first} == set(data.noise_kinds) and all(m.clean.shape == (2, 32000) for m in first)
    # every held-out file is heard: its samples turn up in some validation recording
    heard = np.concatenate([m.clean[0] for m in first])
    assert all(np.isin(v[np.abs(v) > 1e-3][:20], heard).any() for v in data.val_speech)


def test_speech_is_split_by_talker_and_test_talkers_are_heard_by_neither_part(tmp_path):
    from core.audio.dataset import split_talkers, talker_of
    root = tmp_path
    paths = [root / "lib" / f"{t}-100-{i:04d}.flac" for t in (19, 26, 27, 32) for i in range(2)]
    paths += [root / "kids" / f"SPEAKER{t:04d}" / f"{i:09d}.flac" for t in range(1, 7) for i in range(3)]
    paths += [root / f"{d}_lucas_{i}.wav" for d in range(2) for i in range(2)] + [root / "me.wav"]
    assert [talker_of(p, root) for p in (paths[0], paths[8], paths[-2], paths[-1])] == \
        ["19", "kids/SPEAKER0001", "lucas", "me.wav"]
    mix = MixConfig(val_fraction=0.2, test_fraction=0.2)
    val, test, train = split_talkers(paths, root, mix, seed=0)
    assert sorted([*val, *test, *train]) == list(range(len(paths)))
    groups = [{talker_of(paths[i], root) for i in part} for part in (val, test, train)]
    assert all(not (a & b) for a, b in [(groups[0], groups[1]), (groups[0], groups[2]), (groups[1], groups[2])])
    assert len(groups[0]) == len(groups[1]) == 2  # 20 % of 12 talkers each
    again = split_talkers(paths, root, mix, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(again, (val, test, train)))
    few = [root / "a.wav", root / "b.wav", root / "c.wav"]  # fewer than 3 talkers: split by file
    v, t, tr = split_talkers(few[:2], root, MixConfig(val_fraction=0.5), seed=0)
    assert len(v) == 1 and len(t) == 0 and len(tr) == 1
    with pytest.raises(DataError, match="must leave some to train on"):
        MixConfig(val_fraction=0.5, test_fraction=0.5)


def test_rooms_and_microphones_change_what_is_heard_not_what_is_wanted():
    from core.audio.augment import EARLY_S, microphone, reverberate, room_impulse
    rate, rng = 16000, np.random.default_rng(0)
    rir = room_impulse(rate, rng)
    assert rir[0] == 1.0 and 0.1 * rate < len(rir) < rate and np.abs(rir[1:16]).max() == 0  # direct path, then a gap
    tail = rir[int(EARLY_S * rate):]
    assert np.sum(tail[:len(tail) // 4] ** 2) > 10 * np.sum(tail[-len(tail) // 4:] ** 2)  # it decays
    speech = builtin_noise("pink", 2 * rate, rate, rng, []) * (np.arange(2 * rate) < rate)  # a burst, then silence
    heard, wanted = reverberate(speech, rate, rng, p=1.0)
    after = slice(rate + int(0.1 * rate), rate + int(0.3 * rate))
    assert np.sum(heard[after] ** 2) > 1e-4 * np.sum(speech ** 2) and np.abs(wanted[after]).max() < 1e-4  # no tail
    assert np.corrcoef(heard[:rate], wanted[:rate])[0, 1] > 0.5
    same = reverberate(speech, rate, rng, p=0.0)
    assert same[0] is speech and same[1] is speech
    waves = np.random.default_rng(1).standard_normal((3, 1, rate)).astype(np.float32)
    coloured = microphone(waves, rate, np.random.default_rng(2), p=1.0)
    ratio = np.fft.rfft(coloured, axis=-1) / np.fft.rfft(waves, axis=-1)
    assert np.allclose(ratio[0], ratio[1]) and np.allclose(ratio[0], ratio[2])  # one microphone for all three
    assert np.ptp(20 * np.log10(np.abs(ratio[0, 0, 100:7900]))) > 3  # and it colours
    assert microphone(waves, rate, rng, p=0.0) is waves
