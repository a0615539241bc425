"""Peak memory and time of the command line on hostile inputs, each in a fresh process (its peak resident
memory from ``wait4``): a tiny checkpoint that declares a huge model, a WAV whose header says 1 Hz, a long
recording of silence to denoise (and a one-minute one, to compare), an ``.npz`` whose header declares 18 GiB.

    python bench/hostile_inputs.py [--root CHECKOUT] [--minutes 60] [--skip CASE ...] [--timeout-s 900]

``--root`` runs another checkout's ``main.py`` on the same files (e.g. the code before a change), so the
figures can be compared; the denoiser the audio cases use is saved by that checkout (its family's tiny settings,
or its default denoiser where it has none). Goal: a refusal costs no more than starting the program; streaming keeps the long
recording at the memory of the one-minute one.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.train.checkpoint import FORMAT  # noqa: E402


def wav(path: Path, rate: int, frames: int, channels: int = 1) -> Path:
    """16-bit PCM silence whose header says ``rate`` and ``channels``."""
    with open(path, "wb") as f:
        size = 2 * channels * frames
        fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, 2 * channels * rate, 2 * channels, 16)
        f.write(b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size))
        block = bytes(1 << 20)
        for start in range(0, size, len(block)):
            f.write(block[:min(len(block), size - start)])
    return path


#: a small denoiser saved by the checkout that runs (its models may take other settings than this one's)
DENOISER = """import sys
import models
from core.train.checkpoint import save_checkpoint
try:
    config = models.family("audio-dae").tiny
except AttributeError:  # a checkout from before model families: its default denoiser
    config = {}
save_checkpoint(sys.argv[1], models.build_model("audio-dae", config))
"""


def denoiser(root: Path, path: Path) -> Path:
    subprocess.run([sys.executable, "-c", DENOISER, str(path)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                   check=True)
    return path


def cases(tmp: Path, minutes: int, root: Path) -> dict[str, list[str]]:
    image = {"image_shape": [3, 64, 64], "mean": [0.5] * 3, "std": [0.2] * 3}
    huge = tmp / "huge_model.pt"  # 1.1 G parameters declared, no weights: 1.5 KB
    torch.save({"format": FORMAT, "model": {"name": "vae", "config": {**image, "latent_dim": 4096,
                                                                      "hidden": [16384, 16384]}},
                "state_dict": {}, "optimizers": {}, "train_state": {}, "history": []}, huge)
    model = denoiser(root, tmp / "denoiser.pt")
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.uint8))
    header["shape"] = (100_000, 256, 256, 3)
    with zipfile.ZipFile(tmp / "huge.npz", "w") as z, z.open("images.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
    return {
        "checkpoint declaring 1.1 G parameters (sample)": ["sample", "--model", str(huge), "--out", str(tmp / "s.png")],
        "WAV header saying 1 Hz, 40 KB (denoise)": ["denoise", str(wav(tmp / "one_hz.wav", 1, 20_000)),
                                                    str(tmp / "out1.wav"), "--model", str(model)],
        f"{minutes} minutes of silence, 48 kHz stereo, {minutes * 11.52:.0f} MB (denoise)": [
            "denoise", str(wav(tmp / "long.wav", 48_000, minutes * 60 * 48_000, 2)), str(tmp / "out2.wav"),
            "--model", str(model)],
        "one minute of silence, 48 kHz stereo (denoise)": [
            "denoise", str(wav(tmp / "minute.wav", 48_000, 60 * 48_000, 2)), str(tmp / "out3.wav"),
            "--model", str(model)],
        ".npz header declaring 18 GiB (train)": ["train", "--dataset", str(tmp / "huge.npz"), "--epochs", "1",
                                                 "--out", str(tmp / "run")],
        "baseline: main.py families": ["families"],
    }


def measure(root: Path, args: list[str], timeout_s: float) -> dict:
    """Exit code, seconds, peak resident memory (MB) and last stderr line of ``python main.py ARGS``; a process
    still running after ``timeout_s`` is killed (its exit is then ``"timeout"``)."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "main.py", *args], cwd=root, stdout=subprocess.DEVNULL,
                                   stderr=err, env={**os.environ, "PYTHONPATH": str(root)})
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout_s and not timed_out:
                timed_out = True
                process.kill()
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = [line for line in err.read().replace("\r", "\n").splitlines() if line.strip()]
    return {"exit": "timeout" if timed_out else process.returncode, "s": round(seconds, 1),
            "peak_mb": round(usage.ru_maxrss / 1024), "said": lines[-1][:160] if lines else ""}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout whose main.py runs (default: this one)")
    p.add_argument("--minutes", type=int, default=60, help="length of the long recording")
    p.add_argument("--skip", nargs="*", default=[], help="words of cases to leave out")
    p.add_argument("--timeout-s", type=float, default=900, help="a case still running after this is killed")
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in cases(Path(tmp), args.minutes, args.root.resolve()).items():
            if any(word in name for word in args.skip):
                continue
            results[name] = measure(args.root.resolve(), command, args.timeout_s)
            r = results[name]
            print(f"{name}: exit {r['exit']}, {r['s']} s, peak {r['peak_mb']} MB; {r['said']}", flush=True)
    print(json.dumps({name: {"peak_mb": r["peak_mb"], "s": r["s"], "exit": r["exit"]} for name, r in results.items()}))


if __name__ == "__main__":
    main()
