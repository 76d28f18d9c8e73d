"""The resolver actor in a running daemon: confident llm answers applied and announced."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests._support.auth import TOKEN
from tests.admin.helpers import session
from tests.daemon.harness import drop_file, make_settings, running_daemon
from tests.resolver.fake_llm import fake_llm


@pytest.mark.trio
async def test_the_daemons_resolver_applies_confident_llm_answers(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    with fake_llm() as llm:
        llm.answer = {"same": False, "confidence": 0.97, "reason": "different talks"}
        settings = make_settings(
            tmp_path,
            database_url,
            admin_token=TOKEN,
            resolvers=("learned", "llm"),
            resolver_url=llm.url,
            resolver_model="fake-model",
            resolver_poll=0.2,
            resolver_concurrency=2,
        )
        async with running_daemon(settings) as daemon, session(settings) as s:
            assert "resolver" in {a["name"] for a in daemon.health_report()[1]["actors"]}
            for path in corpus_files[:3]:
                drop_file(path, settings.event_data_dir)
                await s.message("file.processed", file=path.name, wait=90)
            said = await s.message("review.resolver", wait=60, operator="resolver:llm")
            assert said["data"]["same"] is False and said["data"]["reason"] == "different talks"
            assert said["data"]["action"] in ("review.keep_separate", "review.split")
            await s.message("review.resolved", review_id=said["data"]["review_id"], wait=30)
            status = await s.call("status", {})
            assert status["counters"]["resolver_today"] >= 1
    assert llm.requests and all(r["body"]["model"] == "fake-model" for r in llm.requests)
