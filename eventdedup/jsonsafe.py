"""Parsed JSON made storable: what strict JSON and PostgreSQL ``jsonb`` accept.

Shared by the loader (which keeps ``raw`` and ``metadata`` exactly as parsed)
and the storage layer (which must write them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

SURROGATE_RE: Final = re.compile("[\\ud800-\\udfff]")


def json_safe(value: Any) -> Any:
    """Copy of parsed JSON that strict JSON and PostgreSQL ``jsonb`` can store.

    ``raw`` and ``metadata`` are kept exactly as parsed, which may include
    things ``jsonb`` refuses: NaN/Infinity (Python's ``json`` reads them),
    NUL characters and lone surrogates (valid ``\\u`` escapes in JSON text).
    This replaces non-finite numbers by ``None``, removes NULs and replaces
    lone surrogates by U+FFFD, in keys as well as values. Depth is bounded
    by the loader's nesting limit, so recursion is safe here.
    """
    if isinstance(value, str):
        return safe_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {safe_str(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def safe_str(s: str) -> str:
    """``s`` without NULs, lone surrogates replaced by U+FFFD."""
    return SURROGATE_RE.sub("\ufffd", s.replace("\x00", ""))
