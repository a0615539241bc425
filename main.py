"""Latent Explorer: train generative models and look inside them.

    python main.py                       the app, on the embedded digits data set
    python main.py train --out DIR ...   headless training (see python main.py train --help)
"""
from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    from core.commands import COMMANDS
    p = argparse.ArgumentParser(prog="main.py", description="Latent Explorer: train generative models and look inside them.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--screenshot", metavar="PATH", help="open the window offscreen, train briefly, save a PNG and exit")
    p.add_argument("--panel", default="main", help="with --screenshot: which panel to capture (default: the whole window)")
    p.add_argument("--dataset", default="digits", help="data set the app opens with")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.command:
            from core.commands import COMMANDS
            return COMMANDS[args.command].run(args)
        from gui.app import run_app
        return run_app(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, unless --debug asks for the traceback
        if args.debug:
            raise
        from core.errors import LatentExplorerError
        prefix = "error" if isinstance(exc, LatentExplorerError) else f"error ({type(exc).__name__})"
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from core.threads import exit_code_after_threads
    sys.exit(exit_code_after_threads(main()))
