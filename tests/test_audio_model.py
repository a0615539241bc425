"""The audio denoisers and their streaming: exactness of block-by-block processing, independence of the
input level, the lecture's model, checkpoints, offline chunking and the live engine's delay, mixing and
resampling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.audio.engine import LiveConfig, LiveEngine
from core.audio.offline import denoise_wave
from core.audio.stream import StreamDenoiser
from core.train.checkpoint import load_checkpoint, save_checkpoint
from models import build_model, names
from models.audio_dae import CausalDenoiser, SeedDenoisingAE, running_mean

SMALL = {"hidden": 24, "layers": 2, "df_bins": 20}


def causal(**values) -> CausalDenoiser:
    """A small streaming model whose deep filter is switched on (its weights start at zero)."""
    model = CausalDenoiser(**{**SMALL, **values})
    torch.nn.init.normal_(model.deep_filter.weight, std=0.05)
    return model


def noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.1).astype(np.float32)


def offline(model, x: np.ndarray) -> np.ndarray:
    """The model's offline output for a (C, T) signal, the channels handled as the stream handles them."""
    with torch.no_grad():
        t = torch.from_numpy(x)
        if model.channels == 1:
            return model(t[:, None])[:, 0].numpy()
        if x.shape[0] == 2:
            return model(t[None])[0].numpy()
        return model(t.expand(2, -1)[None])[0].mean(0, keepdim=True).numpy()


@pytest.mark.parametrize("model_channels,stream_channels,block", [(1, 1, None), (1, 1, 256), (1, 2, None),
                                                                  (2, 2, None), (2, 1, 320)])
