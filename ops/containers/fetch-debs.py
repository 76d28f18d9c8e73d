"""Download Debian packages in parallel into an apt archive cache.

Reads `apt-get --print-uris` lines ('URI' FILENAME SIZE HASHTYPE:HASH) on
stdin and fetches every file not yet present (with the right size and hash)
into DIR, several at a time. The mirror answers each request after a fixed
delay on this machine, so apt's one-by-one downloads dominate a cold image
build; fetching ahead in parallel and letting apt/debootstrap find the files
in their cache turns minutes into seconds.

Usage: python3 fetch-debs.py DIR [JOBS] < uris.txt
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shlex
import sys
import tempfile
import urllib.request


def parse(line: str) -> tuple[str, str, int, str, str] | None:
    parts = shlex.split(line)
    if len(parts) < 3:
        return None
    if len(parts) > 3 and ":" in parts[3]:
        kind, digest = parts[3].split(":", 1)
        kind = kind.lower().replace("sum", "")
    else:  # some suites print no hash: size only here, apt checks the hash on use
        kind, digest = "", ""
    return parts[0], parts[1], int(parts[2]), kind, digest


def valid(path: str, size: int, kind: str, digest: str) -> bool:
    try:
        if os.path.getsize(path) != size:
            return False
    except OSError:
        return False
    if not kind:
        return True
    h = hashlib.new(kind)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == digest


def fetch(directory: str, uri: str, name: str, size: int, kind: str, digest: str) -> str:
    target = os.path.join(directory, name)
    if valid(target, size, kind, digest):
        return "cached"
    last: Exception | None = None
    for _attempt in range(3):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(uri, timeout=120) as r:
                while chunk := r.read(1 << 16):
                    out.write(chunk)
            if not valid(tmp, size, kind, digest):
                raise ValueError(f"{name}: size or {kind} mismatch")
            os.replace(tmp, target)
            return "fetched"
        except Exception as exc:  # retried, then reported
            last = exc
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise RuntimeError(f"{uri}: {last}")


def main() -> int:
    directory = sys.argv[1]
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    os.makedirs(directory, exist_ok=True)
    items = [p for p in (parse(line) for line in sys.stdin if line.strip()) if p]
    counts = {"cached": 0, "fetched": 0}
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(fetch, directory, *item) for item in items]
        for future in concurrent.futures.as_completed(futures):
            try:
                counts[future.result()] += 1
            except Exception as exc:
                failed += 1
                print(f"fetch-debs: {exc}", file=sys.stderr)
    print(
        f"fetch-debs: {counts['fetched']} fetched, {counts['cached']} cached, {failed} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
