"""`eventdedup export` and `eventdedup eval` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa

from eventdedup.testing import SAMPLE_CORPUS
from tests._support.cli import cli_env, run_cli
from tests._support.db import scalar


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli(args, env, cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_export_clusters_and_events_round_trip(
    tmp_path: Path, database_url: str, corpus_files: list[Path]
) -> None:
    env = cli_env(tmp_path, EVENT_DEDUP_DATABASE_URL=database_url)
    files = corpus_files[:2]
    _run(["ingest", *map(str, files)], env, tmp_path)
    _run(["export", "--format", "clusters", "-o", "clusters.json"], env, tmp_path)
    _run(["export", "--format", "events", "-o", "events.json"], env, tmp_path)

    clusters = json.loads((tmp_path / "clusters.json").read_text())["clusters"]
    ids = [i for c in clusters for i in c]
    expected = {e["id"] for f in files for e in json.loads(f.read_text())["events"]}
    assert sorted(ids) == sorted(expected), "every source event in exactly one cluster"

    exported = json.loads((tmp_path / "events.json").read_text())
    assert len(exported["events"]) == len(clusters)
    assert sorted(i for e in exported["events"] for i in e["source_ids"]) == sorted(expected)

    # The export is itself a valid input file (docs/domain.md §17 item 24): it ingests cleanly.
    export_file = tmp_path / "export_01.01.2026.json"
    shutil.copyfile(tmp_path / "events.json", export_file)
    _run(["ingest", str(export_file)], env, tmp_path)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        imported = conn.execute(
            sa.text(
                "SELECT events_accepted, events_rejected FROM file_ingestions "
                "WHERE filename = 'export_01.01.2026.json'"
            )
        ).one()
    engine.dispose()
    assert imported == (len(clusters), 0)


def test_eval_grades_a_folder_in_a_throwaway_database(
    tmp_path: Path, pg_admin_url: str, corpus_files: list[Path]
) -> None:
    folder = tmp_path / "sample"
    folder.mkdir()
    for f in corpus_files[:3]:
        shutil.copyfile(f, folder / f.name)
    env = cli_env(tmp_path, EVENT_DEDUP_DATABASE_URL=pg_admin_url)
    result = _run(
        ["eval", "--truth", str(SAMPLE_CORPUS / "truth.json"), str(folder), "--json"], env, tmp_path
    )
    report = json.loads(result.stdout)
    assert report["files"] == 3
    assert report["events"] == sum(
        len(json.loads(f.read_text())["events"]) for f in corpus_files[:3]
    )
    metrics = report["metrics"]
    assert 0.9 <= metrics["pairwise_precision"] <= 1.0
    assert metrics["true_pairs"] > 0
    engine = sa.create_engine(pg_admin_url)
    leftovers = scalar(
        engine, "SELECT count(*) FROM pg_database WHERE datname LIKE 'eventdedup_eval_%'"
    )
    engine.dispose()
    assert leftovers == 0, "the throw-away database is dropped"
