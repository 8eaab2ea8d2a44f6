"""Knowing, in constant time, that nothing in a folder changed: inotify on Linux.

A :class:`FolderWatch` is created *before* the folder is read. Later,
:meth:`FolderWatch.unchanged` answers with one non-blocking ``read``: any
creation, deletion, rename, write or attribute change, since the watch began,
of a file whose name the caller cares about (or of the folder itself) makes it
``False`` for good. Where inotify is missing
(another OS, no free watches), :func:`watch_folder` returns ``None`` and callers
check the files one by one instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
from collections.abc import Callable
from typing import Any

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
# IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
# | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
_EVENTS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800

_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len; then the name


def _names(buffer: bytes) -> list[str]:
    """The file names in a buffer of inotify events; '' for the folder itself."""
    names = []
    offset = 0
    while offset + _HEADER.size <= len(buffer):
        _, _, _, length = _HEADER.unpack_from(buffer, offset)
        raw = buffer[offset + _HEADER.size : offset + _HEADER.size + length]
        names.append(os.fsdecode(raw.rstrip(b"\0")))
        offset += _HEADER.size + length
    return names


class FolderWatch:
    """An inotify watch on one folder; see the module docstring.

    :param relevant: which file names count; events on others are ignored.
    """

    def __init__(self, fd: int, relevant: Callable[[str], bool]) -> None:
        self._fd: int | None = fd
        self._relevant = relevant
        self._changed = False

    def unchanged(self) -> bool:
        """Whether nothing that counts changed in the folder since the watch began."""
        while not self._changed and self._fd is not None:
            try:
                buffer = os.read(self._fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                buffer = b""
            names = _names(buffer)
            if not names or any(name == "" or self._relevant(name) for name in names):
                self._changed = True
                self.close()
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def watch_folder(path: str, relevant: Callable[[str], bool]) -> FolderWatch | None:
    """Start watching ``path``, or return ``None`` where that is not possible."""
    libc = _load_libc()
    if not libc:
        return None
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(path), _EVENTS) < 0:
        os.close(fd)
        return None
    return FolderWatch(fd, relevant)
