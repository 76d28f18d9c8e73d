"""status, search and detail (RPC and REST alike), dead letters, config, actors, metrics."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests._support.auth import TOKEN, http_auth
from tests._support.wait import trio_wait_until
from tests.admin.helpers import session, write_events
from tests.daemon.harness import base_url, drop_file, make_settings, running_daemon, write_file


@pytest.mark.trio
async def test_queries_dead_letters_config_actors_and_metrics(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    corpus_files: list[Path],
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    source = corpus_files[1]
    events_in_file = len(json.loads(source.read_text())["events"])
    async with (
        running_daemon(settings) as daemon,
        session(settings) as s,
        session(settings, "types=config.changed,deadletter.retried") as filtered,
        httpx.AsyncClient(base_url=base_url(settings), headers=http_auth(), timeout=60) as http,
    ):
        drop_file(source, settings.event_data_dir)
        await s.message("file.processed", file=source.name, wait=90)

        # -- status ------------------------------------------------------------------------
        status = await s.call("status")
        assert status["counters"]["events"] == events_in_file
        assert status["counters"]["files_processed"] == 1
        assert status["counters"]["canonicals"] > 0
        assert status["feed"]["head"] >= s.feed[-1]["seq"] and status["feed"]["clients"] == 2
        assert status["feed"]["listening"] is True
        assert status["replica"] == daemon.files.replica  # type: ignore[union-attr]

        # -- events.search == GET /api/events ------------------------------------------------
        everything = await s.call("events.search", {"size": 200})
        assert everything["total"] == status["counters"]["canonicals"]
        dates = [i["first_date"] for i in everything["items"] if i["first_date"]]
        assert dates == sorted(dates)
        target = max(everything["items"], key=lambda i: len(i["title"]))
        word = max(target["title"].split(), key=len)
        hits = await s.call("events.search", {"q": word.lower(), "size": 200})
        assert target["id"] in [i["id"] for i in hits["items"]]
        typo = target["title"][:-2] + "xq"  # a near miss still finds it (trigram similarity)
        fuzzy = await s.call("events.search", {"q": typo, "size": 5})
        assert fuzzy["items"][0]["id"] == target["id"], fuzzy
        by_title = await s.call("events.search", {"sort": "title", "order": "desc", "size": 10})
        titles = [i["title"] for i in by_title["items"]]
        assert len(titles) == 10
        page2 = await s.call(
            "events.search", {"sort": "title", "order": "desc", "size": 10, "page": 2}
        )
        assert not {i["id"] for i in page2["items"]} & {i["id"] for i in by_title["items"]}
        if target["city"]:
            in_city = await s.call("events.search", {"city": target["city"].upper(), "size": 200})
            assert all(i["city"].lower() == target["city"].lower() for i in in_city["items"])
            assert target["id"] in [i["id"] for i in in_city["items"]]
        day = target["first_date"]
        window = await s.call("events.search", {"date_from": day, "date_to": day, "size": 200})
        assert target["id"] in [i["id"] for i in window["items"]]
        rest = (await http.get("/api/events", params={"q": word.lower(), "size": "200"})).json()
        assert rest == hits
        assert (await http.get("/api/events", params={"size": "0"})).status_code == 400
        assert "size" in (await http.get("/api/events", params={"size": "x"})).json()["error"]

        # -- events.get == GET /api/events/{id} ----------------------------------------------
        multi = next(i for i in everything["items"] if i["source_count"] >= 2)
        detail = await s.call("events.get", {"id": multi["id"]})
        assert detail["canonical"]["id"] == multi["id"]
        assert len(detail["sources"]) == multi["source_count"]
        assert all(src["file"] == source.name and src["dates"] for src in detail["sources"])
        assert detail["decisions"] and {"combined", "decision", "reason"} <= set(
            detail["decisions"][0]
        )
        assert (await http.get(f"/api/events/{multi['id']}")).json() == detail
        assert (await http.get("/api/events/999999999")).status_code == 404
        clusters = (await http.get("/api/export", params={"format": "clusters"})).json()
        assert sum(len(c) for c in clusters["clusters"]) == events_in_file
        exported = await http.get("/api/export")
        assert "attachment" in exported.headers["content-disposition"]
        assert len(exported.json()["events"]) == everything["total"]

        # -- dead letters: list, retry (back to the inbox, fails again) -------------------------
        broken = "broken_01.01.2026.json"
        write_file(settings.event_data_dir, broken, '{"events": [')
        failed = await s.message("file.failed", file=broken)
        sidecar = settings.dead_letter_dir / (broken + ".error.json")
        await trio_wait_until(sidecar.exists, what="the sidecar")  # moved after the commit
        listed = await s.call("deadletters.list")
        [item] = [i for i in listed["items"] if i["file"] == broken]
        assert item["reason"] == failed["data"]["reason"] and item["size"] > 0
        retried = await s.call("deadletters.retry", {"file": broken, "operator": "ops"})
        assert retried["file"] == broken and retried["moved_to"].endswith(broken)
        mark = (await s.message("deadletter.retried", file=broken))["seq"]
        await s.message("file.failed", file=broken, after=mark)
        await trio_wait_until(sidecar.exists, what="the sidecar")
        assert (await s.error("deadletters.retry", {"file": "nope.json"}))["code"] == -32004

        # -- config: validated, persisted, announced, and used from the next file --------------
        config = await s.call("config.get")
        assert config["source"] == "packaged defaults" and config["overrides"] == {}
        high = config["matching"]["thresholds"]["high"]
        changed = await s.call(
            "config.set", {"matching": {"thresholds": {"high": 0.8123}}, "operator": "ops"}
        )
        assert changed["changed"] == ["thresholds.high"] and changed["version"] == 1
        assert changed["matching"]["thresholds"]["high"] == 0.8123 != high
        await s.message("config.changed", changed=["thresholds.high"])
        config = await s.call("config.get")
        assert config["source"] == "database"
        assert config["overrides"] == {"thresholds": {"high": 0.8123}}
        assert config["matching"]["thresholds"]["low"] == changed["matching"]["thresholds"]["low"]
        nothing = await s.call("config.set", {"matching": {"thresholds": {"high": 0.8123}}})
        assert nothing["changed"] == []
        small = "cfg_11.02.2026.json"
        write_events(corpus_files[2], settings.event_data_dir, small, limit=5)
        await s.message("file.processed", file=small, wait=60)
        dedup = daemon.files.deduplicator  # type: ignore[union-attr]
        assert dedup.cfg.thresholds.high == 0.8123  # type: ignore[union-attr]

        # the type filter: only what was asked for, in order
        await filtered.message("config.changed", wait=10)
        assert [m["type"] for m in filtered.feed] == ["deadletter.retried", "config.changed"]
        assert (await filtered.call("status"))["feed"]["clients"] == 2  # RPC works filtered too

        # -- actor.restart ----------------------------------------------------------------------
        restarted = await s.call("actor.restart", {"name": "watcher", "operator": "ops"})
        assert restarted == {"name": "watcher", "state": "running"}
        await s.message("actor.status", name="watcher", state="running", restarts=1)

        audit = (await s.call("audit.list", {"operator": "ops"}))["items"]
        assert [a["action"] for a in audit] == ["actor.restart", "config.set", "deadletters.retry"]
        assert audit[1]["after"]["changed"] == ["thresholds.high"]

        # -- metrics (open, Prometheus text) ---------------------------------------------------
        metrics = (await httpx.AsyncClient().get(base_url(settings) + "/metrics")).text
    lines = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#")
    )
    assert float(lines['eventdedup_files_total{outcome="processed"}']) == 2
    assert float(lines['eventdedup_files_total{outcome="failed"}']) == 2
    assert float(lines["eventdedup_file_processing_seconds_count"]) == 4
    assert float(lines["eventdedup_source_events"]) == events_in_file + 5
    assert float(lines["eventdedup_canonical_events"]) > 0
    assert "eventdedup_review_queue_size" in lines
    assert float(lines["eventdedup_dead_letters"]) == 1
    assert float(lines['eventdedup_actor_restarts_total{actor="watcher"}']) == 1
    assert float(lines["eventdedup_feed_clients"]) == 2
    assert float(lines["eventdedup_database_up"]) == 1
    assert float(lines['eventdedup_rpc_requests_total{method="events.search",outcome="ok"}']) > 0
    # the process and GC collectors, and which build is running
    assert float(lines["process_resident_memory_bytes"]) > 0
    assert float(lines["process_open_fds"]) > 0
    assert 'python_gc_collections_total{generation="0"}' in lines
    build = version("eventdedup")
    python = platform.python_version()
    assert lines[f'eventdedup_build_info{{python="{python}",version="{build}"}}'] == "1.0"
