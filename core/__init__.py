"""The Latent Explorer engine: data, training, checkpoints, metrics. Headless: no Qt widgets here."""
