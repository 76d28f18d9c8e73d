"""Filesystem helpers: no overwrites, no symlink following, no half-written output."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventdedup.ingest import FileRejected, RejectedEvent, files, load_file
from eventdedup.ingest.files import (
    backlog_files,
    dead_letter,
    format_size,
    is_candidate_name,
    is_regular_file_no_follow,
    move_unique,
    read_limited,
    sha256_file,
    write_json_atomic,
    write_rejected_events,
)

AT = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
ODD_NAMES = [
    "a b.json",
    "Müllheim_Straße.json",
    "Mu\u0308llheim_decomposed.json",
    "new\nline_x.json",
    "..x..json",
    "...json",
    "tab\tand 'quotes' \"x\".json",
]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def dead(tmp_path: Path) -> Path:
    return tmp_path / "dead"


def entries(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# --- reading -----------------------------------------------------------------------------------


def test_sha256_file_matches_hashlib(inbox: Path) -> None:
    data = os.urandom(200_000)
    path = inbox / "x.json"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk=7) == hashlib.sha256(data).hexdigest()


def test_sha256_and_read_refuse_symlinks(inbox: Path, tmp_path: Path) -> None:
    target = tmp_path / "secret.json"
    target.write_text("{}")
    link = inbox / "link.json"
    link.symlink_to(target)
    for call in (lambda: sha256_file(link), lambda: read_limited(link, 100)):
        with pytest.raises(FileRejected, match="symbolic link"):
            call()


def test_fifo_is_refused_without_blocking(inbox: Path) -> None:
    fifo = inbox / "pipe.json"
    os.mkfifo(fifo)
    assert not is_regular_file_no_follow(fifo)
    with pytest.raises(FileRejected, match="not a regular file"):
        read_limited(fifo, 100)
    with pytest.raises(FileRejected, match="not a regular file"):
        sha256_file(fifo)


def test_read_limited_reads_up_to_the_limit(inbox: Path) -> None:
    path = inbox / "x.json"
    path.write_bytes(b"x" * 1000)
    assert read_limited(path, 1000) == b"x" * 1000
    with pytest.raises(
        FileRejected, match=r"^file is 1 kB \(1000 bytes\); the limit is 999 bytes$"
    ):
        read_limited(path, 999)


def test_read_limited_refuses_a_sparse_200_mb_file_without_reading_it(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = inbox / "huge.json"
    with open(path, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    read_sizes: list[int] = []
    real_fdopen = os.fdopen

    class CountingFile:
        def __init__(self, f: Any) -> None:
            self._f = f

        def read(self, n: int = -1) -> bytes:
            read_sizes.append(n)
            return self._f.read(n)

        def __enter__(self) -> CountingFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

    monkeypatch.setattr(os, "fdopen", lambda *a, **kw: CountingFile(real_fdopen(*a, **kw)))
    with pytest.raises(FileRejected) as info:
        read_limited(path, 50_000_000)
    assert info.value.reason == (
        "file is 209.7 MB (209715200 bytes); the limit is 50 MB (50000000 bytes)"
    )
    assert read_sizes == []
    small = inbox / "small.json"
    small.write_bytes(b"{}")
    assert read_limited(small, 50_000_000) == b"{}"
    assert read_sizes == [3]  # stat size + 1, not a 50 MB buffer


def test_read_limited_caps_the_read_when_the_size_lies(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file growing while we read (stat said small) is cut at limit + 1 and refused."""
    path = inbox / "growing.json"
    path.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    class SmallStat:
        def __init__(self, st: os.stat_result) -> None:
            self._st = st
            self.st_size = 10

        def __getattr__(self, name: str) -> Any:
            return getattr(self._st, name)

    monkeypatch.setattr(os, "fstat", lambda fd: SmallStat(real_fstat(fd)))
    with pytest.raises(FileRejected, match="grew past the limit of 100 bytes"):
        read_limited(path, 100)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1000, "1 kB (1000 bytes)"),
        (50_000_000, "50 MB (50000000 bytes)"),
        (52_428_800, "52.4 MB (52428800 bytes)"),
        (3 * 10**9, "3 GB (3000000000 bytes)"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_is_regular_file_no_follow(inbox: Path) -> None:
    regular = inbox / "a.json"
    regular.write_text("{}")
    (inbox / "link.json").symlink_to(regular)
    (inbox / "dir.json").mkdir()
    assert is_regular_file_no_follow(regular)
    assert not is_regular_file_no_follow(inbox / "link.json")
    assert not is_regular_file_no_follow(inbox / "dir.json")
    assert not is_regular_file_no_follow(inbox / "missing.json")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bwb_11.02.2026_2026-02-11T20-46-41-776Z.json", True),
        ("bwb_x.rejected.json", True),
        ("a b ü\n.json", True),
        ("x.JSON", False),
        ("x.Json", False),
        (".x.json", False),
        (".json", False),
        ("x.json.tmp", False),
        ("x.json.part", False),
        ("x.tmp.json", False),
        ("x.PART.json", False),
        ("bwb_x.json.error.json", False),
        ("x.json~", False),
        ("x.txt", False),
        ("", False),
    ],
)
def test_is_candidate_name(name: str, expected: bool) -> None:
    assert is_candidate_name(name) is expected


