"""Headless sessions: the state and the engine calls behind each panel, driven by the GUI or by tests alike.

A ``Workspace`` holds what the panels share (the data set, the current model, named selections). A panel's
session (map, latent, morph, compare, setup) reads and changes it, and keeps its own state. Work that takes
time is a ``Work``: ``compute`` runs anywhere (the GUI runs it off the UI thread) and touches no session
state; ``apply`` stores its result in the session, on the session's own thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .workspace import Workspace


@dataclass
class Work:
    """A long operation of a session, split so that its slow part can run on another thread."""
    what: str  # what it is doing, for a status line
    compute: Callable[..., Any]  # pure: sees only ``args``, never the session
    args: tuple = ()
    apply: Callable[[Any], Any] = field(default=lambda result: result)  # stores the result; on the session's thread

    def run_here(self) -> Any:
        """Compute and apply on this thread (tests, the command line)."""
        return self.apply(self.compute(*self.args))


__all__ = ["Work", "Workspace"]
