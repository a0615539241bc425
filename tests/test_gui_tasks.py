"""gui.background.tasks.Task: work off the UI thread, results back on the UI thread, nothing counted forever."""
from __future__ import annotations

import threading
import time
import weakref

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QWidget

from core.errors import Cancelled, DataError
from core.threads import running_threads
from gui.background.collector import UiThreadCollector
from gui.background.tasks import Task, on_ui_thread, running_tasks


def test_result_arrives_on_the_ui_thread(qtbot):
    seen = {}

    def work(x):
        seen["worker"] = threading.current_thread()
        return x * 2

    task = Task(work, 21)
    with qtbot.waitSignal(task.done, timeout=10_000) as signal:
        task.start()
    assert signal.args == [42]
    assert seen["worker"] is not threading.main_thread()
    assert running_tasks() == 0


def test_user_errors_come_without_traceback_and_bugs_with_one(qtbot):
    def bad_data():
        raise DataError("x.npz: no 'images' array")

    def bug():
        return [][1]

    user = Task(bad_data)
    with qtbot.waitSignal(user.failed, timeout=10_000) as signal:
        user.start()
    assert signal.args == ["x.npz: no 'images' array", ""]
    crash = Task(bug)
    with qtbot.waitSignal(crash.failed, timeout=10_000) as signal:
        crash.start()
    assert signal.args[0].startswith("IndexError") and "Traceback" in signal.args[1]
    assert running_tasks() == 0


def test_a_task_whose_parent_is_deleted_delivers_nothing_and_is_not_counted(qtbot):
    owner = QWidget()
    release = threading.Event()
    delivered = []
    task = Task(lambda: release.wait(10) and "late", parent=owner)
    task.done.connect(delivered.append)
    task.start()
    assert running_tasks() == 1
    owner.deleteLater()
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=5_000)
    release.set()
    time.sleep(0.1)
    qtbot.wait(100)
    assert delivered == [] and running_tasks() == 0


def test_background_work_may_not_hold_qt_objects(qtbot):
    # A worker that drops the last reference to a Qt object destroys it on the worker thread, which
    # deadlocks against the UI thread; so such work is refused up front.
    import functools

    from gui.background.latest import LatestOnly
    widget = QWidget()
    qtbot.addWidget(widget)

    def report(fraction, progress):
        return fraction

    for fn, args in [(widget.setWindowTitle, ("x",)), (lambda: widget.isVisible(), ()),
                     (report, (0.5, widget.setWindowTitle)),
                     (functools.partial(report, progress=widget.update), (0.5,))]:
        with pytest.raises(TypeError, match="must not hold Qt objects"):
            Task(fn, *args)
        with pytest.raises(TypeError, match="must not hold Qt objects"):
            LatestOnly().submit("tag", fn, *args)
    assert running_tasks() == 0
    Task(report, 0.5, on_ui_thread(widget.setWindowTitle))  # the way to report back is allowed


def test_on_ui_thread_runs_there_and_holds_its_object_weakly(qtbot):
    class Receiver(QObject):
        def __init__(self):
            super().__init__()
            self.calls = []

        def take(self, value):
            self.calls.append((value, threading.current_thread() is threading.main_thread()))

    receiver = Receiver()
    calls, call = receiver.calls, on_ui_thread(receiver.take)
    worker = threading.Thread(target=call, args=(7,))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: calls == [(7, True)], timeout=5_000)
    alive = weakref.ref(receiver)
    del receiver
    assert alive() is None  # the stand-in did not keep it
    worker = threading.Thread(target=call, args=(8,))
    worker.start()
    worker.join()
    qtbot.wait(50)
    assert calls == [(7, True)]  # delivered to nobody, quietly


def test_latest_only_keeps_no_thread_while_idle(qtbot):
    from gui.background.latest import LatestOnly
    runner = LatestOnly("idle-check")
    results = []
    runner.done.connect(lambda tag, value: results.append(value))
    for i in range(3):
        runner.submit(i, pow, i, 2)
        qtbot.waitUntil(lambda: len(results) == i + 1, timeout=5_000)
        qtbot.waitUntil(lambda: "idle-check" not in running_threads(), timeout=5_000)
    assert results == [0, 1, 4]


def wait_for_cancel(*, progress, cancel):
    """A job that runs until cancelled."""
    while not cancel.wait(0.01):
        progress(-1, "busy")
    raise Cancelled()


def test_jobs_are_cancelled_when_their_parent_goes_or_the_window_closes(qtbot, window):
    from gui.background.jobs import Job
    owner = QWidget()
    orphaned = Job(wait_for_cancel, parent=owner).start()
    event = orphaned.cancel_event
    in_window = Job(wait_for_cancel, parent=window.panels["map"]).start()
    qtbot.waitUntil(lambda: running_threads().count("task-wait_for_cancel") == 2, timeout=5_000)
    owner.deleteLater()
    qtbot.waitUntil(lambda: event.is_set() and running_threads().count("task-wait_for_cancel") == 1, timeout=5_000)
    assert not in_window.cancel_event.is_set()
    window.close()  # as when the user quits while a map is being computed
    qtbot.waitUntil(lambda: "task-wait_for_cancel" not in running_threads(), timeout=5_000)


