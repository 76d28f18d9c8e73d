"""``eventdedup rpc``/``status``/``feed`` against a real daemon on a loopback port,
``validate`` against the daemon's own dead letters, and the commands' exit codes:
every command run as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio

from eventdedup.shell import degraded, parse_assignments
from tests._support.auth import TOKEN
from tests._support.cli import EVENTDEDUP, cli_env, run_cli, start_cli_daemon, stop_cli
from tests._support.net import free_port
from tests.admin.helpers import session
from tests.daemon.harness import drop_file, make_settings, running_daemon


async def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(120):
        return await trio.run_process(
            [*EVENTDEDUP, *args],
            env=cli_env(tmp_path, **(env or {})),
            cwd=tmp_path,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


def _out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode() + result.stderr.decode()


def test_key_value_parameters_are_json_where_they_parse() -> None:
    params = parse_assignments(
        ["page=2", "q=Fasnet", 'operator="7"', "flag=true", 'matching={"a": [1]}', "empty="]
    )
    assert params == {
        "page": 2,
        "q": "Fasnet",
        "operator": "7",
        "flag": True,
        "matching": {"a": [1]},
        "empty": "",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["page"])
    with pytest.raises(ValueError, match="twice"):
        parse_assignments(["a=1", "a=2"])


def test_a_failed_actor_or_a_polling_feed_is_degraded() -> None:
    healthy = {
        "actors": [{"name": "migrator", "state": "completed"}, {"name": "w", "state": "running"}],
        "feed": {"listening": True},
    }
    assert degraded(healthy) == []
    failed = {**healthy, "actors": [{"name": "processor", "state": "backing-off"}]}
    assert degraded(failed) == ["actor processor is backing-off"]
    assert degraded({**healthy, "feed": {"listening": False}})


@pytest.mark.trio
async def test_rpc_and_status_call_a_running_daemon(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    # the daemon binds everything; the CLI must still find it on loopback
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN, http_host="0.0.0.0")
    env = {"EVENT_DEDUP_HTTP_HOST": "0.0.0.0", "EVENT_DEDUP_HTTP_PORT": str(settings.http_port)}
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async with running_daemon(settings), session(settings) as s:
        drop_file(corpus_files[3], settings.event_data_dir)
        await s.message("file.processed", file=corpus_files[3].name, wait=90)
        events = len(json.loads(corpus_files[3].read_text())["events"])

        result = await _cli(
            tmp_path, "rpc", "status", env={"EVENT_DEDUP_ADMIN_TOKEN": TOKEN, **env}
        )
        assert result.returncode == 0, _out(result)
        status = json.loads(result.stdout)
        assert status["counters"]["events"] == events
        assert status["counters"]["files_today"] == 1
        assert status["queue"] == {"inbox": 0}

        found = await _cli(
            tmp_path,
            "rpc",
            "events.search",
            "size=3",
            "sort=title",
            "--token-file",
            str(token_file),
            env=env,
        )
        assert found.returncode == 0, _out(found)
        page = json.loads(found.stdout)
        assert page["size"] == 3 and len(page["items"]) == 3
        assert page == await s.call("events.search", {"size": 3, "sort": "title"})

        missing = await _cli(
            tmp_path, "rpc", "events.get", "id=999999999", "--token-file", str(token_file), env=env
        )
        assert missing.returncode == 1, _out(missing)
        assert "not found" in missing.stderr.decode() and not missing.stdout

        typo = await _cli(
            tmp_path, "rpc", "events.search", "sizee=3", "--token-file", str(token_file), env=env
        )
        assert typo.returncode == 1
        assert "-32602" in typo.stderr.decode() and "sizee" in typo.stderr.decode()

        summary = await _cli(tmp_path, "status", "--token-file", str(token_file), env=env)
        text = summary.stdout.decode()
        assert summary.returncode == 0, _out(summary)
        assert f"{events:,} source events" in text
        assert "1 processed today" in text and "0 files waiting in the inbox" in text
        assert "open items" in text and "state     ok" in text
        for actor in status["actors"]:
            assert actor["name"] in text

        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-token")
        rejected = await _cli(tmp_path, "status", "--token-file", str(wrong), env=env)
        assert rejected.returncode == 3
        assert "rejected the admin token" in rejected.stderr.decode()
        assert "Traceback" not in _out(rejected)

    # nobody listens on that port any more
    gone = await _cli(tmp_path, "rpc", "status", "--token-file", str(token_file), env=env)
    assert gone.returncode == 3
    assert "cannot connect" in gone.stderr.decode() and "Traceback" not in _out(gone)


@pytest.mark.trio
async def test_feed_follows_with_a_token_file_and_stops_on_a_rejected_token(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN, http_host="0.0.0.0")
    env = cli_env(
        tmp_path, EVENT_DEDUP_HTTP_HOST="0.0.0.0", EVENT_DEDUP_HTTP_PORT=str(settings.http_port)
    )
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text(TOKEN)
    wrong.write_text("nope")
    async with running_daemon(settings), session(settings) as s:
        with trio.fail_after(60):  # a rejected token ends the command; it does not retry
            rejected = await trio.run_process(
                [*EVENTDEDUP, "feed", "--token-file", str(wrong)],
                env=env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert rejected.returncode == 3, rejected.stderr.decode()
        assert "rejected the admin token" in rejected.stderr.decode()

        proc = await trio.lowlevel.open_process(
            [*EVENTDEDUP, "feed", "--token-file", str(good), "--after", "0"],
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        drop_file(corpus_files[2], settings.event_data_dir)
        await s.message("file.processed", file=corpus_files[2].name, wait=90)
        lines: list[dict] = []
        buffer = b""
        try:
            with trio.fail_after(30):
                while not any(m["type"] == "file.processed" for m in lines):
                    buffer += await proc.stdout.receive_some()
                    *complete, buffer = buffer.split(b"\n")
                    lines += [json.loads(line) for line in complete if line.strip()]
        finally:
            proc.terminate()
            await proc.wait()
    assert lines[0]["seq"] == 1
    assert lines[-1]["data"]["file"] == corpus_files[2].name


@pytest.mark.trio
async def test_validate_gives_the_reasons_the_daemon_dead_letters_with(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    good = corpus_files[0]
    event = json.loads(good.read_text())["events"][0]
    (drops / "bwb_01.02.2026_broken.json").write_text('{"events": [')
    (drops / "bwb_02.02.2026_array.json").write_text("[]")
    (drops / "bwb_03.02.2026_events.json").write_text(
        json.dumps(
            {
                "events": [
                    {**event, "id": "ok-1"},
                    {**event, "id": "bad-date", "event_dates": [{"date": "2026-02-30"}]},
                    {**event, "id": "bad-zip", "location": {"zipcode": 79098}},
                    {k: v for k, v in event.items() if k != "title"} | {"id": "no-title"},
                ]
            }
        )
    )
    bad = sorted(drops.iterdir())

    ok = await _cli(tmp_path, "validate", str(good))
    assert ok.returncode == 0, _out(ok)
    assert ok.stdout.decode().startswith(f"ok   {good.name}: ")

    checked = await _cli(tmp_path, "validate", "--json", str(good), *map(str, bad))
    assert checked.returncode == 1, _out(checked)
    verdicts = {v["file"]: v for v in map(json.loads, checked.stdout.decode().splitlines())}
    assert verdicts[good.name]["ok"] is True
    assert not any(verdicts[p.name]["ok"] for p in bad)

    human = await _cli(tmp_path, "validate", *map(str, bad))
    assert human.returncode == 1
    assert human.stdout.decode().count("FAIL ") == 3
    assert "3 of 4 events would be quarantined, 1 accepted" in human.stdout.decode()

    # now let the daemon's pipeline have them: the same reasons, file by file and event by event
    ingest = await _cli(
        tmp_path, "ingest", "--keep", *map(str, bad), env={"EVENT_DEDUP_DATABASE_URL": database_url}
    )
    assert ingest.returncode == 1, _out(ingest)
    dead = tmp_path / "dead_letters"
    for name in ("bwb_01.02.2026_broken.json", "bwb_02.02.2026_array.json"):
        sidecar = json.loads((dead / f"{name}.error.json").read_text())
        assert (sidecar["reason"], sidecar["json_path"]) == (
            verdicts[name]["reason"],
            verdicts[name]["json_path"],
        )
    sidecar = json.loads((dead / "bwb_03.02.2026_events.rejected.json.error.json").read_text())
    assert sidecar["events"] == verdicts["bwb_03.02.2026_events.json"]["rejected"]
    assert [e["id"] for e in sidecar["events"]] == ["bad-date", "bad-zip", "no-title"]


@pytest.mark.parametrize(
    "command",
    [["migrate"], ["export", "--format", "events", "-o", "x.json"], ["ingest", "--keep", "."]],
)
def test_a_database_that_is_down_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing"
    result = run_cli(command, cli_env(tmp_path, EVENT_DEDUP_DATABASE_URL=url), tmp_path, 120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"eventdedup {command[0]}: cannot use the database: ")
    assert "refused" in lines[0] and "secret" not in lines[0]
    assert not (tmp_path / "x.json").exists()


def test_run_takes_host_and_port_over_the_environment(tmp_path: Path, database_url: str) -> None:
    port, ignored = free_port(), free_port()
    proc = start_cli_daemon(
        tmp_path,
        ["run", "--host", "127.0.0.1", "--port", str(port)],
        port,
        60,
        EVENT_DEDUP_DATABASE_URL=database_url,
        EVENT_DEDUP_HTTP_HOST="192.0.2.1",  # not an address of this machine
        EVENT_DEDUP_HTTP_PORT=str(ignored),
    )
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{ignored}/health", timeout=1)
    finally:
        output = stop_cli(proc)
    assert proc.returncode == 0, output
    bad = run_cli(["run", "--port", "70000"], cli_env(tmp_path), tmp_path)
    assert bad.returncode == 2 and "70000" in bad.stderr


def test_shell_completion_as_documented(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("eventdedup")  # the installed entry point
    env = cli_env(tmp_path, _EVENTDEDUP_COMPLETE="bash_source")
    source = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
    assert source.returncode == 0 and "complete -o nosort -F _eventdedup_completion" in (
        source.stdout
    )

    def complete(words: str) -> list[str]:
        env = cli_env(
            tmp_path,
            _EVENTDEDUP_COMPLETE="bash_complete",
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        )
        result = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("eventdedup st") == ["status"]
    assert {"rpc", "validate", "feed"} <= set(complete("eventdedup "))
    assert {"--url", "--token-file", "--timeout"} <= set(complete("eventdedup rpc --"))
