"""Audio denoising engine: file I/O and resampling, noise and mixtures, training, streaming, offline use."""
