"""The GUI's threading layer: everything that runs off the UI thread and reports back to it.

- ``tasks``: ``Task`` runs one function in a worker thread and delivers its result by signal; ``on_ui_thread``
  hands a worker's call to the UI thread, holding its target weakly.
- ``jobs``: ``Job``, a cancellable task with progress.
- ``latest``: ``LatestOnly``, where only the newest request matters (sliders, morph strips).
- ``works``: the one way to run a session's ``core.sessions.Work``, through a task, a job or a latest-only
  runner: ``compute`` off the UI thread, ``apply`` back on it.
- ``collector``: garbage collection on the UI thread only, so no Qt object is destroyed off it.
"""
