"""gui.tasks.Task: work off the UI thread, results back on the UI thread, nothing counted forever."""
from __future__ import annotations

import threading
import time

from PySide6.QtWidgets import QWidget

from core.errors import DataError
from gui.tasks import Task, running_tasks


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
