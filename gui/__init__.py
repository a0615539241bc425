"""Qt widgets of Latent Explorer: they draw and forward input, nothing more.

The rule (checked by tests/test_architecture.py): a panel shows a headless session of ``core.sessions`` and
forwards the user's input to it; what takes time runs off the UI thread through ``gui.background``, and
training through ``gui.bridge``; no module here imports torch. ``core`` and ``models`` never import Qt.
"""
