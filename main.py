"""Latent Explorer: train generative models and look inside them.

    python main.py                       the app, on the embedded digits data set
    python main.py train --out DIR ...   headless training (see python main.py train --help)
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from core.commands import COMMANDS, load
from core.threads import bound_native_memory


class Terminated(BaseException):
    """SIGTERM ends a command the way Ctrl-C does (training saves first: see core/commands/train.py); like
    KeyboardInterrupt, not an error a command reports."""


def _terminate(_signum, _frame):
    raise Terminated


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, like every other error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The parser; ``commands``: those whose arguments are added (default all; their modules are imported)."""
    p = Parser(prog="main.py", description="Latent Explorer: train generative models and look inside them.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--screenshot", metavar="PATH", help="open the window offscreen, train briefly, save a PNG and exit")
    p.add_argument("--panel", default="main", help="with --screenshot: which panel to capture (default: the whole window)")
    p.add_argument("--dataset", default="digits", help="data set the app opens with")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, text in COMMANDS.items():
        command = sub.add_parser(name, help=text)
        if commands is None or name in commands:
            module = load(name)
            command.description = module.__doc__
            command.formatter_class = argparse.RawDescriptionHelpFormatter
            module.add_arguments(command)
    return p


def main(argv: list[str] | None = None) -> int:
    bound_native_memory()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = [a for a in argv if a in COMMANDS][:1]
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if command:  # from the start: the command's imports take seconds
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv, command)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, on_sigterm)


def _run(argv: list[str], command: list[str]) -> int:
    args = build_parser(command).parse_args(argv)
    args.argv = argv  # a command that starts itself again in other processes (train --nproc) passes it on
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.command:
            return load(args.command).run(args)
        from gui.app import run_app
        return run_app(args)
    except Exception as exc:  # one clear line, unless --debug asks for the traceback
        if args.debug:
            raise
        from core.errors import LatentExplorerError
        from models import SettingError
        prefix = "error" if isinstance(exc, (LatentExplorerError, SettingError)) else f"error ({type(exc).__name__})"
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from core.threads import exit_code_after_threads
    sys.exit(exit_code_after_threads(main()))
