"""What a model family declares: its settings and what its models can do.

A family file declares a ``Settings`` dataclass whose fields are made with ``setting`` (default, one line
of help, range or choices), sets its model class's ``capabilities``, and defines a ``Family`` for each
registered name; one line in ``models/__init__.py`` registers it. The Setup form, the command line's
flags, checkpoint validation and the README's table are generated from these declarations, and every
consumer asks ``capabilities`` instead of probing attributes.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

KINDS = ("int", "float", "bool", "choice", "ints", "floats", "shape", "other")


class SettingError(ValueError):
    """A setting is unknown, of the wrong type or out of its range; the message names it."""


@dataclass(frozen=True)
class Capabilities:
    """What a family's models can do."""
    modality: Literal["image", "audio"] = "image"
    encodes: bool = False  # images -> latent codes (maps, sliders, morphs)
    encodes_slowly: bool = False  # encoding searches for the code (GAN inversion, DDIM inversion): seconds a batch
    decodes: bool = False  # codes -> images
    samples: bool = False  # draws images from a prior
    reconstructs: bool = False  # decode(encode(x)) approximates x: R² and reconstructions
    posterior: bool = False  # a distribution q(z|x) whose decodes show where the model is unsure (VAEs)
    likelihood: Literal["", "exact", "bound"] = ""  # bits/dim: exact (flows) or an upper bound (VAEs)
    iterative: bool = False  # samples in denoising steps that can be watched and counted (diffusion)
    streams: bool = False  # audio: denoises block by block with carried state (the live view)

    def summary(self) -> str:
        """The capabilities that hold, as words: 'encodes, decodes, samples'."""
        words = [name.replace("_", " ") for name, value in dataclasses.asdict(self).items()
                 if value is True]
        if self.likelihood:
            words.append(f"{self.likelihood} likelihood")
        return ", ".join(words)


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None, label: str = "",
            derived: bool = False, required: bool = False) -> Any:
    """A field of a family's ``Settings``: its default, one line of help, and its allowed range (numbers, and
    each number of a list). ``derived`` settings come from the data or another control (image shape, data
    statistics, a base model), never from the user; ``required`` ones have no usable default."""
    meta = {"help": help, "low": low, "high": high, "label": label, "derived": derived, "required": required}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SettingSpec:
    """One setting as the form, the command line and the README see it."""
    name: str
    kind: str  # one of KINDS
    default: Any
    help: str
    label: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    derived: bool = False
    required: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe_range(self) -> str:
        """'one of a, b', '≥ 1', '0 … 1' or ''."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is not None and self.high is not None:
            return f"{self.low:g} … {self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        return f"≤ {self.high:g}" if self.high is not None else ""

    def check(self, value: Any) -> Any:
        """``value`` in this setting's type (lists as tuples), checked against its range; else SettingError."""
        try:
            return _CHECKS[self.kind](self, value)
        except SettingError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise SettingError(f"{self.name} is not valid: {exc}") from exc

    def parse(self, text: str) -> Any:
        """A value typed as text (the command line, ``--set``, a text field): JSON, else words or numbers
        separated by spaces or commas; checked like ``check``."""
        text = text.strip()
        try:
            value = json.loads(text)
        except ValueError:
            parts = [p for p in re.split(r"[,\s]+", text) if p]
            value = text if self.kind in ("choice", "other") or len(parts) <= 1 else parts
            if self.kind in ("ints", "floats", "shape") and isinstance(value, str):
                value = [value]
        if self.kind in ("ints", "floats", "shape") and isinstance(value, list):
            value = [_number(v, self) for v in value]
        elif self.kind in ("int", "float") and isinstance(value, str):
            value = _number(value, self)
        elif self.kind == "bool" and isinstance(value, str):
            value = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}.get(
                value.lower(), value)
        return self.check(value)


def _number(text: Any, spec: SettingSpec) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return float(text) if re.search(r"[.eEnN]", text) else int(text)
    except ValueError:
        raise SettingError(f"{spec.name} must be a number, got {text!r}") from None


def _in_range(spec: SettingSpec, x: float) -> None:
    if not math.isfinite(x):
        raise SettingError(f"{spec.name} must be a finite number, got {x}")
    if spec.low is not None and x < spec.low:
        raise SettingError(f"{spec.name} must be at least {spec.low:g}, got {x:g}")
    if spec.high is not None and x > spec.high:
        raise SettingError(f"{spec.name} must be at most {spec.high:g}, got {x:g}")


