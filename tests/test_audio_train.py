"""Training the denoiser on real spoken digits + real noise: its events match the image trainer's; the
worker and the CLI (train, denoise, resume) work; streamed equals offline on a trained model. (How well the
shipped model denoises: tests/test_denoiser_quality.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from audio_helpers import TEST_TRAINING, speech_subset, trained_denoiser
from core.audio.dataset import MixConfig
from core.audio.stream import StreamDenoiser
from core.audio.trainer import AudioRun
from core.runs.audio_demo import TINY_DENOISER
from core.runs.worker import TrainingWorker
from core.train.checkpoint import load_checkpoint
from core.train.loop import TrainConfig
from main import main


@pytest.fixture(scope="module")
def trained(shared_data):
    return trained_denoiser(shared_data)


def test_events_follow_the_image_trainers_schema(trained):
    path, events = trained
    kinds = [e["type"] for e in events]
    assert kinds[0] == "state" and events[0]["state"] == "running" and events[-1] == {"type": "state",
                                                                                    "state": "finished"}
    assert {"metrics", "checkpoint", "preview"} <= set(kinds)
    rows = [e for e in events if e["type"] == "metrics"]
    for row in rows:
        assert {"step", "epoch", "split", "loss", "sisdr", "sisdr_improvement", "progress", "time"} <= set(row)
        assert all(np.isfinite(row[k]) for k in ("loss", "sisdr", "sisdr_improvement"))
    assert [r["epoch"] for r in rows if r["split"] == "val"] == [float(e) for e in range(1, TEST_TRAINING.epochs + 1)]
    assert all(np.isfinite(r["sisdr_decay"]) for r in rows if r["split"] == "val")
    assert rows[-1]["progress"] == 1.0
    logged = [json.loads(line) for line in (path.parent / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [r["step"] for r in rows]
    preview = next(e for e in events if e["type"] == "preview")
    assert preview["original"].dtype == np.uint8 and preview["original"].shape == preview["reconstruction"].shape
    assert preview["original"].ndim == 4 and preview["original"].shape[1] == 1  # (N, 1, H, W) spectrograms


def test_worker_runs_an_audio_run_and_stops_on_request(shared_data, tmp_path):
    run = AudioRun("audio-dae", dict(TINY_DENOISER), speech_subset(shared_data, tmp_path / "speech", every=40),
                   None, MixConfig(segment_s=0.25, builtin=("white", "hum")),
                   TrainConfig(epochs=50, batch_size=4, device="cpu", log_every=1), tmp_path / "run")
    worker = TrainingWorker(run).start()
    seen = []
    while not any(e["type"] == "metrics" for e in seen):
        seen += worker.drain() or [worker.events.get(timeout=60)]
    worker.stop()
    worker.join(60)
    seen += worker.drain()
    assert not worker.alive and seen[-1]["type"] == "done"
    assert {"type": "state", "state": "stopped"} in seen and (tmp_path / "run" / "checkpoint.pt").is_file()
    assert not any(e["type"] == "error" for e in seen)


def test_cli_trains_denoises_and_resumes(shared_data, tmp_path, capsys):
    speech = speech_subset(shared_data, tmp_path / "speech", every=40)
    out = tmp_path / "run"
    small = ["--set", "hidden=32", "--set", "layers=1"]
    assert main(["train", "--model", "audio-dae", "--speech", str(speech), "--noise", str(shared_data / "noise"),
                 "--out", str(out), "--epochs", "1", "--batch-size", "8", "--segment", "0.25", *small]) == 0
    assert (out / "checkpoint.pt").is_file() and "sisdr_improvement" in (out / "metrics.jsonl").read_text()
    # denoise a stereo file at another rate: same rate, channels and length come back
    clip, _ = sf.read(sorted((shared_data / "fsdd").glob("*.wav"))[0], dtype="float32")
    stereo = np.stack([clip, 0.5 * clip], axis=1) + 0.05 * np.random.default_rng(0).standard_normal((len(clip), 2))
    sf.write(tmp_path / "in.wav", stereo.astype(np.float32), 8000)
    assert main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "clean.wav"), "--model",
                 str(out / "checkpoint.pt")]) == 0
    info = sf.info(tmp_path / "clean.wav")
    assert (info.samplerate, info.channels, info.frames) == (8000, 2, len(clip))
    # bad input: one clear line, exit code 1
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    capsys.readouterr()
    assert main(["denoise", str(tmp_path / "junk.wav"), str(tmp_path / "o.wav"), "--model",
                 str(out / "checkpoint.pt")]) == 1
    assert "not a readable audio file" in capsys.readouterr().err
    assert main(["train", "--model", "audio-dae", "--out", str(tmp_path / "x")]) == 1
    assert "needs --speech" in capsys.readouterr().err
    # resume: continues from the checkpoint's step with its own settings
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--out", str(out), "--epochs", "2"]) == 0
    _, payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["train_state"]["epoch"] == 2 and payload["model"]["config"]["hidden"] == 32


def test_live_stream_of_the_trained_model_equals_its_offline_output(trained, shared_data):
    """The exactness test on a trained model (not just random weights): streamed == offline within 1e-4."""
    model, _ = load_checkpoint(trained[0])
    wave, _ = sf.read(sorted((shared_data / "fsdd").glob("*.wav"))[3], dtype="float32")
    x = wave[None, :len(wave) // 256 * 256]
    stream = StreamDenoiser(model, 1, block=256)
    streamed = np.concatenate([stream.process(x[:, i:i + 256]).copy() for i in range(0, x.shape[1], 256)], axis=1)
    with torch.no_grad():
        offline = model(torch.from_numpy(x)[None])[0].numpy()
    d = stream.delay
    assert np.abs(streamed[:, d:] - offline[:, :-d]).max() < 1e-4
