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
from pathlib import Path
from typing import Any

from eventdedup.admin.rpc import conflict, invalid, not_found
from eventdedup.ingest.files import ERROR_SUFFIX, move_unique

MAX_LISTED = 1000


def list_dead_letters(dead_dir: Path, limit: int = MAX_LISTED) -> dict[str, Any]:
    """Newest first; a sidecar that cannot be read is listed with what is known."""
    items: list[dict[str, Any]] = []
    try:
        entries = list(os.scandir(dead_dir))
    except FileNotFoundError:
        entries = []
    names = {e.name for e in entries}
    for entry in entries:
        if not entry.name.endswith(ERROR_SUFFIX) or entry.name.startswith("."):
            continue
        name = entry.name[: -len(ERROR_SUFFIX)]
        if name not in names:
            continue  # a sidecar whose file was retried or removed by hand
        try:
            info = json.loads(Path(entry.path).read_text(encoding="utf-8"))
            if not isinstance(info, dict):
                info = {}
        except (OSError, ValueError):
            info = {}
        try:
            size = os.lstat(os.path.join(dead_dir, name)).st_size
        except OSError:
            size = info.get("size")
        items.append({
            "file": name, "original": info.get("file"), "reason": info.get("reason"),
            "json_path": info.get("json_path"), "hash": info.get("hash"), "at": info.get("at"),
            "size": size,
        })
    items.sort(key=lambda i: (str(i.get("at") or ""), i["file"]), reverse=True)
    return {"items": items[:limit], "total": len(items)}


def count_dead_letters(dead_dir: Path) -> int:
    try:
        return sum(1 for e in os.scandir(dead_dir)
                   if e.name.endswith(ERROR_SUFFIX) and not e.name.startswith("."))
    except FileNotFoundError:
        return 0


def check_name(name: str) -> str:
    """A plain file name inside the folder: no paths, no sidecars, no hidden files."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
            or name.startswith(".") or name.endswith(ERROR_SUFFIX)):
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
