"""Small, blocking filesystem helpers for the processor actor (run them in worker threads).

Why these exist (docs/domain.md §1.7, §17 items 18–19):

* the original moved failed files into the dead-letter folder *overwriting* an
  earlier file of the same name, and followed whatever the inbox contained;
* an operator needs to see *why* a file failed without reading logs, and to
  fix and re-drop quarantined events.

Rules every helper follows:

* **Never overwrite.** :func:`move_unique` claims a free name atomically with
  ``os.link`` (fails with ``EEXIST`` instead of replacing) and only then
  removes the source; clashes get ``.1``, ``.2``, … before ``.json``.
* **Never follow symlinks.** Inbox entries are checked and opened with
  ``O_NOFOLLOW``; a symlink is moved/dead-lettered as the link itself and its
  target is never read. Opening uses ``O_NONBLOCK`` so a FIFO named ``x.json``
  cannot hang a worker thread, and anything but a regular file is refused.
* **Never leave the destination folder.** Only the last component of a name
  is used; ``""``, ``.`` and ``..`` become ``unnamed``; names are shortened
  (on a UTF-8 boundary) so that the unique suffix and the ``.error.json``
  sidecar still fit in 255 bytes. Spaces, umlauts and newlines are kept.
* **Readers never see half-written output.** Sidecars and rejected-event files
  are written to a dot-temp file in the same folder, fsynced, then renamed
  (and the folder fsynced). Dot-files and ``*.tmp`` are ignored by
  :func:`is_candidate_name`, so even a dead-letter folder inside the inbox
  cannot feed back half-written files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from eventdedup.ingest.loader import FileRejected, RejectedEvent

__all__ = [
    "ERROR_SUFFIX",
    "REJECTED_SUFFIX",
    "backlog_files",
    "dead_letter",
    "format_size",
    "is_candidate_entry",
    "is_candidate_name",
    "is_regular_file_no_follow",
    "move_unique",
    "publication_key",
    "read_limited",
    "sha256_file",
    "write_json_atomic",
    "write_rejected_events",
]

ERROR_SUFFIX: Final = ".error.json"
REJECTED_SUFFIX: Final = ".rejected.json"

#: Longest base name we create, in UTF-8 bytes: 255 (NAME_MAX) minus room for
#: a ".12345" clash suffix and the ".error.json" sidecar suffix.
_MAX_NAME_BYTES: Final = 255 - len(ERROR_SUFFIX) - 8
_MAX_CLASH_SUFFIX: Final = 99_999

_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


# --------------------------------------------------------------------------
# Inspecting and reading inbox entries


def is_candidate_name(name: str) -> bool:
    """Whether an inbox entry with this name should be processed.

    Yes: names ending in lower-case ``.json`` (docs/domain.md §1.1), including
    ``*.rejected.json``, which an operator re-drops after fixing quarantined
    events. No: hidden files (``.foo.json``: editors, rsync and our own temp
    files), our ``*.error.json`` sidecars, and names that announce an
    unfinished copy (``*.tmp.json``, ``*.part.json``; ``*.json.tmp`` /
    ``*.json.part`` already fail the suffix test).
    """
    if not name or "/" in name or "\x00" in name or name.startswith("."):
        return False
    if not name.endswith(".json") or name.endswith(ERROR_SUFFIX):
        return False
    stem = name[: -len(".json")]
    return bool(stem) and not stem.lower().endswith((".tmp", ".part"))


_STAMP = re.compile(r"_(\d{2})\.(\d{2})\.(\d{4})(?:_(\d{4}-\d{2}-\d{2}T[0-9-]+Z?))?")


def publication_key(name: str) -> tuple[str, str]:
    """Sort key for a backlog: publication order, then name.

    Upstream names files ``<source>_<DD.MM.YYYY>_<ISO-timestamp-with-dashes>.json``
    (docs/domain.md §1.1); the ISO part (or the date, when that is all there is)
    orders a folder's files as they were published, the order the daemon would
    have received them in. Listings of one period then arrive together, which
    keeps a batch's candidates among the recently stored. Names without a date
    sort first, by name.
    """
    match = _STAMP.search(name)
    if match is None:
        return "", name
    day, month, year, iso = match.groups()
    return iso or f"{year}-{month}-{day}", name


def is_candidate_entry(mode: int) -> bool:
    """Whether an entry of this ``lstat`` mode is handed to the processor.

    Regular files, and symlinks as such (never followed): the processor
    dead-letters a link unread, so the operator sees it instead of a file that
    silently stays behind. Directories, FIFOs, sockets and devices are left alone.
    """
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def backlog_files(folder: Path) -> list[Path]:
    """The files a backlog in ``folder`` consists of, in publication order.

    The entries directly in ``folder`` (not recursive) with a candidate name
    (:func:`is_candidate_name`) and a candidate type (:func:`is_candidate_entry`,
    checked with ``lstat``), sorted by :func:`publication_key`. A missing
    folder, or an entry gone between listing and ``lstat``, contributes nothing.
    The watcher's (re)scan of the inbox and ``eventdedup ingest`` of a folder
    both list through here. Blocking: one ``lstat`` per candidate name.
    """
    found: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not is_candidate_name(entry.name):
                    continue
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if is_candidate_entry(mode):
                    found.append(folder / entry.name)
    except FileNotFoundError:
        return []
    found.sort(key=lambda path: publication_key(path.name))
    return found


def is_regular_file_no_follow(path: Path) -> bool:
    """True only for a regular file that is not a symlink (``lstat``; missing → False)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _open_regular(path: Path) -> int:
    """Open for reading without following a symlink or blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileRejected("file is a symbolic link; links are not followed") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRejected("not a regular file (a directory, FIFO, socket or device)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def sha256_file(path: Path, *, chunk: int = 65536) -> str:
    """Hex SHA-256 of the file's bytes, read in ``chunk``-sized pieces (docs/domain.md §1.7)."""
    digest = hashlib.sha256()
    fd = _open_regular(path)
    with os.fdopen(fd, "rb", buffering=0) as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read the whole file, refusing (``FileRejected``) anything over ``max_bytes``.

    Never reads more than ``max_bytes + 1`` bytes: the size from ``fstat`` is
    checked first (a 200 MB file is refused without reading a byte), and the
    read itself is capped, so a file that grows past the limit while we read
    (a copy in progress) is refused too.
    """
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise FileRejected(
                f"file is {format_size(size)}; the limit is {format_size(max_bytes)}"
            )
        # Ask for one byte more than stat promised (not max_bytes + 1: a buffered read
        # allocates what it is asked for), then, only if the file grew, for the rest.
        want = size + 1
        data = f.read(want)
        if len(data) == want:
            data += f.read(max_bytes + 1 - want)
    if len(data) > max_bytes:
        raise FileRejected(f"file grew past the limit of {format_size(max_bytes)} while being read")
    return data


def format_size(size: int) -> str:
    """``209715200`` → ``"209.7 MB (209715200 bytes)"``: decimal units plus the exact count."""
    if size < 1000:
        return f"{size} bytes"
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            value = f"{size / factor:.1f}".removesuffix(".0")
            return f"{value} {unit} ({size} bytes)"
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------
# Moving without overwriting


def _safe_base_name(name: str) -> str:
    """Last path component only, never ``..``, short enough for our suffixes."""
    base = name.replace("\x00", "").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        base = "unnamed"
    raw = base.encode("utf-8", "surrogateescape")
    if len(raw) <= _MAX_NAME_BYTES:
        return base
    stem, ext = (base[:-5], base[-5:]) if base.lower().endswith(".json") else (base, "")
    budget = _MAX_NAME_BYTES - len(ext.encode())
    cut = stem.encode("utf-8", "surrogateescape")[:budget]
    return cut.decode("utf-8", "ignore") + ext


def _numbered(name: str, n: int) -> str:
    """``a.json`` → ``a.1.json``; names without ``.json`` get the number appended."""
    if n == 0:
        return name
    if name.lower().endswith(".json") and len(name) > 5:
        return f"{name[:-5]}.{n}{name[-5:]}"
    return f"{name}.{n}"


def _fsync_dir(directory: Path) -> None:
    """Make a rename/link durable; best effort where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on dirs
        pass
    finally:
        os.close(fd)