# --- moving ------------------------------------------------------------------------------------


def test_move_unique_never_overwrites(inbox: Path, dead: Path) -> None:
    finals = []
    for i in range(4):
        src = inbox / "bwb_x.json"
        src.write_text(str(i))
        finals.append(move_unique(src, dead))
        assert not os.path.lexists(src)
    assert [p.name for p in finals] == [
        "bwb_x.json",
        "bwb_x.1.json",
        "bwb_x.2.json",
        "bwb_x.3.json",
    ]
    assert [p.read_text() for p in finals] == ["0", "1", "2", "3"]


def test_move_unique_without_json_suffix(inbox: Path, dead: Path) -> None:
    for _ in range(2):
        (inbox / "README").write_text("x")
        move_unique(inbox / "README", dead)
    assert entries(dead) == ["README", "README.1"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_move_unique_keeps_odd_names_inside_dest(inbox: Path, dead: Path, name: str) -> None:
    for _ in range(2):
        src = inbox / name
        src.write_text("{}")
        final = move_unique(src, dead)
        assert final.parent == dead
        assert final.read_text() == "{}"
    assert set(entries(dead)) == {name, name.removesuffix(".json") + ".1.json"}
    assert entries(inbox) == []


def test_move_unique_shortens_overlong_names(inbox: Path, dead: Path) -> None:
    name = "ü" * 120 + ".json"  # 245 bytes: fits, but not with ".error.json" appended
    (inbox / name).write_text("{}")
    final = move_unique(inbox / name, dead)
    assert final.name.endswith(".json")
    assert len((final.name + ".error.json").encode()) <= 255
    final.with_name(final.name + ".error.json").write_text("{}")  # really fits


def test_move_unique_moves_a_symlink_as_a_link(inbox: Path, dead: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text("secret")
    dangling = inbox / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere")
    link = inbox / "link.json"
    link.symlink_to(target)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    to_fifo = inbox / "fifo.json"
    to_fifo.symlink_to(fifo)  # reading through it would block forever
    for src in (link, dangling, to_fifo):
        final = move_unique(src, dead)
        assert final.is_symlink()
        assert os.readlink(final) == os.readlink(dead / src.name)
    assert target.read_text() == "secret"
    assert entries(inbox) == []


def test_move_unique_across_filesystems(
    inbox: Path, dead: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EXDEV: copy into a dot-temp in dest, place it, then delete the source."""
    real_link = os.link

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        if Path(src).parent == inbox:
            raise OSError(errno.EXDEV, "cross-device link")
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    dead.mkdir()
    (dead / "a.json").write_text("old")
    (inbox / "a.json").write_bytes(b"new \xc3\xbc")
    os.chmod(inbox / "a.json", 0o640)
    target = tmp_path / "t.json"
    target.write_text("t")
    (inbox / "l.json").symlink_to(target)

    final = move_unique(inbox / "a.json", dead)
    moved_link = move_unique(inbox / "l.json", dead)

    assert final.name == "a.1.json" and final.read_bytes() == b"new \xc3\xbc"
    assert (dead / "a.json").read_text() == "old"
    assert final.stat().st_mode & 0o777 == 0o640
    assert moved_link.is_symlink() and os.readlink(moved_link) == str(target)
    assert entries(inbox) == []
    assert entries(dead) == ["a.1.json", "a.json", "l.json"]  # no temp files left


def test_move_unique_where_hard_links_are_not_allowed(
    inbox: Path, dead: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    for i in range(2):
        (inbox / "a.json").write_text(str(i))
        move_unique(inbox / "a.json", dead)
    assert entries(dead) == ["a.1.json", "a.json"]
    assert (dead / "a.json").read_text() == "0"


def test_move_unique_undoes_the_claim_when_the_source_cannot_be_removed(
    inbox: Path, dead: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (inbox / "a.json").write_text("x")
    real_unlink = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).parent == inbox:
            raise PermissionError(errno.EACCES, "Permission denied")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(PermissionError):
        move_unique(inbox / "a.json", dead)
    assert entries(inbox) == ["a.json"]
    assert entries(dead) == []


# --- writing -----------------------------------------------------------------------------------


def test_write_json_atomic(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    write_json_atomic(path, {"ä": [1, None], "s": "\ud800", "n": float("nan")})
    assert entries(tmp_path) == ["out.json"]
    text = path.read_text(encoding="utf-8")
    assert json.loads(text)["ä"] == [1, None]
    assert "\\ud800" in text  # lone surrogate escaped, file stays valid UTF-8


def test_write_json_atomic_leaves_nothing_on_failure(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "out.json", {"x": object()})
    assert entries(tmp_path) == []


def test_dead_letter_writes_a_sidecar(inbox: Path, dead: Path) -> None:
    finals = []
    for i in range(2):
        src = inbox / "elt_x.json"
        src.write_bytes(b"{not json" + bytes([48 + i]))
        finals.append(
            dead_letter(
                src,
                dead,
                reason="invalid JSON at line 1 column 2: Expecting property name",
                json_path=None,
                file_hash=f"{i}" * 64,
                at=AT,
            )
        )
    assert entries(dead) == [
        "elt_x.1.json",
        "elt_x.1.json.error.json",
        "elt_x.json",
        "elt_x.json.error.json",
    ]
    sidecar = json.loads((dead / "elt_x.1.json.error.json").read_text())
    assert sidecar == {
        "file": "elt_x.json",
        "reason": "invalid JSON at line 1 column 2: Expecting property name",
        "json_path": None,
        "hash": "1" * 64,
        "at": "2026-02-25T10:00:00+00:00",
        "size": 10,
    }
    assert entries(inbox) == []
    # Sidecars are never picked up as input, even if the dead-letter dir is inside the inbox.
    assert not is_candidate_name("elt_x.1.json.error.json")


@pytest.mark.parametrize("name", ODD_NAMES)
def test_dead_letter_odd_names(inbox: Path, dead: Path, name: str) -> None:
    (inbox / name).write_text("x")
    final = dead_letter(inbox / name, dead, reason="r", json_path="$", file_hash=None, at=AT)
    sidecar = json.loads(final.with_name(final.name + ".error.json").read_text())
    assert sidecar["file"] == name


def test_dead_letter_of_a_symlink(inbox: Path, dead: Path, tmp_path: Path) -> None:
    (tmp_path / "t").write_text("x" * 100)
    (inbox / "l.json").symlink_to(tmp_path / "t")
    final = dead_letter(
        inbox / "l.json", dead, reason="symlink", json_path=None, file_hash=None, at=AT
    )
    assert final.is_symlink()
    sidecar = json.loads((dead / "l.json.error.json").read_text())
    assert sidecar["size"] == len(str(tmp_path / "t"))  # the link's own size


def test_write_rejected_events_can_be_fixed_and_redropped(dead: Path) -> None:
    good = {"id": "g", "title": "ok", "source_type": "artikel"}
    bad_zip = {
        "id": "z",
        "title": "Zip",
        "source_type": "artikel",
        "location": {"zipcode": 79098},
    }
    data = json.dumps({"events": [good, bad_zip, "junk"]}).encode()
    name = "elz_05.02.2026_2026-02-05T21-24-10-679Z.json"
    loaded = load_file(data, name)
    assert len(loaded.rejected) == 2

    for expected in (
        "elz_05.02.2026_2026-02-05T21-24-10-679Z.rejected.json",
        "elz_05.02.2026_2026-02-05T21-24-10-679Z.rejected.1.json",
    ):
        path = write_rejected_events(dead, name, loaded.rejected, file_hash="h" * 64, at=AT)
        assert path.name == expected

    content = json.loads(path.read_text())
    assert content["events"] == [bad_zip, "junk"]
    assert content["rejected"] == []
    assert content["metadata"]["rejectedFrom"] == name
    sidecar = json.loads(path.with_name(path.name + ".error.json").read_text())
    assert sidecar["file"] == name
    assert sidecar["hash"] == "h" * 64
    assert sidecar["events"] == [
        {
            "index": 1,
            "id": "z",
            "reason": "location.zipcode must be a string or null, got a number (79098)",
            "json_path": "$.events[1].location.zipcode",
        },
        {
            "index": 2,
            "id": None,
            "reason": "event must be an object, got a string ('junk')",
            "json_path": "$.events[2]",
        },
    ]
    assert is_candidate_name(path.name)

    # The operator fixes the zipcode and re-drops the file: same source, event accepted.
    content["events"][0]["location"]["zipcode"] = "79098"
    path.write_text(json.dumps(content))
    again = load_file(path.read_bytes(), path.name)
    assert again.source_code == "elz"
    assert [e.id for e in again.events] == ["z"]
    assert [r.index for r in again.rejected] == [1]


def test_write_rejected_events_keeps_raw_exactly(dead: Path) -> None:
    raw = {"id": "n", "title": "\u0000x", "source_type": "artikel", "confidence_score": "hoch"}
    rejected = [RejectedEvent(index=0, event_id="n", reason="r", json_path="$.events[0]", raw=raw)]
    path = write_rejected_events(dead, "x_y.json", rejected, file_hash="h", at=AT)
    assert json.loads(path.read_text())["events"] == [raw]
    assert [p for p in entries(dead) if p.startswith(".")] == []


def test_helpers_are_exported() -> None:
    assert set(files.__all__) >= {
        "sha256_file",
        "read_limited",
        "move_unique",
        "write_json_atomic",
        "dead_letter",
        "write_rejected_events",
        "is_candidate_name",
        "is_regular_file_no_follow",
        "is_candidate_entry",
        "backlog_files",
        "publication_key",
    }


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("bwb_11.02.2026_2026-02-11T20-46-41-776Z.json", "2026-02-11T20-46-41-776Z"),
        ("bwb_11.02.2026.json", "2026-02-11"),
        ("bwb_11.02.2026_2026-02-11T20-46-41-776Z.1.json", "2026-02-11T20-46-41-776Z"),
        ("handmade.json", ""),
    ],
)
def test_publication_key_reads_the_timestamp_or_the_date_of_a_name(name: str, key: str) -> None:
    assert files.publication_key(name) == (key, name)


# --- listing a backlog -------------------------------------------------------------------------


def test_backlog_files_lists_what_the_processor_takes_in_publication_order(
    inbox: Path, tmp_path: Path
) -> None:
    published = [
        "handmade.json",  # no date: first
        "abz_02.02.2026_2026-02-02T20-00-00-000Z.json",
        "bwb_03.02.2026.json",  # a date only: the day's start
        "wnb_03.02.2026_2026-02-03T20-00-00-000Z.json",
        "bwb_x.rejected.json",  # re-dropped quarantine file, no date: by name among the first
    ]
    for name in published:
        (inbox / name).write_text("{}")
    target = tmp_path / "outside.json"
    target.write_text("{}")
    links = {
        "link_04.02.2026.json": target,  # to a regular file outside
        "dangling_05.02.2026.json": tmp_path / "nowhere.json",
        "to_dir_06.02.2026.json": tmp_path,
    }
    for name, to in links.items():
        (inbox / name).symlink_to(to)
    for name in [".hidden.json", "x.json.tmp", "x.tmp.json", "x.part.json", "x.JSON", "notes.txt"]:
        (inbox / name).write_text("{}")
    (inbox / "a.json.error.json").write_text("{}")  # a sidecar, also when inside the inbox
    (inbox / "folder.json").mkdir()
    (inbox / "folder.json" / "nested.json").write_text("{}")  # not recursive
    os.mkfifo(inbox / "fifo.json")

    listed = [p.name for p in backlog_files(inbox)]

    assert listed == [
        "bwb_x.rejected.json",
        "handmade.json",
        "abz_02.02.2026_2026-02-02T20-00-00-000Z.json",
        "bwb_03.02.2026.json",
        "wnb_03.02.2026_2026-02-03T20-00-00-000Z.json",
        "link_04.02.2026.json",
        "dangling_05.02.2026.json",
        "to_dir_06.02.2026.json",
    ]
    assert all(p.parent == inbox for p in backlog_files(inbox))
    assert target.read_text() == "{}"


def test_backlog_files_of_a_missing_or_empty_folder_is_empty(tmp_path: Path) -> None:
    assert backlog_files(tmp_path / "missing") == []
    assert backlog_files(tmp_path) == []