def test_streamed_output_equals_offline_output(model_channels, stream_channels, block):
    torch.manual_seed(0)
    model = causal(channels=model_channels).eval()
    x = noise(stream_channels, 6000 if block is None else 6000 // block * block)
    stream = StreamDenoiser(model, stream_channels, block=block)
    sizes = [block] if block else [1, 7, 160, 333, 1024, 50, 2000]  # ragged blocks, smaller and larger than a hop
    outs, i, k = [], 0, 0
    while i < x.shape[1]:
        n = min(sizes[k % len(sizes)], x.shape[1] - i)
        outs.append(stream.process(x[:, i:i + n]).copy())
        i, k = i + n, k + 1
    streamed, d = np.concatenate(outs, axis=1), stream.delay
    assert np.abs(streamed[:, d:] - offline(model, x)[:, :-d]).max() < 1e-4
    # dry (wet = 0) is the input with exactly the same delay, so the dry/wet mix lines up
    dry = StreamDenoiser(model, stream_channels, block=block)
    step = block or 100
    dry_out = np.concatenate([dry.process(x[:, j:j + step], wet=0.0).copy() for j in range(0, x.shape[1], step)], 1)
    assert np.array_equal(dry_out[:, d:], x[:, :-d])


def test_stft_front_end_reconstructs_exactly_and_the_model_is_causal():
    torch.manual_seed(0)
    model = causal().eval()
    x = torch.from_numpy(noise(1, 8000))[None]
    with torch.no_grad():
        spec = x[0, 0].unfold(-1, model.kernel, model.stride) @ model.analysis
        halves = (spec @ model.synthesis).reshape(-1, 2, model.stride)  # an all-pass mask
        rebuilt = torch.cat([halves[:1, 0], halves[1:, 0] + halves[:-1, 1]]).ravel()
        assert torch.allclose(rebuilt[model.stride:], x[0, 0, model.stride:rebuilt.numel()], atol=1e-5)
        y = model(x)
        changed = x.clone()
        changed[..., 5000:] = torch.randn(3000)
        y2 = model(changed)
    lookahead = model.kernel - 1  # within the current frame only
    assert torch.equal(y[..., :5000 - lookahead], y2[..., :5000 - lookahead])
    assert not torch.allclose(y[..., 5000:], y2[..., 5000:])
    assert model.latency_samples / model.sample_rate * 1000 <= 20  # the latency goal


def test_the_gains_do_not_depend_on_the_input_level():
    """The log spectrum is taken relative to its running level: 30 dB louder in, exactly 30 dB louder out,
    from the first frame on (the running average is bias-corrected, not pulled towards zero)."""
    torch.manual_seed(0)
    model = causal().eval()
    x = torch.from_numpy(noise(1, 8000))[None]
    with torch.no_grad():
        quiet, loud = model(x), model(31.62 * x)
    assert torch.allclose(loud, 31.62 * quiet, rtol=1e-3, atol=1e-5)
    levels, mean, count = running_mean(torch.tensor([[4.0, 2.0, 3.0]]), torch.zeros(1, 1), torch.zeros(1, 1), 0.9)
    assert levels[0, 0] == pytest.approx(4.0) and 2.0 < levels[0, 1] < 4.0 and count.item() == 3


def test_seed_model_is_the_lectures_denoising_autoencoder():
    model = SeedDenoisingAE()  # the lecture: stereo, 256-512-1024
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == \
        [(2, 256, 3, 2, 1), (256, 512, 3, 2, 1), (512, 1024, 3, 2, 1)]
    assert sum(isinstance(m, torch.nn.Mish) for m in model.encoder) == 3
    deconvs = [m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose1d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(1024, 512), (512, 256), (256, 2)]
    small = SeedDenoisingAE(widths=[8, 16, 32])
    for n in (1000, 1003, 8):
        assert small(torch.randn(2, 2, n)).shape == (2, 2, n)
    assert not small.capabilities.streams and model.capabilities.modality == "audio"


@pytest.mark.parametrize("name,config", [("audio-dae", SMALL), ("audio-dae-seed", {"widths": [8, 16, 32]})])
def test_checkpoints_rebuild_audio_models_and_offline_chunks_are_exact(name, config, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, config)
    opt = model.configure_optimizers(1e-3)
    x = torch.from_numpy(noise(model.channels, 4000))[None]
    losses = model.train_step(x, x, opt)
    assert "total" in losses and all(torch.isfinite(v) for v in losses.values())
    path = save_checkpoint(tmp_path / "ckpt.pt", model, opt, {"epoch": 1})
    loaded, payload = load_checkpoint(path)
    assert loaded.name == name and payload["model"]["config"] == model.config
    wave = noise(2, 40_003, seed=1)  # longer than one chunk, odd length, stereo
    progress = []
    out = denoise_wave(loaded, wave, progress=progress.append)
    assert out.shape == wave.shape and progress[-1] == 1.0
    assert np.abs(out - offline(loaded.eval(), wave)).max() < 1e-4
    assert set(names("audio")) == {"audio-dae", "audio-dae-seed"}


@pytest.mark.parametrize("rate,block", [(16000, 256), (16000, 320), (48000, 512), (44100, 441)])
def test_live_engine_delay_mix_and_resampling(rate, block):
    torch.manual_seed(0)
    model = CausalDenoiser(**SMALL)
    engine = LiveEngine(model, LiveConfig(rate, block, channels=1), monitor_s=1.0)
    t = np.arange(rate // 2) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t))[:, None].astype(np.float32)  # well inside every band
    out = np.zeros_like(tone)
    engine.bypass = True
    for i in range(0, len(tone) - block + 1, block):
        engine.process(tone[i:i + block], out[i:i + block])
    d = engine.delay_samples
    assert 0 < engine.latency_ms < 40
    if rate == model.sample_rate:  # the probe's delay is exactly the denoiser's
        assert d == engine.denoiser.delay
    seg = slice(rate // 4, rate // 2 - 2 * block)
    assert np.abs(out[seg] - tone[seg.start - d:seg.stop - d]).max() < (1e-6 if rate == 16000 else 0.02)
    s = engine.stats
    assert s.xruns == 0 and s.blocks == len(tone) // block and 0 < s.rtf and s.in_peak == pytest.approx(0.3, 0.01)
    assert len(engine.monitor_in.latest()) == model.sample_rate  # the last second at the model's rate
