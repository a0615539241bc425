"""Qt widgets of Latent Explorer. They talk to ``core`` only through ``gui.bridge`` and ``gui.context``."""