def _link_first_free(src: Path, dest_dir: Path, name: str) -> Path:
    """Hard-link ``src`` (not following a symlink) to the first free numbered name.

    ``os.link`` refuses an existing target, so the claim is atomic even with
    another process racing for the same name. Raises ``OSError`` (e.g.
    ``EXDEV``, ``EPERM``) when hard links are impossible; callers fall back.
    """
    for n in range(_MAX_CLASH_SUFFIX + 1):
        target = dest_dir / _numbered(name, n)
        try:
            os.link(src, target, follow_symlinks=False)
        except FileExistsError:
            continue
        return target
    raise FileExistsError(errno.EEXIST, f"no free name for {name!r} in {dest_dir}")


def _rename_first_free(src: Path, dest_dir: Path, name: str) -> Path:
    """Fallback where hard links are unsupported: check-then-rename (racy only between
    two writers of the same folder; the processor is its only writer)."""
    for n in range(_MAX_CLASH_SUFFIX + 1):
        target = dest_dir / _numbered(name, n)
        if os.path.lexists(target):
            continue
        os.rename(src, target)
        return target
    raise FileExistsError(errno.EEXIST, f"no free name for {name!r} in {dest_dir}")


def _place_unique(src: Path, dest_dir: Path, name: str) -> Path:
    """Give ``src`` (same filesystem as ``dest_dir``) a free name there; ``src`` is gone after."""
    try:
        target = _link_first_free(src, dest_dir, name)
    except OSError as exc:
        if exc.errno == errno.EXDEV or isinstance(exc, FileExistsError):
            raise
        target = _rename_first_free(src, dest_dir, name)
    else:
        try:
            os.unlink(src)
        except OSError:
            # Could not remove the source (e.g. no write permission on the inbox):
            # undo the claim so the file exists exactly once, then report.
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise
    return target


