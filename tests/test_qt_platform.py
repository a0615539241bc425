"""When Qt's xcb plugin cannot load, the app names the missing libraries and the packages to install (from
``ldd`` of the plugin) in one line and exits non-zero, instead of Qt's abort."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gui.qt_platform import debian_package, missing_libraries, uses_xcb, xcb_plugin, xcb_problem

ROOT = Path(__file__).resolve().parents[1]
LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f4d)
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f4d)
"""


def test_the_libraries_ldd_does_not_find_are_listed_once_in_order():
    assert missing_libraries(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libxcb-keysyms.so.1"]
    assert missing_libraries("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n") == []


@pytest.mark.parametrize("library, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libX11-xcb.so.1", "libx11-xcb1"), ("libEGL.so.1", "libegl1"),
    ("libdbus-1.so.3", "libdbus-1-3"), ("libglib-2.0.so.0", "libglib2.0-0"), ("libz.so.1", "zlib1g")])
def test_libraries_map_to_debian_packages(library, package):
    assert debian_package(library) == package


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system")
def test_every_library_of_the_plugin_maps_to_the_package_dpkg_says_ships_it():
    out = subprocess.run(["ldd", str(xcb_plugin())], capture_output=True, text=True, check=True).stdout
    libraries = [(lib, path) for lib, path in re.findall(r"^\s*(\S+) => (/\S+)", out, re.M) if "PySide6" not in path]
    paths = {p for _, path in libraries for p in (path, os.path.realpath(path))}
    owners = {}  # path -> packages (one dpkg call: `dpkg -S` answers "package:arch: path" per path it knows)
    for line in subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout.splitlines():
        package, _, path = line.partition(": ")
        owners.setdefault(path, set()).add(package.split(":")[0])
    checked = 0
    for library, path in libraries:
        shipped_by = owners.get(path, set()) | owners.get(os.path.realpath(path), set())
        assert shipped_by, f"no package ships {path}"
        assert debian_package(library) in shipped_by, library
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("environ, platform, expected", [
    ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"DISPLAY": ":0"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "darwin", False)])
def test_the_check_runs_only_where_qt_will_use_xcb(environ, platform, expected):
    assert uses_xcb(environ, platform) is expected


def test_the_system_libraries_the_plugin_needs_are_installed():
    """What a fresh machine lacks until it installs the README's packages (CI fails here, and in
    tests/test_real_window.py, when one is missing from .ci/run)."""
    assert xcb_problem() is None


def test_the_app_names_the_missing_libraries_and_their_packages_and_exits(tmp_path):
    """``python main.py`` with an ldd that does not find two libraries: one line, exit status 1, no abort."""
    fake = tmp_path / "bin" / "ldd"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{LDD_OUTPUT}EOF\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}", QT_QPA_PLATFORM="xcb",
               DISPLAY=":999", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "libxcb-icccm.so.4, libxkbcommon-x11.so.0, libxcb-keysyms.so.1 are missing" in lines[0]
    assert "sudo apt-get install libxcb-icccm4 libxkbcommon-x11-0 libxcb-keysyms1" in lines[0]


def test_ci_installs_the_packages_the_readme_lists_and_every_x_library_of_the_plugin():
    ci = (ROOT / ".ci" / "run").read_text()
    installed = set(re.search(r"apt-get install (.*?)>/dev/null", ci, re.S).group(1).replace("\\", " ").split())
    installed = {word for word in installed if not word.startswith("-")}
    listed = set(re.search(r"that `.ci/run` installs: `([^`]+)`", (ROOT / "README.md").read_text()).group(1).split())
    assert listed == installed
    out = subprocess.run(["ldd", str(xcb_plugin())], capture_output=True, text=True, check=True).stdout
    x_packages = {debian_package(lib) for lib in re.findall(r"^\s*(lib(?:xcb|X11|xkb)\S*) =>", out, re.M | re.I)}
    assert len(x_packages) > 10 and x_packages <= installed, x_packages - installed
    assert {"xvfb", "xdotool"} <= installed
