"""Listeners of a session: the views that redraw when it changes. A session listens to the Workspace only
weakly, so that a session dropped with its panel stops hearing of it."""
from __future__ import annotations

import weakref
from typing import Callable

Listener = Callable[[str], None]


class Listeners:
    """The listeners of one session; ``notify(what)`` calls each with what changed."""

    def __init__(self):
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)


def weakly(method: Callable[[str], None]) -> Listener:
    """A listener that calls the bound ``method`` while its object lives, and does nothing after."""
    ref = weakref.WeakMethod(method)

    def listener(what: str) -> None:
        target = ref()
        if target is not None:
            target(what)
    return listener
