"""Sampling time measured the way a benchmark measures it, so that the same model gives the same figure again.

A warm-up batch first (allocations, lazy initialisations, caches), then ``repeats`` batches of the same size;
the figure is the median per image and its spread the fastest and slowest repetition. Each batch is timed in
the CPU time of the calling thread with torch held to that one thread: work in the app's other threads
(training, maps, previews) and in other processes does not count, where a wall clock would charge it all to
the model (issue 22: 0.001 then 0.19 ms per image for one VAE).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from models import GenerativeModel

TIMING_BATCH, TIMING_REPEATS = 50, 5


@dataclass(frozen=True)
class Timing:
    ms_per_image: float  # the median over the repetitions
    low: float  # the fastest repetition, ms per image
    high: float  # the slowest


def sampling_time(model: GenerativeModel, batch: int = TIMING_BATCH, repeats: int = TIMING_REPEATS,
                  seed: int = 0) -> Timing:
    """CPU milliseconds per image of ``model.sample`` on one core (a model on the CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    try:
        with torch.no_grad():
            model.sample(batch, generator=gen)
            times = []
            for _ in range(max(1, repeats)):
                start = time.thread_time()
                model.sample(batch, generator=gen)
                times.append(1000 * (time.thread_time() - start) / batch)
    finally:
        torch.set_num_threads(threads)
    return Timing(float(np.median(times)), min(times), max(times))
