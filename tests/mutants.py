"""Mutants: the product broken on purpose, one way at a time, to show that the tests guarding a claim fail.

A *claim* is something the app promises (the denoiser denoises; each family's samples look like the data; Stop
works in a real window; a run survives being killed; the t-SNE map separates the classes). The tests that
guard a claim are named two ways, so that the list is easy to extend:

- a marker on the test: ``@pytest.mark.guards("denoises")``;
- or a node-id prefix in ``CLAIMS[claim].tests`` below (for tests written elsewhere: a whole file, a test, or
  one parameter of it; ``*`` stands for any text).

A *mutant* breaks one claim by monkeypatching the product (never its files). ``LATENT_EXPLORER_MUTANT=NAME``
makes a pytest session apply mutant NAME before any test module is imported (tests/conftest.py) and run only
the tests that guard its claim; a child process that runs the app (tests/real_window.py) applies it too
(``apply_from_environment``). ``python tests/run_mutants.py`` runs every mutant this way and prints the table
mutant → tests → caught. A mutant is caught when every test that guards its claim ran and failed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest

MUTANT_ENV = "LATENT_EXPLORER_MUTANT"
CLAIM_ENV = "LATENT_EXPLORER_CLAIM"  # only the tests guarding this claim run (no mutant needed)


@dataclass(frozen=True)
class Claim:
    what: str
    tests: tuple[str, ...] = ()  # node-id prefixes of the tests that guard it (besides ``guards`` markers)


@dataclass(frozen=True)
class Mutant:
    claim: str
    what: str
    apply: Callable[[pytest.MonkeyPatch], None] = field(repr=False)


# --- the denoiser ---------------------------------------------------------------------------------------
BAND_HZ = (100.0, 3600.0)
DENOISER_TESTS = (
    # (issue 18: the shipped model against noisereduce and the best band mask, +3 dB; its 4-8 kHz band)
    "tests/test_denoiser_quality.py::test_the_shipped_denoiser_beats_noisereduce_and_the_best_band_mask",
    "tests/test_denoiser_quality.py::test_the_4_to_8_khz_band_of_the_voice_survives",
    "tests/test_audio_train.py::test_trained_denoiser_beats_non_learned_baselines",
    "tests/test_audio_panel.py::test_without_sound_devices_the_panel_says_so_and_a_file_feeds_the_live_view",
    "tests/test_audio_panel.py::test_file_view_denoises_with_progress",
    "tests/test_audio_live.py::test_the_denoiser_works_at_a_sound_cards_rate",
    "tests/test_audio_live.py::test_a_minute_of_continuous_speech",
    "tests/test_audio_jack.py::test_speech_comes_through_the_sound_server_denoised",
    "tests/test_audio_send.py::test_other_apps_hear_the_denoised_voice",
)


def _fixed_gains(mp: pytest.MonkeyPatch, band: tuple[float, float] | None) -> None:
    """The trained streaming denoiser's learned per-bin gains replaced by fixed ones (1 inside ``band``, 0 outside;
    all 1 for None: the identity), and no deep filter, wherever it is used (in eval mode; training is untouched);
    its STFT, delay and state stay as they are. Works on the
    model's ``gains`` (gains, state) or ``filters`` (gains, taps, state) method, whichever it has."""
    import torch

    from models import audio_dae

    cls = audio_dae.CausalDenoiser
    name = "filters" if hasattr(cls, "filters") else "gains"
    learned = getattr(cls, name)

    def fixed(self, log_power, state):
        out = learned(self, log_power, state)
        if self.training:  # (it trains as it would: the gains are replaced in the trained model's use)
            return out
        gains = out[0]
        hz = torch.arange(self.bins, device=gains.device) * self.sample_rate / self.kernel
        mask = torch.ones_like(hz) if band is None else ((hz >= band[0]) & (hz <= band[1])).to(hz.dtype)
        gains = mask.to(gains.dtype).repeat(gains.shape[-1] // self.bins).expand_as(gains)
        return (gains, None, out[-1]) if len(out) == 3 else (gains, out[-1])
    mp.setattr(cls, name, fixed)


# --- image families ---------------------------------------------------------------------------------------
def _untrained(family_name: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Training that changes nothing: the family's optimisers never step (its model stays as built)."""
    def apply(mp: pytest.MonkeyPatch) -> None:
        from models import family
        cls = family(family_name).model
        configure = cls.configure_optimizers

        def frozen(self, lr):
            optimizers = configure(self, lr)
            for opt in optimizers.values():
                opt.step = lambda closure=None: None
            return optimizers
        mp.setattr(cls, "configure_optimizers", frozen)
    return apply


def _image_families() -> list[str]:
    """The image families that sample (the others have no sample quality to lose)."""
    from models import family, names
    return [n for n in names("image") if family(n).capabilities.samples]


# --- the GUI, runs, maps --------------------------------------------------------------------------------
def _raising_stop(mp: pytest.MonkeyPatch) -> None:
    """The Training panel's Stop button runs a slot that raises (as a TypeError in its slot would)."""
    from gui.training_panel import TrainingPanel
    built = TrainingPanel.__init__

    def init(self, *args, **kwargs):
        built(self, *args, **kwargs)
        self.stop_button.clicked.disconnect()

        def stop(_checked=False):
            raise TypeError("mutant: the Stop slot raises")
        self.stop_button.clicked.connect(stop)
    mp.setattr(TrainingPanel, "__init__", init)


def _never_interrupted(mp: pytest.MonkeyPatch) -> None:
    """Signals sent to child processes never arrive: every run goes on to its end."""
    import subprocess
    mp.setattr(subprocess.Popen, "send_signal", lambda self, sig: None)


def _random_tsne(mp: pytest.MonkeyPatch) -> None:
    """t-SNE returns random points (right shape, finite, spread out)."""
    import numpy as np

    from core.image import projection
    project = projection.project

    def random_map(x, method, *args, **kwargs):
        if method != "tsne":
            return project(x, method, *args, **kwargs)
        return np.random.default_rng(0).standard_normal((len(x), 2)).astype(np.float32)
    mp.setattr(projection, "project", random_map)


# --- the registry ---------------------------------------------------------------------------------------
CLAIMS: dict[str, Claim] = {
    "denoises": Claim("the denoiser beats the best fixed band mask by 3 dB", DENOISER_TESTS),
    "stop-works": Claim("Stop, clicked in the real window or offscreen, stops the run",
                        ("tests/test_real_window.py", "tests/test_click_through.py::test_stop_pause_and_cancel")),
    "survives-kill": Claim("a killed, terminated or interrupted run resumes to an uninterrupted run's rows",
                           ("tests/test_reliability.py::test_killed_terminated_and_interrupted_runs",)),
    "tsne-separates": Claim("the t-SNE map separates the digit classes (5-NN >= 0.8)"),
}
MUTANTS: dict[str, Mutant] = {
    "identity-denoiser": Mutant("denoises", "the denoiser's gains are all 1 (it passes the noise through)",
                                lambda mp: _fixed_gains(mp, None)),
    "band-mask": Mutant("denoises", f"a fixed {BAND_HZ[0]:.0f}-{BAND_HZ[1]:.0f} Hz band mask in place of the "
                        "learned gains", lambda mp: _fixed_gains(mp, BAND_HZ)),
    "raising-stop": Mutant("stop-works", "the Training panel's Stop slot raises a TypeError", _raising_stop),
    "never-interrupted": Mutant("survives-kill", "no signal reaches the training process", _never_interrupted),
    "random-tsne": Mutant("tsne-separates", "t-SNE returns random points", _random_tsne),
}
#: Each family that samples draws nearer the data than its untrained self (Fréchet distance <= 0.5 x): issue
#: 20's tests; ``*`` stands for any text. Add node ids here or mark tests ``@pytest.mark.guards("quality:FAMILY")``.
QUALITY_TESTS = ("tests/test_generation_quality.py::test_a_briefly_trained_model_halves_its_untrained_distance*[{name}]",)
EXTRA_QUALITY_TESTS = {"gan": ("tests/test_zoo.py::test_gan_trains_both_players",)}
for _name in _image_families():
    CLAIMS[f"quality:{_name}"] = Claim(f"{_name}'s samples are nearer the data than its untrained self's",
                                       (*(t.format(name=_name) for t in QUALITY_TESTS),
                                        *EXTRA_QUALITY_TESTS.get(_name, ())))
    MUTANTS[f"untrained-{_name}"] = Mutant(f"quality:{_name}", f"a {_name} whose training changes nothing",
                                           _untrained(_name))


def guards(item: pytest.Item, claim: str) -> bool:
    """Whether test ``item`` guards ``claim`` (its marker, or a prefix in ``CLAIMS``)."""
    if any(m.args and m.args[0] == claim for m in item.iter_markers("guards")):
        return True
    return any(re.match(".*".join(map(re.escape, prefix.split("*"))), item.nodeid) for prefix in CLAIMS[claim].tests)


def active() -> Mutant | None:
    """The mutant named in ``$LATENT_EXPLORER_MUTANT``, if any (an unknown name is an error)."""
    name = os.environ.get(MUTANT_ENV)
    if not name:
        return None
    if name not in MUTANTS:
        raise SystemExit(f"error: {MUTANT_ENV}={name}: no such mutant; mutants: {', '.join(MUTANTS)}")
    return MUTANTS[name]


def selected_claim() -> str | None:
    """The claim whose guarding tests alone run: the active mutant's, or ``$LATENT_EXPLORER_CLAIM``."""
    mutant = active()
    claim = mutant.claim if mutant else os.environ.get(CLAIM_ENV) or None
    if claim is not None and claim not in CLAIMS:
        raise SystemExit(f"error: {CLAIM_ENV}={claim}: no such claim; claims: {', '.join(CLAIMS)}")
    return claim


def apply_from_environment() -> pytest.MonkeyPatch | None:
    """Apply the mutant named in the environment to this process, for good (a child process the tests start)."""
    mutant = active()
    if mutant is None:
        return None
    patch = pytest.MonkeyPatch()
    mutant.apply(patch)
    return patch
