"""A session's Works run from the GUI (gui/background/works.py): compute off the UI thread, apply on it."""
from __future__ import annotations

import threading

from core.errors import LatentExplorerError
from core.sessions import Work
from gui.background.works import LiveWork, start_work

WAIT_MS = 30_000


def test_live_work_applies_the_running_and_the_newest_work_only(qtbot):
    started, gate, applied, results = threading.Event(), threading.Event(), [], []

    def compute(i):
        if i == 0:
            started.set()
            gate.wait(10)
        return i * 10

    def work(i) -> Work:
        return Work(f"work {i}", compute, (i,), lambda value: (applied.append((threading.get_ident(), value)), i)[1])

    live = LiveWork("test-live")
    live.applied.connect(results.append)
    live.submit(work(0))
    assert started.wait(10)
    for i in range(1, 6):  # the hand keeps moving while the first one runs
        live.submit(work(i))
    live.submit(None)  # nothing to do: ignored
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT_MS)
    assert results == [0, 5] and [value for _, value in applied] == [0, 50]
    assert {ident for ident, _ in applied} == {threading.get_ident()}  # applied on the UI thread
    assert not live._works  # the dropped ones are forgotten

    failures = []
    live.failed.connect(lambda message, tb: failures.append((message, tb)))
    def broken():
        raise LatentExplorerError("no can do")

    live.submit(Work("broken", broken))
    qtbot.waitUntil(lambda: bool(failures), timeout=WAIT_MS)
    assert failures == [("no can do", "")] and not live._works


def test_start_work_hands_apply_s_answer_on(qtbot):
    answers, failures = [], []
    start_work(Work("double", lambda x: 2 * x, (21,), lambda value: f"got {value}"), None, answers.append,
               lambda message, tb: failures.append(message))
    qtbot.waitUntil(lambda: bool(answers), timeout=WAIT_MS)
    assert answers == ["got 42"] and not failures
