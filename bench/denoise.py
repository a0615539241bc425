"""The shipped denoiser as users hear it: talkers it never heard, in noise it never heard, vs fixed filters.

Scores ``resources/denoiser.pt`` (or ``--model``) on continuous recordings of ``--seconds`` (each one talker's
utterances joined with natural pauses) of the *test talkers* of ``speech16k/``: the talkers its training run
held out of both training and validation (the checkpoint's own split: its ``mix`` and seed), in the held-out
ends of the noise recordings (the last 20 % of each, never trained on) and in babble of other test talkers,
at 0, 5 and 10 dB SNR. Second row: the same on the spoken digits (FSDD, 8 kHz, all four talkers: the model
never heard them). For the model, noisereduce (spectral gating, its defaults), the best of the fixed STFT
band masks 100-3600, 100-4000 and 200-7000 Hz (chosen per recording with the clean speech in hand) and the
ideal gain (an oracle: the best real gain per 20 ms STFT bin with the clean speech in hand, the ceiling of a
model that predicts gains) it reports the SI-SDR improvement (whole recording, first and last thirds), the
changes in wideband PESQ and STOI, and the share of the clean speech's 4-8 kHz energy the output keeps (by
projection). Speed: real-time factor of the live path on one torch thread (by its CPU time, which others'
load on a shared machine does not inflate, and by the wall clock); latency: algorithmic.

    python bench/denoise.py [--model CKPT] [--data ../shared/data] [--seconds 12] [--recordings 2]

Goals (issue 18): SI-SDR improvement >= +10 dB; PESQ-WB change >= +0.8; STOI change >= +0.01; 4-8 kHz kept
>= 70 %; RTF <= 0.05 on one thread; latency <= 20 ms. Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.dataset import MixConfig, SpeechNoiseData, talker_of  # noqa: E402
from core.audio.engine import LiveConfig, LiveEngine  # noqa: E402
from core.audio.evaluate import (band_kept, best_band_mask, ideal_gain, long_recording, perceptual, score,  # noqa: E402
                                 spectral_gating)
from core.audio.io import read_audio  # noqa: E402
from core.audio.noise import builtin_noise  # noqa: E402
from core.audio.offline import denoise_wave  # noqa: E402
from core.audio.pretrained import default_denoiser_path  # noqa: E402
from core.audio.stream import StreamDenoiser  # noqa: E402
from core.train.checkpoint import load_for  # noqa: E402

SNRS = (0.0, 5.0, 10.0)
SPEED_S = 20.0
METHODS = ("model", "noisereduce", "band mask", "ideal gain")
KEYS = ("sisdr_gain", "first_gain", "last_gain", "pesq_delta", "stoi_delta", "band_kept")
GOALS = {"sisdr_gain": 10.0, "pesq_delta": 0.8, "stoi_delta": 0.01, "band_kept": 0.70}


def by_talker(paths: list[str], waves: list[np.ndarray], root: Path) -> list[list[np.ndarray]]:
    """The clips grouped by talker, talkers in a fixed order."""
    groups: dict[str, list[np.ndarray]] = {}
    for p, w in zip(paths, waves):
        groups.setdefault(talker_of(Path(p), root), []).append(w)
    return [groups[k] for k in sorted(groups)]


def methods(model, rate: int) -> dict:
    return {"model": lambda x, c: denoise_wave(model, x), "noisereduce": lambda x, c: spectral_gating(x, rate),
            "band mask": lambda x, c: best_band_mask(x, c, rate), "ideal gain": lambda x, c: ideal_gain(x, c, rate)}


def score_set(model, talkers: list[list[np.ndarray]], noises: dict, rate: int, seconds: float, recordings: int,
              wide_band: bool) -> list[dict]:
    """One row per (noise, SNR, recording, method). ``noises``: name -> function(n, rng, talker index) giving
    ``n`` samples of held-out noise."""
    rows, n, i = [], int(seconds * rate), 0
    for k, (kind, make) in enumerate(noises.items()):
        for snr in SNRS:
            for r in range(recordings):
                rng = np.random.default_rng([k, int(snr), r])
                t = i % len(talkers)
                i += 1
                noisy, clean = long_recording(talkers[t], make(n, rng, t), snr, rate, rng)
                before = perceptual(noisy, clean, rate)
                for name, denoise in methods(model, rate).items():
                    out = denoise(noisy, clean)
                    row = {"noise": kind, "snr": snr, "method": name,
                           **score(out, noisy, clean, rate, noisy_perceptual=before)}
                    row["band_kept"] = band_kept(out, clean, rate) if wide_band else float("nan")
                    rows.append(row)
    return rows


def mean(rows: list[dict], key: str, **where) -> float:
    return float(np.mean([r[key] for r in rows if all(r[k] == v for k, v in where.items())]))


def print_rows(title: str, rows: list[dict]) -> dict:
    """A table by noise and SNR, then the means per method; returns the means."""
    print(f"\n{title}\n{'noise':>22} {'SNR':>4} | " + " | ".join(f"{m + ': SI-SDRi  PESQ   STOI  4-8k':>36}"
                                                             for m in METHODS))
    cell = lambda m: (f"{m['sisdr_gain']:>+13.1f} {m['pesq_delta']:>+6.2f} {m['stoi_delta']:>+6.3f} "  # noqa: E731
                      f"{100 * m['band_kept']:>4.0f}%")
    for kind in dict.fromkeys(r["noise"] for r in rows):
        for snr in SNRS:
            print(f"{kind:>22} {snr:>3g}  | " + " | ".join(
                f"{cell({k: mean(rows, k, noise=kind, snr=snr, method=m) for k in KEYS}):>36}" for m in METHODS))
    means = {m: {k: mean(rows, k, method=m) for k in KEYS} for m in METHODS}
    print(f"{'mean':>22} {'':>4} | " + " | ".join(f"{cell(means[m]):>36}" for m in METHODS))
    a = means["model"]
    print(f"model, first / last third: {a['first_gain']:+.1f} / {a['last_gain']:+.1f} dB; by SNR: " + ", ".join(
        f"{snr:g} dB {mean(rows, 'sisdr_gain', method='model', snr=snr):+.1f}" for snr in SNRS))
    return means


def streaming_rtf(model, block: int, seconds: float = SPEED_S) -> tuple[float, float]:
    """Processing time / audio time of the live path (``StreamDenoiser``), one torch thread: (by the wall
    clock, by this thread's CPU time)."""
    x = (np.random.default_rng(0).standard_normal((1, int(seconds * model.sample_rate))) * 0.1).astype(np.float32)
    stream = StreamDenoiser(model, 1, block=block)
    for i in range(0, 20 * block, block):  # warm up
        stream.process(x[:, i:i + block])
    n = x.shape[1] // block * block
    t0, cpu0 = time.perf_counter(), time.thread_time()
    for i in range(0, n, block):
        stream.process(x[:, i:i + block])
    seconds = n / model.sample_rate
    return (time.perf_counter() - t0) / seconds, (time.thread_time() - cpu0) / seconds


def engine_rtf(model, rate: int = 48000, block: int = 480, seconds: float = SPEED_S) -> tuple[float, float]:
    """The same through the live engine at a sound card's rate (resampling both ways)."""
    engine = LiveEngine(model, LiveConfig(rate, block))
    x = (np.random.default_rng(1).standard_normal((int(seconds * rate) // block * block, 1)) * 0.1).astype(np.float32)
    out = np.empty_like(x)
    t0, cpu0 = time.perf_counter(), time.thread_time()
    for i in range(0, len(x), block):
        engine.process(x[i:i + block], out[i:i + block])
    return (time.perf_counter() - t0) / seconds, (time.thread_time() - cpu0) / seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=default_denoiser_path(), help="checkpoint (default: the shipped one)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--seconds", type=float, default=12.0, help="length of a test recording (at least 10)")
    p.add_argument("--recordings", type=int, default=2, help="test recordings per noise and SNR")
    args = p.parse_args()
    speech, noise_dir, fsdd = args.data / "speech16k", args.data / "noise", args.data / "fsdd"
    if not all(d.is_dir() for d in (speech, noise_dir, fsdd)):
        print(f"error: {args.data} has no speech16k/, noise/ and fsdd/ folders", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    model, payload = load_for(args.model, "denoises")
    model.eval()
    state = payload.get("train_state") or {}
    mix, seed = MixConfig.from_dict(state.get("mix", {})), state.get("config", {}).get("seed", 0)
    rate = model.sample_rate
    data = SpeechNoiseData.load(speech, noise_dir, rate, 1, mix, seed=seed)  # the split of its training run
    if not data.test_speech:
        print(f"error: {args.model} was trained with no test talkers held out (mix test_fraction 0)", file=sys.stderr)
        return 1
    talkers = by_talker(data.test_files, data.test_speech, speech)
    print(f"{model.name}: {sum(p.numel() for p in model.parameters()):,} parameters, {model.config}; "
          f"{args.model} ({args.model.stat().st_size / 1000:.0f} kB), trained {state.get('step')} steps")
    print(f"test talkers (in neither training nor validation): {len(talkers)}, {len(data.test_speech)} utterances, "
          f"{sum(map(len, data.test_speech)) / rate / 60:.1f} min")

    def babble(n, rng, t):  # other test talkers, never heard in training
        others = [c for j, group in enumerate(talkers) if j != t for c in group]
        return builtin_noise("babble", n, rate, rng, others)

    held_out = {kind: (lambda n, rng, t, kind=kind: data.noise(kind, n, rng, val=True)) for kind in data.noise_val}
    t0 = time.perf_counter()
    rows = score_set(model, talkers, {**held_out, "babble (test talkers)": babble}, rate, args.seconds,
                     args.recordings, wide_band=True)
    wide = print_rows(f"Wide-band speech: {args.recordings} recordings of {args.seconds:g} s per noise and SNR, one "
                      f"test talker each; SI-SDR improvement (dB), PESQ-WB and STOI change, 4-8 kHz energy kept "
                      f"({time.perf_counter() - t0:.0f} s)", rows)

    digit_files = sorted(fsdd.glob("*.wav"))
    digit_talkers = by_talker([str(f) for f in digit_files], [read_audio(f, rate, channels=1)[0][0] for f in digit_files],
                              fsdd)
    digit_rows = score_set(model, digit_talkers, held_out, rate, args.seconds, 1, wide_band=False)
    digits = print_rows(f"Spoken digits (FSDD, 8 kHz recordings, 4 talkers never heard): 1 recording of "
                        f"{args.seconds:g} s per noise and SNR", digit_rows)

    load = os.getloadavg()[0]
    rtf = {block: streaming_rtf(model, block) for block in (160, 320)}
    rtf_48k = engine_rtf(model)
    latency_ms = 1000 * model.latency_samples / rate
    print(f"\nreal-time factor, one thread, by its CPU time (by the wall clock, load average {load:.1f} on "
          f"{os.cpu_count()} cores): {rtf[320][1]:.3f} ({rtf[320][0]:.3f}) at 20 ms blocks, {rtf[160][1]:.3f} "
          f"({rtf[160][0]:.3f}) at 10 ms blocks, {rtf_48k[1]:.3f} ({rtf_48k[0]:.3f}) in the live engine at 48 kHz, "
          "10 ms blocks, resampling (goal <= 0.05)")
    print(f"latency: algorithmic {latency_ms:.0f} ms (goal <= 20 ms)")
    met = {k: wide["model"][k] >= goal for k, goal in GOALS.items()}
    met.update(rtf=rtf[320][1] <= 0.05, latency=latency_ms <= 20)
    print("goals met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()))
    r = lambda d: {k: round(v, 3) for k, v in d.items()}  # noqa: E731
    print(json.dumps({"wide_band": {m: r(wide[m]) for m in METHODS}, "digits": {m: r(digits[m]) for m in METHODS},
                      "by_snr_db": {f"{s:g}": round(mean(rows, "sisdr_gain", method="model", snr=s), 2) for s in SNRS},
                      "rtf": round(rtf[320][1], 4), "rtf_10ms_blocks": round(rtf[160][1], 4),
                      "rtf_engine_48k": round(rtf_48k[1], 4), "rtf_wall": round(rtf[320][0], 4),
                      "load_average": round(load, 1), "latency_ms": latency_ms, "goals_met": met}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
