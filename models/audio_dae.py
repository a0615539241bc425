"""Audio denoising autoencoders: waveform in, waveform out, shape (batch, channels, samples).

``SeedDenoisingAE`` is the lecture's ``DenoisingAE``: Conv1d (stride 2) + Mish encoder and a mirrored
ConvTranspose1d decoder. It looks ahead and behind, so it denoises files, not live audio.

``CausalDenoiser`` is its streaming variant. The encoder is still a strided Conv1d and the decoder a
ConvTranspose1d, but with fixed short-time Fourier kernels (a sqrt-Hann STFT of ``kernel`` samples,
hop ``stride``: 20 ms frames every 10 ms at 16 kHz), which trains far faster than a learned filterbank.
Between them, in the manner of RNNoise, gated recurrent units read each frame's log spectrum (less its
running level, so the microphone's loudness does not matter) and predict a gain per frequency bin; the
masked spectrum (the skip from encoder to decoder) is turned back into a wave. A GRU's memory has no
horizon: trained on several seconds of continuous speech, it tracks the noise for as long as a stream
runs. ``stream_step`` runs it block by block with carried state and gives the offline output exactly,
``stream_delay`` samples later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .family import Capabilities, Family, SettingError, Settings, setting


def snr_loss(estimate: torch.Tensor, clean: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Negative signal-to-noise ratio in dB, per clip then averaged; unlike SI-SDR it also checks the level."""
    ratio = (clean.pow(2).sum(-1) + eps) / ((estimate - clean).pow(2).sum(-1) + eps)
    return -10 * torch.log10(ratio).mean()


@dataclass(frozen=True)
class AudioSettings(Settings):
    sample_rate: int = setting(16000, "Sample rate the model works at, in Hz (audio at other rates is resampled)",
                               low=4000, high=192_000)
    channels: int = setting(1, "Audio channels: 1 (mono) or 2 (stereo)", low=1, high=2)


class AudioModel(nn.Module):
    """What the audio models share: checked settings (``config`` is their JSON-able form), the sample rate,
    the channel count, the loss."""

    Settings: ClassVar[type[AudioSettings]] = AudioSettings
    capabilities: ClassVar[Capabilities] = Capabilities(modality="audio")

    def __init__(self, settings: AudioSettings | None = None, **values):
        super().__init__()
        self.settings = settings if settings is not None else self.Settings.from_dict(values)
        self.sample_rate, self.channels = self.settings.sample_rate, self.settings.channels
        self.name = type(self).__name__  # the registry's name, once built by ``models.build_model``

    @property
    def config(self) -> dict:
        return self.settings.to_dict()

    def loss(self, noisy: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss components for a batch of (noisy, clean) waves; ``total`` is minimised."""
        return self.criterion(self(noisy), clean)

    @staticmethod
    def criterion(denoised: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss of an output already computed: negative SNR in dB (one component, ``total``)."""
        return {"total": snr_loss(denoised, clean)}

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, noisy, clean, optimizers) -> dict[str, torch.Tensor]:
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        losses = self.loss(noisy, clean)
        losses["total"].backward()
        nn.utils.clip_grad_norm_(self.parameters(), 5.0)
        opt.step()
        return {k: v.detach() for k, v in losses.items()}


@dataclass(frozen=True)
class SeedSettings(AudioSettings):
    channels: int = setting(2, "Audio channels: 1 (mono) or 2 (stereo)", low=1, high=2)
    widths: tuple[int, ...] = setting([256, 512, 1024], "Channels of the stride-2 convolutions", low=1, high=8192)


class SeedDenoisingAE(AudioModel):
    """The lecture's DenoisingAE with configurable widths (the lecture: stereo, 256-512-1024).

    ``output_padding=1`` makes each ConvTranspose1d exactly double the length, so a wave whose length
    is a multiple of 2**len(widths) comes back at its length; other lengths are padded, then cropped.
    """
    Settings = SeedSettings

    def __init__(self, settings: SeedSettings | None = None, **values):
        super().__init__(settings, **values)
        channels, widths = self.channels, list(self.settings.widths)
        enc, dec = [], []
        chans = [channels, *widths]
        for cin, cout in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv1d(cin, cout, 3, stride=2, padding=1), nn.Mish()]
        for i, (cin, cout) in enumerate(zip(chans[:0:-1], chans[-2::-1])):
            dec.append(nn.ConvTranspose1d(cin, cout, 3, stride=2, padding=1, output_padding=1))
            if i < len(widths) - 1:
                dec.append(nn.Mish())
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.multiple = 2 ** len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        x = F.pad(x, (0, -n % self.multiple))
        return self.decoder(self.encoder(x))[..., :n]


