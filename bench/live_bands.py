"""The band above the model's rate, live: what it costs and what it keeps.

For a denoiser (default: the shipped one) in ``LiveEngine`` at 44.1 and 48 kHz with 10 and 20 ms blocks: the
real-time factor by CPU time (one thread) with the band above the model's kept and without it, and the share of
the energy above 8 kHz that comes out of wide-band speech (espeak-ng), clean and in white noise at 10 dB.
Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.engine import LiveConfig, LiveEngine  # noqa: E402
from core.audio.evaluate import run_live  # noqa: E402
from core.audio.io import read_audio  # noqa: E402
from core.audio.pretrained import default_denoiser_path  # noqa: E402
from core.train.checkpoint import load_for  # noqa: E402

TEXT = ("She sells sea shells by the sea shore. Six thick thistle sticks. The fish and chips were fresh, "
        "the soup was hot, and the sixth sheikh's sixth sheep is sick.")


def speech(rate: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True)
        return read_audio(path, rate, channels=1)[0][0]


def above(wave: np.ndarray, rate: int, hz: float = 8000.0) -> float:
    spectrum, freqs = np.abs(np.fft.rfft(wave)) ** 2, np.fft.rfftfreq(len(wave), 1 / rate)
    return float(spectrum[freqs > hz].sum())


def through(model, wave: np.ndarray, rate: int, block: int, high_band: bool) -> tuple[np.ndarray, float]:
    """(output aligned with ``wave``, CPU seconds per second of audio)."""
    engine = LiveEngine(model, LiveConfig(rate, block))
    if not high_band:
        engine.high_band = None
    padded = np.concatenate([wave, np.zeros(rate // 5 + block, np.float32)])[None]
    cpu = time.process_time()
    out, _ = run_live(engine, padded)
    cpu = time.process_time() - cpu
    d = engine.delay_samples
    return out[0, d:d + len(wave)], cpu / (padded.shape[1] / rate)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=default_denoiser_path(), help="a streaming denoiser's checkpoint")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = load_for(args.model, "denoises")[0]
    rows = []
    print(f"{args.model} (load average {os.getloadavg()[0]:.1f})")
    print("rate   block  RTF kept  RTF cut  above 8 kHz kept: clean  in noise")
    for rate in (44100, 48000):
        clean = speech(rate)
        noise = np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
        noisy = clean + noise * np.sqrt(np.mean(clean ** 2) / 10)
        for ms in (10, 20):
            block = rate * ms // 1000
            out, rtf = through(model, clean, rate, block, True)
            _, rtf_cut = through(model, clean, rate, block, False)
            kept_clean = above(out, rate) / above(clean, rate)
            out_noisy, _ = through(model, noisy, rate, block, True)
            kept_noisy = above(out_noisy, rate) / above(noisy, rate)
            rows.append({"rate": rate, "block": block, "rtf": round(rtf, 4), "rtf_without": round(rtf_cut, 4),
                         "kept_clean": round(kept_clean, 3), "kept_in_noise": round(kept_noisy, 3)})
            print(f"{rate}  {block:5d}  {rtf:8.3f}  {rtf_cut:7.3f}  {100 * kept_clean:22.0f} %  {100 * kept_noisy:6.0f} %")
    print(json.dumps({"model": str(args.model), "load": os.getloadavg()[0], "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
