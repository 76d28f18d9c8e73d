"""Names renamed or moved into a folder, read from Linux inotify (``IN_MOVED_TO``).

watchfiles reports a file created in place and a file moved in from another
folder alike ("added"), so the watcher could only tell a rename *inside* the
inbox by the delete beside it.  inotify tells them apart: ``IN_MOVED_TO`` is
only ever sent for a ``rename(2)`` within one file system, which is atomic, so
the file under the new name is complete.  (``mv`` across file systems copies
and shows up as a created and written file instead, which still settles.)

Where inotify is not available (not Linux, polling mode, the watch limit
reached) this reports nothing and the settle period decides, as it does for
any file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import trio

log = logging.getLogger(__name__)

IN_MOVED_TO = 0x00000080
IN_ONLYDIR = 0x01000000
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len of the NUL-padded name
_READ_SIZE = 64 * 1024


def parse_events(buffer: bytes) -> Iterator[tuple[int, str]]:
    """(mask, name) of each event in a buffer read from an inotify descriptor."""
    offset = 0
    while offset + _HEADER.size <= len(buffer):
        _wd, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
        offset += _HEADER.size
        raw = buffer[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        yield mask, os.fsdecode(raw)


def _open_watch(folder: Path) -> int | None:
    """An inotify descriptor watching ``folder`` for moves in, or None where impossible."""
    name = ctypes.util.find_library("c")
    if name is None or not hasattr(os, "O_CLOEXEC"):
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return None
    fd = int(init(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0:
        log.warning("inotify unavailable", extra={"error": os.strerror(ctypes.get_errno())})
        return None
    if add(fd, os.fsencode(folder), IN_MOVED_TO | IN_ONLYDIR) < 0:
        log.warning(
            "cannot watch the inbox for moves",
            extra={"inbox": str(folder), "error": os.strerror(ctypes.get_errno())},
        )
        os.close(fd)
        return None
    return fd


async def watch_moves_in(
    folder: Path,
    on_move: Callable[[Path], None],
    *,
    task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Call ``on_move(path)`` for every name renamed or moved into ``folder``.

    Reports through ``task_status`` whether moves are seen at all; returns at
    once (after reporting False) where inotify is unavailable.
    """
    fd = _open_watch(folder)
    task_status.started(fd is not None)
    if fd is None:
        return
    try:
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                buffer = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            for mask, name in parse_events(buffer):
                if mask & IN_Q_OVERFLOW:
                    log.warning("inotify queue overflowed; moved-in files settle instead")
                elif mask & IN_MOVED_TO and name:
                    on_move(folder / name)
    finally:
        trio.lowlevel.notify_closing(fd)
        os.close(fd)
