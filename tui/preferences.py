"""What the operator chose in the console and wants back next time (the theme).

Kept in ``$XDG_CONFIG_HOME/eventdedup/console.toml`` (``~/.config/…`` when
unset), one ``key = "value"`` line per preference.  A missing, unreadable or
garbled file means defaults: a preference is never worth a console that does
not start.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "console.toml"


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "eventdedup" / FILE_NAME


def load(path: Path) -> dict[str, str]:
    """The stored preferences (strings only); ``{}`` when there are none or they are unusable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring console preferences in %s: %s", path, exc)
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


def save(path: Path, **values: str) -> None:
    """Merge ``values`` into the file, written atomically (a crash never leaves half a file)."""
    merged = load(path) | values
    # a JSON string is a valid TOML basic string for the names a theme can have
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(merged.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
