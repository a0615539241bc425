"""Files written atomically (a temporary file renamed over the target) get the permissions any new file gets.

``tempfile.mkstemp`` makes its file readable by its owner only (mode 0600); renamed into place, a checkpoint, a
metrics log or a denoised recording would stay so. ``usual_mode`` gives it the mode ``open()`` would have given:
0666 less the process's umask.
"""
from __future__ import annotations

import os
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it (``os.umask`` sets it, racing other threads' new files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def usual_mode(path: str | Path) -> None:
    """Give ``path`` the mode a newly created file gets (0666 less the umask)."""
    os.chmod(path, 0o666 & ~umask())