def _int(spec: SettingSpec, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(f"{spec.name} must be a whole number, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise SettingError(f"{spec.name} must be a whole number, got {value!r}")
    _in_range(spec, value)
    return int(value)


def _float(spec: SettingSpec, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(f"{spec.name} must be a number, got {value!r}")
    _in_range(spec, float(value))
    return float(value)


def _bool(spec: SettingSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingError(f"{spec.name} must be true or false, got {value!r}")
    return value


def _choice(spec: SettingSpec, value: Any) -> str:
    if value not in spec.choices:
        raise SettingError(f"{spec.name} must be one of {', '.join(spec.choices)}, got {value!r}")
    return value


def _sequence(spec: SettingSpec, value: Any, item) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise SettingError(f"{spec.name} must be a list of numbers, e.g. 32 64, got {value!r}")
    return tuple(item(spec, v) for v in value)


def _shape(spec: SettingSpec, value: Any) -> tuple[int, int, int]:
    shape = _sequence(spec, value, _int)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise SettingError(f"{spec.name} must be [channels, height, width] with 1 or 3 channels, got {value!r}")
    return shape


_CHECKS = {"int": _int, "float": _float, "bool": _bool, "choice": _choice,
           "ints": lambda s, v: _sequence(s, v, _int), "floats": lambda s, v: _sequence(s, v, _float),
           "shape": _shape, "other": lambda s, v: copy.deepcopy(v)}


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    """A field's annotation -> (kind, choices)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "choice", tuple(args)
    if origin is tuple:
        if args == (int, int, int):
            return "shape", ()
        return ("ints" if args[0] is int else "floats"), ()
    return {int: "int", float: "float", bool: "bool"}.get(annotation, "other"), ()


@dataclass(frozen=True)
class Settings:
    """Base of every family's settings. Instances are validated and immutable; ``to_dict`` is the JSON-able
    form checkpoints keep and ``from_dict`` rebuilds (and checks) it."""

    @classmethod
    @functools.cache
    def specs(cls) -> tuple[SettingSpec, ...]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            kind, choices = _kind(hints[f.name])
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            m = f.metadata
            out.append(SettingSpec(f.name, kind, _jsonable(default), m.get("help", ""),
                                   m.get("label") or f.name.replace("_", " ").capitalize(), m.get("low"),
                                   m.get("high"), choices, m.get("derived", False), m.get("required", False)))
        return tuple(out)

    @classmethod
    def spec(cls, name: str) -> SettingSpec:
        for s in cls.specs():
            if s.name == name:
                return s
        raise SettingError(f"unknown setting {name!r}; known: {', '.join(s.name for s in cls.specs())}")

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Checked settings from a dict (a checkpoint's config, the form, the command line); missing ones
        take their defaults."""
        known = {s.name: s for s in cls.specs()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SettingError(f"unknown setting {unknown[0]!r}; known: {', '.join(known)}")
        checked = {}
        for name, spec in known.items():
            value = values.get(name)
            if value is None:
                if spec.required:
                    raise SettingError(f"{name}: missing ({spec.help})")
                continue
            checked[name] = spec.check(value)
        settings = cls(**checked)
        settings.check()
        return settings

    def check(self) -> None:
        """Checks across settings (e.g. a kernel that must be even); raise SettingError."""

    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> "Settings":
        return type(self).from_dict({**self.to_dict(), **changes})


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return copy.deepcopy(value)


@dataclass(frozen=True)
class ImageSettings(Settings):
    """Settings every image family has: the image shape, taken from the data set."""
    image_shape: tuple[int, int, int] = setting(None, "taken from the data set: [channels, height, width]",
                                                derived=True, required=True)


@dataclass(frozen=True)
class Family:
    """A registered family: a name (what checkpoints, the command line and the form call it), the model class,
    what the family fixes or changes of the class's settings, and what it declares of itself (its kind, whether
    it works on a trained base model)."""
    name: str
    model: type  # has ``Settings`` and ``capabilities`` class attributes
    summary: str  # one line for menus and help
    defaults: dict = field(default_factory=dict)  # this family's defaults over the class's
    fixed: dict = field(default_factory=dict)  # settings this family pins (not shown, not settable)
    lr: float = 2e-3  # the Adam learning rate it trains well with
    tiny: dict = field(default_factory=dict)  # settings that build and train in a blink (tests, demos)
    kind: str = ""  # what it is, in a word or two: 'GAN', 'Variational autoencoder' (every family says)
    needs_base: bool = False  # trains on a trained autoencoder's or VAE's codes: its checkpoint is the ``base``

    @property
    def capabilities(self) -> Capabilities:
        return self.model.capabilities

    def specs(self, *, editable_only: bool = False) -> list[SettingSpec]:
        """The settings of this family with its defaults; ``editable_only`` leaves out fixed and derived ones."""
        out = []
        for s in self.model.Settings.specs():
            if s.name in self.fixed or (editable_only and s.derived):
                continue
            out.append(dataclasses.replace(s, default=self.defaults.get(s.name, s.default)))
        return out

    def settings(self, values: dict) -> Settings:
        """Checked settings from ``values`` over this family's defaults; a pinned setting cannot change."""
        for name, value in self.fixed.items():
            if name in values and values[name] != value:
                raise SettingError(f"{name}: {self.name} models always have {name} = {value!r}")
        try:
            return self.model.Settings.from_dict({**self.defaults, **values, **self.fixed})
        except SettingError as exc:
            raise SettingError(f"{self.name}: {exc}") from None
