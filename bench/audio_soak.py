"""Soak: the live engine on minutes of continuous speech in noise, as in a long call.

Builds ``--minutes`` of continuous speech of talkers the model was not trained on (the test talkers of
its training run's split of ``speech16k/``, or an FSDD ``--talker``; utterances with natural pauses) in
steady noise (generated pink noise plus the held-out end of the exercise-bike recording) at 5 dB SNR, at a sound card's rate (48 kHz: the engine resamples both ways),
and pushes it through ``LiveEngine.process`` block by block, the function a sound card's callback
runs, as fast as it goes (``core.audio.evaluate.run_live``). Reports the SI-SDR improvement minute by
minute (goal: the last minute within 1 dB of the first), dropouts (blocks the engine ran short on,
and blocks that took longer to process than they last) and the growth of the resident set after the
first minute (goal < 20 MB).

    python bench/audio_soak.py [--model CKPT] [--minutes 10] [--data ../shared/data] [--talker lucas]

(default model: the shipped one, ``resources/denoiser.pt``)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.continuous import speech_track  # noqa: E402
from core.audio.dataset import NOISE_VAL_FRACTION, MixConfig, SpeechNoiseData  # noqa: E402
from core.audio.engine import LiveConfig, LiveEngine  # noqa: E402
from core.audio.evaluate import run_live  # noqa: E402
from core.audio.io import read_audio, resample  # noqa: E402
from core.audio.metrics import si_sdr  # noqa: E402
from core.audio.noise import builtin_noise, crop, mix_at_snr  # noqa: E402
from core.audio.pretrained import default_denoiser_path  # noqa: E402
from core.train.checkpoint import load_checkpoint  # noqa: E402

RATE, BLOCK = 48000, 480  # a sound card's rate, 10 ms blocks
SNR_DB = 5.0


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def talker_clips(data: Path, talker: str | None, payload: dict, rate: int) -> list[np.ndarray]:
    """The FSDD ``talker``'s clips, or (None) the utterances of the test talkers of the model's training run."""
    if talker is None:
        state = payload.get("train_state") or {}
        split = SpeechNoiseData.load(data / "speech16k", None, rate, 1, MixConfig.from_dict(state.get("mix", {})),
                                     seed=state.get("config", {}).get("seed", 0))
        if not split.test_speech:
            raise SystemExit("error: the model's run held out no test talkers; pass --talker (an FSDD talker)")
        return split.test_speech
    files = sorted((data / "fsdd").glob(f"*_{talker}_*.wav"))
    if not files:
        raise SystemExit(f"error: no FSDD files of talker {talker!r} in {data / 'fsdd'}")
    return [read_audio(f, rate, channels=1)[0][0] for f in files]


def soak_recording(data: Path, clips: list[np.ndarray], minutes: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) mono (1, T) at ``rate``: the ``clips`` one after another, in noise."""
    rng = np.random.default_rng(10)
    n = int(minutes * 60 * rate)
    clean = speech_track(clips, n, rate, rng)[None]
    bike, _ = read_audio(data / "noise" / "exercise_bike.wav", rate, channels=1)
    bike = bike[0, int(bike.shape[1] * (1 - NOISE_VAL_FRACTION)):]  # held out of training
    noise = builtin_noise("pink", n, rate, rng, []) + crop(bike, n, rng) / np.sqrt(np.mean(bike ** 2))
    noisy = mix_at_snr(torch.from_numpy(clean), torch.from_numpy(noise[None].astype(np.float32)),
                       torch.tensor([SNR_DB]))
    return noisy.numpy(), clean


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=default_denoiser_path(),
                   help="checkpoint of a streaming denoiser (audio-dae); default: the shipped one")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--talker", help="an FSDD talker to speak instead of the model's test talkers")
    args = p.parse_args()
    torch.set_num_threads(1)
    model, payload = load_checkpoint(args.model)
    clips = talker_clips(args.data, args.talker, payload, model.sample_rate)
    noisy, clean = soak_recording(args.data, clips, args.minutes, model.sample_rate)
    noisy, clean = resample(noisy, model.sample_rate, RATE), resample(clean, model.sample_rate, RATE)
    engine = LiveEngine(model, LiveConfig(RATE, BLOCK, channels=1))
    minute = 60 * RATE
    rss = [resident_mb()]
    t0, cpu0 = time.perf_counter(), time.thread_time()
    tail = np.zeros((1, RATE), np.float32)  # a second of silence brings the delayed end out
    out, busy = run_live(engine, np.concatenate([noisy, tail], axis=1), every=minute,
                         on_progress=lambda done: rss.append(resident_mb()))
    wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    rtf_cpu = cpu / (noisy.shape[1] / RATE + 1)
    d, n = engine.delay_samples, noisy.shape[1]
    out = out[:, d:d + n]
    gains = [float(si_sdr(out[:, i:i + minute], clean[:, i:i + minute]) - si_sdr(noisy[:, i:i + minute],
                                                                                clean[:, i:i + minute]))
             for i in range(0, n - minute + 1, minute)]
    late = int(np.sum(busy > BLOCK / RATE))
    print(f"{args.minutes:g} min of {args.talker or 'the test talkers'} in pink + exercise-bike noise at {SNR_DB:g} dB, {RATE} Hz, "
          f"{BLOCK}-frame blocks, through LiveEngine.process in {wall:.0f} s ({model.name}, {args.model})")
    print("minute | SI-SDR improvement (dB) | resident set (MB)")
    for i, g in enumerate(gains):
        print(f"{i + 1:>6} | {g:>+23.2f} | {rss[min(i + 1, len(rss) - 1)]:>8.1f}")
    growth = max(rss[1:]) - rss[1] if len(rss) > 1 else 0.0
    print(f"dropouts: {engine.stats.xruns} short blocks, {late} blocks slower than real time by the wall clock "
          f"(slowest {1000 * busy.max():.2f} ms of {1000 * BLOCK / RATE:.0f} ms; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores); real-time factor {rtf_cpu:.3f} by CPU time ({busy.mean() * RATE / BLOCK:.3f} "
          f"by the wall clock); resident set growth after the first minute {growth:+.1f} MB")
    print(json.dumps({"minutes": args.minutes, "per_minute_sisdr_improvement_db": [round(g, 2) for g in gains],
                      "first_minute_db": round(gains[0], 2), "last_minute_db": round(gains[-1], 2),
                      "drift_db": round(gains[-1] - gains[0], 2), "dropouts": engine.stats.xruns,
                      "late_blocks": late, "blocks": len(busy), "rtf": round(rtf_cpu, 4),
                      "rtf_wall": round(float(busy.mean()) * RATE / BLOCK, 4),
                      "load_average": round(os.getloadavg()[0], 1),
                      "rss_start_mb": round(rss[0], 1), "rss_growth_mb": round(growth, 2),
                      "engine_delay_ms": round(engine.latency_ms, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