def move_unique(src: Path, dest_dir: Path) -> Path:
    """Move ``src`` into ``dest_dir`` without ever overwriting; return the final path.

    Name clashes get ``.1``, ``.2``, … before ``.json``. A symlink is moved as
    the link itself. Across filesystems the entry is copied into a dot-temp
    file in ``dest_dir`` (fsynced), placed under a free name, and only then is
    ``src`` removed, so a crash leaves at worst a duplicate, never a loss.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = _safe_base_name(src.name)
    try:
        target = _place_unique(src, dest_dir, name)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = _copy_entry_to_temp(src, dest_dir)
        try:
            target = _place_unique(tmp, dest_dir, name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.unlink(src)
    _fsync_dir(dest_dir)
    return target


def _temp_name(dest_dir: Path, hint: str) -> Path:
    return dest_dir / f".{hint[:40]}.{secrets.token_hex(6)}.tmp"


def _copy_entry_to_temp(src: Path, dest_dir: Path) -> Path:
    """Copy a regular file or a symlink (as a link) into a fresh dot-temp name in ``dest_dir``."""
    tmp = _temp_name(dest_dir, "move")
    mode = os.lstat(src).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), tmp)
        return tmp
    if not stat.S_ISREG(mode):
        raise OSError(errno.EXDEV, f"cannot move special file across filesystems: {src}")
    fd = _open_regular(src)
    try:
        with os.fdopen(fd, "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, tmp, follow_symlinks=False)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


# --------------------------------------------------------------------------
# Writing


def _dumps(obj: Any) -> bytes:
    """Readable UTF-8 JSON; falls back to ASCII escapes for lone surrogates.

    NaN/Infinity are written as Python does (the loader reads them back), so a
    quarantined event is written exactly as it came.
    """
    try:
        return json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, indent=2).encode("ascii")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` via a dot-temp file in the same folder, fsync, rename.

    Replaces an existing ``path`` (callers that must not overwrite pick a
    unique name first).
    """
    data = _dumps(obj) + b"\n"
    tmp = _temp_name(path.parent, path.name)
    try:
        _write_new_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_new_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_json_unique(dest_dir: Path, name: str, obj: Any) -> Path:
    """Write JSON under the first free numbered ``name`` in ``dest_dir``; never overwrites."""
    tmp = _temp_name(dest_dir, name)
    try:
        _write_new_file(tmp, _dumps(obj) + b"\n")
        target = _place_unique(tmp, dest_dir, _safe_base_name(name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(dest_dir)
    return target


def _iso(at: datetime) -> str:
    return at.isoformat()


def dead_letter(
    src: Path,
    dead_dir: Path,
    *,
    reason: str,
    json_path: str | None,
    file_hash: str | None,
    at: datetime,
) -> Path:
    """Move a rejected file into ``dead_dir`` (unique name) and write its ``.error.json``.

    The sidecar ``<final name>.error.json`` holds ``file`` (the original
    name), ``reason``, ``json_path``, ``hash``, ``at`` (ISO 8601; pass an
    aware datetime) and ``size`` (of the entry itself; a symlink's own size).
    Returns the final path of the moved file.
    """
    size = os.lstat(src).st_size
    final = move_unique(src, dead_dir)
    write_json_atomic(
        final.with_name(final.name + ERROR_SUFFIX),
        {
            "file": src.name,
            "reason": reason,
            "json_path": json_path,
            "hash": file_hash,
            "at": _iso(at),
            "size": size,
        },
    )
    return final


def write_rejected_events(
    dead_dir: Path,
    original_name: str,
    rejected: Sequence[RejectedEvent],
    *,
    file_hash: str,
    at: datetime,
) -> Path:
    """Write the quarantined events of an accepted file so an operator can fix and re-drop them.

    ``<stem>.rejected.json`` (unique name) is in the input format:
    ``{"events": [raw, …], "rejected": [], "metadata": {"rejectedFrom": …}}``;
    since its name still starts with the original source code, re-dropping
    it into the inbox ingests the fixed events under the same source. Beside
    it, ``<final name>.error.json`` lists each event's original ``index``,
    ``id``, ``reason`` and ``json_path``. Returns the path of the events file.
    """
    dead_dir.mkdir(parents=True, exist_ok=True)
    base = _safe_base_name(original_name)
    stem = base[:-5] if base.lower().endswith(".json") and len(base) > 5 else base
    payload = {
        "events": [r.raw for r in rejected],
        "rejected": [],
        "metadata": {
            "rejectedFrom": original_name,
            "rejectedAt": _iso(at),
            "sourceHash": file_hash,
        },
    }
    final = _write_json_unique(dead_dir, stem + REJECTED_SUFFIX, payload)
    write_json_atomic(
        final.with_name(final.name + ERROR_SUFFIX),
        {
            "file": original_name,
            "rejected_file": final.name,
            "hash": file_hash,
            "at": _iso(at),
            "events": [
                {"index": r.index, "id": r.event_id, "reason": r.reason, "json_path": r.json_path}
                for r in rejected
            ],
        },
    )
    return final
