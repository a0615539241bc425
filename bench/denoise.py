"""Audio denoiser as users hear it: long recordings of a new talker, against non-learned baselines.

Trains the denoiser exactly as ``python main.py train --model audio-dae --speech DIR --noise DIR`` does
(every default; this machine's CPU) on three of the four FSDD talkers and the real noise recordings
(their held-out ends are kept for testing), or scores a given ``--model``. Then, on continuous
recordings of ``--seconds`` of the fourth talker (utterances with natural pauses) in the held-out noise
recordings and in generated stationary noise at 0, 5 and 10 dB SNR, it reports for the model, for
noisereduce (spectral gating, its defaults) and for a fixed 100 Hz-4 kHz band-pass: the SI-SDR
improvement over the whole recording and its first and last thirds (``decay``: last minus first),
and the change in wideband PESQ and in STOI. A second table scores single short clips as the old
benchmark did; a third follows one 4.8 s recording at 8 kHz (the ``denoise`` command's path) part by
part. Speed: real-time factor of the live path on one torch thread (by its CPU time, which others' load on a
shared machine does not inflate, and by the wall clock); latency: algorithmic and measured.

    python bench/denoise.py [--data ../shared/data] [--test-talker lucas] [--model CKPT] [--out DIR]

Goals: long-form SI-SDR improvement >= 8 dB on average, STOI delta >= 0, PESQ delta >= 0.5,
|decay| <= 1 dB, RTF <= 0.1 on one thread, algorithmic latency <= 20 ms. The machine is shared, so
timings are rough (they only get better on an idle one).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.dataset import MixConfig, SpeechNoiseData  # noqa: E402
from core.audio.engine import LiveConfig, LiveEngine  # noqa: E402
from core.audio.evaluate import band_pass, long_recording, perceptual, score, spectral_gating  # noqa: E402
from core.audio.io import read_audio, resample, write_audio  # noqa: E402
from core.audio.metrics import si_sdr  # noqa: E402
from core.audio.noise import mix_at_snr  # noqa: E402
from core.audio.offline import denoise_recording, denoise_wave  # noqa: E402
from core.audio.stream import StreamDenoiser  # noqa: E402
from core.train.checkpoint import load_checkpoint  # noqa: E402

SNRS = (0.0, 5.0, 10.0)
GENERATED = ("white", "pink")  # stationary noise made on the spot, besides the noise recordings
SPEED_S = 20.0
EXAMPLE = (8000, 4.8, 5.0, "pink")  # the recording: rate, seconds, SNR, noise
EXAMPLE_PARTS = ((0.0, 0.8), (0.8, 2.4), (2.4, 4.8))
METHODS = ("model", "noisereduce", "band-pass")


def talker_folders(fsdd: Path, test_talker: str, out: Path) -> tuple[Path, list[Path]]:
    """A folder of links to the training talkers' files (the data stays read-only), and the test talker's files."""
    files = sorted(fsdd.glob("*.wav"))
    test = [f for f in files if f.stem.split("_")[1] == test_talker]
    if not test:
        raise SystemExit(f"error: no FSDD files of talker {test_talker!r} in {fsdd}")
    train = out / "speech"
    train.mkdir(parents=True, exist_ok=True)
    for f in files:
        if f not in test and not (train / f.name).exists():
            (train / f.name).symlink_to(f.resolve())
    return train, test


def train_default(speech: Path, noise: Path, out: Path) -> tuple[float, float, int]:
    """``python main.py train --model audio-dae`` with every default; (wall seconds, CPU seconds, steps)."""
    t0, cpu0 = time.perf_counter(), children_cpu_s()
    subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--model", "audio-dae", "--speech", str(speech),
                    "--noise", str(noise), "--out", str(out)], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return time.perf_counter() - t0, children_cpu_s() - cpu0, rows[-1]["step"]


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def denoisers(model, rate: int) -> dict:
    return {"model": lambda x: denoise_wave(model, x), "noisereduce": lambda x: spectral_gating(x, rate),
            "band-pass": lambda x: band_pass(x, rate)}


def longform(model, data: SpeechNoiseData, clips: list[np.ndarray], seconds: float, recordings: int) -> list[dict]:
    """One row per (noise, SNR, recording, method): ``score`` of that method on that recording."""
    rows, n, rate = [], int(seconds * data.rate), data.rate
    kinds = [*data.noise_val, *GENERATED]
    methods = denoisers(model, rate)
    for k, kind in enumerate(kinds):
        for snr in SNRS:
            for r in range(recordings):
                rng = np.random.default_rng([k, int(snr), r])
                noisy, clean = long_recording(clips, data.noise(kind, n, rng, val=True), snr, rate, rng)
                before = perceptual(noisy, clean, rate)
                for name, denoise in methods.items():
                    rows.append({"noise": kind, "snr": snr, "method": name,
                                 **score(denoise(noisy), noisy, clean, rate, noisy_perceptual=before)})
    return rows


def short_clips(model, data: SpeechNoiseData, clips: list[np.ndarray], per_noise: int = 4) -> dict:
    """The old benchmark: single clips (about half a second), mean SI-SDR improvement per SNR and method."""
    out = {}
    methods = {k: v for k, v in denoisers(model, data.rate).items() if k != "band-pass"}
    for snr in SNRS:
        gains = {name: [] for name in methods}
        for k, kind in enumerate([*data.noise_val, *GENERATED]):
            rng = np.random.default_rng([100 + k, int(snr)])
            for i in rng.choice(len(clips), per_noise, replace=False):
                clean = clips[i][None]
                noise = data.noise(kind, clean.shape[1], rng, val=True)[None]
                noisy = mix_at_snr(torch.from_numpy(clean), torch.from_numpy(noise), torch.tensor([snr])).numpy()
                for name, denoise in methods.items():
                    gains[name].append(float(si_sdr(denoise(noisy), clean) - si_sdr(noisy, clean)))
        out[snr] = {name: float(np.mean(g)) for name, g in gains.items()}
    return out


def example_recording(model, data: SpeechNoiseData, clips: list[np.ndarray], out: Path) -> list[dict]:
    """The issue's case: 4.8 s of a new talker at 8 kHz in stationary noise at 5 dB, cleaned as the
    ``denoise`` command does, scored part by part; the three waves are written to ``out``."""
    rate, seconds, snr, kind = EXAMPLE
    rng = np.random.default_rng(48)
    noise = resample(data.noise(kind, int(seconds * data.rate), rng, val=True)[None], data.rate, rate)[0]
    noisy, clean = long_recording([resample(c, data.rate, rate) for c in clips], noise, snr, rate, rng)
    denoised = denoise_recording(model, noisy, rate)
    for name, wave in (("clean", clean), ("noisy", noisy), ("denoised", denoised)):
        write_audio(out / f"example_{name}.wav", wave, rate)
    return example_parts(clean, noisy, denoised, rate)


def example_parts(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, rate: int) -> list[dict]:
    rows = []
    for lo, hi in EXAMPLE_PARTS:
        s = slice(int(lo * rate), int(hi * rate))
        rows.append({"part": f"{lo:.1f}-{hi:.1f} s", "sisdr_in": float(si_sdr(noisy[:, s], clean[:, s])),
                     "sisdr_out": float(si_sdr(denoised[:, s], clean[:, s])),
                     "level_ratio": float(np.sqrt(np.mean(denoised[:, s] ** 2) / np.mean(noisy[:, s] ** 2)))})
    return rows


def streaming_rtf(model, block: int, seconds: float = SPEED_S) -> tuple[float, float]:
    """Processing time / audio time of the live path (``StreamDenoiser``), one torch thread: (by the wall
    clock, by this thread's CPU time, which a loaded machine does not inflate)."""
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


def mean(rows: list[dict], key: str, **where) -> float:
    return float(np.mean([r[key] for r in rows if all(r[k] == v for k, v in where.items())]))


def print_longform(rows: list[dict]) -> None:
    print(f"\n{'noise':>22} {'SNR':>4} | {'model: SI-SDRi first  last  PESQ   STOI':>40} | "
          f"{'noisereduce: SI-SDRi PESQ   STOI':>32} | band-pass")
    for kind in dict.fromkeys(r["noise"] for r in rows):
        for snr in SNRS:
            m = {name: {k: mean(rows, k, noise=kind, snr=snr, method=name) for k in
                        ("sisdr_gain", "first_gain", "last_gain", "pesq_delta", "stoi_delta")} for name in METHODS}
            a, b = m["model"], m["noisereduce"]
            print(f"{kind:>22} {snr:>3g}  | {a['sisdr_gain']:>+18.1f} {a['first_gain']:>+5.1f} {a['last_gain']:>+5.1f} "
                  f"{a['pesq_delta']:>+5.2f} {a['stoi_delta']:>+6.3f} | {b['sisdr_gain']:>+20.1f} "
                  f"{b['pesq_delta']:>+5.2f} {b['stoi_delta']:>+6.3f} | {m['band-pass']['sisdr_gain']:>+5.1f}")
    keys = ("sisdr_gain", "first_gain", "last_gain", "pesq_delta", "stoi_delta")
    a = {k: mean(rows, k, method="model") for k in keys}
    b = {k: mean(rows, k, method="noisereduce") for k in ("sisdr_gain", "pesq_delta", "stoi_delta")}
    print(f"{'mean':>22} {'':>4} | {a['sisdr_gain']:>+18.1f} {a['first_gain']:>+5.1f} {a['last_gain']:>+5.1f} "
          f"{a['pesq_delta']:>+5.2f} {a['stoi_delta']:>+6.3f} | {b['sisdr_gain']:>+20.1f} {b['pesq_delta']:>+5.2f} "
          f"{b['stoi_delta']:>+6.3f} | {mean(rows, 'sisdr_gain', method='band-pass'):>+5.1f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--test-talker", default="lucas", help="the FSDD talker kept out of training")
    p.add_argument("--model", type=Path, help="score this checkpoint instead of training one")
    p.add_argument("--seconds", type=float, default=12.0, help="length of a test recording (at least 10)")
    p.add_argument("--recordings", type=int, default=2, help="test recordings per noise and SNR")
    p.add_argument("--out", type=Path, help="keep the run and the example recording here")
    args = p.parse_args()
    fsdd, noise = args.data / "fsdd", args.data / "noise"
    if not fsdd.is_dir() or not noise.is_dir():
        print(f"error: {args.data} has no fsdd/ and noise/ folders", file=sys.stderr)
        return 1
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-denoise-"))
    speech, test_files = talker_folders(fsdd, args.test_talker, out)
    train_s = train_cpu_s = steps = None
    checkpoint = args.model
    if checkpoint is None:
        checkpoint = out / "run" / "checkpoint.pt"
        train_s, train_cpu_s, steps = train_default(speech, noise, checkpoint.parent)
    model, payload = load_checkpoint(checkpoint)
    cfg = payload["train_state"].get("config", {})
    print(f"\n{model.name} ({sum(p.numel() for p in model.parameters()):,} parameters, {model.config}) from "
          f"{checkpoint}" + (f": trained {train_s:.0f} s ({train_cpu_s:.0f} s of CPU), {steps} steps, epochs "
                             f"{cfg.get('epochs')}" if train_s else ""))
    torch.set_num_threads(1)
    state = payload["train_state"]
    data = SpeechNoiseData.load(speech, noise, model.sample_rate, 1, MixConfig.from_dict(state.get("mix", {})),
                                seed=cfg.get("seed", 0))  # the same held-out noise as in training
    clips = [read_audio(f, model.sample_rate, channels=1)[0][0] for f in test_files]
    t0 = time.perf_counter()
    rows = longform(model, data, clips, args.seconds, args.recordings)
    print(f"\nLong-form: {args.recordings} recordings of {args.seconds:g} s of talker {args.test_talker} (not trained "
          f"on) per noise and SNR; SI-SDR improvement (dB) over the whole recording, its first and last thirds; "
          f"change in wideband PESQ and STOI ({time.perf_counter() - t0:.0f} s)")
    print_longform(rows)

    short = short_clips(model, data, clips)
    print("\nShort clips (one utterance, about 0.5 s; the old benchmark), SI-SDR improvement (dB):")
    for snr, r in short.items():
        print(f"{snr:>4g} dB | model {r['model']:+5.1f} | noisereduce {r['noisereduce']:+5.1f}")

    parts = example_recording(model, data, clips, out)
    print(f"\nOne {EXAMPLE[1]:g} s recording at {EXAMPLE[0]} Hz, {EXAMPLE[3]} noise at {EXAMPLE[2]:g} dB, through the "
          f"denoise command's path (waves in {out}):")
    print(f"{'part':>12} | SI-SDR in | SI-SDR out | output level / input level")
    for r in parts:
        print(f"{r['part']:>12} | {r['sisdr_in']:>8.1f}  | {r['sisdr_out']:>9.1f}  | {r['level_ratio']:.2f}")

    load = os.getloadavg()[0]
    rtf = {block: streaming_rtf(model, block) for block in (160, 320)}
    rtf_48k = engine_rtf(model)
    latency_ms = 1000 * model.latency_samples / model.sample_rate
    delay_ms = LiveEngine(model, LiveConfig(model.sample_rate, 320)).latency_ms
    print(f"\nreal-time factor, one thread, by its CPU time (by the wall clock, load average {load:.1f} on "
          f"{os.cpu_count()} cores): {rtf[320][1]:.3f} ({rtf[320][0]:.3f}) at 20 ms blocks, {rtf[160][1]:.3f} "
          f"({rtf[160][0]:.3f}) at 10 ms blocks, {rtf_48k[1]:.3f} ({rtf_48k[0]:.3f}) in the live engine at 48 kHz, "
          "10 ms blocks, resampling  (goal <= 0.1)")
    print(f"latency: algorithmic {latency_ms:.0f} ms (goal <= 20 ms); live engine delay {delay_ms:.0f} ms at 20 ms "
          "blocks (plus the sound device's own buffering)")
    model_rows = [r for r in rows if r["method"] == "model"]
    worst_stoi = min(mean(model_rows, "stoi_delta", noise=r["noise"], snr=r["snr"]) for r in model_rows)
    print(json.dumps({
        "longform_sisdr_improvement_db": round(mean(rows, "sisdr_gain", method="model"), 2),
        "decay_db": round(mean(rows, "last_gain", method="model") - mean(rows, "first_gain", method="model"), 2),
        "pesq_wb_delta": round(mean(rows, "pesq_delta", method="model"), 3),
        "stoi_delta": round(mean(rows, "stoi_delta", method="model"), 4),
        "stoi_delta_worst_condition": round(worst_stoi, 4),
        "noisereduce_sisdr_improvement_db": round(mean(rows, "sisdr_gain", method="noisereduce"), 2),
        "noisereduce_pesq_wb_delta": round(mean(rows, "pesq_delta", method="noisereduce"), 3),
        "noisereduce_stoi_delta": round(mean(rows, "stoi_delta", method="noisereduce"), 4),
        "bandpass_sisdr_improvement_db": round(mean(rows, "sisdr_gain", method="band-pass"), 2),
        "by_snr_db": {f"{snr:g}": round(mean(rows, "sisdr_gain", method="model", snr=snr), 2) for snr in SNRS},
        "short_clip_sisdr_improvement_db": round(float(np.mean([r["model"] for r in short.values()])), 2),
        "example_parts": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in parts],
        "rtf": round(rtf[320][1], 4), "rtf_10ms_blocks": round(rtf[160][1], 4),
        "rtf_engine_48k": round(rtf_48k[1], 4),
        "rtf_wall": round(rtf[320][0], 4), "load_average": round(load, 1),
        "latency_ms": latency_ms, "engine_delay_ms": round(delay_ms, 1),
        "train_seconds": None if train_s is None else round(train_s),
        "train_cpu_seconds": None if train_cpu_s is None else round(train_cpu_s), "train_steps": steps,
        "test_talker": args.test_talker}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
