"""The resolver actor: an automated operator that answers open review items it is sure of.

Workers claim items (best expected benefit first, each item once, shared with
other replicas through ``FOR UPDATE SKIP LOCKED``) and ask the chain of
resolvers in order; the first answer at or above the configured confidence is
applied through the operator's path (:func:`eventdedup.admin.resolver.apply_answer`),
anything less leaves the item for humans.

* ``learned`` — the shipped pair calibration refitted on operators' answers
  (retrained in a worker process after ``retrain_every`` new answers);
* ``llm`` — an OpenAI-compatible endpoint, behind a PostgreSQL cache, a
  daily request budget, retries with backoff and a circuit breaker.

Never inside a file's transaction: claiming is its own short transaction and
asking holds no lock; applying takes the matching lock like an operator does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio
import trio_parallel

from eventdedup.actors.activity import FileActivity
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.llm import CircuitBreaker, EndpointError, LlmAnswer, LlmClient, content_hash
from eventdedup.admin.metrics import Metrics
from eventdedup.admin.resolver import (
    Answer,
    Question,
    apply_answer,
    cache_answer,
    cached_answer,
    claim,
    load_model,
    operator_answer_count,
    operator_examples,
    resolver_figures,
    save_model,
    spend,
    used_today,
)
from eventdedup.admin.review import LockBusy
from eventdedup.config import ConfigError, Settings
from eventdedup.db.engine import DB_DOWN, Database
from eventdedup.matching.learned import LearnedModel, train

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class ResolverChain:
    """The configured resolvers and their state in this replica."""

    names: tuple[str, ...]
    confidence: float = 0.9
    retrain_every: int = 20
    llm: LlmClient | None = None
    budget: int = 1000
    attempts: int = 3
    backoff: float = 0.5
    breaker: CircuitBreaker = attrs.Factory(CircuitBreaker)
    model: LearnedModel = attrs.Factory(LearnedModel)


def answer_name(question: Question, answer: Answer | None) -> str:
    if answer is None:
        return "unsure"
    if question.kind == "merge":
        return "merge" if answer.same else "keep_separate"
    return "keep_together" if answer.same else "split"


async def ask_learned(chain: ResolverChain, question: Question) -> Answer | None:
    """None (unsure) until its held-out agreement with operators vouches for the confidence
    it acts at (``LearnedModel.earned``)."""
    if not chain.model.earned(chain.confidence):
        return None
    p = chain.model.probability(question.signals)
    same = p >= 0.5
    return Answer(
        "learned",
        same,
        p if same else 1.0 - p,
        f"P(same) {p:.2f} from the learned model ({chain.model.decisions} operator answers)",
    )


async def ask_llm(
    db: Database, chain: ResolverChain, question: Question, metrics: Metrics
) -> Answer | None:
    """Cache, then budget, then the endpoint (with retries); None leaves the item to humans."""
    client = chain.llm
    if client is None or len(question.events) < 2:
        return None
    key = content_hash(question.events, client.model)
    hit = await db.run(_read, db, cached_answer, key)
    if hit is not None:
        metrics.resolver_cache_hits.inc()
        return Answer("llm", bool(hit["same"]), float(hit["confidence"]), str(hit["reason"]))
    if not chain.breaker.allows():
        return None
    if not await db.run(_write, db, spend, "llm", chain.budget):
        metrics.resolver_budget_left.set(0)
        return None
    metrics.resolver_budget_left.set(
        max(0, chain.budget - await db.run(_read, db, used_today, "llm"))
    )
    answer: LlmAnswer | None = None
    for attempt in range(chain.attempts):
        try:
            with trio.fail_after(client.timeout + 5):
                answer = await trio.to_thread.run_sync(
                    client.ask, question.events, question.signals, abandon_on_cancel=True
                )
            break
        except (EndpointError, trio.TooSlowError) as exc:
            log.info(
                "llm resolver: attempt %d for item %d: %s", attempt + 1, question.review_id, exc
            )
            if attempt + 1 < chain.attempts:
                await trio.sleep(chain.backoff * 2**attempt)
    if answer is None:
        chain.breaker.failure()
        if chain.breaker.is_open:
            log.warning("llm resolver: endpoint keeps failing; items stay for humans for now")
        return None
    chain.breaker.success()
    stored = {"same": answer.same, "confidence": answer.confidence, "reason": answer.reason}
    await db.run(_write, db, cache_answer, key, client.model, stored)
    return Answer("llm", answer.same, answer.confidence, answer.reason)


def _read(db: Database, fn: Callable[..., Any], *args: Any) -> Any:
    with db.engine.connect() as conn:
        return fn(conn, *args)


def _write(db: Database, fn: Callable[..., Any], *args: Any) -> Any:
    with db.engine.begin() as conn:
        return fn(conn, *args)


async def resolve_one(
    db: Database,
    source: ConfigSource,
    chain: ResolverChain,
    metrics: Metrics,
    replica: str,
    question: Question,
    activity: FileActivity | None = None,
) -> dict[str, Any] | None:
    """Ask the chain about one claimed item and apply the first confident answer."""
    for name in chain.names:
        started = time.perf_counter()
        if name == "learned":
            answer = await ask_learned(chain, question)
        else:
            answer = await ask_llm(db, chain, question, metrics)
        metrics.resolver_seconds.labels(name).observe(time.perf_counter() - started)
        if answer is None or answer.confidence < chain.confidence:
            metrics.resolver_decisions.labels(name, "unsure").inc()
            continue
        result = await apply_when_free(db, source, question, answer, replica, activity)
        label = answer_name(question, answer) if result is not None else "refused"
        metrics.resolver_decisions.labels(name, label).inc()
        if result is not None:
            return result
    return None


#: How long the resolver waits for a file to release the matching lock before trying
#: again, and how long this replica's processor must have been idle before it applies.
LOCK_RETRY = 0.05
#: How long the resolver keeps giving way to files before it queues for the matching lock
#: (files of several replicas can hold it back to back indefinitely) ...
PATIENCE = 5.0
#: ... and how long it then waits in the queue at a time (files asking meanwhile wait too).
LOCK_WAIT = 5.0


async def apply_when_free(
    db: Database,
    source: ConfigSource,
    question: Question,
    answer: Answer,
    replica: str,
    activity: FileActivity | None = None,
    *,
    patience: float = PATIENCE,
    lock_wait: float = LOCK_WAIT,
) -> dict[str, Any] | None:
    """Apply the answer once no file is being committed here and none holds the matching lock.

    Files go first: for ``patience`` seconds the resolver only takes the lock
    when it is free and this replica's processor is idle.  After that it
    queues for the lock (``lock_wait`` seconds at a time), so files committed
    back to back, here or by other replicas, cannot keep it out for ever; the
    files that ask for the lock while it is queued wait for one answer.
    """
    deadline = trio.current_time() + patience
    queued = False
    while True:
        patient = trio.current_time() < deadline
        if activity is not None and patient:
            with trio.move_on_at(deadline):
                await activity.wait_idle(settle=LOCK_RETRY)
            patient = trio.current_time() < deadline
        if not patient and not queued:
            queued = True
            log.info("resolver: files kept the matching lock for %.1f s; queueing for it", patience)
        try:
            return await db.run(
                apply_answer,
                db.engine,
                source,
                question,
                answer,
                replica,
                None if patient else lock_wait,
            )
        except LockBusy:
            await trio.sleep(LOCK_RETRY)


async def maybe_retrain(db: Database, chain: ResolverChain, metrics: Metrics) -> bool:
    """Retrain (in a worker process) once enough new operator answers came in, or when another
    replica (or ``eventdedup train resolver``) stored a model trained on more answers: the
    stored weights come without the held-out evidence, so it is refitted here (the fit is
    deterministic: the same weights)."""
    stored = await db.run(_read, db, load_model)
    count = await db.run(_read, db, operator_answer_count)
    newer = stored.decisions > chain.model.decisions
    if not newer and count - chain.model.decisions < chain.retrain_every:
        return False
    examples = await db.run(_read, db, operator_examples)
    chain.model = await trio_parallel.run_sync(train, examples)
    await db.run(_write, db, save_model, chain.model)
    if chain.model.agreement is not None:
        metrics.resolver_agreement.set(chain.model.agreement)
    log.info(
        "learned resolver retrained on %d operator answers (agreement %.2f)",
        chain.model.decisions,
        chain.model.agreement or 0.0,
    )
    return True


async def run_pass(
    db: Database,
    source: ConfigSource,
    chain: ResolverChain,
    metrics: Metrics,
    replica: str,
    *,
    limit: int | None = None,
    activity: FileActivity | None = None,
) -> int:
    """Claim and answer items until none is left (or ``limit``); how many were applied.

    With ``activity`` it works only while this replica's processor is idle.
    """
    applied = looked = 0
    while limit is None or looked < limit:
        if activity is not None:  # files first: no claiming or asking while one is committed
            await activity.wait_idle(settle=LOCK_RETRY)
        question = await db.run(claim, db.engine)
        if question is None:
            break
        looked += 1
        if await resolve_one(db, source, chain, metrics, replica, question, activity) is not None:
            applied += 1
    return applied


async def resolver(
    db: Database,
    source: ConfigSource,
    chain: ResolverChain,
    metrics: Metrics,
    replica: Callable[[], str],
    *,
    workers: int = 1,
    poll: float = 5.0,
    activity: FileActivity | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor (permanent): answer open review items while the daemon runs.

    A lost database is waited out (the pass is tried again after ``poll``), not
    escalated: outages are reported by ``/health``, and the items stay open.
    """

    async def worker() -> None:
        while True:
            with _outage_waited_out("resolver pass"):
                await run_pass(db, source, chain, metrics, replica(), activity=activity)
            await trio.sleep(poll)

    with _outage_waited_out("resolver start"):
        await maybe_retrain(db, chain, metrics)
    task_status.started()
    if not chain.names:
        await trio.sleep_forever()
    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
        while True:
            await trio.sleep(poll)
            with _outage_waited_out("resolver retraining"):
                await maybe_retrain(db, chain, metrics)
                figures = await db.run(_read, db, resolver_figures)
                metrics.resolver_overrides.set(figures["resolver_overridden"])


@contextlib.contextmanager
def _outage_waited_out(what: str) -> Iterator[None]:
    """Log a lost database connection instead of raising it (the caller tries again)."""
    try:
        yield
    except DB_DOWN as exc:
        log.warning("%s: database unavailable, trying again later: %s", what, exc)


def chain_from_settings(settings: Settings) -> ResolverChain:
    """The chain ``EVENT_DEDUP_RESOLVER*`` configures (llm only with a URL)."""
    llm = None
    if "llm" in settings.resolvers:
        if not settings.resolver_url:
            raise ConfigError("EVENT_DEDUP_RESOLVERS: llm needs EVENT_DEDUP_RESOLVER_URL")
        llm = LlmClient.from_settings(
            settings.resolver_url,
            settings.resolver_model,
            settings.resolver_timeout,
            settings.resolver_api_key_file,
        )
    return ResolverChain(
        settings.resolvers,
        confidence=settings.resolver_confidence,
        retrain_every=settings.resolver_retrain_every,
        llm=llm,
        budget=settings.resolver_daily_budget,
    )
