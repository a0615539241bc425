"""``python main.py families``: the model families, what each can do, and its settings with defaults and
ranges (``--markdown``: the README's model list and tables, which are generated from it)."""
from __future__ import annotations

import argparse
import textwrap

from models import FAMILIES, Family


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--markdown", action="store_true", help="print Markdown tables (the README's)")


def _default(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def text(fam: Family) -> str:
    lines = [f"{fam.name}: {fam.summary}", f"  can: {fam.capabilities.summary()}; learning rate {fam.lr:g}"]
    for s in fam.specs(editable_only=True):
        where = s.describe_range()
        lines.append(f"  {s.flag:<16} {_default(s.default):<14} {s.help}" + (f" ({where})" if where else ""))
    return "\n".join(lines)


def model_list() -> str:
    """The families in one paragraph: each name with its declared kind (and its base model, if it needs one)."""
    names = [f"`{fam.name}` ({fam.kind}" + (", on a trained autoencoder or VAE: `--base`" if fam.needs_base else "") + ")"
             for fam in FAMILIES.values()]
    return textwrap.fill("Models: " + ", ".join(names) + ".", 116, break_long_words=False, break_on_hyphens=False) + "\n"


def tables() -> str:
    """One table per family: flag, default, allowed values, meaning."""
    parts = []
    for fam in FAMILIES.values():
        rows = [f"**`{fam.name}`** — {fam.summary}. Can: {fam.capabilities.summary()}; learning rate {fam.lr:g}.",
                "", "| setting | default | allowed | meaning |", "|---|---|---|---|"]
        rows += [f"| `{s.flag}` | {_default(s.default)} | {s.describe_range()} | {s.help} |"
                 for s in fam.specs(editable_only=True)]
        parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


def markdown() -> str:
    """The README's model list, then its tables."""
    return model_list() + "\n" + tables()


def run(args: argparse.Namespace) -> int:
    print(markdown() if args.markdown else "\n\n".join(text(f) for f in FAMILIES.values()))
    return 0
