"""Audio denoiser: quality against classical spectral gating, speed on one CPU thread, latency.

Trains the app's streaming denoiser (``audio-dae``, default settings) on the spoken digits (FSDD) mixed
with the four real noise recordings and the built-in generators, for ``--seconds`` of wall time. Then,
on held-out files (10 %) mixed with the held-out end of every noise recording at 0, 5 and 10 dB SNR
(recordings of several utterances with pauses, ``--recordings`` per noise and SNR), it reports the
SI-SDR improvement of the model and of ``noisereduce`` (non-stationary spectral gating, its defaults)
on the very same mixtures. Speed: real-time factor of block-by-block
streaming (the live path) with one torch thread, at 20 ms and 16 ms blocks, and of offline denoising.
Latency: the model's algorithmic latency, and the live engine's measured delay.

    python bench/denoise.py [--data ../shared/data] [--seconds 240] [--recordings 3] [--out DIR]

Goals: beat noisereduce at every SNR; RTF <= 0.1 on one thread; latency <= 32 ms. The machine is
shared and loaded, so timings are rough (they only get better on an idle one).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.dataset import MixConfig, SpeechNoiseData  # noqa: E402
from core.audio.demo import demo_mixture, train_briefly  # noqa: E402
from core.audio.engine import LiveEngine  # noqa: E402
from core.audio.metrics import si_sdr  # noqa: E402
from core.audio.offline import denoise_wave  # noqa: E402
from core.audio.stream import StreamDenoiser  # noqa: E402
from core.loop import TrainConfig  # noqa: E402

SNRS = (0.0, 5.0, 10.0)
MIX = MixConfig(segment_s=0.5)  # FSDD clips last ~0.5 s: longer crops would be mostly silence
TRAINING = TrainConfig(epochs=10_000, batch_size=16, lr=2e-3, device="cpu", log_every=20, preview_interval_s=1e9)
RECORDING_S = 4.0
SPEED_S = 20.0


def gain(estimate: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> float:
    return float(si_sdr(estimate, clean).mean() - si_sdr(noisy, clean).mean())


def quality(model, data: SpeechNoiseData, recordings: int) -> dict:
    """SI-SDR improvements (dB) of the model and of noisereduce per SNR, over every held-out noise."""
    import noisereduce
    out = {}
    for snr in SNRS:
        ours, theirs = [], []
        for noise in data.noise_val:
            for seed in range(recordings):
                noisy, clean = demo_mixture(data, RECORDING_S, snr, noise, seed=seed)
                ours.append(gain(denoise_wave(model, noisy), noisy, clean))
                theirs.append(gain(noisereduce.reduce_noise(y=noisy[0], sr=data.rate)[None], noisy, clean))
        out[snr] = (float(np.mean(ours)), float(np.mean(theirs)), len(ours))
    return out


def streaming_rtf(model, block: int, seconds: float = SPEED_S) -> float:
    """Processing time / audio time of the live path (``StreamDenoiser``), one torch thread."""
    x = (np.random.default_rng(0).standard_normal((1, int(seconds * model.sample_rate))) * 0.1).astype(np.float32)
    stream = StreamDenoiser(model, 1, block=block)
    for i in range(0, 20 * block, block):  # warm up
        stream.process(x[:, i:i + block])
    stream = StreamDenoiser(model, 1, block=block)
    n = x.shape[1] // block * block
    t0 = time.perf_counter()
    for i in range(0, n, block):
        stream.process(x[:, i:i + block])
    return (time.perf_counter() - t0) / (n / model.sample_rate)


def offline_rtf(model, seconds: float = SPEED_S) -> float:
    x = (np.random.default_rng(1).standard_normal((1, int(seconds * model.sample_rate))) * 0.1).astype(np.float32)
    t0 = time.perf_counter()
    denoise_wave(model, x)
    return (time.perf_counter() - t0) / seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--seconds", type=float, default=240.0, help="training time (wall clock)")
    p.add_argument("--recordings", type=int, default=3, help="test recordings per noise and SNR")
    p.add_argument("--out", type=Path, help="keep the trained run (checkpoint.pt, metrics.jsonl) here")
    args = p.parse_args()
    speech, noise = args.data / "fsdd", args.data / "noise"
    if not speech.is_dir() or not noise.is_dir():
        print(f"error: {args.data} has no fsdd/ and noise/ folders", file=sys.stderr)
        return 1
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-denoise-"))

    t0 = time.perf_counter()
    model = train_briefly(speech, noise, args.seconds, MIX, TRAINING, model_config={}, out_dir=out)
    train_s = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = rows[-1]["step"] if rows else 0
    print(f"trained audio-dae ({sum(p.numel() for p in model.parameters()):,} parameters) for {train_s:.0f} s: "
          f"{steps} steps of {TRAINING.batch_size} x {MIX.segment_s:g} s mixtures; run in {out}")

    data = SpeechNoiseData.load(speech, noise, model.sample_rate, 1, MIX, seed=TRAINING.seed)  # same split
    results = quality(model, data, args.recordings)
    print(f"\nSI-SDR improvement on held-out files + held-out noise ({len(data.val_speech)} files, "
          f"{len(data.noise_val)} noises x {args.recordings} recordings of {RECORDING_S:g} s per SNR):")
    print(f"{'SNR':>6} | {'audio-dae':>9} | {'noisereduce':>11} | {'ratio':>5}")
    for snr, (ours, theirs, _n) in results.items():
        ratio = ours / theirs if theirs > 0 else float("inf")
        print(f"{snr:>4g}dB | {ours:>+8.2f}  | {theirs:>+10.2f}  | {ratio:>5.1f}")
    ours_mean = float(np.mean([r[0] for r in results.values()]))
    theirs_mean = float(np.mean([r[1] for r in results.values()]))

    torch.set_num_threads(1)
    rtf = {block: streaming_rtf(model, block) for block in (320, 256)}
    rtf_offline = offline_rtf(model)
    latency_ms = 1000 * model.latency_samples / model.sample_rate
    delays = {block: LiveEngine(model, model.sample_rate, block).latency_ms for block in (320, 256)}
    print(f"\nreal-time factor, one thread: streaming {rtf[320]:.3f} (20 ms blocks), {rtf[256]:.3f} (16 ms blocks); "
          f"offline {rtf_offline:.4f}  (goal <= 0.1)")
    print(f"latency: algorithmic {latency_ms:.0f} ms (goal <= 32 ms); live engine delay {delays[320]:.0f} ms at "
          f"20 ms blocks, {delays[256]:.0f} ms at 16 ms blocks (plus the sound device's own buffering)")
    print(json.dumps({
        "sisdr_improvement_db": round(ours_mean, 2), "noisereduce_sisdr_improvement_db": round(theirs_mean, 2),
        "by_snr_db": {f"{snr:g}": {"audio_dae": round(r[0], 2), "noisereduce": round(r[1], 2)}
                      for snr, r in results.items()},
        "rtf": round(rtf[320], 4), "rtf_16ms_blocks": round(rtf[256], 4), "rtf_offline": round(rtf_offline, 4),
        "latency_ms": latency_ms, "engine_delay_ms": round(delays[320], 1), "train_seconds": round(train_s),
        "train_steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
