"""The dead-letter folder as the admin surface sees it: list, and move a file back.

A dead-lettered file is ``<name>`` plus its sidecar ``<name>.error.json``
(written by the pipeline).  Retrying moves the file back into the inbox with
the same never-overwrite move the pipeline uses, and drops the sidecar; the
watcher then offers it to the processor like any new file (a failed file's
hash is not "completed", so it is really processed again).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventdedup.admin.rpc import conflict, invalid, not_found
from eventdedup.ingest.files import ERROR_SUFFIX, move_unique

MAX_LISTED = 1000


#: Said of a dead letter without its sidecar.
NO_SIDECAR = (
    "no .error.json beside it: the sidecar is written after the move, and the "
    "daemon stopped in between; the reason is in the file's ingestion record"
)


def _dead_letters(entries: list[os.DirEntry[str]]) -> list[os.DirEntry[str]]:
    """The dead letters themselves: every visible entry but sidecars and folders.

    (A dead-lettered symlink is kept as the link itself, so it counts too.)
    """
    return [
        e
        for e in entries
        if not e.name.startswith(".")
        and not e.name.endswith(ERROR_SUFFIX)
        and not e.is_dir(follow_symlinks=False)
    ]


def _scan(dead_dir: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(dead_dir))
    except FileNotFoundError:
        return []


def list_dead_letters(dead_dir: Path, limit: int = MAX_LISTED) -> dict[str, Any]:
    """Newest first; a missing or unreadable sidecar is listed with what is known.

    Listed by the files, not the sidecars, so a file whose sidecar was never
    written (a stop between the move and the sidecar) still shows, and can be
    retried.
    """
    entries = _scan(dead_dir)
    names = {e.name for e in entries}
    items: list[dict[str, Any]] = []
    for entry in _dead_letters(entries):
        info: dict[str, Any] = {}
        if entry.name + ERROR_SUFFIX in names:
            try:
                loaded = json.loads(Path(entry.path + ERROR_SUFFIX).read_text(encoding="utf-8"))
                info = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                pass
        else:
            info = {"reason": NO_SIDECAR}
        try:
            st = entry.stat(follow_symlinks=False)
            size: Any = st.st_size
            mtime = datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
        except OSError:
            size, mtime = info.get("size"), None
        items.append(
            {
                "file": entry.name,
                "original": info.get("file"),
                "reason": info.get("reason"),
                "json_path": info.get("json_path"),
                "hash": info.get("hash"),
                "at": info.get("at") or mtime,
                "size": size,
            }
        )
    items.sort(key=lambda i: (str(i.get("at") or ""), i["file"]), reverse=True)
    return {"items": items[:limit], "total": len(items)}


def count_dead_letters(dead_dir: Path) -> int:
    return len(_dead_letters(_scan(dead_dir)))


def check_name(name: str) -> str:
    """A plain file name inside the folder: no paths, no sidecars, no hidden files."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or name.endswith(ERROR_SUFFIX)
    ):
        raise invalid("file", "must be the name of a file listed by deadletters.list")
    return name


def retry_dead_letter(dead_dir: Path, inbox: Path, name: str) -> dict[str, Any]:
    """Move ``name`` back into the inbox; returns ``{file, moved_to}``."""
    source = dead_dir / check_name(name)
    sidecar = dead_dir / (name + ERROR_SUFFIX)
    if not source.is_file() or source.is_symlink():
        raise not_found(f"dead letter {name!r}")
    if (inbox / name).exists():
        raise conflict(f"the inbox already holds a file named {name!r}")
    moved = move_unique(source, inbox)
    sidecar.unlink(missing_ok=True)
    return {"file": name, "moved_to": str(moved)}
