"""The shipped denoiser and recordings of talkers it never heard (the test talkers of its own training
run's split of ../shared/data/speech16k), for the denoising tests."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from core.audio.dataset import MixConfig, SpeechNoiseData, talker_of
from core.audio.evaluate import long_recording
from core.audio.noise import builtin_noise
from core.audio.pretrained import load_default_denoiser


@functools.lru_cache(maxsize=None)
def shipped_with_test_talkers(shared_data: Path):
    """(the shipped model, its data split, the test talkers' clips grouped by talker)."""
    model, payload = load_default_denoiser()
    state = payload["train_state"]
    speech = shared_data / "speech16k"
    data = SpeechNoiseData.load(speech, shared_data / "noise", model.sample_rate, 1,
                                MixConfig.from_dict(state["mix"]), seed=state["config"]["seed"])
    groups: dict[str, list[np.ndarray]] = {}
    for path, wave in zip(data.test_files, data.test_speech):
        groups.setdefault(talker_of(Path(path), speech), []).append(wave)
    return model, data, [groups[k] for k in sorted(groups)]


def unheard_recording(shared_data: Path, noise: str, snr_db: float, seconds: float = 6.0,
                      talker: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) (1, T): one test talker speaking continuously in ``noise`` at ``snr_db``: the held-out
    end of a noise file, or ``babble`` of the other test talkers."""
    model, data, talkers = shipped_with_test_talkers(shared_data)
    rng = np.random.default_rng([talker, int(snr_db)])
    n = int(seconds * data.rate)
    if noise == "babble":
        others = [c for j, group in enumerate(talkers) if j != talker for c in group]
        wave = builtin_noise("babble", n, data.rate, rng, others)
    else:
        wave = data.noise(noise, n, rng, val=True)
    return long_recording(talkers[talker], wave, snr_db, data.rate, rng)