def stft_kernels(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernels of a sqrt-Hann STFT, (n, 2 * bins), and of its inverse, (2 * bins, n).

    Rows are the real parts of bins 0..n/2, then the imaginary parts. With hop n/2 the inverse
    overlap-adds back to the input exactly (the squared periodic Hann windows sum to one).
    """
    t = torch.arange(n, dtype=torch.float64)
    k = torch.arange(n // 2 + 1, dtype=torch.float64)[:, None]
    window = torch.hann_window(n, periodic=True, dtype=torch.float64).sqrt()
    angle = 2 * torch.pi * k * t / n
    analysis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
    weight = torch.full_like(k, 2.0 / n)
    weight[0] = weight[-1] = 1.0 / n
    synthesis = torch.cat([torch.cos(angle) * weight, -torch.sin(angle) * weight]) * window
    return analysis.float().T.contiguous(), synthesis.float()


SHORT_FRAMES = 8  # running_mean: up to this many frames, a loop beats an IIR filter call


def running_mean(x: torch.Tensor, mean: torch.Tensor, count: torch.Tensor,
                 alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exponential moving average over the last axis of (B, T) ``x``, bias-corrected as Adam's (so the
    first frames are averaged over what there is, not pulled towards zero). State: the uncorrected
    average and the frame count so far, each (B, 1). Returns (averages (B, T), new mean, new count).
    A live block's few frames take a plain loop; longer inputs one IIR filter (``lfilter``), same result."""
    n = x.shape[-1]
    if n <= SHORT_FRAMES:
        out = []
        for t in range(n):
            mean, count = alpha * mean + (1 - alpha) * x[:, t:t + 1], count + 1
            out.append(mean / (1 - alpha ** count))
        return torch.cat(out, dim=-1) if n > 1 else out[0], mean, count
    from torchaudio.functional import lfilter  # (seconds to import: image runs never need it)
    steps = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    a = torch.tensor([1.0, -alpha], dtype=x.dtype, device=x.device)
    b = torch.tensor([1.0 - alpha, 0.0], dtype=x.dtype, device=x.device)
    m = lfilter(x, a, b, clamp=False) + alpha ** steps * mean
    counts = count + steps
    return m / (1 - alpha ** counts), m[:, -1:], counts[:, -1:]


def compressed_spectrum_loss(estimate: torch.Tensor, clean: torch.Tensor, analysis: torch.Tensor,
                             power: float = 0.3) -> torch.Tensor:
    """Distance of power-compressed spectra (``|X| ** power``: quiet bins, such as the top of the band
    and the consonants, count nearly as much as loud ones): 0.7 x magnitudes + 0.3 x complex values,
    mean squared. Both waves are first divided by the clean wave's RMS, so the level does not matter."""
    scale = clean.pow(2).mean(-1, keepdim=True).add(1e-8).sqrt()
    n = analysis.shape[0]
    specs = []
    for wave in (estimate / scale, clean / scale):
        spec = (wave.unfold(-1, n, n // 2) @ analysis) / math.sqrt(n / 2)  # unit-RMS white noise: |X| ~ 1
        re, im = spec.chunk(2, dim=-1)
        mag = (re * re + im * im + 1e-8).sqrt()
        compressed = mag ** power
        specs.append((compressed, compressed * re / mag, compressed * im / mag))
    (m1, r1, i1), (m2, r2, i2) = specs
    return 0.7 * F.mse_loss(m1, m2) + 0.3 * (F.mse_loss(r1, r2) + F.mse_loss(i1, i2))


def si_sdr_db(estimate: torch.Tensor, clean: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB over the last axis (differentiable), per wave."""
    estimate = estimate - estimate.mean(-1, keepdim=True)
    clean = clean - clean.mean(-1, keepdim=True)
    target = (estimate * clean).sum(-1, keepdim=True) / (clean.pow(2).sum(-1, keepdim=True) + eps) * clean
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((estimate - target).pow(2).sum(-1) + eps))


@dataclass(frozen=True)
class CausalSettings(AudioSettings):
    kernel: int = setting(320, "STFT frame in samples (even; the hop is half of it, the latency all of it)",
                          low=16, high=8192)
    hidden: int = setting(96, "Width of the GRUs that predict the gains", low=1, high=4096, label="Hidden width")
    layers: int = setting(2, "Stacked GRU layers", low=1, high=8)
    level_s: float = setting(3.0, "Time constant (s) of the running level the spectrum is taken relative to",
                             low=0.05, high=600.0, label="Level time")
    floor_s: float = setting(1.0, "Time constant (s) of each bin's running mean, which the spectrum is also read "
                                  "against (how far a bin stands above its usual level)", low=0.05, high=600.0,
                             label="Bin mean time")
    df_bins: int = setting(64, "Lowest STFT bins refined by a deep filter (complex taps over the last frames; "
                                "0: gains only)", low=0, high=4097, label="Deep-filter bins")
    df_order: int = setting(3, "Frames the deep filter reads: the current one and those before it", low=1, high=8,
                            label="Deep-filter taps")

    def check(self):
        if self.kernel % 2:
            raise SettingError(f"kernel must be even (the hop is half of it), got {self.kernel}")
        if self.df_bins > self.kernel // 2 + 1:
            raise SettingError(f"df_bins ({self.df_bins}) is more than the {self.kernel // 2 + 1} bins of a "
                               f"{self.kernel}-sample frame")


class CausalDenoiser(AudioModel):
    """Streaming denoiser: STFT as a strided Conv1d -> GRU -> a gain per bin, plus a deep filter on the low
    bins -> inverse STFT as ConvTranspose1d.

    A frame is ``kernel`` samples advanced by ``stride`` (= kernel / 2); the algorithmic latency is
    ``kernel`` samples. Each channel of a stereo model gets its own gains, predicted from both channels.
    The deep filter (DeepFilterNet's idea, here causal: no look-ahead) adds to each of the ``df_bins``
    lowest gained bins a complex combination of that bin in the current and ``df_order - 1`` previous
    frames, which can rebuild the harmonics of voiced speech that a real gain cannot; its weights start at
    zero, so an untrained filter leaves the gains alone. The loss: power-compressed spectra plus SI-SDR.
    """

    Settings = CausalSettings
    capabilities = Capabilities(modality="audio", streams=True)

    def __init__(self, settings: CausalSettings | None = None, **values):
        super().__init__(settings, **values)
        s = self.settings
        sample_rate, channels, kernel, hidden, layers = s.sample_rate, s.channels, s.kernel, s.hidden, s.layers
        self.kernel, self.stride, self.hidden, self.layers = kernel, kernel // 2, hidden, layers
        self.bins = kernel // 2 + 1
        self.df_bins, self.df_order = s.df_bins, s.df_order
        self.alpha = math.exp(-self.stride / (s.level_s * sample_rate))  # running level: per-frame decay
        self.bin_alpha = math.exp(-self.stride / (s.floor_s * sample_rate))
        analysis, synthesis = stft_kernels(kernel)
        self.register_buffer("analysis", analysis, persistent=False)
        self.register_buffer("synthesis", synthesis, persistent=False)
        features = channels * self.bins
        self.embed = nn.Sequential(nn.Linear(2 * features, hidden), nn.SiLU())
        self.gru = nn.GRU(hidden, hidden, layers, batch_first=True)
        self.mask = nn.Sequential(nn.Linear(hidden, features), nn.Sigmoid())
        self.deep_filter = nn.Linear(hidden, channels * self.df_bins * self.df_order * 2) if self.df_bins else None
        if self.deep_filter is not None:
            nn.init.zeros_(self.deep_filter.weight)
            nn.init.zeros_(self.deep_filter.bias)

    @property
    def stream_delay(self) -> int:
        """Samples by which the streamed output trails the offline output."""
        return self.kernel - self.stride

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency: from a sample entering to its denoised sample leaving, at the earliest."""
        return self.kernel

    def criterion(self, denoised: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """``spectral``: ``compressed_spectrum_loss``; ``sisdr_loss``: minus the SI-SDR in dB, per clip then
        averaged; ``total`` = 70 x spectral + sisdr_loss / 10 (in the proportions of GTCRN's hybrid loss)."""
        spectral = compressed_spectrum_loss(denoised, clean, self.analysis)
        sisdr = -si_sdr_db(denoised, clean).mean()
        return {"total": 70 * spectral + sisdr / 10, "spectral": spectral, "sisdr_loss": sisdr}

    def init_state(self, batch: int = 1) -> list[torch.Tensor]:
        """Zeros: input history, running level (average, frame count), each bin's running mean (average,
        frame count), GRU state, the deep filter's past frames, the decoder's overlap-add tail."""
        p = self.analysis
        zeros = lambda *shape: torch.zeros(*shape, dtype=p.dtype, device=p.device)  # noqa: E731
        pad, features = self.kernel - self.stride, batch * self.channels * self.bins
        return [zeros(batch, self.channels, pad), zeros(batch, 1), zeros(batch, 1), zeros(features, 1),
                zeros(features, 1), zeros(self.layers, batch, self.hidden), zeros(batch * self.channels, self.df_order - 1, 2 * self.df_bins),
                zeros(batch, self.channels, pad)]

    def filters(self, log_power: torch.Tensor, state: list[torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        """(B, frames, channels * bins) log10 power -> gains in [0, 1] of the same shape, the deep filter's
        taps (B, frames, channels * df_bins * df_order * 2) or None, the new (level, bin means, GRU) state.
        The GRU reads the log spectrum relative to its running level and relative to each bin's running mean."""
        mean, count, bin_mean, bin_count, h = state
        b, frames, f = log_power.shape
        level, mean, count = running_mean(log_power.mean(-1), mean, count, self.alpha)
        by_bin = log_power.transpose(1, 2).reshape(b * f, frames)
        usual, bin_mean, bin_count = running_mean(by_bin, bin_mean, bin_count, self.bin_alpha)
        usual = usual.reshape(b, f, frames).transpose(1, 2)
        out, h = self.gru(self.embed(torch.cat([log_power - level[..., None], log_power - usual], dim=-1)), h)
        taps = self.deep_filter(out) if self.deep_filter is not None else None
        return self.mask(out), taps, [mean, count, bin_mean, bin_count, h]

    def _deep_filtered(self, re: torch.Tensor, im: torch.Tensor, taps: torch.Tensor, past: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sum over the last ``df_order`` frames of taps x spectrum in the ``df_bins`` lowest bins:
        (real, imaginary) parts (B*C, frames, df_bins), and the frames to carry to the next block."""
        bc, frames, d, order = re.shape[0], re.shape[1], self.df_bins, self.df_order
        history = torch.cat([past, torch.cat([re[..., :d], im[..., :d]], dim=-1)], dim=1)
        taps = taps.reshape(bc // self.channels, frames, self.channels, order, 2, d).transpose(1, 2)
        taps = taps.reshape(bc, frames, order, 2, d)
        out_re = out_im = 0
        for i in range(order):  # tap i reads the frame i hops back
            xr, xi = history[:, order - 1 - i:order - 1 - i + frames].chunk(2, dim=-1)
            hr, hi = taps[:, :, i, 0], taps[:, :, i, 1]
            out_re, out_im = out_re + hr * xr - hi * xi, out_im + hr * xi + hi * xr
        return out_re, out_im, history[:, history.shape[1] - (order - 1):]

    def stream_step(self, x: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Denoise the next (B, C, n * stride) samples; returns as many output samples and the new state."""
        b, c, n = x.shape
        if n % self.stride:
            raise ValueError(f"stream blocks must be a multiple of {self.stride} samples, got {n}")
        s, bins = self.stride, self.bins
        xin = torch.cat([state[0], x], dim=-1)
        # strided Conv1d with the STFT kernels, written as frames @ kernels (much faster for a few frames)
        spec = xin.reshape(b * c, -1).unfold(-1, self.kernel, s) @ self.analysis  # (B*C, frames, 2 * bins)
        re, im = spec.chunk(2, dim=-1)
        frames = spec.shape[1]
        power = (re * re + im * im).reshape(b, c, frames, bins).transpose(1, 2).reshape(b, frames, -1)
        gain, taps, net_state = self.filters(torch.log10(power + 1e-10), state[1:6])
        gain = gain.reshape(b, frames, c, bins).transpose(1, 2).reshape(b * c, frames, bins)
        out_re, out_im, past = re * gain, im * gain, state[6]
        if taps is not None:
            df_re, df_im, past = self._deep_filtered(re, im, taps, past)
            d = self.df_bins
            out_re = torch.cat([out_re[..., :d] + df_re, out_re[..., d:]], dim=-1)
            out_im = torch.cat([out_im[..., :d] + df_im, out_im[..., d:]], dim=-1)
        # ConvTranspose1d with the inverse kernels: each frame's second half overlap-adds onto the next
        # frame's first half; the last one is carried to the next block as the tail
        halves = (torch.cat([out_re, out_im], dim=-1) @ self.synthesis).reshape(b, c, frames, 2, s)
        first, second = halves[..., 0, :].reshape(b, c, n), halves[..., 1, :].reshape(b, c, n)
        y = first + torch.cat([state[-1], second[..., :n - s]], dim=-1)
        return y, [xin[..., n:], *net_state, past, second[..., n - s:]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Offline: (B, C, T) -> (B, C, T), aligned with the input: one stream step over the whole wave
        from a zero state, plus the final overlap-add tail, minus the ``stream_delay`` head."""
        n = x.shape[-1]  # one more hop of silence completes the overlap-add of the last sample
        y, state = self.stream_step(F.pad(x, (0, -n % self.stride + self.stride)), self.init_state(x.shape[0]))
        pad = self.stream_delay
        return torch.cat([y, state[-1]], dim=-1)[..., pad:pad + n]


AUDIO_DAE = Family("audio-dae", CausalDenoiser, "Audio denoiser that streams: GRU gains per frequency plus a deep "
                   "filter on the low bins, 20 ms frames (live use)", tiny={"hidden": 64, "layers": 1, "df_bins": 32},
                   kind="Audio denoiser")
AUDIO_DAE_SEED = Family("audio-dae-seed", SeedDenoisingAE, "The lecture's stereo denoising autoencoder (files only)",
                        tiny={"widths": [8, 16, 32]}, kind="Audio denoiser")
