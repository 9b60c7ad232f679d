"""Paths that come from a suite, a plan or a tool: confined to their folder, read with bounds.

A task's ``produces`` of ``/etc`` or ``../x`` once made ``dtf run`` crash or write outside the
artifact folder, and a results file that was a FIFO hung it (``/dev/zero`` ate its memory).
Every such path goes through here: relative paths stay inside their base folder (no
absolute path, no ``..``, no symlink leading out), and a file read as data must be a regular
file of bounded size.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from dtf_ci.limits import results_too_large


class PathRefused(ValueError):
    """A path that would leave its folder, or a file that is not a plain, bounded file."""


def relative_inside(rel: str) -> PurePosixPath:
    """``rel`` as a relative path that cannot climb: no absolute path, no ``..``, no NUL."""
    text = str(rel)
    if not text or "\x00" in text:
        raise PathRefused(f"{rel!r} is not a path")
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or text.startswith("~") or (len(text) > 1 and text[1] == ":"):
        raise PathRefused(f"{rel!r} is absolute; paths are relative to their folder")
    if ".." in path.parts:
        raise PathRefused(f"{rel!r} climbs out of its folder with '..'")
    return path


def confine(base: Path, rel: str) -> Path:
    """``base / rel``, refused when it would lead outside ``base`` (also through a symlink)."""
    path = Path(base) / relative_inside(rel)
    real_base = Path(os.path.realpath(base))
    real = Path(os.path.realpath(path))
    if real != real_base and real_base not in real.parents:
        raise PathRefused(f"{rel!r} leads outside {base} (through a symbolic link)")
    return path


def regular_file(path: Path, limit: int) -> int:
    """The size of ``path`` when it is a regular file of at most ``limit`` bytes; else refused.

    Checked with ``stat`` before anything opens it: opening a FIFO blocks, and a device
    such as ``/dev/zero`` never ends.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PathRefused(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        raise PathRefused(f"{path} is {kind}; a results file must be a regular file")
    if st.st_size > limit:
        raise PathRefused(f"{path} {results_too_large(st.st_size, limit)}")
    return st.st_size
