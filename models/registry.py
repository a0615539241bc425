"""The registered families by name (filled in by ``models/__init__.py``), and building a model from a name
and a config dict: all that checkpoints, the command line and the form need."""
from __future__ import annotations

from .family import Family, SettingError

FAMILIES: dict[str, Family] = {}


def register(*families: Family) -> None:
    for f in families:
        if f.name in FAMILIES:
            raise ValueError(f"family {f.name!r} is registered twice")
        FAMILIES[f.name] = f


def family(name: str) -> Family:
    """The family called ``name``; SettingError naming the choices if there is none."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise SettingError(f"unknown model {name!r}; choose from {', '.join(FAMILIES)}") from None


def names(modality: str | None = None) -> list[str]:
    """Registered family names, of one modality ('image', 'audio') or all."""
    return [n for n, f in FAMILIES.items() if modality is None or f.capabilities.modality == modality]


def build_model(name: str, config: dict):
    """Model ``name`` from a config dict (its settings; checked, SettingError naming what is wrong)."""
    fam = family(name)
    model = fam.model(fam.settings(config))
    model.name = name
    return model
