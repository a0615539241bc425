"""Learn my voice (core.audio.finetune): a voice split 80/20 in time, a normal audio run that starts from the
shipped weights and trains on the first part only, and the before/after figure on the held-out part."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.audio.finetune import HELD_OUT, Voice, finetune_run, held_out_mixtures, voice_gain
from core.audio.pretrained import load_default_denoiser
from core.errors import DataError
from core.train.checkpoint import load_checkpoint
from core.train.loop import TrainConfig
from denoiser_helpers import shipped_with_test_talkers


@pytest.fixture(scope="module")
def voice(shared_data) -> tuple[Voice, np.ndarray]:
    """A test talker's utterances (never heard by the shipped model) as one recording, at 48 kHz."""
    from core.audio.io import resample
    talkers = shipped_with_test_talkers(shared_data)[2]
    wave = np.concatenate(max(talkers, key=lambda t: sum(map(len, t))))
    at_48k = resample(wave, 16000, 48000)
    return Voice.from_array(at_48k, 48000), wave


def test_a_voice_is_split_in_time_and_bad_recordings_are_refused(voice, tmp_path):
    v, wave = voice
    assert v.rate == 16000 and abs(len(v.train) + len(v.held_out) - len(wave)) <= 2
    assert len(v.held_out) == pytest.approx(HELD_OUT * len(wave), abs=2)
    assert np.corrcoef(v.held_out[:8000], wave[-len(v.held_out):][:8000])[0, 1] > 0.99  # the end is held out
    with pytest.raises(DataError, match="too little"):
        Voice.from_array(np.ones(16000 * 5, np.float32), 16000)
    with pytest.raises(DataError, match="silent"):
        Voice.from_array(np.zeros(16000 * 20, np.float32), 16000)
    with pytest.raises(DataError, match="at least one"):
        Voice.from_files([])
    pieces = v.write_training_part(tmp_path / "voice")
    total = sum(len(__import__("soundfile").read(p)[0]) for p in pieces.glob("*.wav"))
    assert abs(total - len(v.train)) < 16000 // 2  # all of the training part (a last scrap may be dropped)


def test_finetuning_is_a_normal_run_from_the_shipped_weights_scored_on_the_held_out_voice(voice, tmp_path):
    v, _ = voice
    base, _ = load_default_denoiser()
    run = finetune_run(v, tmp_path / "run", epochs=2, config=TrainConfig(batch_size=4, lr=5e-4, device="cpu",
                                                                         log_every=1, preview_interval_s=1e9))
    assert run.config.epochs == 2 and run.model_config == base.config
    events = []
    trainer = run.build_trainer(events.append)
    for name, value in base.state_dict().items():  # it starts where the shipped model is
        assert torch.equal(trainer.model.state_dict()[name], value), name
    assert trainer.train() == "finished"
    assert not any(e["type"] == "error" for e in events)
    assert any(e["type"] == "metrics" and e["split"] == "val" for e in events)
    tuned, payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["train_state"]["step"] > 0
    assert any(not torch.equal(tuned.state_dict()[k], w) for k, w in base.state_dict().items())
    # the figure: the same mixtures of the held-out voice for every model
    first, again = held_out_mixtures(v), held_out_mixtures(v)
    assert len(first) == 12 and all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))
    before, after = voice_gain(base, v), voice_gain(tuned, v)
    print(f"held-out voice: shipped {before:+.1f} dB, after two short epochs {after:+.1f} dB")
    assert before > 3.0 and np.isfinite(after)


def test_the_default_length_is_a_few_minutes_of_steps(voice, tmp_path):
    v, _ = voice
    run = finetune_run(v, tmp_path / "run")
    assert run.noise_dir is None and "babble" not in run.mix.builtin  # no other talker to make babble of
    assert 1 <= run.config.epochs and run.init_state is not None
