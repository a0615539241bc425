"""Before the QApplication: can Qt's xcb platform plugin (X11) load here? If a system library it needs is
missing, Qt prints a vague hint and aborts the process; instead we ask ``ldd`` which libraries are not found
and say which Debian/Ubuntu packages provide them, in one line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from core.errors import LatentExplorerError

NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
SONAME = re.compile(r"^(lib.+?)\.so\.(\d+)")
PACKAGE_OF = {  # where Debian's package is not named after the library (see debian_package)
    **dict.fromkeys(("libglib-2.0", "libgthread-2.0", "libgobject-2.0"), "libglib2.0-0"),
    **dict.fromkeys(("libc", "libm", "libdl", "libpthread", "librt"), "libc6"),
    **dict.fromkeys(("libbrotlicommon", "libbrotlidec"), "libbrotli1"),
    "libGLdispatch": "libglvnd0", "libgcc_s": "libgcc-s1", "libz": "zlib1g"}
LDD_TIMEOUT_S = 30


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found``, each once, in order."""
    return list(dict.fromkeys(NOT_FOUND.findall(ldd_output)))


def debian_package(library: str) -> str:
    """The Debian package that ships ``library`` (``libxcb-icccm.so.4`` → ``libxcb-icccm4``): Debian names a
    library's package after its soname, lower case, with a hyphen before the version when the name ends in a
    digit (``libxkbcommon-x11.so.0`` → ``libxkbcommon-x11-0``); ``PACKAGE_OF`` holds the exceptions."""
    match = SONAME.match(library)
    if match is None:
        return library
    name, version = match.groups()
    if name in PACKAGE_OF:
        return PACKAGE_OF[name]
    name = name.lower()
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will try the xcb plugin first: on Linux, asked for (``QT_QPA_PLATFORM=xcb``), or by default
    under X11 (a Wayland session picks the wayland plugin)."""
    if not platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if asked:
        return asked == "xcb"
    return not (environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland")


def xcb_plugin() -> Path:
    import PySide6
    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def xcb_problem(plugin: Path | None = None) -> str | None:
    """What keeps the xcb plugin from loading, as one line naming the libraries and the packages to install;
    None if nothing does (or ``ldd`` or the plugin is not there to ask)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return None
    try:
        done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=LDD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    missing = missing_libraries(done.stdout)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(lib) for lib in missing))
    return (f"Qt's X11 platform plugin (xcb) cannot load: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; on Debian or Ubuntu install them with "
            f"`sudo apt-get install {packages}` (or run with QT_QPA_PLATFORM=wayland or offscreen)")


def check_xcb() -> None:
    """LatentExplorerError (one line: the missing libraries and how to install them) if Qt is about to use the
    xcb plugin and it cannot load."""
    if uses_xcb() and (problem := xcb_problem()):
        raise LatentExplorerError(problem)
