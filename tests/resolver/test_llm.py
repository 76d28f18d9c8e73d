"""The llm resolver against a local fake endpoint: answers, errors, timeouts, malformed JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.actors.resolver import ResolverChain, ask_llm, chain_from_settings, run_pass
from eventdedup.admin.llm import CircuitBreaker, LlmClient
from eventdedup.admin.metrics import Metrics
from eventdedup.admin.resolver import Question
from eventdedup.config import ConfigError, load_settings
from eventdedup.db.engine import Database
from tests.resolver.fake_llm import fake_llm
from tests.resolver.helpers import ingest, source

SIGNALS = {
    "date": 1.0,
    "geo": 0.8,
    "title": 0.6,
    "description": 0.2,
    "combined": 0.7,
    "decision": "ambiguous",
    "reason": "ambiguous: combined 0.70",
}


def question(n: int, ids: str = "") -> Question:
    """Item ``n``'s pair; ``ids`` renames the listings without changing their content."""
    listings = tuple(
        {"id": f"{ids}{side}{n}", "title": f"Vortrag {n}", "city": "Waldkirch", "text": side}
        for side in ("a", "b")
    )
    return Question(n, "merge", f"{ids}a{n}", f"{ids}b{n}", 0.6, SIGNALS, listings)


def chain(url: str, *, budget: int = 100, timeout: float = 2.0) -> ResolverChain:
    return ResolverChain(
        ("llm",),
        confidence=0.9,
        llm=LlmClient(url, "fake-model", timeout, api_key="sekrit"),
        budget=budget,
        backoff=0.01,
        breaker=CircuitBreaker(threshold=2, cooldown=3600.0),
    )


@pytest.mark.trio
async def test_answers_are_applied_cached_and_budgeted(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files[:3], tmp_path)
    db = Database.from_url(database_url)
    metrics = Metrics()
    with fake_llm() as llm:
        c = chain(llm.url)
        applied = await run_pass(db, source(), c, metrics, "t", limit=1)
        assert applied == 1 and len(llm.requests) == 1
        request = llm.requests[0]
        assert request["auth"] == "Bearer sekrit"
        body = request["body"]
        assert body["model"] == "fake-model"
        assert body["response_format"]["json_schema"]["schema"]["required"] == [
            "same",
            "confidence",
            "reason",
        ]
        assert "Listing A" in body["messages"][1]["content"]
        with migrated_engine.connect() as conn:
            item = conn.execute(
                sa.text("SELECT data FROM review_items WHERE data ? 'resolver'")
            ).one()
            assert item.data["resolved_by"] == "resolver:llm"
            assert item.data["resolver"]["reason"] == "same talk"
            assert conn.execute(sa.text("SELECT count(*) FROM resolver_cache")).scalar_one() == 1

        # the same content again (other ids): from the cache, no request
        first = await ask_llm(db, c, question(1), metrics)
        again = await ask_llm(db, c, question(1, ids="copy-"), metrics)
        assert first == again and first is not None and first.same
        assert len(llm.requests) == 2  # one for question(1), none for its repeat

        scraped = metrics.render().decode()
        assert 'eventdedup_resolver_decisions_total{answer="merge",resolver="llm"} 1.0' in scraped
        assert "eventdedup_resolver_cache_hits_total 1.0" in scraped
        assert "eventdedup_resolver_budget_left 98.0" in scraped  # budget 100, 2 requests
        assert 'eventdedup_resolver_seconds_count{resolver="llm"} 1.0' in scraped

        # an unsure answer is not applied: the item stays for humans
        llm.answer = {"same": False, "confidence": 0.55, "reason": "cannot tell"}
        assert await run_pass(db, source(), c, metrics, "t", limit=1) == 0

        # the daily budget: spent, nothing more is sent
        tight = chain(llm.url, budget=len(llm.requests))
        tight.llm = c.llm
        assert await ask_llm(db, tight, question(2), metrics) is None
        sent = len(llm.requests)
        assert await ask_llm(db, tight, question(3), metrics) is None
        assert len(llm.requests) == sent
    db.dispose()


@pytest.mark.trio
@pytest.mark.parametrize("mode", ["error", "timeout", "malformed"])
async def test_failures_are_retried_then_the_breaker_opens(
    mode: str, migrated_engine: sa.Engine, database_url: str
) -> None:
    db = Database.from_url(database_url)
    metrics = Metrics()
    with fake_llm() as llm:
        llm.mode = mode
        llm.delay = 1.5
        c = chain(llm.url, timeout=0.3)
        c.attempts = 2
        assert await ask_llm(db, c, question(1), metrics) is None
        assert len(llm.requests) == 2  # retried once
        assert not c.breaker.is_open
        assert await ask_llm(db, c, question(2), metrics) is None
        assert c.breaker.is_open and len(llm.requests) == 4
        # open: items stay for humans, the endpoint is not asked
        assert await ask_llm(db, c, question(3), metrics) is None
        assert len(llm.requests) == 4
        # it answers again: after the cool-down the breaker lets a request through
        llm.mode = "answer"
        c.breaker.cooldown = 0.0
        answer = await ask_llm(db, c, question(4), metrics)
        assert answer is not None and answer.same and not c.breaker.is_open
        with migrated_engine.connect() as conn:
            cached = conn.execute(sa.text("SELECT count(*) FROM resolver_cache")).scalar_one()
        assert cached == 1  # failures are not cached
    db.dispose()


def test_the_llm_resolver_needs_a_url_and_reads_its_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EVENT_DEDUP_RESOLVER_URL"):
        chain_from_settings(load_settings({"EVENT_DEDUP_RESOLVERS": "learned,llm"}))
    key = tmp_path / "key"
    key.write_text("sekrit\n")
    c = chain_from_settings(
        load_settings(
            {
                "EVENT_DEDUP_RESOLVERS": "learned,llm",
                "EVENT_DEDUP_RESOLVER_URL": "http://127.0.0.1:9/v1/chat/completions",
                "EVENT_DEDUP_RESOLVER_API_KEY_FILE": str(key),
            }
        )
    )
    assert c.names == ("learned", "llm") and c.llm is not None and c.llm.api_key == "sekrit"
    assert chain_from_settings(load_settings({})).llm is None  # off by default
