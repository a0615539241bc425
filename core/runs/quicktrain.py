"""Train a model for a few seconds: demos and ``--screenshot`` need *a* trained model, not a good one."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from models import GenerativeModel

from ..image.data import ImageData, data_root, load_dataset, load_mat
from ..train.loop import Control, TrainConfig
from .recipe import image_run

#: The copy of the Olivetti faces next to the repository (``../shared/data``), for machines with no internet.
SHARED_FACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "olivetti" / "olivettifaces.mat"
#: A face VAE that shows recognisable morphs after half a minute of CPU training.
FACE_MODEL = ("vae", {"latent_dim": 32, "hidden": [512, 128], "beta": 0.1})
FACE_TRAINING = TrainConfig(epochs=300, batch_size=32, lr=2e-3, device="cpu")


def train_briefly(data: ImageData, source: str, model_name: str = "vae", seconds: float = 20.0,
                  config: TrainConfig | None = None, out_dir: Path | None = None, base: Path | None = None,
                  overwrite: bool = False, clock: Callable[[], float] = time.monotonic, cooldown: float = 0.0,
                  **settings) -> GenerativeModel:
    """Train ``model_name`` on ``data`` until ``config.epochs`` or ``seconds`` run out, whichever comes
    first; returns the model in eval mode on the CPU. Nothing is written to disk unless ``out_dir`` is given
    (then it gets the run's checkpoint.pt and metrics.jsonl; a run kept there is replaced only if
    ``overwrite``); ``base``: a latent diffusion's base checkpoint; ``clock``: what ``seconds`` are counted in
    (``time.process_time``: this process's CPU time, fair between runs on a shared machine); ``cooldown``: see
    ``train_for``."""
    config = config or TrainConfig(epochs=1000, device="cpu")
    return train_for(image_run(model_name, settings, data, source, config, out_dir, base), seconds, overwrite, clock,
                     cooldown)


def train_for(run, seconds: float, overwrite: bool = False, clock: Callable[[], float] = time.monotonic,
              cooldown: float = 0.0):
    """Train ``run`` (image or audio) until its epochs or ``seconds`` of ``clock`` run out; the model in eval mode
    on the CPU. ``cooldown``: the last share of ``seconds`` trains at a rate falling linearly to 0 (the decay of a
    warmup-stable-decay schedule), so a run that time cuts short ends annealed, as a cosine schedule ends a run of
    known length."""
    control, start = Control(), clock()

    def on_event(event: dict) -> None:
        done = (clock() - start) / seconds
        if done > 1:
            control.stop()
        elif cooldown > 0 and event.get("type") == "metrics":  # (a logged step: on the training thread)
            trainer.scale_rate(min(1.0, (1 - done) / cooldown))

    trainer = run.build_trainer(on_event, control)
    trainer.train(overwrite)
    return trainer.model.cpu().eval()


def load_faces() -> tuple[ImageData, str]:
    """The Olivetti faces and their source: a local copy if there is one (the data folder, then
    ``SHARED_FACES``), else scikit-learn's download."""
    for mat in (data_root() / "olivetti" / "olivettifaces.mat", SHARED_FACES):
        if mat.is_file():
            return load_mat(mat), str(mat)
    return load_dataset("olivetti"), "olivetti"


def faces_demo(seconds: float = 25.0) -> tuple[ImageData, str, GenerativeModel]:
    """(faces, their source, a face VAE trained for ``seconds``): the morph panel's default playground."""
    data, source = load_faces()
    name, overrides = FACE_MODEL
    return data, source, train_briefly(data, source, name, seconds, FACE_TRAINING, **overrides)
