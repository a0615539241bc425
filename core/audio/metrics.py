"""Scale-invariant signal-to-distortion ratio (SI-SDR, Le Roux et al. 2019) and its improvement."""
from __future__ import annotations

import torch


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """SI-SDR in dB over the last axis (any leading shape); numpy arrays work too."""
    estimate, reference = torch.as_tensor(estimate).double(), torch.as_tensor(reference).double()
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    alpha = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * reference
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((estimate - target).pow(2).sum(-1) + eps))


def si_sdr_improvement(denoised, noisy, clean) -> tuple[float, float]:
    """(mean SI-SDR of ``denoised``, mean improvement over ``noisy``), both against ``clean``, in dB."""
    out, inp = si_sdr(denoised, clean), si_sdr(noisy, clean)
    return float(out.mean()), float((out - inp).mean())
