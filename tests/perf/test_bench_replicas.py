"""``ops/bench_replicas.py`` stops with a replica's error instead of waiting for it for ever.

A replica process whose file failed for good used to die with its traceback while
the bench waited, without a timeout, for the record it would never send: the run
sat idle until killed.  Here every file fails (the database has no tables), and
the run must end with that error, its replicas gone.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from eventdedup.synth.regions import interleaved

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    """The bench as its script runs it: ``ops/`` first on the path (it imports ``bench``)."""
    spec = importlib.util.spec_from_file_location(
        "bench_replicas", ROOT / "ops" / "bench_replicas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_replica_failing_for_good_ends_the_run_with_its_error(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "ops"))
    bench = _bench()
    # the spawned replicas find their function by the module's name
    monkeypatch.setitem(sys.modules, "bench_replicas", bench)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    paths = []
    for f in interleaved(1, 400):
        (inbox / f.name).write_bytes(f.to_bytes())
        paths.append(inbox / f.name)
    ended: list[BaseException | dict[str, object]] = []

    def run() -> None:
        try:
            ended.append(bench.run(database_url, paths, 2, {}, tmp_path / "work"))
        except BaseException as exc:
            ended.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(300)  # a bound for a hang only: the failure comes within seconds
    assert not thread.is_alive(), "the bench still waits for a replica that has failed"
    assert len(ended) == 1 and isinstance(ended[0], RuntimeError), ended
    # the replica's own error, from its report (not just "ended without reporting")
    assert "failed: ProgrammingError" in str(ended[0]) and "UndefinedTable" in str(ended[0])