@pytest.mark.parametrize("runner, ends", [("task", "done"), ("task", "failed"), ("job", "done"), ("job", "failed"),
                                         ("job", "cancelled")])
def test_a_finished_task_or_job_lets_go_of_its_work_though_it_stays_a_child_of_its_panel(qtbot, runner, ends):
    # Each finished task used to keep its Work (a session's models and data) for the life of its panel: the
    # monkey saw the app's memory grow by every result ever delivered (issue 21). The task itself stays (~5 kB):
    # deleted after delivery (deleteLater), tasks crashed Qt in ~QObject at once in tests/test_audio_panel.py;
    # handed to Python instead (setParent(None)), they were part of a build that segfaulted in CI.
    from core.sessions import Work
    from gui.background.works import start_job, start_work

    class Held:
        pass

    panel, held, seen = QWidget(), Held(), []
    qtbot.addWidget(panel)

    def compute(*_args, **_keywords):
        if ends == "failed":
            raise DataError("no")
        return 1

    work = Work("test", compute, (), apply=lambda result, held=held: result)
    start = start_work if runner == "task" else start_job
    runner_ = start(work, panel, applied=seen.append, failed=lambda message, _tb: seen.append(message))
    if ends == "cancelled":
        runner_.cancelled.connect(lambda: seen.append("cancelled"))
        runner_.cancel()
    qtbot.waitUntil(lambda: seen == [{"done": 1, "failed": "no", "cancelled": "cancelled"}[ends]], timeout=5_000)
    gone = weakref.ref(held)
    del work, held
    assert runner_.parent() is panel and gone() is None


def test_garbage_holding_qt_objects_is_collected_on_the_ui_thread_only(qtbot):
    # Collected on a worker thread, a Qt object in a reference cycle would be destroyed there, which can
    # deadlock against the UI thread; the app collects on a UI-thread timer instead (gui/collector.py).
    import gc
    assert not gc.isenabled()
    where = []

    class Garbage(QObject):
        def __del__(self):
            where.append(threading.current_thread().name)

    garbage = Garbage()
    garbage.cycle = garbage
    born_in = [g for g in range(3) if any(o is garbage for o in gc.get_objects(g))]
    del garbage
    kept = []
    busy = threading.Thread(target=lambda: kept.extend([] for _ in range(5_000)), name="allocating-worker")
    busy.start()
    busy.join()  # enough new objects to set the collector off, had it been automatic
    assert where == [] and gc.get_count()[0] > gc.get_threshold()[0]
    timer = QApplication.instance().findChild(UiThreadCollector).timer
    try:
        qtbot.waitUntil(lambda: where == [threading.main_thread().name], timeout=20_000)
    except qtbot.TimeoutError:
        raise AssertionError(f"collected on {where}; counts {gc.get_count()}, timer active {timer.isActive()}, "
                             f"garbage in generation {born_in}") from None


def test_a_full_collection_sets_its_survivors_aside_and_a_thorough_one_scans_them_again(monkeypatch):
    # Scanning every long-lived object again at each full collection stalled the UI thread 30-50 ms a time while
    # a run trained (issue 22 item 9).
    import gc

    from gui.background import collector
    gc.unfreeze()
    monkeypatch.setattr(gc, "get_count", lambda: (0, 0, 11))  # a full collection is due
    monkeypatch.setattr(collector.UiThreadCollector, "_thorough_at", collector.time.monotonic() + 60)
    try:
        kept = [[] for _ in range(20_000)]
        collector.UiThreadCollector.collect_due()
        assert gc.get_freeze_count() >= len(kept)  # set aside: the next full collection does not scan them
        garbage = [[] for _ in range(1_000)]
        garbage.append(garbage)  # a cycle among objects that came later: still collected at once
        del garbage
        assert collector.UiThreadCollector.collect_due() >= 1_000
        monkeypatch.setattr(collector.UiThreadCollector, "_thorough_at", 0.0)  # time for a thorough one
        frozen = gc.get_freeze_count()
        kept.append(kept)  # a cycle among objects set aside
        del kept
        assert collector.UiThreadCollector.collect_due() >= 20_000 and gc.get_freeze_count() < frozen
    finally:
        gc.unfreeze()


def test_set_aside_exempts_what_exists_now_from_collections_without_scanning_it():
    import gc

    from gui.background import collector
    gc.unfreeze()
    try:
        made = [[] for _ in range(50_000)]  # as the modules a run's start imports
        collector.set_aside()
        assert gc.get_freeze_count() >= len(made) and len(gc.get_objects(2)) < len(made)
    finally:
        gc.unfreeze()
